#pragma once
#include <cstdint>

namespace engine {

enum OpFlags : uint32_t { DIFF = 1u, VIEW = 2u };

enum class OpKind : uint16_t {
#define OP(id, name, flags) id,
#include "engine/ops/ops.def"
#undef OP
  kCount
};
constexpr int kNumOps = int(OpKind::kCount);

const char* op_name(OpKind op);
uint32_t op_flags(OpKind op);
inline bool op_is_differentiable(OpKind op) { return op_flags(op) & DIFF; }
inline bool op_is_view(OpKind op) { return op_flags(op) & VIEW; }

}  // namespace engine
