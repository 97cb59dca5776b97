#pragma once
// JSON configuration against a schema of defaults: a user document is merged onto
// the defaults; every key must exist in the defaults (else an error with a "did you
// mean" suggestion) and keep its JSON type. Errors name the source and the key path.
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "base/check.h"

namespace engine::io {

using Json = nlohmann::json;

// A configuration error: exits 2 in the apps.
class ConfigError : public Error {
 public:
  ConfigError(const std::string& msg, const char* file, int line) : Error(msg, file, line) {}
};

#define ENGINE_CONFIG_CHECK(cond, msg_stream)                                 \
  do {                                                                        \
    if (!(cond)) {                                                            \
      std::ostringstream engine_oss_;                                         \
      engine_oss_ << msg_stream;                                              \
      throw ::engine::io::ConfigError(engine_oss_.str(), __FILE__, __LINE__); \
    }                                                                         \
  } while (0)

// Reads a JSON file; a missing file or a syntax error is a ConfigError naming the file.
Json read_json_file(const std::string& path);
// Merges `user` onto `defaults` recursively and returns the result. `source` names
// the origin in messages (a file name, "--set", an environment variable).
Json merge_checked(const Json& defaults, const Json& user, const std::string& source);
// Applies "a.b.c=value": value parsed as JSON when it parses, else as a string.
void apply_override(Json& config, const Json& defaults, const std::string& assignment, const std::string& source);
// Every ENGINE_ variable the engine, its apps and scripts read as a switch (README,
// "Environment"). Config overrides live apart, under ENGINE_CONFIG_.
const std::vector<std::string>& engine_switches();
// Applies environment overrides ENGINE_CONFIG_<SECTION>_<key>=value (e.g.
// ENGINE_CONFIG_TRAINING_lr); the section is matched case-insensitively against the
// top-level objects. Switches (engine_switches()) are left alone. An ENGINE_<SECTION>_<key>
// without CONFIG_ is an error naming the override it resembles; any other ENGINE_
// variable adds a warning, with the switch it resembles, to *warnings.
std::vector<std::string> apply_env_overrides(Json& config, const Json& defaults, char** envp,
                                             std::vector<std::string>* warnings = nullptr);
// User text quoted in a message, cut after max_chars with a note of its full length.
std::string clip(const std::string& text, size_t max_chars = 200);
// The closest candidate by edit distance, or "" when none is close.
std::string did_you_mean(const std::string& key, const std::vector<std::string>& candidates);

}  // namespace engine::io
