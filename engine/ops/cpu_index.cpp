// CPU adapters for the index family (to be filled in).
#include "engine/ops/dispatch.h"

namespace engine {
void register_cpu_index() {}
}  // namespace engine
