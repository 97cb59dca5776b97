#include "engine/io/config.h"

#include <algorithm>
#include <cctype>
#include <fstream>
#include <sstream>

namespace engine::io {
namespace {

const char* type_word(const Json& j) {
  if (j.is_boolean()) return "a boolean";
  if (j.is_number_integer() || j.is_number_unsigned()) return "an integer";
  if (j.is_number()) return "a number";
  if (j.is_string()) return "a string";
  if (j.is_array()) return "an array";
  if (j.is_object()) return "an object";
  return "null";
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
                                                           << it.value().dump() << ")");
    if (def.is_object()) {
      merge_into(out[it.key()], def, it.value(), key_path, source);
    } else {
      out[it.key()] = it.value();
    }
  }
}

}  // namespace

std::string did_you_mean(const std::string& key, const std::vector<std::string>& candidates) {
  std::string best;
  size_t best_d = std::max<size_t>(3, key.size() / 3) + 1;
  for (const auto& c : candidates) {
    size_t d = edit_distance(key, c);
    if (d < best_d) {
      best_d = d;
      best = c;
    }
  }
  return best;
}

Json read_json_file(const std::string& path) {
  std::ifstream f(path);
  ENGINE_CONFIG_CHECK(f.good(), "config file '" << path << "' cannot be opened: check the path");
  std::stringstream ss;
  ss << f.rdbuf();
  try {
    return Json::parse(ss.str());
  } catch (const Json::parse_error& e) {
    ENGINE_CONFIG_CHECK(false, "config file '" << path << "' is not valid JSON: " << e.what());
  }
  return {};
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
  Json value;
  try {
    value = Json::parse(text);
  } catch (const Json::parse_error&) {
    value = text;
  }
  // Build {"a": {"b": {"c": value}}} and merge it, so that checks are shared.
  Json nested = value;
  std::vector<std::string> parts;
  std::stringstream ss(path);
  for (std::string p; std::getline(ss, p, '.');) parts.push_back(p);
  for (auto it = parts.rbegin(); it != parts.rend(); ++it) nested = Json{{*it, nested}};
  Json merged = config;
  merge_into(merged, defaults, nested, "", source);
  config = merged;
}

std::vector<std::string> apply_env_overrides(Json& config, const Json& defaults, char** envp) {
  std::vector<std::string> applied;
  if (!envp) return applied;
  for (char** e = envp; *e; ++e) {
    std::string kv = *e;
    if (kv.rfind("ENGINE_", 0) != 0) continue;
    size_t eq = kv.find('=');
    std::string name = kv.substr(7, eq - 7), value = kv.substr(eq + 1);
    for (auto it = defaults.begin(); it != defaults.end(); ++it) {
      if (!it.value().is_object()) continue;
      std::string section = it.key();
      std::string upper = section;
      for (char& c : upper) c = char(std::toupper(static_cast<unsigned char>(c)));
      if (name.size() > upper.size() + 1 && name.compare(0, upper.size(), upper) == 0 && name[upper.size()] == '_') {
        std::string key = name.substr(upper.size() + 1);
        apply_override(config, defaults, section + "." + key + "=" + value, "environment variable ENGINE_" + name);
        applied.push_back("ENGINE_" + name);
      }
    }
  }
  return applied;
}

}  // namespace engine::io
