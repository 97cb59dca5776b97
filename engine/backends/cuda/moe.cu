// CUDA adapters for the mixture-of-experts family: routing, the grouped GEMMs and the
// fused router.
#include <cstdlib>
#include <cstring>
#include <initializer_list>
#include <string>
#include <vector>

#include "engine/backends/cuda/adapter.h"
#include "kernels/cuda/moe.h"
#include "kernels/cuda/moe_router.h"

namespace engine {
namespace {
using namespace kernels;
using cuda_adapter::op_device;
using cuda_adapter::reg;
using cuda_adapter::stream_of;

CudaIndexError* err_of(const OpCall& c) { return runtime::cuda::index_error_record(op_device(c)); }

// Which implementation an op runs, from an environment variable read at every call
// (tests switch it): the value when it is one of `choices`, otherwise "auto".
std::string impl_choice(const char* var, std::initializer_list<const char*> choices) {
  const char* v = std::getenv(var);
  if (v)
    for (const char* ch : choices)
      if (std::strcmp(v, ch) == 0) return v;
  return "auto";
}

// From this many slots on, routing sorts with CUB across the device; below it the
// one-block placement is a single short launch.
constexpr int64_t kSortRouteMinSlots = 2048;

void moe_route_cuda(const OpCall& c) {
  const Tensor &idx = c.in[0], &prio = c.in[1];
  const auto& a = c.get<MoeRouteAttrs>();
  int64_t *row_token = c.out[0].data<int64_t>(), *row_slot = c.out[1].data<int64_t>(),
          *row_expert = c.out[2].data<int64_t>(), *offsets = c.out[3].data<int64_t>(),
          *counts = c.out[4].data<int64_t>();
  const std::string impl = impl_choice("ENGINE_MOE_ROUTE", {"sort", "place"});
  if (impl == "sort" || (impl == "auto" && a.p.T * a.p.k >= kSortRouteMinSlots)) {
    // CUB's temporary storage comes from the caching allocator with the rest of the scratch.
    Tensor scratch =
        Tensor::empty({int64_t(moe_route_sort_scratch_bytes(a.p, prio.defined()))}, DType::u8, idx.device());
    if (!prio.defined()) {
      moe_route_sort_fwd_cuda<float>(row_token, row_slot, row_expert, offsets, counts, idx.data<int64_t>(), nullptr,
                                     scratch.data_ptr(), a.p, err_of(c), stream_of(c));
      return;
    }
    ENGINE_CUDA_DISPATCH_F32_F64(
        prio.dtype(), c.op,
        moe_route_sort_fwd_cuda<scalar_t>(row_token, row_slot, row_expert, offsets, counts, idx.data<int64_t>(),
                                          prio.data<scalar_t>(), scratch.data_ptr(), a.p, err_of(c), stream_of(c)));
    return;
  }
  Tensor scratch = Tensor::empty({a.p.T * a.p.k + a.p.E + 1}, DType::i64, idx.device());
  if (!prio.defined()) {
    moe_route_fwd_cuda<float>(row_token, row_slot, row_expert, offsets, counts, idx.data<int64_t>(), nullptr,
                              scratch.data<int64_t>(), a.p, err_of(c), stream_of(c));
    return;
  }
  ENGINE_CUDA_DISPATCH_F32_F64(
      prio.dtype(), c.op,
      moe_route_fwd_cuda<scalar_t>(row_token, row_slot, row_expert, offsets, counts, idx.data<int64_t>(),
                                   prio.data<scalar_t>(), scratch.data<int64_t>(), a.p, err_of(c), stream_of(c)));
}

// The grouped GEMMs run through cuBLAS's grouped GEMM for f32/bf16/f16 unless
// ENGINE_MOE_GEMM=tiled; f64 always takes the tiled kernels.
bool use_cublas_grouped(DType d) {
  return d != DType::f64 && impl_choice("ENGINE_MOE_GEMM", {"cublas", "tiled"}) != "tiled";
}

// The cuBLAS call needs each expert's row count on the host: this copy waits for the
// stream (the layer reads the routing's kept count back anyway).
std::vector<int64_t> host_offsets(const Tensor& offsets) { return offsets.to(Device::cpu()).to_vector_as<int64_t>(); }

struct CublasGrouped {
  cublasHandle_t handle;
  std::vector<int64_t> off;
  Tensor scratch;
  bool tf32;
};

CublasGrouped cublas_grouped(const OpCall& c, const Tensor& offsets) {
  const auto& p = c.get<MoeGroupedMatmulAttrs>().p;
  const int dev = op_device(c);
  return CublasGrouped{runtime::cuda::cublas_handle(dev), host_offsets(offsets),
                       Tensor::empty({int64_t(moe_grouped_cublas_scratch_bytes(p))}, DType::u8, offsets.device()),
                       runtime::cuda::tf32_enabled()};
}

#define ENGINE_CUDA_DISPATCH_CUBLAS_GROUPED(dtype, op, ...)                     \
  switch (dtype) {                                                              \
    ENGINE_DTYPE_CASE(f32, float, __VA_ARGS__)                                  \
    ENGINE_DTYPE_CASE(bf16, ::engine::bf16_t, __VA_ARGS__)                      \
    ENGINE_DTYPE_CASE(f16, ::engine::f16_t, __VA_ARGS__)                        \
    ENGINE_DTYPE_UNSUPPORTED(dtype, op, "cuBLAS grouped GEMM (f32, bf16, f16)") \
  }

void moe_grouped_matmul_cuda(const OpCall& c) {
  if (use_cublas_grouped(c.out[0].dtype())) {
    const Tensor &x = c.in[0], &w = c.in[1], &y = c.out[0];
    CublasGrouped g = cublas_grouped(c, c.in[2]);
    ENGINE_CUDA_DISPATCH_CUBLAS_GROUPED(
        y.dtype(), c.op,
        moe_grouped_matmul_fwd_cublas<scalar_t>(g.handle, y.data<scalar_t>(), x.data<scalar_t>(), w.data<scalar_t>(),
                                                g.off.data(), c.get<MoeGroupedMatmulAttrs>().p, g.scratch.data_ptr(),
                                                g.tf32, stream_of(c)));
    return;
  }
  const Tensor &x = c.in[0], &w = c.in[1], &offsets = c.in[2], &y = c.out[0];
  ENGINE_CUDA_DISPATCH_FLOAT(y.dtype(), c.op,
                             moe_grouped_matmul_fwd_cuda<scalar_t>(
                                 y.data<scalar_t>(), x.data<scalar_t>(), w.data<scalar_t>(), offsets.data<int64_t>(),
                                 c.get<MoeGroupedMatmulAttrs>().p, err_of(c), stream_of(c)));
}

void moe_grouped_matmul_bwd_data_cuda_adapter(const OpCall& c) {
  if (use_cublas_grouped(c.out[0].dtype())) {
    const Tensor &gy = c.in[0], &w = c.in[1], &gx = c.out[0];
    CublasGrouped g = cublas_grouped(c, c.in[2]);
    ENGINE_CUDA_DISPATCH_CUBLAS_GROUPED(
        gx.dtype(), c.op,
        moe_grouped_matmul_bwd_data_cublas<scalar_t>(g.handle, gx.data<scalar_t>(), gy.data<scalar_t>(),
                                                     w.data<scalar_t>(), g.off.data(), c.get<MoeGroupedMatmulAttrs>().p,
                                                     g.scratch.data_ptr(), g.tf32, stream_of(c)));
    return;
  }
  const Tensor &gy = c.in[0], &w = c.in[1], &offsets = c.in[2], &gx = c.out[0];
  ENGINE_CUDA_DISPATCH_FLOAT(gx.dtype(), c.op,
                             moe_grouped_matmul_bwd_data_cuda<scalar_t>(
                                 gx.data<scalar_t>(), gy.data<scalar_t>(), w.data<scalar_t>(), offsets.data<int64_t>(),
                                 c.get<MoeGroupedMatmulAttrs>().p, err_of(c), stream_of(c)));
}

void moe_grouped_matmul_bwd_weight_cuda_adapter(const OpCall& c) {
  if (use_cublas_grouped(c.out[0].dtype())) {
    const Tensor &x = c.in[0], &gy = c.in[1], &gw = c.out[0];
    CublasGrouped g = cublas_grouped(c, c.in[2]);
    ENGINE_CUDA_DISPATCH_CUBLAS_GROUPED(
        gw.dtype(), c.op,
        moe_grouped_matmul_bwd_weight_cublas<scalar_t>(
            g.handle, gw.data<scalar_t>(), x.data<scalar_t>(), gy.data<scalar_t>(), g.off.data(),
            c.get<MoeGroupedMatmulAttrs>().p, g.scratch.data_ptr(), g.tf32, stream_of(c)));
    return;
  }
  const Tensor &x = c.in[0], &gy = c.in[1], &offsets = c.in[2], &gw = c.out[0];
  ENGINE_CUDA_DISPATCH_FLOAT(gw.dtype(), c.op,
                             moe_grouped_matmul_bwd_weight_cuda<scalar_t>(
                                 gw.data<scalar_t>(), x.data<scalar_t>(), gy.data<scalar_t>(), offsets.data<int64_t>(),
                                 c.get<MoeGroupedMatmulAttrs>().p, err_of(c), stream_of(c)));
}

void moe_router_topk_cuda(const OpCall& c) {
  const Tensor &x = c.in[0], &w = c.in[1];
  ENGINE_CUDA_DISPATCH_FLOAT(
      x.dtype(), c.op,
      moe_router_fwd_cuda<scalar_t>(c.out[0].data<scalar_t>(), c.out[1].data<scalar_t>(), c.out[2].data<int64_t>(),
                                    c.out[3].data<scalar_t>(), c.out[4].data<scalar_t>(), x.data<scalar_t>(),
                                    w.data<scalar_t>(), c.get<MoeRouterAttrs>().p, stream_of(c)));
}

void moe_router_topk_bwd_cuda(const OpCall& c) {
  const Tensor &x = c.in[0], &w = c.in[1];
  const auto& p = c.get<MoeRouterAttrs>().p;
  // Scratch from the caching allocator: per-token score gradients and gw's partial sums.
  Tensor scratch =
      Tensor::empty({int64_t(moe_router_bwd_scratch_bytes(p, x.dtype() == DType::f64))}, DType::u8, x.device());
  ENGINE_CUDA_DISPATCH_FLOAT(
      x.dtype(), c.op,
      moe_router_bwd_cuda<scalar_t>(
          c.out[0].data<scalar_t>(), c.out[1].data<scalar_t>(), x.data<scalar_t>(), w.data<scalar_t>(),
          c.in[2].data<scalar_t>(), c.in[3].data<int64_t>(), c.in[4].data<scalar_t>(), data_or_null<scalar_t>(c.in[5]),
          data_or_null<scalar_t>(c.in[6]), data_or_null<scalar_t>(c.in[7]), scratch.data_ptr(), p, stream_of(c)));
}

}  // namespace

void register_cuda_moe() {
  reg<moe_router_topk_cuda>(OpKind::MOE_ROUTER_TOPK);
  reg<moe_router_topk_bwd_cuda>(OpKind::MOE_ROUTER_TOPK_BWD);
  reg<moe_route_cuda>(OpKind::MOE_ROUTE, kF32F64);
  reg<moe_grouped_matmul_cuda>(OpKind::MOE_GROUPED_MATMUL);
  reg<moe_grouped_matmul_bwd_data_cuda_adapter>(OpKind::MOE_GROUPED_MATMUL_BWD_DATA);
  reg<moe_grouped_matmul_bwd_weight_cuda_adapter>(OpKind::MOE_GROUPED_MATMUL_BWD_WEIGHT);
}

}  // namespace engine
