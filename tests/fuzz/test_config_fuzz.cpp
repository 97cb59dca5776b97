// Mutated training configurations through every way a user hands one in: the file,
// --set assignments and ENGINE_CONFIG_ environment overrides. Each case must load or be
// refused with an engine::Error (io::ConfigError) that has a message; a loaded config
// must be writable as JSON and load again to the same values.
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>

#include "apps/common/train_config.h"
#include "fuzz_util.h"
#include "test_util.h"

using namespace engine;
using engine::fuzz::FuzzRun;
using engine::fuzz::Rng;
using engine::fuzz::Violation;

namespace {

constexpr size_t kCases = 10000;
constexpr double kSeconds = 30;

// Every config of configs/ and a few small ones that set the less common keys.
const std::vector<std::string>& config_corpus() {
  static const std::vector<std::string> corpus = [] {
    std::vector<std::string> c;
    for (const auto& e : std::filesystem::directory_iterator(std::string(ENGINE_SOURCE_DIR) + "/configs"))
      if (e.path().extension() == ".json") c.push_back(testing::read_text(e.path().string()));
    REQUIRE(c.size() >= 11);
    c.push_back("{}");
    c.push_back(R"({"name": "run-1", "seed": 7, "device": "cpu", "data": {"augment": {"crop_padding": 4,)"
                R"( "hflip": true, "cutout": 8}, "val_size": 100}})");
    c.push_back(R"({"model": {"checkpoint_stages": [1, 2], "width_mult": 0.5, "channels_last": true},)"
                R"( "output": {"log_every": 10, "progress": "lines"}})");
    c.push_back(R"({"training": {"milestones": [1, 2], "schedule": "step", "gamma": 0.5, "optimizer": "adamw",)"
                R"( "precision": "f16", "loss_scale": {"init": 1024.0, "growth_interval": 100}}})");
    c.push_back(R"({"moe": {"placement": ["layer3", "head"], "num_experts": 8, "top_k": 2, "noisy": true,)"
                R"( "learned_noise": true, "router": "attentive", "drop_tokens": true}})");
    return c;
  }();
  return corpus;
}

// Dotted paths of every key of the defaults, objects included.
void collect_paths(const io::Json& j, const std::string& prefix, std::vector<std::string>& out) {
  for (auto it = j.begin(); it != j.end(); ++it) {
    std::string p = prefix.empty() ? it.key() : prefix + "." + it.key();
    out.push_back(p);
    if (it.value().is_object()) collect_paths(it.value(), p, out);
  }
}

const std::vector<std::string>& key_paths() {
  static const std::vector<std::string> paths = [] {
    std::vector<std::string> p;
    collect_paths(app::default_train_config(), "", p);
    return p;
  }();
  return paths;
}

// The loaded config must be writable (the run directory saves it) and load again the same.
void check_loaded(const app::TrainConfig& c, const std::string& scratch) {
  std::string text;
  try {
    text = c.json.dump(2);
  } catch (const std::exception& e) {
    throw Violation{std::string("the effective config cannot be written as JSON: ") + e.what()};
  }
  const std::string path = scratch + "/effective.json";
  testing::write_text(path, text);
  app::TrainConfig again;
  try {
    again = app::load_train_config(path, {}, nullptr);
  } catch (const Error& e) {
    throw Violation{"the effective config, written and read again, is refused: " + e.message()};
  }
  if (again.json != c.json) throw Violation{"the effective config reads back differently"};
}

std::string random_path(Rng& rng) {
  const auto& paths = key_paths();
  switch (rng.below(10)) {
    case 0: return "";
    case 1: return rng.pick(paths) + ".x";  // below a scalar
    case 2: return rng.pick(paths) + ".";
    case 3: return "." + rng.pick(paths);
    case 4: {
      std::string p = rng.pick(paths);
      size_t dot = p.find('.');
      return dot == std::string::npos ? p + ".." : p.substr(0, dot) + ".." + p.substr(dot + 1);
    }
    case 5: {  // a very long dotted path
      static const size_t lengths[] = {10, 63, 65, 1000, 100000};
      std::string p = rng.chance(50) ? "training" : rng.pick(paths);
      size_t n = lengths[rng.below(5)];
      p.reserve(p.size() + 2 * n);
      for (size_t i = 0; i < n; ++i) p += ".a";
      return p;
    }
    case 6: return engine::fuzz::mutate(rng, rng.pick(paths), paths, 2);
    default: return rng.pick(paths);
  }
}

std::string random_value(Rng& rng, const std::string& path) {
  static const io::Json defaults = app::default_train_config();
  switch (rng.below(14)) {
    case 0:
    case 1: return rng.pick(engine::fuzz::odd_values());
    case 2:
    case 3: return rng.pick(engine::fuzz::odd_numbers());
    case 4:
    case 12:
    case 13: {  // the key's default value, as it is or mutated as text
      std::string def = "0";
      try {
        io::Json::json_pointer ptr("/" + [&] {
          std::string s = path;
          for (char& ch : s)
            if (ch == '.') ch = '/';
          return s;
        }());
        if (defaults.contains(ptr)) def = defaults.at(ptr).dump();
      } catch (const std::exception&) {
        // not a JSON pointer: keep "0"
      }
      return rng.chance(40) ? def : engine::fuzz::mutate(rng, def, engine::fuzz::odd_values(), 2);
    }
    case 5: return rng.pick(std::vector<std::string>{"fast", "", " ", "1,2", "[1,", "{", "}", "\"", "=", "a=b", " 1 "});
    case 6: return "x" + rng.pick(engine::fuzz::bad_utf8()) + "y";
    case 7: return engine::fuzz::deep_nesting(rng);
    case 8: return std::string(size_t(1) << (8 + rng.below(13)), 'z');
    case 9: return engine::fuzz::mutate(rng, rng.pick(engine::fuzz::odd_values()), engine::fuzz::odd_numbers(), 3);
    case 10: return std::string("a\0b", 3);
    default: return "\"" + rng.pick(engine::fuzz::bad_utf8()) + "\"";
  }
}

// A base config for the override channels: mostly valid, sometimes mutated.
std::string base_config(Rng& rng) {
  const auto& corpus = config_corpus();
  std::string text = rng.pick(corpus);
  if (rng.chance(10)) text = engine::fuzz::mutate(rng, text, corpus, 1);
  return text;
}

std::string describe_env(const std::string& base, const std::vector<std::string>& env) {
  std::string d = "config: " + base.substr(0, 200);
  for (const auto& e : env) d += "\nenv " + e;
  return d;
}

std::string random_env_entry(Rng& rng) {
  static const std::vector<std::string> sections = {"TRAINING", "training", "Training", "DATA",
                                                    "MODEL",    "MOE",      "OUTPUT",   "SEED",
                                                    "NAME",     "",         "TRAININ",  "DATA_AUGMENT"};
  switch (rng.below(10)) {
    case 0:
      return rng.pick(std::vector<std::string>{
          "ENGINE_", "ENGINE_CONFIG_", "ENGINE_CONFIG__", "ENGINE_CONFIG_=1", "ENGINE_CONFIG_TRAINING",
          "ENGINE_CONFIG_TRAINING_", "ENGINE_CONFIG_TRAINING_=", "ENGINE_TRAINING_lr=0.1", "ENGINE_TF32=1",
          "ENGINE_TF23=1", "ENGINE_FUZZ_SEED=1", "ENGINE=1", "PATH=/bin", "", "=", "ENGINE_CONFIG_MOE"});
    case 1: {  // an engine switch, or a near miss
      const auto& sw = io::engine_switches();
      std::string s = rng.pick(sw);
      if (rng.chance(50)) s = engine::fuzz::mutate(rng, s, sw, 1);
      return s + "=" + random_value(rng, "");
    }
    case 2: return engine::fuzz::mutate(rng, "ENGINE_CONFIG_TRAINING_lr=0.05", {}, 3);
    default: {
      const auto& paths = key_paths();
      std::string path = rng.chance(85) ? rng.pick(paths) : random_path(rng);
      size_t dot = path.find('.');
      std::string section = dot == std::string::npos ? rng.pick(sections) : path.substr(0, dot);
      if (dot != std::string::npos && rng.chance(70))
        for (char& ch : section) ch = char(std::toupper(static_cast<unsigned char>(ch)));
      std::string key = dot == std::string::npos ? path : path.substr(dot + 1);
      std::string entry = "ENGINE_CONFIG_" + section + "_" + key;
      if (rng.chance(95)) entry += "=" + random_value(rng, path);
      return entry;
    }
  }
}

}  // namespace

