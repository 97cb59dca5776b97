#pragma once
// Training progress on the console: a bar redrawn in place on a terminal, plain lines
// every log_every steps otherwise.
#include <cstdint>
#include <iosfwd>

namespace engine::app {

class Progress {
 public:
  Progress(std::ostream& out, bool bar, int64_t log_every) : out_(out), bar_(bar), every_(log_every) {}
  // `step` of `steps` in epoch `epoch` (0-based) of `epochs`; running loss and accuracy,
  // images per second and the seconds left in the epoch.
  void update(int64_t epoch, int64_t epochs, int64_t step, int64_t steps, double loss, double acc, double ips,
              double eta);
  void end_epoch();

 private:
  std::ostream& out_;
  bool bar_;
  int64_t every_;
};

}  // namespace engine::app
