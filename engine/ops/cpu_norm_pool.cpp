// CPU adapters for the norm_pool family (to be filled in).
#include "engine/ops/dispatch.h"

namespace engine {
void register_cpu_norm_pool() {}
}  // namespace engine