TEST_CASE("config fuzz: mutated config files through load_train_config", "[fuzz]") {
  const auto& corpus = config_corpus();
  FuzzRun run("config files", 1, kCases, kSeconds);
  const std::string path = run.scratch_dir() + "/config.json";
  while (run.next()) {
    Rng& rng = run.rng();
    // Half the cases keep the text JSON, so that they reach the schema and range checks.
    std::string text = rng.pick(corpus);
    if (rng.chance(50)) {
      for (size_t i = 0, n = 1 + rng.below(3); i < n; ++i) text = engine::fuzz::mutate_value(rng, text);
    } else {
      text = engine::fuzz::mutate(rng, text, corpus, 3);
    }
    testing::write_text(path, text);
    run.run_case(text, [&] { check_loaded(app::load_train_config(path, {}, nullptr), run.scratch_dir()); });
  }
  run.finish();
}

TEST_CASE("config fuzz: --set assignments of mutated paths and values", "[fuzz]") {
  FuzzRun run("config --set", 2, kCases, kSeconds);
  const std::string path = run.scratch_dir() + "/config.json";
  while (run.next()) {
    Rng& rng = run.rng();
    std::string base = base_config(rng);
    std::vector<std::string> sets;
    size_t n = 1 + rng.below(3);
    for (size_t i = 0; i < n; ++i) {
      std::string p = random_path(rng);
      sets.push_back(rng.chance(3) ? p : p + "=" + random_value(rng, p));
    }
    std::string described = "config: " + base.substr(0, 200);
    for (const auto& s : sets) described += "\n--set " + s;
    testing::write_text(path, base);
    run.run_case(described, [&] { check_loaded(app::load_train_config(path, sets, nullptr), run.scratch_dir()); });
  }
  run.finish();
}

