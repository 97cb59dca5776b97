#include "engine/io/config.h"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "engine/io/json.h"

namespace engine::io {
namespace {

// Key paths of --set and environment overrides are bounded by the JSON reader's depth.
constexpr int kMaxKeyPathParts = JsonLimits{}.max_depth;

const char* type_word(const Json& j) {
  if (j.is_boolean()) return "a boolean";
  if (j.is_number_integer() || j.is_number_unsigned()) return "an integer";
  if (j.is_number()) return "a number";
  if (j.is_string()) return "a string";
  if (j.is_array()) return "an array";
  if (j.is_object()) return "an object";
  return "null";
}

// A value quoted in a message: cut to a readable length, and never throwing (a string
// that is not UTF-8 is printed with replacement characters).
std::string brief(const Json& j) { return clip(j.dump(-1, ' ', false, Json::error_handler_t::replace)); }

// The offset of the first byte that is not part of a well-formed UTF-8 sequence
// (overlong forms, surrogates and code points past U+10FFFF included), or npos.
size_t invalid_utf8_at(const std::string& s) {
  size_t i = 0;
  while (i < s.size()) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    if (c < 0x80) {
      ++i;
      continue;
    }
    size_t len = 0;
    unsigned char lo = 0x80, hi = 0xbf;  // the range of the second byte
    if (c >= 0xc2 && c <= 0xdf) {
      len = 2;
    } else if (c >= 0xe0 && c <= 0xef) {
      len = 3;
      if (c == 0xe0) lo = 0xa0;  // overlong
      if (c == 0xed) hi = 0x9f;  // surrogates
    } else if (c >= 0xf0 && c <= 0xf4) {
      len = 4;
      if (c == 0xf0) lo = 0x90;  // overlong
      if (c == 0xf4) hi = 0x8f;  // past U+10FFFF
    } else {
      return i;
    }
    if (i + len > s.size()) return i;
    for (size_t k = 1; k < len; ++k) {
      unsigned char b = static_cast<unsigned char>(s[i + k]);
      if (k == 1 ? (b < lo || b > hi) : (b < 0x80 || b > 0xbf)) return i;
    }
    i += len;
  }
  return std::string::npos;
}

bool same_kind(const Json& def, const Json& v) {
  if (def.is_number_float()) return v.is_number();  // 1 is a fine value for a float key
  if (def.is_number_integer() || def.is_number_unsigned()) return v.is_number_integer() || v.is_number_unsigned();
  if (def.is_null()) return true;
  return def.type() == v.type();
}

size_t edit_distance(const std::string& a, const std::string& b) {
  std::vector<size_t> prev(b.size() + 1), cur(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) prev[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    cur[0] = i;
    for (size_t j = 1; j <= b.size(); ++j)
      cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1)});
    std::swap(prev, cur);
  }
  return prev[b.size()];
}

std::vector<std::string> keys_of(const Json& obj) {
  std::vector<std::string> k;
  for (auto it = obj.begin(); it != obj.end(); ++it) k.push_back(it.key());
  return k;
}

void merge_into(Json& out, const Json& defaults, const Json& user, const std::string& path, const std::string& source) {
  for (auto it = user.begin(); it != user.end(); ++it) {
    std::string key_path = path.empty() ? it.key() : path + "." + it.key();
    if (!defaults.contains(it.key())) {
      std::string hint = did_you_mean(it.key(), keys_of(defaults));
      std::ostringstream allowed;
      for (auto& k : keys_of(defaults)) allowed << (allowed.tellp() ? ", " : "") << k;
      ENGINE_CONFIG_CHECK(false, source << ": unknown key '" << key_path << "'"
                                        << (hint.empty() ? "" : " (did you mean '" + hint + "'?)")
                                        << "; allowed here: " << allowed.str());
    }
    const Json& def = defaults.at(it.key());
    ENGINE_CONFIG_CHECK(same_kind(def, it.value()), source << ": key '" << key_path << "' must be " << type_word(def)
                                                           << ", got " << type_word(it.value()) << " ("
                                                           << brief(it.value()) << ")");
    if (def.is_object()) {
      merge_into(out[it.key()], def, it.value(), key_path, source);
    } else {
      out[it.key()] = it.value();
    }
  }
}

}  // namespace

std::string clip(const std::string& text, size_t max_chars) {
  if (text.size() <= max_chars) return text;
  return text.substr(0, max_chars) + "... (" + std::to_string(text.size()) + " bytes)";
}

