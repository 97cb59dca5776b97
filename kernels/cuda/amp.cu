#include "kernels/cuda/amp.h"
#include "kernels/cuda/common.cuh"
#include "kernels/cuda/launch.cuh"

namespace engine::kernels {
namespace {

// Every thread that sees a non-finite result writes the same 1.0f: the race is benign,
// and the flag is never lowered, so the launches for all gradients share it.
template <class T>
__global__ void amp_unscale_kernel(T* g, int64_t n, acc_t<T> inv_scale, float* found_inf) {
  ENGINE_GRID_STRIDE(i, n) {
    acc_t<T> v = to_acc(g[i]) * inv_scale;
    g[i] = from_acc<T>(v);
    if (!isfinite(v)) *found_inf = 1.0f;
  }
}

}  // namespace

template <class T>
void amp_unscale_cuda(T* g, int64_t n, double inv_scale, float* found_inf, cudaStream_t stream) {
  if (n == 0) return;
  ENGINE_LAUNCH(grid_for(n), kBlock, 0, stream, amp_unscale_kernel<T>)(g, n, acc_t<T>(inv_scale), found_inf);
  ENGINE_CUDA_LAUNCH_CHECK("amp_unscale_kernel");
}

#define INSTANTIATE(T) template void amp_unscale_cuda<T>(T*, int64_t, double, float*, cudaStream_t);
INSTANTIATE(float)
INSTANTIATE(double)
INSTANTIATE(bf16_t)
INSTANTIATE(f16_t)
#undef INSTANTIATE

}  // namespace engine::kernels
