#include "kernels/cuda/batchnorm.h"
#include "kernels/cuda/common.cuh"

namespace engine::kernels {
namespace {

constexpr int kBnBlock = 512;

template <class T> __device__ __forceinline__ double to_f64(T v) { return double(to_acc(v)); }
template <class T> __device__ __forceinline__ T from_f64(double v) { return from_acc<T>(acc_t<T>(v)); }

// Element i of channel c, counting over (n, hw) of a contiguous [N, C, HW] tensor.
__device__ __forceinline__ int64_t bn_at(const BatchNormParams& p, int64_t c, int64_t i) {
  return ((i / p.HW) * p.C + c) * p.HW + i % p.HW;
}

template <class T>
__global__ void bn_fwd_kernel(BatchNormParams p, T* y, T* save_mean, T* save_invstd, const T* x, const T* gamma,
                              const T* beta, T* running_mean, T* running_var) {
  using A = acc_t<T>;
  const int64_t M = p.N * p.HW;
  for (int64_t c = blockIdx.x; c < p.C; c += gridDim.x) {
    double mean, invstd;
    if (p.training) {
      double s = 0;
      for (int64_t i = threadIdx.x; i < M; i += blockDim.x) s += to_f64(x[bn_at(p, c, i)]);
      mean = block_reduce(s, SumOp(), 0.0) / double(M);
      double ss = 0;
      for (int64_t i = threadIdx.x; i < M; i += blockDim.x) {
        double d = to_f64(x[bn_at(p, c, i)]) - mean;
        ss += d * d;
      }
      ss = block_reduce(ss, SumOp(), 0.0);
      double var = ss / double(M);
      invstd = 1.0 / sqrt(var + p.eps);
      if (threadIdx.x == 0) {
        if (running_mean)
          running_mean[c] = from_f64<T>((1 - p.momentum) * to_f64(running_mean[c]) + p.momentum * mean);
        if (running_var) {
          double unbiased = M > 1 ? ss / double(M - 1) : var;
          running_var[c] = from_f64<T>((1 - p.momentum) * to_f64(running_var[c]) + p.momentum * unbiased);
        }
      }
    } else {
      mean = to_f64(running_mean[c]);
      invstd = 1.0 / sqrt(to_f64(running_var[c]) + p.eps);
    }
    if (threadIdx.x == 0) {
      save_mean[c] = from_f64<T>(mean);
      save_invstd[c] = from_f64<T>(invstd);
    }
    double scale_d = (gamma ? to_f64(gamma[c]) : 1.0) * invstd;
    A scale = A(scale_d), shift = A((beta ? to_f64(beta[c]) : 0.0) - mean * scale_d);
    for (int64_t i = threadIdx.x; i < M; i += blockDim.x) {
      int64_t k = bn_at(p, c, i);
      y[k] = from_acc<T>(to_acc(x[k]) * scale + shift);
    }
  }
}

template <class T>
__global__ void bn_bwd_kernel(BatchNormParams p, T* gx, T* ggamma, T* gbeta, const T* gy, const T* x, const T* gamma,
                              const T* save_mean, const T* save_invstd) {
  using A = acc_t<T>;
  const int64_t M = p.N * p.HW;
  for (int64_t c = blockIdx.x; c < p.C; c += gridDim.x) {
    double mean = to_f64(save_mean[c]), invstd = to_f64(save_invstd[c]);
    double sg = 0, sgx = 0;
    for (int64_t i = threadIdx.x; i < M; i += blockDim.x) {
      int64_t k = bn_at(p, c, i);
      double g = to_f64(gy[k]);
      sg += g;
      sgx += g * (to_f64(x[k]) - mean) * invstd;
    }
    sg = block_reduce(sg, SumOp(), 0.0);
    sgx = block_reduce(sgx, SumOp(), 0.0);
    if (threadIdx.x == 0) {
      if (gbeta) gbeta[c] = from_f64<T>(sg);
      if (ggamma) ggamma[c] = from_f64<T>(sgx);
    }
    if (!gx) continue;
    double gi = (gamma ? to_f64(gamma[c]) : 1.0) * invstd;
    if (p.training) {
      A a_gi = A(gi), a_mean = A(mean), a_invstd = A(invstd), mg = A(sg / double(M)), mgx = A(sgx / double(M));
      for (int64_t i = threadIdx.x; i < M; i += blockDim.x) {
        int64_t k = bn_at(p, c, i);
        A xhat = (to_acc(x[k]) - a_mean) * a_invstd;
        gx[k] = from_acc<T>(a_gi * (to_acc(gy[k]) - mg - xhat * mgx));
      }
    } else {
      A a_gi = A(gi);
      for (int64_t i = threadIdx.x; i < M; i += blockDim.x) {
        int64_t k = bn_at(p, c, i);
        gx[k] = from_acc<T>(to_acc(gy[k]) * a_gi);
      }
    }
  }
}

}  // namespace

template <class T>
void batchnorm2d_fwd_cuda(const BatchNormParams& p, T* y, T* save_mean, T* save_invstd, const T* x, const T* gamma,
                          const T* beta, T* running_mean, T* running_var, cudaStream_t stream) {
  if (p.C == 0) return;
  bn_fwd_kernel<T><<<grid_for(p.C, 1), kBnBlock, 0, stream>>>(p, y, save_mean, save_invstd, x, gamma, beta,
                                                              running_mean, running_var);
  ENGINE_CUDA_LAUNCH_CHECK("bn_fwd_kernel");
}

template <class T>
void batchnorm2d_bwd_cuda(const BatchNormParams& p, T* gx, T* ggamma, T* gbeta, const T* gy, const T* x,
                          const T* gamma, const T* save_mean, const T* save_invstd, cudaStream_t stream) {
  if (p.C == 0) return;
  bn_bwd_kernel<T><<<grid_for(p.C, 1), kBnBlock, 0, stream>>>(p, gx, ggamma, gbeta, gy, x, gamma, save_mean,
                                                              save_invstd);
  ENGINE_CUDA_LAUNCH_CHECK("bn_bwd_kernel");
}

#define INSTANTIATE(T)                                                                                        \
  template void batchnorm2d_fwd_cuda<T>(const BatchNormParams&, T*, T*, T*, const T*, const T*, const T*, T*, T*, \
                                        cudaStream_t);                                                       \
  template void batchnorm2d_bwd_cuda<T>(const BatchNormParams&, T*, T*, T*, const T*, const T*, const T*,       \
                                        const T*, const T*, cudaStream_t);
INSTANTIATE(float)
INSTANTIATE(double)
INSTANTIATE(bf16_t)
INSTANTIATE(f16_t)
#undef INSTANTIATE

}  // namespace engine::kernels