std::string did_you_mean(const std::string& key, const std::vector<std::string>& candidates) {
  std::string best;
  size_t best_d = std::max<size_t>(3, key.size() / 3) + 1;
  for (const auto& c : candidates) {
    // The distance is at least the difference in length: a long key (a megabyte pasted
    // as a key or a value) is compared with nothing, instead of in time key x candidates.
    size_t gap = key.size() > c.size() ? key.size() - c.size() : c.size() - key.size();
    if (gap >= best_d) continue;
    size_t d = edit_distance(key, c);
    if (d < best_d) {
      best_d = d;
      best = c;
    }
  }
  return best;
}

Json read_json_file(const std::string& path) {
  std::error_code ec;
  ENGINE_CONFIG_CHECK(!std::filesystem::is_directory(path, ec),
                      "config file '" << path << "' is a directory: expected a JSON file");
  std::ifstream f(path);
  ENGINE_CONFIG_CHECK(f.good(), "config file '" << path << "' cannot be opened: check the path");
  // Read no more than the JSON reader takes: a path to something endless (/dev/zero, a
  // pipe that never closes) or huge (a dataset given as the config) stops here.
  const JsonLimits limits;
  std::string text;
  char buf[1 << 16];
  while (f.read(buf, sizeof(buf)) || f.gcount() > 0) {
    text.append(buf, size_t(f.gcount()));
    ENGINE_CONFIG_CHECK(text.size() <= limits.max_bytes, "config file '" << path << "' is longer than "
                                                                         << limits.max_bytes
                                                                         << " bytes: not a configuration file");
  }
  ENGINE_CONFIG_CHECK(!f.bad(), "config file '" << path << "' cannot be read: " << std::strerror(errno));
  JsonParse r = parse_json(text, limits);
  ENGINE_CONFIG_CHECK(r.ok, "config file '" << path << "' is " << (r.syntax_error ? "" : "refused: ") << r.error);
  return r.value;
}

Json merge_checked(const Json& defaults, const Json& user, const std::string& source) {
  ENGINE_CONFIG_CHECK(user.is_object(), source << ": the configuration must be a JSON object, got " << type_word(user));
  Json out = defaults;
  merge_into(out, defaults, user, "", source);
  return out;
}

void apply_override(Json& config, const Json& defaults, const std::string& assignment, const std::string& source) {
  size_t eq = assignment.find('=');
  ENGINE_CONFIG_CHECK(eq != std::string::npos && eq > 0,
                      source << ": expected key.path=value, got '" << assignment << "'");
  std::string path = assignment.substr(0, eq), text = assignment.substr(eq + 1);
  // A value that is not JSON is taken as a string; one over the reader's limits is refused.
  JsonParse r = parse_json(text);
  ENGINE_CONFIG_CHECK(r.ok || r.syntax_error, source << ": the value of '" << path << "' is refused: " << r.error);
  // Text taken as a string must be UTF-8 like any JSON string: the configuration is
  // written back as JSON (the run directory's config.json).
  size_t bad = r.ok ? std::string::npos : invalid_utf8_at(text);
  ENGINE_CONFIG_CHECK(bad == std::string::npos,
                      source << ": the value of '" << clip(path) << "' is not JSON, and as text it is not valid UTF-8 "
                             << "(byte 0x" << std::hex << int(static_cast<unsigned char>(text[bad])) << std::dec
                             << " at offset " << bad << "): expected JSON or UTF-8 text");
  Json value = r.ok ? r.value : Json(text);
  // The path is split before anything is built from it: a path of thousands of parts
  // would nest the document as deep (quadratic to build, recursive to copy and print).
  std::vector<std::string> parts(1);
  for (char ch : path) {
    if (ch == '.')
      parts.emplace_back();
    else
      parts.back() += ch;
    ENGINE_CONFIG_CHECK(int(parts.size()) <= kMaxKeyPathParts,
                        source << ": the key path '" << clip(path) << "' has more than " << kMaxKeyPathParts
                               << " parts; a configuration nests far less deep (e.g. training.loss_scale.init)");
  }
  for (const auto& p : parts)
    ENGINE_CONFIG_CHECK(!p.empty(), source << ": the key path '" << clip(path)
                                           << "' has an empty part; expected names joined by single dots, "
                                           << "e.g. training.lr");
  // Build {"a": {"b": {"c": value}}} and merge it, so that checks are shared.
  Json nested = value;
  for (auto it = parts.rbegin(); it != parts.rend(); ++it) nested = Json{{*it, nested}};
  Json merged = config;
  merge_into(merged, defaults, nested, "", source);
  config = merged;
}

