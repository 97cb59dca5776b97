// CUDA adapters for the linear-algebra family (cuBLAS).
#include "engine/backends/cuda/adapter.h"
#include "kernels/cuda/gemm.h"

namespace engine {
namespace {
using namespace kernels;
using cuda_adapter::op_device;
using cuda_adapter::reg;
using cuda_adapter::stream_of;

void matmul_cuda(const OpCall& c) {
  const Tensor &a = c.in[0], &b = c.in[1], &y = c.out[0];
  cublasHandle_t h = runtime::cuda::cublas_handle(op_device(c));
  bool tf32 = runtime::cuda::tf32_enabled();
  ENGINE_CUDA_DISPATCH_FLOAT(y.dtype(), c.op,
                             matmul_fwd_cuda<scalar_t>(h, y.data<scalar_t>(), a.data<scalar_t>(), b.data<scalar_t>(),
                                                       c.get<MatmulAttrs>().p, tf32, stream_of(c)));
}

void linear_cuda(const OpCall& c) {
  const Tensor &x = c.in[0], &w = c.in[1], &bias = c.in[2], &y = c.out[0];
  cublasHandle_t h = runtime::cuda::cublas_handle(op_device(c));
  bool tf32 = runtime::cuda::tf32_enabled();
  ENGINE_CUDA_DISPATCH_FLOAT(y.dtype(), c.op,
                             linear_fwd_cuda<scalar_t>(h, y.data<scalar_t>(), x.data<scalar_t>(), w.data<scalar_t>(),
                                                       bias.defined() ? bias.data<scalar_t>() : nullptr, x.size(0),
                                                       x.size(1), w.size(0), tf32, stream_of(c)));
}

}  // namespace

void register_cuda_linalg() {
  reg<matmul_cuda>(OpKind::MATMUL);
  reg<linear_cuda>(OpKind::LINEAR);
}

}  // namespace engine
