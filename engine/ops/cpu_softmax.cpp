// CPU adapters for the softmax family (to be filled in).
#include "engine/ops/dispatch.h"

namespace engine {
void register_cpu_softmax() {}
}  // namespace engine
