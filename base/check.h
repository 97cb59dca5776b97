#pragma once
// Engine errors: every failed check throws engine::Error carrying file:line and a
// readable message, so that tests can assert on failures and apps can print them.
#include <sstream>
#include <stdexcept>
#include <string>

namespace engine {

class Error : public std::runtime_error {
 public:
  Error(const std::string& msg, const char* file, int line)
      : std::runtime_error(msg + " (" + file + ":" + std::to_string(line) + ")"), message_(msg) {}
  // The message without the source location, for user-facing output.
  const std::string& message() const { return message_; }

 private:
  std::string message_;
};

}  // namespace engine

#define ENGINE_THROW(msg_stream)                                  \
  do {                                                            \
    std::ostringstream engine_oss_;                               \
    engine_oss_ << msg_stream;                                    \
    throw ::engine::Error(engine_oss_.str(), __FILE__, __LINE__); \
  } while (0)

#define ENGINE_CHECK(cond, msg_stream)     \
  do {                                     \
    if (!(cond)) ENGINE_THROW(msg_stream); \
  } while (0)
