// Three launches per direction, for NCHW and channels-last alike:
//  1. partial sums: each channel's M = N*HW elements are cut into S slices of `chunk`
//     consecutive (n, hw) rows (S aims at about 1024 blocks; at most 256 slices), one
//     block per (channel group, slice), each writing its f64 partials to
//     scratch[slice][channel]. Channels-last blocks are 32 channel lanes x 16
//     rows (coalesced across channels); NCHW blocks are 256 threads over one channel's
//     slice. Slicing keeps every SM busy when C is small (C=64 over 524,288 rows).
//  2. finish: one warp per channel adds its S partials (fixed lane order, then a fixed
//     shuffle tree: deterministic, no atomics) and writes the statistics or the parameter
//     gradients plus per-channel coefficients of the elementwise pass.
//  3. elementwise: a flat grid-stride pass over the tensor in the activation's
//     arithmetic type (f32 for f32/bf16/f16, f64 for f64), in 16-byte packs when the
//     size and every pointer allow it, else element by element.
// The forward sums are taken around a shift K (the channel's first element) in one read
// of x: mean = K + sum(x-K)/M and sum((x-mean)^2) = sum((x-K)^2) - sum(x-K)^2/M, in f64,
// which keeps the cancellation of the one-pass variance negligible for data on the scale
// of K. The backward sums g' and g' * (x - mean), g' the relu-masked upstream gradient.
#include <algorithm>
#include <cstdint>
#include <initializer_list>
#include <type_traits>

#include "kernels/cuda/common.cuh"
#include "kernels/cuda/launch.cuh"
#include "kernels/cuda/norm_act.h"

