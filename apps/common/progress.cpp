#include "apps/common/progress.h"

#include <algorithm>
#include <iomanip>
#include <ostream>
#include <sstream>
#include <string>

namespace engine::app {

void Progress::update(int64_t epoch, int64_t epochs, int64_t step, int64_t steps, double loss, double acc, double ips,
                      double eta) {
  if (!bar_ && step % every_ != 0 && step != steps) return;
  std::ostringstream o;  // formatted apart, so the caller's stream keeps its settings
  o << std::fixed;
  if (bar_) {
    int width = 24, filled = int(double(width) * double(step) / double(std::max<int64_t>(steps, 1)));
    o << "\r epoch " << epoch + 1 << "/" << epochs << " [" << std::string(size_t(filled), '#')
      << std::string(size_t(width - filled), '.') << "] " << step << "/" << steps << std::setprecision(4) << " loss "
      << loss << " acc " << std::setprecision(3) << acc << std::setprecision(0) << " " << ips << " img/s ETA " << eta
      << "s   ";
    out_ << o.str() << std::flush;
  } else {
    o << "epoch " << epoch + 1 << "/" << epochs << " step " << step << "/" << steps << std::setprecision(4) << " loss "
      << loss << " acc " << std::setprecision(3) << acc << std::setprecision(0) << " img/s " << ips << " eta " << eta
      << "s";
    out_ << o.str() << std::endl;
  }
}

void Progress::end_epoch() {
  if (bar_) out_ << "\n";
}

}  // namespace engine::app
