#pragma once
// The one JSON reader for everything a user hands in: configuration files, --set and
// environment override values, safetensors headers. Bounded, so that a hostile document
// gives an error instead of exhausting the stack or the memory of what reads it next:
// nesting deeper than max_depth or text longer than max_bytes is refused while parsing,
// and so is an object that names a key twice.
#include <nlohmann/json.hpp>
#include <string>

namespace engine::io {

struct JsonLimits {
  int max_depth = 64;                   // arrays and objects inside each other
  size_t max_bytes = size_t(64) << 20;  // of text
};

struct JsonParse {
  bool ok = false;
  nlohmann::json value;
  // Why not ok: "not valid JSON: <the parser's message>", "nested deeper than 64 levels",
  // "longer than N bytes", "a number out of range: <...>", "ambiguous: the key "k"
  // appears twice in one object".
  std::string error;
  bool syntax_error = false;  // the text is not JSON at all (as opposed to over a limit)
};

// Never throws.
JsonParse parse_json(const std::string& text, const JsonLimits& limits = {});

}  // namespace engine::io
