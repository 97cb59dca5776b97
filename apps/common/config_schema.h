#pragma once
// The training configuration's schema: one table of every key with its default, the
// values it takes and a one-line description. default_train_config() is built from it,
// parse_train_config() takes its choices and the ranges its messages state from it, and
// `train_app --print-defaults` prints it (as a config, as described JSON, or as the
// Markdown table in README.md).
#include <ostream>
#include <string>
#include <vector>

#include "engine/io/config.h"

namespace engine::app {

struct ConfigKey {
  std::string path;  // "training.lr": objects joined by '.'
  io::Json default_value;
  // The names a string key (or the elements of a list of strings) may take; empty when
  // the key is not an enumeration.
  std::vector<std::string> choices;
  // The values it takes as the error messages state them ("(0, 8]", ">= 0 (0 = all)");
  // empty when any value of its type is taken or the choices say it.
  std::string range;
  std::string description;  // one line

  // What a user may write: the range, else the choices as `"a", "b"`, else "".
  std::string values() const;
};

// Every key, in the order a config file lists them.
const std::vector<ConfigKey>& config_schema();
// The entry of `path`; a path outside the schema is an internal error (engine::Error).
const ConfigKey& config_key(const std::string& path);

// The three forms of `train_app --print-defaults`: the default configuration (a config
// file that loads as it is), each key with its default, values and description as one
// JSON object, and the Markdown table of README.md.
enum class DefaultsFormat { Config, Describe, Markdown };
void print_defaults(std::ostream& out, DefaultsFormat format);

}  // namespace engine::app
