#include "base/device.h"

#include "base/check.h"

namespace engine {

const char* device_type_name(DeviceType t) { return t == DeviceType::CPU ? "cpu" : "cuda"; }

std::string Device::str() const { return is_cpu() ? std::string("cpu") : "cuda:" + std::to_string(index); }

Device Device::parse(const std::string& s) {
  if (s == "cpu") return cpu();
  if (s == "cuda") return cuda(0);
  if (s.rfind("cuda:", 0) == 0 && s.size() > 5) {
    std::string n = s.substr(5);
    if (n.find_first_not_of("0123456789") == std::string::npos && n.size() < 4) return cuda(std::stoi(n));
  }
  ENGINE_THROW("unknown device '" << s << "': expected \"cpu\", \"cuda\" or \"cuda:N\"");
}

}  // namespace engine
