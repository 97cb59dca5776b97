#pragma once
// Command-line pieces every app shares: strict numbers and the help flag.
#include <cstdint>
#include <functional>
#include <string>

namespace engine::app {

// The whole of `text` as a decimal integer in [lo, hi]. On failure returns false and
// sets *error to what was expected and what was given ("an integer in [1, 100000],
// got '2x'"), so that the app can print it with the option's name and exit 2.
bool parse_int(const std::string& text, int64_t lo, int64_t hi, int64_t* value, std::string* error);

// Runs an app's body and turns what it throws into one message on stderr, prefixed with
// the app's name, and the exit code: io::ConfigError -> "configuration error: ...", 2;
// engine::Error -> "error: ...", 1; std::bad_alloc -> "out of host memory ...", 1;
// any other exception -> "error: <what>", 1. Otherwise the body's return value.
int run_guarded(const char* app, const std::function<int()>& body);

// "-h" or "--help": every app prints its usage and exits 0.
inline bool is_help_flag(const std::string& arg) { return arg == "-h" || arg == "--help"; }

}  // namespace engine::app