namespace engine::kernels {
namespace {

constexpr int kLanes = 32;         // channels-last reduction block: channels (threadIdx.x)
constexpr int kRows = 16;          // ... and rows (threadIdx.y)
constexpr int kPlaneBlock = 256;   // NCHW reduction block
constexpr int kFinishBlock = 256;  // finish kernel: 8 warps, one channel each
constexpr int kApplyBlock = 256;
constexpr int64_t kTargetBlocks = 1024;  // reduction blocks to aim for (H100: 132 SMs)
// Rows a slice holds at least: 8 per thread of the 16-row channels-last block, 4 per
// thread of the 256-thread NCHW block (one shared 128-row minimum left at least half of
// every NCHW block idle, and a simulated GPU pays for each idle thread's reduction).
constexpr int64_t kMinRowsPerSplitNhwc = 128;
constexpr int64_t kMinRowsPerSplitNchw = 4 * kPlaneBlock;
constexpr int64_t kMaxSplits = 256;

template <class T>
__device__ __forceinline__ double to_f64(T v) {
  return double(to_acc(v));
}
template <class T>
__device__ __forceinline__ T from_f64(double v) {
  return from_acc<T>(acc_t<T>(v));
}

struct Split {
  int64_t S = 1, chunk = 0;  // slices per channel and rows per slice
};

// Enough slices for about kTargetBlocks blocks, each of at least the layout's minimum rows.
Split split_of(const BatchNormActParams& p) {
  const int64_t M = p.N * p.HW;
  const int64_t groups = p.channels_last ? (p.C + kLanes - 1) / kLanes : p.C;
  Split s;
  s.S = (kTargetBlocks + groups - 1) / std::max<int64_t>(groups, 1);
  const int64_t min_rows = p.channels_last ? kMinRowsPerSplitNhwc : kMinRowsPerSplitNchw;
  s.S = std::min(s.S, (M + min_rows - 1) / min_rows);
  s.S = std::max<int64_t>(1, std::min(s.S, kMaxSplits));
  s.chunk = (M + s.S - 1) / s.S;
  return s;
}

// Scratch layout: two [S][C] partial arrays, then four [C] coefficient arrays of the
// arithmetic type (each given a double's room).
struct Scratch {
  double *pa, *pb;
  double* coef;
};

Scratch scratch_of(double* base, const BatchNormActParams& p, const Split& s) {
  return {base, base + s.S * p.C, base + 2 * s.S * p.C};
}

// Forward: sum(x - K) and sum((x - K)^2), K the channel's first element.
template <class T>
struct FwdSums {
  const T* x;
  int64_t HW;
  bool channels_last;
  double K;
  __device__ void init(int64_t c, int64_t M) { K = M > 0 ? to_f64(x[channels_last ? c : c * HW]) : 0.0; }
  __device__ void add(int64_t k, double& a, double& b) const {
    double v = to_f64(x[k]) - K;
    a += v;
    b += v * v;
  }
};

// Backward: sum(g') and sum(g' * (x - mean)), g' = gy masked where relu clamped.
template <class T, class P>
struct BwdSums {
  const T *gy, *y, *x;
  const P* save_mean;
  bool relu;
  double mean;
  __device__ void init(int64_t c, int64_t) { mean = to_f64(save_mean[c]); }
  __device__ void add(int64_t k, double& a, double& b) const {
    if (relu && !(to_acc(y[k]) > acc_t<T>(0))) return;
    double g = to_f64(gy[k]);
    a += g;
    b += g * (to_f64(x[k]) - mean);
  }
};

using ColumnScratch = double[kRows][kLanes + 1];  // +1: no bank conflicts down a column

// The sum of v over threadIdx.y for the thread's channel lane (valid in row 0).
__device__ double column_sum(double v, ColumnScratch& sh) {
  sh[threadIdx.y][threadIdx.x] = v;
  __syncthreads();
  double s = 0;
  if (threadIdx.y == 0)
    for (int r = 0; r < kRows; ++r) s += sh[r][threadIdx.x];
  __syncthreads();  // the scratch is reused by the next call
  return s;
}

// Channels-last partials: grid (ceil(C / 32), S), block (32, 16).
template <class F>
__global__ void partial_nhwc_kernel(F f, int64_t C, int64_t M, int64_t chunk, double* pa, double* pb) {
  ENGINE_SHARED(ColumnScratch, sh);
  const int64_t c = int64_t(blockIdx.x) * kLanes + threadIdx.x;
  const int64_t r0 = int64_t(blockIdx.y) * chunk, r1 = r0 + chunk < M ? r0 + chunk : M;
  double a = 0, b = 0;
  if (c < C) {
    f.init(c, M);
    for (int64_t m = r0 + threadIdx.y; m < r1; m += kRows) f.add(m * C + c, a, b);
  }
  a = column_sum(a, sh);
  b = column_sum(b, sh);
  if (c < C && threadIdx.y == 0) {
    pa[int64_t(blockIdx.y) * C + c] = a;
    pb[int64_t(blockIdx.y) * C + c] = b;
  }
}

// NCHW partials: grid (C, S), 1-D block. Row i of channel c is element
// (n = i / HW, hw = i % HW); (n, hw) advance by the block size without dividing.
template <class F>
__global__ void partial_nchw_kernel(F f, int64_t C, int64_t HW, int64_t M, int64_t chunk, double* pa, double* pb) {
  const int64_t c = blockIdx.x;
  const int64_t r0 = int64_t(blockIdx.y) * chunk, r1 = r0 + chunk < M ? r0 + chunk : M;
  f.init(c, M);
  double a = 0, b = 0;
  int64_t i = r0 + threadIdx.x;
  if (i < r1) {
    const int64_t step = blockDim.x, dn = step / HW, dhw = step - dn * HW;
    int64_t n = i / HW, hw = i - n * HW;
    for (; i < r1; i += step) {
      f.add((n * C + c) * HW + hw, a, b);
      n += dn;
      hw += dhw;
      if (hw >= HW) {
        hw -= HW;
        ++n;
      }
    }
  }
  a = block_reduce(a, SumOp(), 0.0);
  b = block_reduce(b, SumOp(), 0.0);
  if (threadIdx.x == 0) {
    pa[int64_t(blockIdx.y) * C + c] = a;
    pb[int64_t(blockIdx.y) * C + c] = b;
  }
}

template <class F>
void launch_partials(const BatchNormActParams& p, const Split& s, F f, const Scratch& sc, cudaStream_t stream) {
  const int64_t M = p.N * p.HW;
  if (p.channels_last) {
    dim3 grid(unsigned((p.C + kLanes - 1) / kLanes), unsigned(s.S)), block(kLanes, kRows);
    ENGINE_LAUNCH(grid, block, 0, stream, partial_nhwc_kernel<F>)(f, p.C, M, s.chunk, sc.pa, sc.pb);
    ENGINE_CUDA_LAUNCH_CHECK("bn_act partial_nhwc_kernel");
  } else {
    dim3 grid(unsigned(p.C), unsigned(s.S));
    ENGINE_LAUNCH(grid, kPlaneBlock, 0, stream, partial_nchw_kernel<F>)(f, p.C, p.HW, M, s.chunk, sc.pa, sc.pb);
    ENGINE_CUDA_LAUNCH_CHECK("bn_act partial_nchw_kernel");
  }
}

// The warp's channel (uniform across the warp; blocks are whole warps).
__device__ __forceinline__ int64_t warp_channel() { return (int64_t(blockIdx.x) * blockDim.x + threadIdx.x) >> 5; }

// Totals of channel c's S partials, identical in every lane.
__device__ __forceinline__ void warp_totals(const double* pa, const double* pb, int64_t S, int64_t C, int64_t c,
                                            double& a, double& b) {
  a = 0;
  b = 0;
  for (int64_t k = threadIdx.x & 31; k < S; k += 32) {
    a += pa[k * C + c];
    b += pb[k * C + c];
  }
  a = warp_reduce(a, SumOp());
  b = warp_reduce(b, SumOp());
}

// Statistics, running-stat update and the apply pass's scale / shift (coef[0..C), coef[C..2C)).
template <class T, class P>
__global__ void fwd_finish_kernel(BatchNormActParams p, int64_t S, const T* x, const double* pa, const double* pb,
                                  const P* gamma, const P* beta, P* save_mean, P* save_invstd, P* running_mean,
                                  P* running_var, acc_t<T>* coef) {
  using A = acc_t<T>;
  const int64_t c = warp_channel(), C = p.C, M = p.N * p.HW;
  if (c >= C) return;  // the whole warp leaves: warp_reduce below needs every lane
  double mean, invstd;
  if (p.training) {
    double s1, s2;
    warp_totals(pa, pb, S, C, c, s1, s2);
    double K = M > 0 ? to_f64(x[p.channels_last ? c : c * p.HW]) : 0.0;
    double d = s1 / double(M);
    mean = K + d;
    double ss = s2 - s1 * d;
    if (ss < 0) ss = 0;  // rounding only; NaN passes through
    double var = ss / double(M);
    invstd = 1.0 / sqrt(var + p.eps);
    if ((threadIdx.x & 31) == 0) {
      if (running_mean) running_mean[c] = from_f64<P>((1 - p.momentum) * to_f64(running_mean[c]) + p.momentum * mean);
      if (running_var) {
        double unbiased = M > 1 ? ss / double(M - 1) : var;
        running_var[c] = from_f64<P>((1 - p.momentum) * to_f64(running_var[c]) + p.momentum * unbiased);
      }
    }
  } else {
    mean = to_f64(running_mean[c]);
    invstd = 1.0 / sqrt(to_f64(running_var[c]) + p.eps);
  }
  if ((threadIdx.x & 31) == 0) {
    save_mean[c] = from_f64<P>(mean);
    save_invstd[c] = from_f64<P>(invstd);
    double scale = (gamma ? to_f64(gamma[c]) : 1.0) * invstd;
    coef[c] = A(scale);
    coef[C + c] = A((beta ? to_f64(beta[c]) : 0.0) - mean * scale);
  }
}

// Parameter gradients and the coefficients of gx = gi * (g' - mg - (x - mean) * q):
// coef[0..C) gi, [C..2C) mg, [2C..3C) mean, [3C..4C) q (eval: mg = q = 0).
template <class T, class P>
__global__ void bwd_finish_kernel(BatchNormActParams p, int64_t S, const double* pa, const double* pb, const P* gamma,
                                  const P* save_mean, const P* save_invstd, P* ggamma, P* gbeta, acc_t<T>* coef) {
  using A = acc_t<T>;
  const int64_t c = warp_channel(), C = p.C, M = p.N * p.HW;
  if (c >= C) return;
  double sg, sgxm;
  warp_totals(pa, pb, S, C, c, sg, sgxm);
  if ((threadIdx.x & 31) != 0) return;
  double mean = to_f64(save_mean[c]), invstd = to_f64(save_invstd[c]);
  double sgx = sgxm * invstd;
  if (gbeta) gbeta[c] = from_f64<P>(sg);
  if (ggamma) ggamma[c] = from_f64<P>(sgx);
  coef[c] = A((gamma ? to_f64(gamma[c]) : 1.0) * invstd);
  coef[C + c] = p.training ? A(sg / double(M)) : A(0);
  coef[2 * C + c] = A(mean);
  coef[3 * C + c] = p.training ? A(sgx / double(M) * invstd) : A(0);
}

// V consecutive elements, loaded and stored as one access (16 bytes when V > 1).
template <class T, int V>
struct alignas(sizeof(T) * V) Pack {
  T v[V];
};

// The channel of element k of the flat tensor, stepped one element at a time.
template <class I, bool kChannelsLast>
struct ChannelWalk {
  I C, HW, c, hw;
  __device__ ChannelWalk(I k, I C_, I HW_) : C(C_), HW(HW_) {
    if (kChannelsLast) {
      c = k % C;
      hw = 0;
    } else {
      I plane = k / HW;
      hw = k - plane * HW;
      c = plane % C;
    }
  }
  __device__ void next() {
    if (!kChannelsLast && ++hw < HW) return;
    hw = 0;
    if (++c == C) c = 0;
  }
};

// Flat passes over packs of V elements. I: uint32_t when the tensor has fewer than
// 2^31 elements (cheaper index arithmetic), else int64_t.
template <class T, class I, bool kChannelsLast, int V>
__global__ void fwd_apply_kernel(I packs, I C, I HW, bool relu, T* y, const T* x, const T* residual,
                                 const acc_t<T>* coef) {
  using A = acc_t<T>;
  using PT = Pack<T, V>;
  const I stride = I(blockDim.x) * I(gridDim.x);
  for (I q = I(blockIdx.x) * I(blockDim.x) + I(threadIdx.x); q < packs; q += stride) {
    const PT xv = reinterpret_cast<const PT*>(x)[q];
    PT rv, out;
    if (residual) rv = reinterpret_cast<const PT*>(residual)[q];
    ChannelWalk<I, kChannelsLast> w(q * I(V), C, HW);
#pragma unroll
    for (int j = 0; j < V; ++j, w.next()) {
      A v = to_acc(xv.v[j]) * coef[w.c] + coef[C + w.c];
      if (residual) v += to_acc(rv.v[j]);
      if (relu && !(v > A(0))) v = A(0);
      out.v[j] = from_acc<T>(v);
    }
    reinterpret_cast<PT*>(y)[q] = out;
  }
}

template <class T, class I, bool kChannelsLast, int V>
__global__ void bwd_apply_kernel(I packs, I C, I HW, bool relu, T* gx, T* gresidual, const T* gy, const T* y,
                                 const T* x, const acc_t<T>* coef) {
  using A = acc_t<T>;
  using PT = Pack<T, V>;
  const I stride = I(blockDim.x) * I(gridDim.x);
  for (I q = I(blockIdx.x) * I(blockDim.x) + I(threadIdx.x); q < packs; q += stride) {
    const PT gv = reinterpret_cast<const PT*>(gy)[q];
    PT yv{}, xv{}, gxv{}, grv;  // read only under the flags that load them
    if (relu) yv = reinterpret_cast<const PT*>(y)[q];
    if (gx) xv = reinterpret_cast<const PT*>(x)[q];
    ChannelWalk<I, kChannelsLast> w(q * I(V), C, HW);
#pragma unroll
    for (int j = 0; j < V; ++j, w.next()) {
      A g = relu && !(to_acc(yv.v[j]) > A(0)) ? A(0) : to_acc(gv.v[j]);
      grv.v[j] = from_acc<T>(g);
      if (gx) {
        A xc = to_acc(xv.v[j]) - coef[2 * C + w.c];
        gxv.v[j] = from_acc<T>(coef[w.c] * (g - coef[C + w.c] - xc * coef[3 * C + w.c]));
      }
    }
    if (gresidual) reinterpret_cast<PT*>(gresidual)[q] = grv;
    if (gx) reinterpret_cast<PT*>(gx)[q] = gxv;
  }
}

// Elements per 16-byte pack.
template <class T>
constexpr int kPack = 16 / int(sizeof(T));

bool aligned16(const void* ptr) { return ptr == nullptr || reinterpret_cast<uintptr_t>(ptr) % 16 == 0; }

// Runs launch(I{}, layout tag, pack tag, packs) with the narrowest index type I that
// holds the tensor's size, 16-byte packs when the size and every pointer allow them.
template <class T, class Launch>
void launch_apply(const BatchNormActParams& p, std::initializer_list<const void*> ptrs, Launch&& launch) {
  const int64_t total = p.N * p.C * p.HW;
  if (total == 0) return;
  bool vec = total % kPack<T> == 0;
  for (const void* ptr : ptrs) vec = vec && aligned16(ptr);
  auto with_pack = [&](auto index_tag, auto layout_tag) {
    if (vec)
      launch(index_tag, layout_tag, std::integral_constant<int, kPack<T>>(), total / kPack<T>);
    else
      launch(index_tag, layout_tag, std::integral_constant<int, 1>(), total);
  };
  auto with_layout = [&](auto index_tag) {
    if (p.channels_last)
      with_pack(index_tag, std::true_type());
    else
      with_pack(index_tag, std::false_type());
  };
  if (total <= INT32_MAX)
    with_layout(uint32_t(0));
  else
    with_layout(int64_t(0));
}

unsigned finish_grid(int64_t C) { return unsigned((C * 32 + kFinishBlock - 1) / kFinishBlock); }

}  // namespace

size_t batchnorm2d_act_cuda_scratch_bytes(const BatchNormActParams& p) {
  return size_t(2 * split_of(p).S * p.C + 4 * p.C) * sizeof(double);
}

template <class T, class P>
void batchnorm2d_act_fwd_cuda(const BatchNormActParams& p, T* y, P* save_mean, P* save_invstd, const T* x,
                              const T* residual, const P* gamma, const P* beta, P* running_mean, P* running_var,
                              double* scratch, cudaStream_t stream) {
  using A = acc_t<T>;
  if (p.C == 0) return;
  const Split s = split_of(p);
  const Scratch sc = scratch_of(scratch, p, s);
  A* coef = reinterpret_cast<A*>(sc.coef);
  if (p.training) launch_partials(p, s, FwdSums<T>{x, p.HW, p.channels_last, 0.0}, sc, stream);
  ENGINE_LAUNCH(finish_grid(p.C), kFinishBlock, 0, stream, fwd_finish_kernel<T, P>)
  (p, s.S, x, sc.pa, sc.pb, gamma, beta, save_mean, save_invstd, running_mean, running_var, coef);
  ENGINE_CUDA_LAUNCH_CHECK("bn_act fwd_finish_kernel");
  launch_apply<T>(p, {y, x, residual}, [&](auto index_tag, auto layout_tag, auto pack_tag, int64_t packs) {
    using I = decltype(index_tag);
    ENGINE_LAUNCH(grid_for(packs, kApplyBlock), kApplyBlock, 0, stream,
                  fwd_apply_kernel<T, I, decltype(layout_tag)::value, decltype(pack_tag)::value>)
    (I(packs), I(p.C), I(p.HW), p.relu, y, x, residual, coef);
    ENGINE_CUDA_LAUNCH_CHECK("bn_act fwd_apply_kernel");
  });
}

template <class T, class P>
void batchnorm2d_act_bwd_cuda(const BatchNormActParams& p, T* gx, P* ggamma, P* gbeta, T* gresidual, const T* gy,
                              const T* y, const T* x, const P* gamma, const P* save_mean, const P* save_invstd,
                              double* scratch, cudaStream_t stream) {
  using A = acc_t<T>;
  if (p.C == 0) return;
  const Split s = split_of(p);
  const Scratch sc = scratch_of(scratch, p, s);
  A* coef = reinterpret_cast<A*>(sc.coef);
  if (gx || ggamma || gbeta) {
    launch_partials(p, s, BwdSums<T, P>{gy, y, x, save_mean, p.relu, 0.0}, sc, stream);
    ENGINE_LAUNCH(finish_grid(p.C), kFinishBlock, 0, stream, bwd_finish_kernel<T, P>)
    (p, s.S, sc.pa, sc.pb, gamma, save_mean, save_invstd, ggamma, gbeta, coef);
    ENGINE_CUDA_LAUNCH_CHECK("bn_act bwd_finish_kernel");
  }
  if (!gx && !gresidual) return;
  // y is read only with relu, x only for gx.
  launch_apply<T>(p, {gx, gresidual, gy, p.relu ? y : nullptr, gx ? x : nullptr},
                  [&](auto index_tag, auto layout_tag, auto pack_tag, int64_t packs) {
                    using I = decltype(index_tag);
                    ENGINE_LAUNCH(grid_for(packs, kApplyBlock), kApplyBlock, 0, stream,
                                  bwd_apply_kernel<T, I, decltype(layout_tag)::value, decltype(pack_tag)::value>)
                    (I(packs), I(p.C), I(p.HW), p.relu, gx, gresidual, gy, y, x, coef);
                    ENGINE_CUDA_LAUNCH_CHECK("bn_act bwd_apply_kernel");
                  });
}

#define INSTANTIATE(T, P)                                                                                           \
  template void batchnorm2d_act_fwd_cuda<T, P>(const BatchNormActParams&, T*, P*, P*, const T*, const T*, const P*, \
                                               const P*, P*, P*, double*, cudaStream_t);                            \
  template void batchnorm2d_act_bwd_cuda<T, P>(const BatchNormActParams&, T*, P*, P*, T*, const T*, const T*,       \
                                               const T*, const P*, const P*, const P*, double*, cudaStream_t);
INSTANTIATE(float, float)
INSTANTIATE(double, double)
INSTANTIATE(bf16_t, bf16_t)
INSTANTIATE(bf16_t, float)
INSTANTIATE(f16_t, f16_t)
INSTANTIATE(f16_t, float)
#undef INSTANTIATE

}  // namespace engine::kernels
