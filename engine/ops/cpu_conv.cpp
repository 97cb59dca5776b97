// CPU adapters for the conv family (to be filled in).
#include "engine/ops/dispatch.h"

namespace engine {
void register_cpu_conv() {}
}  // namespace engine