const std::vector<std::string>& engine_switches() {
  static const std::vector<std::string> names = {
      // engine and apps
      "ENGINE_CUDA_SYNC", "ENGINE_CUDA_POISON", "ENGINE_TF32", "ENGINE_MOE_ROUTE", "ENGINE_MOE_GEMM", "ENGINE_CPU_CONV",
      "ENGINE_CIFAR10_DIR", "ENGINE_CIFAR100_DIR", "ENGINE_TEXT_ENCODER_DIR", "ENGINE_CRASH_AT_STEP",
      "ENGINE_DIST_FAIL",
      // the simulated device
      "ENGINE_CUDASIM_SCHEDULE", "ENGINE_CUDASIM_SEED", "ENGINE_CUDASIM_QUIET", "ENGINE_CUDASIM_PROFILE",
      "ENGINE_CUDASIM_LAUNCH_LOG", "ENGINE_CUDASIM_DEVICES", "ENGINE_CUDASIM_MEMORY_GIB",
      // the scripts
      "ENGINE_CUDA", "ENGINE_CUDA_ARCHS", "ENGINE_JOBS", "ENGINE_ROOT", "ENGINE_SKIP_ORDERS", "ENGINE_SKIP_NVCC",
      "ENGINE_SKIP_SANITIZE",
      // the fuzz tests (tests/fuzz)
      "ENGINE_FUZZ_SEED", "ENGINE_FUZZ_CASES", "ENGINE_FUZZ_SECONDS", "ENGINE_FUZZ_CASE"};
  return names;
}

std::vector<std::string> apply_env_overrides(Json& config, const Json& defaults, char** envp,
                                             std::vector<std::string>* warnings) {
  static const std::string kConfig = "ENGINE_CONFIG_";
  std::vector<std::string> applied;
  if (!envp) return applied;
  std::vector<std::string> sections, upper_sections;  // the top-level objects, as named and in capitals
  for (auto it = defaults.begin(); it != defaults.end(); ++it) {
    if (!it.value().is_object()) continue;
    std::string upper = it.key();
    for (char& c : upper) c = char(std::toupper(static_cast<unsigned char>(c)));
    sections.push_back(it.key());
    upper_sections.push_back(upper);
  }
  const std::vector<std::string>& switches = engine_switches();
  for (char** e = envp; *e; ++e) {
    std::string kv = *e;
    if (kv.rfind("ENGINE_", 0) != 0) continue;
    size_t eq = kv.find('=');
    std::string var = kv.substr(0, eq), value = eq == std::string::npos ? "" : kv.substr(eq + 1);
    if (std::find(switches.begin(), switches.end(), var) != switches.end()) continue;
    bool is_config = var.rfind(kConfig, 0) == 0;
    std::string name = is_config ? var.substr(kConfig.size()) : var.substr(7);
    bool matched = false;
    for (size_t k = 0; k < sections.size() && !matched; ++k) {
      const std::string &upper = upper_sections[k], &section = sections[k];
      if (name.size() <= upper.size() + 1 || name.compare(0, upper.size(), upper) != 0 || name[upper.size()] != '_')
        continue;
      matched = true;
      ENGINE_CONFIG_CHECK(is_config, "environment variable "
                                         << clip(var) << " is not an engine switch; config overrides are " << kConfig
                                         << "<SECTION>_<key>: did you mean " << kConfig << clip(name) << "?");
      apply_override(config, defaults, section + "." + name.substr(upper.size() + 1) + "=" + value,
                     "environment variable " + clip(var));
      applied.push_back(var);
    }
    if (matched) continue;
    ENGINE_CONFIG_CHECK(!is_config, "environment variable " << clip(var) << ": no config section matches '"
                                                            << clip(name) << "' (config overrides are " << kConfig
                                                            << "<SECTION>_<key>, e.g. ENGINE_CONFIG_TRAINING_lr)");
    if (warnings) {
      std::string guess = did_you_mean(var, switches);
      warnings->push_back("environment variable " + clip(var) + " is not an engine switch and is ignored" +
                          (guess.empty() ? std::string() : "; did you mean " + guess + "?"));
    }
  }
  return applied;
}

}  // namespace engine::io
