#include "kernels/cuda/common.cuh"
#include "kernels/cuda/norm_nhwc.h"

namespace engine::kernels {
namespace {

constexpr int kLanes = 32;                 // channels per block (threadIdx.x)
constexpr int kRows = 16;                  // rows of threads (threadIdx.y)
constexpr int64_t kRowsPerSplit = 512;     // at least this many rows per block before splitting further
constexpr int64_t kMaxSplits = 64;         // row slices (gridDim.y)

template <class T> __device__ __forceinline__ double to_f64(T v) { return double(to_acc(v)); }
template <class T> __device__ __forceinline__ T from_f64(double v) { return from_acc<T>(acc_t<T>(v)); }

struct Split {
  int64_t S = 1, chunk = 0;  // slices and rows per slice
};

Split split_of(const BatchNormParams& p) {
  const int64_t M = p.N * p.HW;
  Split s;
  s.S = (M + kRowsPerSplit - 1) / kRowsPerSplit;
  if (s.S < 1) s.S = 1;
  if (s.S > kMaxSplits) s.S = kMaxSplits;
  s.chunk = (M + s.S - 1) / s.S;
  return s;
}

// The block's channel and its slice of rows [r0, r1).
struct Tile {
  int64_t c, r0, r1;
  bool active;
};

__device__ __forceinline__ Tile tile_of(const BatchNormParams& p, int64_t chunk) {
  const int64_t M = p.N * p.HW;
  Tile t;
  t.c = int64_t(blockIdx.x) * kLanes + threadIdx.x;
  t.active = t.c < p.C;
  t.r0 = int64_t(blockIdx.y) * chunk;
  t.r1 = t.r0 + chunk < M ? t.r0 + chunk : M;
  return t;
}

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

// The sum over the S slices of channel c's partials, in slice order.
__device__ __forceinline__ double total_of(const double* part, int64_t S, int64_t C, int64_t c) {
  double s = 0;
  for (int64_t k = 0; k < S; ++k) s += part[k * C + c];
  return s;
}

// Training statistics, pass 1 (sums) or pass 2 (centred squares around the mean that
// pass 1's partials give): one partial per (slice, channel).
template <class T, bool kSquares>
__global__ void bn_nhwc_partial_kernel(BatchNormParams p, int64_t S, int64_t chunk, const T* x, double* sum_part,
                                       double* sq_part) {
  __shared__ Scratch sh;
  const Tile t = tile_of(p, chunk);
  const int64_t C = p.C;
  double mean = 0, acc = 0;
  if (kSquares && t.active) mean = total_of(sum_part, S, C, t.c) / double(p.N * p.HW);
  if (t.active)
    for (int64_t m = t.r0 + threadIdx.y; m < t.r1; m += kRows) {
      double v = to_f64(x[m * C + t.c]);
      if (kSquares) {
        v -= mean;
        acc += v * v;
      } else {
        acc += v;
      }
    }
  acc = column_sum(acc, sh);
  if (t.active && threadIdx.y == 0) (kSquares ? sq_part : sum_part)[int64_t(blockIdx.y) * C + t.c] = acc;
}

// Normalises the block's rows. Training reads the statistics from the partials; the
// first slice's block writes save_mean / save_invstd and updates the running statistics.
template <class T>
__global__ void bn_nhwc_apply_kernel(BatchNormParams p, int64_t S, int64_t chunk, T* y, T* save_mean, T* save_invstd,
                                     const T* x, const T* gamma, const T* beta, T* running_mean, T* running_var,
                                     const double* sum_part, const double* sq_part) {
  using A = acc_t<T>;
  const Tile t = tile_of(p, chunk);
  if (!t.active) return;  // no block-wide synchronisation below
  const int64_t M = p.N * p.HW, C = p.C, c = t.c;
  double mean, invstd;
  if (p.training) {
    mean = total_of(sum_part, S, C, c) / double(M);
    double ss = total_of(sq_part, S, C, c), var = ss / double(M);
    invstd = 1.0 / sqrt(var + p.eps);
    if (blockIdx.y == 0 && threadIdx.y == 0) {
      if (running_mean) running_mean[c] = from_f64<T>((1 - p.momentum) * to_f64(running_mean[c]) + p.momentum * mean);
      if (running_var) {
        double unbiased = M > 1 ? ss / double(M - 1) : var;
        running_var[c] = from_f64<T>((1 - p.momentum) * to_f64(running_var[c]) + p.momentum * unbiased);
      }
    }
  } else {
    mean = to_f64(running_mean[c]);
    invstd = 1.0 / sqrt(to_f64(running_var[c]) + p.eps);
  }
  if (blockIdx.y == 0 && threadIdx.y == 0) {
    save_mean[c] = from_f64<T>(mean);
    save_invstd[c] = from_f64<T>(invstd);
  }
  double scale_d = (gamma ? to_f64(gamma[c]) : 1.0) * invstd;
  A scale = A(scale_d), shift = A((beta ? to_f64(beta[c]) : 0.0) - mean * scale_d);
  for (int64_t m = t.r0 + threadIdx.y; m < t.r1; m += kRows) {
    int64_t k = m * C + c;
    y[k] = from_acc<T>(to_acc(x[k]) * scale + shift);
  }
}

// Backward pass 1: partial sums of gy and gy * xhat per (slice, channel).
template <class T>
__global__ void bn_nhwc_bwd_partial_kernel(BatchNormParams p, int64_t chunk, const T* gy, const T* x,
                                           const T* save_mean, const T* save_invstd, double* sg_part,
                                           double* sgx_part) {
  __shared__ Scratch sh;
  const Tile t = tile_of(p, chunk);
  const int64_t C = p.C;
  double sg = 0, sgx = 0;
  if (t.active) {
    double mean = to_f64(save_mean[t.c]), invstd = to_f64(save_invstd[t.c]);
    for (int64_t m = t.r0 + threadIdx.y; m < t.r1; m += kRows) {
      int64_t k = m * C + t.c;
      double g = to_f64(gy[k]);
      sg += g;
      sgx += g * (to_f64(x[k]) - mean) * invstd;
    }
  }
  sg = column_sum(sg, sh);
  sgx = column_sum(sgx, sh);
  if (t.active && threadIdx.y == 0) {
    sg_part[int64_t(blockIdx.y) * C + t.c] = sg;
    sgx_part[int64_t(blockIdx.y) * C + t.c] = sgx;
  }
}

// Backward pass 2: the first slice's block writes gbeta / ggamma; every block writes gx
// for its rows (eval: the statistics are constants, so the two mean terms drop out).
template <class T>
__global__ void bn_nhwc_bwd_apply_kernel(BatchNormParams p, int64_t S, int64_t chunk, T* gx, T* ggamma, T* gbeta,
                                         const T* gy, const T* x, const T* gamma, const T* save_mean,
                                         const T* save_invstd, const double* sg_part, const double* sgx_part) {
  using A = acc_t<T>;
  const Tile t = tile_of(p, chunk);
  if (!t.active) return;
  const int64_t M = p.N * p.HW, C = p.C, c = t.c;
  double sg = total_of(sg_part, S, C, c), sgx = total_of(sgx_part, S, C, c);
  if (blockIdx.y == 0 && threadIdx.y == 0) {
    if (gbeta) gbeta[c] = from_f64<T>(sg);
    if (ggamma) ggamma[c] = from_f64<T>(sgx);
  }
  if (!gx) return;
  double mean = to_f64(save_mean[c]), invstd = to_f64(save_invstd[c]);
  double gi = (gamma ? to_f64(gamma[c]) : 1.0) * invstd;
  A a_gi = A(gi), a_mean = A(mean), a_invstd = A(invstd);
  A mg = p.training ? A(sg / double(M)) : A(0), mgx = p.training ? A(sgx / double(M)) : A(0);
  for (int64_t m = t.r0 + threadIdx.y; m < t.r1; m += kRows) {
    int64_t k = m * C + c;
    A xhat = (to_acc(x[k]) - a_mean) * a_invstd;
    gx[k] = from_acc<T>(a_gi * (to_acc(gy[k]) - mg - xhat * mgx));
  }
}

dim3 grid_of(const BatchNormParams& p, const Split& s) {
  return dim3(unsigned((p.C + kLanes - 1) / kLanes), unsigned(s.S));
}

}  // namespace

size_t batchnorm2d_nhwc_scratch_bytes(const BatchNormParams& p) {
  return size_t(2 * split_of(p).S * p.C) * sizeof(double);
}

template <class T>
void batchnorm2d_fwd_nhwc_cuda(const BatchNormParams& p, T* y, T* save_mean, T* save_invstd, const T* x,
                               const T* gamma, const T* beta, T* running_mean, T* running_var, double* scratch,
                               cudaStream_t stream) {
  if (p.C == 0) return;
  const Split s = split_of(p);
  const dim3 grid = grid_of(p, s), block(kLanes, kRows);
  double *sum_part = scratch, *sq_part = scratch + s.S * p.C;
  if (p.training) {
    bn_nhwc_partial_kernel<T, false><<<grid, block, 0, stream>>>(p, s.S, s.chunk, x, sum_part, sq_part);
    ENGINE_CUDA_LAUNCH_CHECK("bn_nhwc_partial_kernel (sums)");
    bn_nhwc_partial_kernel<T, true><<<grid, block, 0, stream>>>(p, s.S, s.chunk, x, sum_part, sq_part);
    ENGINE_CUDA_LAUNCH_CHECK("bn_nhwc_partial_kernel (squares)");
  }
  bn_nhwc_apply_kernel<T><<<grid, block, 0, stream>>>(p, s.S, s.chunk, y, save_mean, save_invstd, x, gamma, beta,
                                                       running_mean, running_var, sum_part, sq_part);
  ENGINE_CUDA_LAUNCH_CHECK("bn_nhwc_apply_kernel");
}

template <class T>
void batchnorm2d_bwd_nhwc_cuda(const BatchNormParams& p, T* gx, T* ggamma, T* gbeta, const T* gy, const T* x,
                               const T* gamma, const T* save_mean, const T* save_invstd, double* scratch,
                               cudaStream_t stream) {
  if (p.C == 0) return;
  const Split s = split_of(p);
  const dim3 grid = grid_of(p, s), block(kLanes, kRows);
  double *sg_part = scratch, *sgx_part = scratch + s.S * p.C;
  bn_nhwc_bwd_partial_kernel<T><<<grid, block, 0, stream>>>(p, s.chunk, gy, x, save_mean, save_invstd, sg_part,
                                                             sgx_part);
  ENGINE_CUDA_LAUNCH_CHECK("bn_nhwc_bwd_partial_kernel");
  bn_nhwc_bwd_apply_kernel<T><<<grid, block, 0, stream>>>(p, s.S, s.chunk, gx, ggamma, gbeta, gy, x, gamma, save_mean,
                                                           save_invstd, sg_part, sgx_part);
  ENGINE_CUDA_LAUNCH_CHECK("bn_nhwc_bwd_apply_kernel");
}

#define INSTANTIATE(T)                                                                                             \
  template void batchnorm2d_fwd_nhwc_cuda<T>(const BatchNormParams&, T*, T*, T*, const T*, const T*, const T*, T*, \
                                             T*, double*, cudaStream_t);                                          \
  template void batchnorm2d_bwd_nhwc_cuda<T>(const BatchNormParams&, T*, T*, T*, const T*, const T*, const T*,    \
                                             const T*, const T*, double*, cudaStream_t);
INSTANTIATE(float)
INSTANTIATE(double)
INSTANTIATE(bf16_t)
INSTANTIATE(f16_t)
#undef INSTANTIATE

}  // namespace engine::kernels
