// Functional mixture-of-experts ops: routing slots into an expert-contiguous buffer and
// the grouped GEMMs over it. Routing has data-dependent sizes: its kernel writes fixed
// [T * k] buffers and the kept count R = offsets[E] is read back here to cut them.
#include <cmath>

#include "engine/core/attrs.h"
#include "engine/core/dispatch.h"
#include "engine/ops/functional.h"

namespace engine::ops {
namespace {

bool is_float(DType d) { return d == DType::f32 || d == DType::f64 || d == DType::bf16 || d == DType::f16; }

struct GroupedShapes {
  int64_t E, R, Cin, Cout;
};

void check_offsets_tensor(const char* op, const Tensor& offsets, const Tensor& like) {
  ENGINE_CHECK(offsets.defined() && offsets.dtype() == DType::i64 && offsets.dim() == 1 && offsets.numel() >= 2,
               "op " << op << ": offsets must be i64 [E + 1] with E >= 1, got "
                     << (offsets.defined() ? offsets.header() : std::string("undefined")));
  ENGINE_CHECK(offsets.device() == like.device(),
               "op " << op << ": offsets on " << offsets.device().str() << ", data on " << like.device().str());
}

void check_operand(const char* op, const char* what, const Tensor& t, int64_t dims) {
  ENGINE_CHECK(t.defined(), "op " << op << ": undefined " << what);
  ENGINE_CHECK(is_float(t.dtype()), "op " << op << ": " << what << " must be floating, got " << t.header());
  ENGINE_CHECK(t.dim() == dims,
               "op " << op << ": " << what << " must have " << dims << " dims, got " << shape_str(t.shape()));
}

}  // namespace

int64_t moe_capacity(double capacity_factor, int64_t T, int64_t k, int64_t E) {
  ENGINE_CHECK(capacity_factor > 0 && T >= 0 && k >= 1 && E >= 1, "moe_capacity: bad arguments (capacity factor "
                                                                      << capacity_factor << ", T " << T << ", k " << k
                                                                      << ", E " << E << ")");
  // A relative nudge keeps exact products such as 1.25 * 64 * 2 / 4 = 40 from rounding up.
  double c = capacity_factor * double(T) * double(k) / double(E);
  return int64_t(std::ceil(c * (1.0 - 1e-12)));
}

MoeRouteOutput moe_route(const Tensor& expert_idx, const Tensor& priority, int64_t num_experts, int64_t capacity) {
  ENGINE_CHECK(expert_idx.defined() && expert_idx.dtype() == DType::i64 && expert_idx.dim() == 2,
               "op moe_route: expert indices must be i64 [T, k], got "
                   << (expert_idx.defined() ? expert_idx.header() : std::string("undefined")));
  ENGINE_CHECK(num_experts >= 1, "op moe_route: num_experts = " << num_experts << ", expected >= 1");
  const int64_t T = expert_idx.size(0), k = expert_idx.size(1), S = T * k;
  ENGINE_CHECK(k >= 1 && k <= num_experts,
               "op moe_route: k = " << k << " choices per token from " << num_experts << " experts");
  if (priority.defined()) {
    ENGINE_CHECK(
        priority.shape() == expert_idx.shape() && (priority.dtype() == DType::f32 || priority.dtype() == DType::f64),
        "op moe_route: priority must be f32/f64 " << shape_str(expert_idx.shape()) << ", got " << priority.header());
  }
  Device dev = expert_idx.device();
  Tensor row_token = Tensor::empty({S}, DType::i64, dev), row_slot = Tensor::empty({S}, DType::i64, dev),
         row_expert = Tensor::empty({S}, DType::i64, dev);
  Tensor offsets = Tensor::empty({num_experts + 1}, DType::i64, dev);
  Tensor counts = Tensor::empty({num_experts}, DType::i64, dev);
  MoeRouteAttrs a{kernels::MoeRouteParams{T, k, num_experts, capacity, capacity >= 0}};
  if (S == 0) {
    offsets.zero_();
    counts.zero_();
  } else {
    dispatch(OpCall{OpKind::MOE_ROUTE,
                    {expert_idx.contiguous(), priority.defined() ? priority.contiguous() : Tensor()},
                    {row_token, row_slot, row_expert, offsets, counts},
                    &a});
  }
  MoeRouteOutput r;
  r.kept = int64_t(offsets.select(0, num_experts).item());
  r.dropped = S - r.kept;
  r.row_token = row_token.slice(0, 0, r.kept);
  r.row_slot = row_slot.slice(0, 0, r.kept);
  r.row_expert = row_expert.slice(0, 0, r.kept);
  r.dropped_slots = row_slot.slice(0, r.kept, S);
  r.offsets = offsets;
  r.counts = counts;
  return r;
}

namespace {

GroupedShapes grouped_shapes(const char* op, const Tensor& rows, const Tensor& w, const Tensor& offsets,
                             bool rows_are_output_side) {
  check_operand(op, "rows", rows, 2);
  check_operand(op, "weight", w, 3);
  ENGINE_CHECK(rows.dtype() == w.dtype(), "op " << op << ": dtypes differ: " << rows.header() << " and " << w.header());
  check_offsets_tensor(op, offsets, rows);
  GroupedShapes s{w.size(0), rows.size(0), w.size(1), w.size(2)};
  ENGINE_CHECK(offsets.numel() == s.E + 1, "op " << op << ": offsets " << shape_str(offsets.shape()) << " for weights "
                                                 << shape_str(w.shape()) << " (expected [E + 1] = [" << s.E + 1
                                                 << "])");
  int64_t want = rows_are_output_side ? s.Cout : s.Cin;
  ENGINE_CHECK(rows.size(1) == want, "op " << op << ": rows " << shape_str(rows.shape()) << " do not match weights "
                                           << shape_str(w.shape()) << " (expected " << want << " columns)");
  return s;
}

}  // namespace

Tensor moe_grouped_matmul(const Tensor& x, const Tensor& w, const Tensor& offsets) {
  GroupedShapes s = grouped_shapes("moe_grouped_matmul", x, w, offsets, false);
  Tensor y = Tensor::empty({s.R, s.Cout}, x.dtype(), x.device());
  if (y.numel() == 0) return y;
  MoeGroupedMatmulAttrs a{kernels::MoeGroupedMatmulParams{s.E, s.R, s.Cin, s.Cout}};
  dispatch(OpCall{OpKind::MOE_GROUPED_MATMUL, {x.contiguous(), w.contiguous(), offsets.contiguous()}, {y}, &a});
  return y;
}

Tensor moe_grouped_matmul_bwd_data(const Tensor& gy, const Tensor& w, const Tensor& offsets) {
  GroupedShapes s = grouped_shapes("moe_grouped_matmul_bwd_data", gy, w, offsets, true);
  Tensor gx = Tensor::empty({s.R, s.Cin}, gy.dtype(), gy.device());
  if (gx.numel() == 0) return gx;
  MoeGroupedMatmulAttrs a{kernels::MoeGroupedMatmulParams{s.E, s.R, s.Cin, s.Cout}};
  dispatch(
      OpCall{OpKind::MOE_GROUPED_MATMUL_BWD_DATA, {gy.contiguous(), w.contiguous(), offsets.contiguous()}, {gx}, &a});
  return gx;
}

Tensor moe_grouped_matmul_bwd_weight(const Tensor& x, const Tensor& gy, const Tensor& offsets, int64_t num_experts) {
  const char* op = "moe_grouped_matmul_bwd_weight";
  check_operand(op, "x", x, 2);
  check_operand(op, "gy", gy, 2);
  ENGINE_CHECK(x.dtype() == gy.dtype(), "op " << op << ": dtypes differ: " << x.header() << " and " << gy.header());
  ENGINE_CHECK(x.size(0) == gy.size(0), "op " << op << ": x " << shape_str(x.shape()) << " and gy "
                                              << shape_str(gy.shape()) << " differ in rows");
  check_offsets_tensor(op, offsets, x);
  ENGINE_CHECK(offsets.numel() == num_experts + 1,
               "op " << op << ": offsets " << shape_str(offsets.shape()) << " for " << num_experts << " experts");
  GroupedShapes s{num_experts, x.size(0), x.size(1), gy.size(1)};
  Tensor gw = Tensor::empty({s.E, s.Cin, s.Cout}, x.dtype(), x.device());
  if (gw.numel() == 0) return gw;
  if (s.R == 0) {
    gw.zero_();
    return gw;
  }
  MoeGroupedMatmulAttrs a{kernels::MoeGroupedMatmulParams{s.E, s.R, s.Cin, s.Cout}};
  dispatch(
      OpCall{OpKind::MOE_GROUPED_MATMUL_BWD_WEIGHT, {x.contiguous(), gy.contiguous(), offsets.contiguous()}, {gw}, &a});
  return gw;
}

}  // namespace engine::ops
