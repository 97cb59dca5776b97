#include "engine/core/op_kind.h"

namespace engine {
namespace {
constexpr const char* kNames[] = {
#define OP(id, name, flags) name,
#include "engine/core/ops.def"
#undef OP
};
constexpr uint32_t kFlags[] = {
#define OP(id, name, flags) uint32_t(flags),
#include "engine/core/ops.def"
#undef OP
};
static_assert(sizeof(kNames) / sizeof(kNames[0]) == kNumOps, "op name table out of sync with ops.def");
static_assert(sizeof(kFlags) / sizeof(kFlags[0]) == kNumOps, "op flag table out of sync with ops.def");
}  // namespace

const char* op_name(OpKind op) { return kNames[int(op)]; }
uint32_t op_flags(OpKind op) { return kFlags[int(op)]; }

}  // namespace engine
