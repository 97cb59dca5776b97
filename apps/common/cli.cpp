#include "apps/common/cli.h"

#include <cerrno>
#include <cstdlib>

namespace engine::app {

bool parse_int(const std::string& text, int64_t lo, int64_t hi, int64_t* value, std::string* error) {
  const std::string expected =
      "an integer in [" + std::to_string(lo) + ", " + std::to_string(hi) + "], got '" + text + "'";
  // strtoll skips leading blanks and accepts a sign; neither blanks nor trailing text pass.
  if (text.empty() || text.front() == ' ' || text.front() == '\t') {
    *error = expected;
    return false;
  }
  errno = 0;
  char* end = nullptr;
  long long v = std::strtoll(text.c_str(), &end, 10);
  if (end == text.c_str() || *end != '\0' || errno == ERANGE || v < lo || v > hi) {
    *error = expected;
    return false;
  }
  *value = int64_t(v);
  return true;
}

}  // namespace engine::app
