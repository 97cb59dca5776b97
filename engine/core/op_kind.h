#pragma once
#include <cstdint>

namespace engine {

enum OpFlags : uint32_t { DIFF = 1u, VIEW = 2u, GRAPH = 4u };

enum class OpKind : uint16_t {
#define OP(id, name, flags) id,
#include "engine/core/ops.def"
#undef OP
  kCount
};
constexpr int kNumOps = int(OpKind::kCount);

const char* op_name(OpKind op);
uint32_t op_flags(OpKind op);
inline bool op_is_differentiable(OpKind op) { return op_flags(op) & DIFF; }
inline bool op_is_view(OpKind op) { return op_flags(op) & VIEW; }
// Views and graph nodes have no kernel on any device; every other op needs one.
inline bool op_needs_kernel(OpKind op) { return !(op_flags(op) & (VIEW | GRAPH)); }

}  // namespace engine
