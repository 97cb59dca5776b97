// CPU adapters for the linalg family (to be filled in).
#include "engine/ops/dispatch.h"

namespace engine {
void register_cpu_linalg() {}
}  // namespace engine
