// The configuration schema: the one table that the defaults, the messages of bad values
// and `train_app --print-defaults` come from.
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include "apps/common/config_schema.h"
#include "apps/common/train_config.h"
#include "test_util.h"

using namespace engine;

namespace {

// Every leaf of a JSON object by its dotted path (lists and null are leaves).
void flatten(const io::Json& j, const std::string& prefix, std::map<std::string, io::Json>& out) {
  for (auto it = j.begin(); it != j.end(); ++it) {
    std::string path = prefix.empty() ? it.key() : prefix + "." + it.key();
    if (it->is_object()) {
      flatten(*it, path, out);
    } else {
      out[path] = *it;
    }
  }
}

// The message parse_train_config gives for the defaults with `path` set to `value`.
std::string error_with(const std::string& path, const io::Json& value) {
  io::Json j = app::default_train_config();
  io::Json* node = &j;
  std::stringstream parts(path);
  std::vector<std::string> names;
  for (std::string part; std::getline(parts, part, '.');) names.push_back(part);
  for (size_t i = 0; i + 1 < names.size(); ++i) node = &(*node)[names[i]];
  (*node)[names.back()] = value;
  try {
    app::parse_train_config(j);
  } catch (const io::ConfigError& e) {
    return e.message();
  }
  return "";
}

std::string printed(app::DefaultsFormat format) {
  std::ostringstream out;
  app::print_defaults(out, format);
  return out.str();
}

}  // namespace

TEST_CASE("the schema: one entry per key, one-line descriptions, defaults among their choices", "[config]") {
  const auto& schema = app::config_schema();
  REQUIRE(schema.size() >= 60);
  std::set<std::string> paths;
  for (const app::ConfigKey& k : schema) {
    INFO(k.path);
    CHECK(paths.insert(k.path).second);
    CHECK_FALSE(k.description.empty());
    CHECK(k.description.find('\n') == std::string::npos);
    CHECK(k.range.find('\n') == std::string::npos);
    if (!k.choices.empty() && k.default_value.is_string())
      CHECK(std::find(k.choices.begin(), k.choices.end(), k.default_value.get<std::string>()) != k.choices.end());
    CHECK(&app::config_key(k.path) == &k);
  }
  // No key is also the object of another ("a.b" and "a.b.c").
  for (const std::string& p : paths) {
    INFO(p);
    auto next = paths.upper_bound(p);
    CHECK((next == paths.end() || next->rfind(p + ".", 0) != 0));
  }
  CHECK_THROWS_WITH(app::config_key("training.learning_rate"), Catch::Contains("no key 'training.learning_rate'"));
  CHECK(app::config_key("data.dataset").choices.size() >= 3);  // the dataset registry's names
  CHECK(app::config_key("training.precision").values() == "\"f32\", \"bf16\", \"f16\"");
  CHECK(app::config_key("model.width_mult").values() == "(0, 8]");
  CHECK(app::config_key("data.augment.hflip").values().empty());
}

TEST_CASE("default_train_config holds exactly the schema's keys and defaults", "[config]") {
  std::map<std::string, io::Json> leaves;
  flatten(app::default_train_config(), "", leaves);
  REQUIRE(leaves.size() == app::config_schema().size());
  for (const app::ConfigKey& k : app::config_schema()) {
    INFO(k.path);
    REQUIRE(leaves.count(k.path) == 1);
    CHECK(leaves[k.path] == k.default_value);
  }
  CHECK_NOTHROW(app::parse_train_config(app::default_train_config()));
}

TEST_CASE("the messages of bad values state the schema's ranges and choices", "[config]") {
  CHECK_THAT(error_with("model.width_mult", 9),
             Catch::Contains("'model.width_mult' = 9 is out of range: expected (0, 8]"));
  CHECK_THAT(error_with("training.lr", 200), Catch::Contains("'training.lr' = 200 is out of range: expected (0, 100)"));
  CHECK_THAT(error_with("training.warmup_epochs", 2.5), Catch::Contains("expected 0..training.epochs"));
  CHECK_THAT(error_with("moe.router", "dense"),
             Catch::Contains("'moe.router': unknown value \"dense\"; expected one of \"linear\", \"attentive\""));
  CHECK_THAT(error_with("training.schedule", "cosin"), Catch::Contains("(did you mean \"cosine\"?)"));
  CHECK_THAT(error_with("device", "gpu"),
             Catch::Contains("'device': unknown value \"gpu\"; expected \"auto\", \"cpu\" or \"cuda:N\""));
  CHECK_THAT(error_with("name", "../x"),
             Catch::Contains("cannot name a run directory: expected at most 100 letters, digits, '-', '_' or '.', "
                             "not starting with '.'"));
  CHECK_THAT(error_with("seed", -3), Catch::Contains("'seed' = -3 is out of range: expected an integer >= 0"));
}

TEST_CASE("print_defaults: a config that loads as the defaults, described JSON, a Markdown row per key", "[config]") {
  std::string path = std::string(ENGINE_BINARY_DIR) + "/test_config_defaults_" + std::to_string(getpid()) + ".json";
  std::ofstream(path) << printed(app::DefaultsFormat::Config);
  app::TrainConfig c = app::load_train_config(path, {}, nullptr);
  std::remove(path.c_str());
  CHECK(c.json == app::default_train_config());
  // In the schema's order, not sorted: the run's name comes first.
  CHECK(printed(app::DefaultsFormat::Config).rfind("{\n  \"name\": \"\",\n  \"seed\": 0,", 0) == 0);

  io::Json described = io::Json::parse(printed(app::DefaultsFormat::Describe));
  REQUIRE(described.size() == app::config_schema().size());
  for (const app::ConfigKey& k : app::config_schema()) {
    INFO(k.path);
    REQUIRE(described.contains(k.path));
    CHECK(described[k.path]["default"] == k.default_value);
    CHECK(described[k.path]["description"] == k.description);
    CHECK(described[k.path].value("values", "") == k.values());
  }

  std::istringstream md(printed(app::DefaultsFormat::Markdown));
  std::string line;
  std::getline(md, line);
  CHECK(line == "| key | default | values | description |");
  size_t rows = 0;
  while (std::getline(md, line)) rows += line.rfind("| `", 0) == 0;
  CHECK(rows == app::config_schema().size());
  CHECK(printed(app::DefaultsFormat::Markdown).find("| `training.lr` | `0.1` | (0, 100) | ") != std::string::npos);
}