TEST_CASE("config fuzz: ENGINE_CONFIG_ environment overrides of mutated names and values", "[fuzz]") {
  FuzzRun run("config environment", 3, kCases, kSeconds);
  // Unknown ENGINE_ variables are warned about on stderr: thousands of lines here.
  std::ostringstream warnings;
  std::streambuf* cerr_buf = std::cerr.rdbuf(warnings.rdbuf());
  const std::string path = run.scratch_dir() + "/config.json";
  while (run.next()) {
    Rng& rng = run.rng();
    std::string base = base_config(rng);
    std::vector<std::string> env;
    size_t n = 1 + rng.below(4);
    for (size_t i = 0; i < n; ++i) env.push_back(random_env_entry(rng));
    // A C environment ends each entry at its first NUL.
    std::vector<std::string> c_env;
    for (const auto& e : env) c_env.push_back(e.substr(0, e.find('\0')));
    std::vector<char*> envp;
    for (auto& e : c_env) envp.push_back(e.data());
    envp.push_back(nullptr);
    testing::write_text(path, base);
    run.run_case(describe_env(base, c_env), [&] {
      std::vector<std::string> applied;
      app::TrainConfig c = app::load_train_config(path, {}, envp.data(), &applied);
      if (applied.size() > c_env.size()) throw Violation{"more overrides applied than variables given"};
      check_loaded(c, run.scratch_dir());
    });
    warnings.str("");
  }
  std::cerr.rdbuf(cerr_buf);
  run.finish();
}
