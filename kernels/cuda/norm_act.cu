// Both kernels run one block per channel: a channel's statistics (forward) and its two
// gradient sums (backward) are block reductions accumulated in f64, followed by an
// elementwise pass in the activation's arithmetic type. The forward reads x three times
// (sum, centred sum of squares, normalise) for the variance's accuracy; the backward
// reads gy, x (and y for the mask) twice. Channels-last tensors are read with the
// channel stride (correct, not coalesced: a tiled kernel over [N*HW, C] is the follow-up).
#include "kernels/cuda/common.cuh"
#include "kernels/cuda/norm_act.h"

namespace engine::kernels {
namespace {

constexpr int kBnActBlock = 512;

template <class T> __device__ __forceinline__ double to_f64(T v) { return double(to_acc(v)); }
template <class T> __device__ __forceinline__ T from_f64(double v) { return from_acc<T>(acc_t<T>(v)); }

// Element i of channel c, counting over (n, hw) of a dense [N, C, HW] or [N, HW, C] tensor.
__device__ __forceinline__ int64_t at(const BatchNormActParams& p, int64_t c, int64_t i) {
  return p.channels_last ? i * p.C + c : ((i / p.HW) * p.C + c) * p.HW + i % p.HW;
}

template <class T, class P>
__global__ void bn_act_fwd_kernel(BatchNormActParams p, T* y, P* save_mean, P* save_invstd, const T* x,
                                  const T* residual, const P* gamma, const P* beta, P* running_mean,
                                  P* running_var) {
  using A = acc_t<T>;
  const int64_t M = p.N * p.HW;
  for (int64_t c = blockIdx.x; c < p.C; c += gridDim.x) {
    double mean, invstd;
    if (p.training) {
      double s = 0;
      for (int64_t i = threadIdx.x; i < M; i += blockDim.x) s += to_f64(x[at(p, c, i)]);
      mean = block_reduce(s, SumOp(), 0.0) / double(M);
      double ss = 0;
      for (int64_t i = threadIdx.x; i < M; i += blockDim.x) {
        double d = to_f64(x[at(p, c, i)]) - mean;
        ss += d * d;
      }
      ss = block_reduce(ss, SumOp(), 0.0);
      double var = ss / double(M);
      invstd = 1.0 / sqrt(var + p.eps);
      if (threadIdx.x == 0) {
        if (running_mean)
          running_mean[c] = from_f64<P>((1 - p.momentum) * to_f64(running_mean[c]) + p.momentum * mean);
        if (running_var) {
          double unbiased = M > 1 ? ss / double(M - 1) : var;
          running_var[c] = from_f64<P>((1 - p.momentum) * to_f64(running_var[c]) + p.momentum * unbiased);
        }
      }
    } else {
      mean = to_f64(running_mean[c]);
      invstd = 1.0 / sqrt(to_f64(running_var[c]) + p.eps);
    }
    if (threadIdx.x == 0) {
      save_mean[c] = from_f64<P>(mean);
      save_invstd[c] = from_f64<P>(invstd);
    }
    double scale_d = (gamma ? to_f64(gamma[c]) : 1.0) * invstd;
    A scale = A(scale_d), shift = A((beta ? to_f64(beta[c]) : 0.0) - mean * scale_d);
    for (int64_t i = threadIdx.x; i < M; i += blockDim.x) {
      int64_t k = at(p, c, i);
      A v = to_acc(x[k]) * scale + shift;
      if (residual) v += to_acc(residual[k]);
      if (p.relu && !(v > A(0))) v = A(0);
      y[k] = from_acc<T>(v);
    }
  }
}

template <class T, class P>
__global__ void bn_act_bwd_kernel(BatchNormActParams p, T* gx, P* ggamma, P* gbeta, T* gresidual, const T* gy,
                                  const T* y, const T* x, const P* gamma, const P* save_mean, const P* save_invstd) {
  using A = acc_t<T>;
  const int64_t M = p.N * p.HW;
  for (int64_t c = blockIdx.x; c < p.C; c += gridDim.x) {
    double mean = to_f64(save_mean[c]), invstd = to_f64(save_invstd[c]);
    A a_mean = A(mean), a_invstd = A(invstd);
    double sg = 0, sgx = 0;
    for (int64_t i = threadIdx.x; i < M; i += blockDim.x) {
      int64_t k = at(p, c, i);
      A g = p.relu && !(to_acc(y[k]) > A(0)) ? A(0) : to_acc(gy[k]);
      if (gresidual) gresidual[k] = from_acc<T>(g);
      sg += double(g);
      sgx += double(g) * (to_f64(x[k]) - mean) * invstd;
    }
    sg = block_reduce(sg, SumOp(), 0.0);
    sgx = block_reduce(sgx, SumOp(), 0.0);
    if (threadIdx.x == 0) {
      if (gbeta) gbeta[c] = from_f64<P>(sg);
      if (ggamma) ggamma[c] = from_f64<P>(sgx);
    }
    if (!gx) continue;
    A gi = A((gamma ? to_f64(gamma[c]) : 1.0) * invstd);
    A mg = p.training ? A(sg / double(M)) : A(0), mgx = p.training ? A(sgx / double(M)) : A(0);
    for (int64_t i = threadIdx.x; i < M; i += blockDim.x) {
      int64_t k = at(p, c, i);
      A g = p.relu && !(to_acc(y[k]) > A(0)) ? A(0) : to_acc(gy[k]);
      A xhat = (to_acc(x[k]) - a_mean) * a_invstd;
      gx[k] = from_acc<T>(gi * (g - mg - xhat * mgx));
    }
  }
}

}  // namespace

template <class T, class P>
void batchnorm2d_act_fwd_cuda(const BatchNormActParams& p, T* y, P* save_mean, P* save_invstd, const T* x,
                              const T* residual, const P* gamma, const P* beta, P* running_mean, P* running_var,
                              cudaStream_t stream) {
  if (p.C == 0) return;
  bn_act_fwd_kernel<T, P><<<grid_for(p.C, 1), kBnActBlock, 0, stream>>>(p, y, save_mean, save_invstd, x, residual,
                                                                        gamma, beta, running_mean, running_var);
  ENGINE_CUDA_LAUNCH_CHECK("bn_act_fwd_kernel");
}

template <class T, class P>
void batchnorm2d_act_bwd_cuda(const BatchNormActParams& p, T* gx, P* ggamma, P* gbeta, T* gresidual, const T* gy,
                              const T* y, const T* x, const P* gamma, const P* save_mean, const P* save_invstd,
                              cudaStream_t stream) {
  if (p.C == 0) return;
  bn_act_bwd_kernel<T, P><<<grid_for(p.C, 1), kBnActBlock, 0, stream>>>(p, gx, ggamma, gbeta, gresidual, gy, y, x,
                                                                        gamma, save_mean, save_invstd);
  ENGINE_CUDA_LAUNCH_CHECK("bn_act_bwd_kernel");
}

#define INSTANTIATE(T, P)                                                                                        \
  template void batchnorm2d_act_fwd_cuda<T, P>(const BatchNormActParams&, T*, P*, P*, const T*, const T*,         \
                                               const P*, const P*, P*, P*, cudaStream_t);                         \
  template void batchnorm2d_act_bwd_cuda<T, P>(const BatchNormActParams&, T*, P*, P*, T*, const T*, const T*,     \
                                               const T*, const P*, const P*, const P*, cudaStream_t);
INSTANTIATE(float, float)
INSTANTIATE(double, double)
INSTANTIATE(bf16_t, bf16_t)
INSTANTIATE(bf16_t, float)
INSTANTIATE(f16_t, f16_t)
INSTANTIATE(f16_t, float)
#undef INSTANTIATE

}  // namespace engine::kernels
