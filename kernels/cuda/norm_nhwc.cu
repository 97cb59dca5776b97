#include "kernels/cuda/common.cuh"
#include "kernels/cuda/norm_nhwc.h"

namespace engine::kernels {
namespace {

constexpr int kLanes = 32;  // channels per block (threadIdx.x)
constexpr int kRows = 16;   // rows of threads striding over N * H * W (threadIdx.y)

template <class T> __device__ __forceinline__ double to_f64(T v) { return double(to_acc(v)); }
template <class T> __device__ __forceinline__ T from_f64(double v) { return from_acc<T>(acc_t<T>(v)); }

using Scratch = double[kRows][kLanes + 1];  // +1: no bank conflicts down a column

// The sum of v over threadIdx.y for the thread's channel lane, returned to every thread.
__device__ double column_sum(double v, Scratch& sh) {
  sh[threadIdx.y][threadIdx.x] = v;
  __syncthreads();
  if (threadIdx.y == 0) {
    double s = 0;
    for (int r = 0; r < kRows; ++r) s += sh[r][threadIdx.x];
    sh[0][threadIdx.x] = s;
  }
  __syncthreads();
  double total = sh[0][threadIdx.x];
  __syncthreads();  // the scratch is reused by the next call
  return total;
}

template <class T>
__global__ void bn_fwd_nhwc_kernel(BatchNormParams p, T* y, T* save_mean, T* save_invstd, const T* x, const T* gamma,
                                   const T* beta, T* running_mean, T* running_var) {
  __shared__ Scratch sh;
  using A = acc_t<T>;
  const int64_t M = p.N * p.HW, C = p.C;
  const int64_t c = int64_t(blockIdx.x) * kLanes + threadIdx.x;
  const bool active = c < C;  // idle lanes still take part in the block's reductions
  double mean = 0, invstd = 0;
  if (p.training) {
    double s = 0;
    if (active)
      for (int64_t m = threadIdx.y; m < M; m += kRows) s += to_f64(x[m * C + c]);
    mean = column_sum(s, sh) / double(M);
    double ss = 0;
    if (active)
      for (int64_t m = threadIdx.y; m < M; m += kRows) {
        double d = to_f64(x[m * C + c]) - mean;
        ss += d * d;
      }
    ss = column_sum(ss, sh);
    double var = ss / double(M);
    invstd = 1.0 / sqrt(var + p.eps);
    if (active && threadIdx.y == 0) {
      if (running_mean) running_mean[c] = from_f64<T>((1 - p.momentum) * to_f64(running_mean[c]) + p.momentum * mean);
      if (running_var) {
        double unbiased = M > 1 ? ss / double(M - 1) : var;
        running_var[c] = from_f64<T>((1 - p.momentum) * to_f64(running_var[c]) + p.momentum * unbiased);
      }
    }
  } else if (active) {
    mean = to_f64(running_mean[c]);
    invstd = 1.0 / sqrt(to_f64(running_var[c]) + p.eps);
  }
  if (!active) return;
  if (threadIdx.y == 0) {
    save_mean[c] = from_f64<T>(mean);
    save_invstd[c] = from_f64<T>(invstd);
  }
  double scale_d = (gamma ? to_f64(gamma[c]) : 1.0) * invstd;
  A scale = A(scale_d), shift = A((beta ? to_f64(beta[c]) : 0.0) - mean * scale_d);
  for (int64_t m = threadIdx.y; m < M; m += kRows) {
    int64_t k = m * C + c;
    y[k] = from_acc<T>(to_acc(x[k]) * scale + shift);
  }
}

template <class T>
__global__ void bn_bwd_nhwc_kernel(BatchNormParams p, T* gx, T* ggamma, T* gbeta, const T* gy, const T* x,
                                   const T* gamma, const T* save_mean, const T* save_invstd) {
  __shared__ Scratch sh;
  using A = acc_t<T>;
  const int64_t M = p.N * p.HW, C = p.C;
  const int64_t c = int64_t(blockIdx.x) * kLanes + threadIdx.x;
  const bool active = c < C;
  double mean = active ? to_f64(save_mean[c]) : 0.0, invstd = active ? to_f64(save_invstd[c]) : 0.0;
  double sg = 0, sgx = 0;
  if (active)
    for (int64_t m = threadIdx.y; m < M; m += kRows) {
      int64_t k = m * C + c;
      double g = to_f64(gy[k]);
      sg += g;
      sgx += g * (to_f64(x[k]) - mean) * invstd;
    }
  sg = column_sum(sg, sh);
  sgx = column_sum(sgx, sh);
  if (!active) return;
  if (threadIdx.y == 0) {
    if (gbeta) gbeta[c] = from_f64<T>(sg);
    if (ggamma) ggamma[c] = from_f64<T>(sgx);
  }
  if (!gx) return;
  double gi = (gamma ? to_f64(gamma[c]) : 1.0) * invstd;
  // Eval: the statistics are constants, so the two mean terms drop out.
  A a_gi = A(gi), a_mean = A(mean), a_invstd = A(invstd);
  A mg = p.training ? A(sg / double(M)) : A(0), mgx = p.training ? A(sgx / double(M)) : A(0);
  for (int64_t m = threadIdx.y; m < M; m += kRows) {
    int64_t k = m * C + c;
    A xhat = (to_acc(x[k]) - a_mean) * a_invstd;
    gx[k] = from_acc<T>(a_gi * (to_acc(gy[k]) - mg - xhat * mgx));
  }
}

}  // namespace

template <class T>
void batchnorm2d_fwd_nhwc_cuda(const BatchNormParams& p, T* y, T* save_mean, T* save_invstd, const T* x,
                               const T* gamma, const T* beta, T* running_mean, T* running_var, cudaStream_t stream) {
  if (p.C == 0) return;
  dim3 block(kLanes, kRows);
  bn_fwd_nhwc_kernel<T><<<unsigned((p.C + kLanes - 1) / kLanes), block, 0, stream>>>(
      p, y, save_mean, save_invstd, x, gamma, beta, running_mean, running_var);
  ENGINE_CUDA_LAUNCH_CHECK("bn_fwd_nhwc_kernel");
}

template <class T>
void batchnorm2d_bwd_nhwc_cuda(const BatchNormParams& p, T* gx, T* ggamma, T* gbeta, const T* gy, const T* x,
                               const T* gamma, const T* save_mean, const T* save_invstd, cudaStream_t stream) {
  if (p.C == 0) return;
  dim3 block(kLanes, kRows);
  bn_bwd_nhwc_kernel<T><<<unsigned((p.C + kLanes - 1) / kLanes), block, 0, stream>>>(p, gx, ggamma, gbeta, gy, x,
                                                                                      gamma, save_mean, save_invstd);
  ENGINE_CUDA_LAUNCH_CHECK("bn_bwd_nhwc_kernel");
}

#define INSTANTIATE(T)                                                                                             \
  template void batchnorm2d_fwd_nhwc_cuda<T>(const BatchNormParams&, T*, T*, T*, const T*, const T*, const T*, T*, \
                                             T*, cudaStream_t);                                                   \
  template void batchnorm2d_bwd_nhwc_cuda<T>(const BatchNormParams&, T*, T*, T*, const T*, const T*, const T*,    \
                                             const T*, const T*, cudaStream_t);
INSTANTIATE(float)
INSTANTIATE(double)
INSTANTIATE(bf16_t)
INSTANTIATE(f16_t)
#undef INSTANTIATE

}  // namespace engine::kernels
