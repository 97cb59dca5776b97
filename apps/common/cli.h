#pragma once
// Command-line pieces every app shares: strict numbers and the help flag.
#include <cstdint>
#include <string>

namespace engine::app {

// The whole of `text` as a decimal integer in [lo, hi]. On failure returns false and
// sets *error to what was expected and what was given ("an integer in [1, 100000],
// got '2x'"), so that the app can print it with the option's name and exit 2.
bool parse_int(const std::string& text, int64_t lo, int64_t hi, int64_t* value, std::string* error);

// "-h" or "--help": every app prints its usage and exits 0.
inline bool is_help_flag(const std::string& arg) { return arg == "-h" || arg == "--help"; }

}  // namespace engine::app
