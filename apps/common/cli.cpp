#include "apps/common/cli.h"

#include <cerrno>
#include <cstdlib>
#include <iostream>
#include <new>

#include "base/check.h"
#include "engine/io/config.h"

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

int run_guarded(const char* app, const std::function<int()>& body) {
  try {
    return body();
  } catch (const io::ConfigError& e) {
    std::cerr << app << ": configuration error: " << e.message() << std::endl;
    return 2;
  } catch (const Error& e) {
    std::cerr << app << ": error: " << e.message() << std::endl;
    return 1;
  } catch (const std::bad_alloc&) {
    std::cerr << app << ": out of host memory: an allocation failed; the request needs more memory than this "
              << "machine has (lower the batch size, the number of images or the model's width)" << std::endl;
    return 1;
  } catch (const std::exception& e) {
    std::cerr << app << ": error: " << e.what() << std::endl;
    return 1;
  }
}

}  // namespace engine::app
