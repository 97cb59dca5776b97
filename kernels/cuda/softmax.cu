#include "kernels/cuda/common.cuh"
#include "kernels/cuda/launch.cuh"
#include "kernels/cuda/softmax.h"

namespace engine::kernels {
namespace {

template <class T, bool kWarp>
__global__ void softmax_rows_kernel(T* y, const T* x, int64_t rows, int64_t n, bool log) {
  using A = acc_t<T>;
  RowGroup<kWarp> g;
  for (int64_t r = g.first; r < rows; r += g.step) {
    const T* xr = x + r * n;
    T* yr = y + r * n;
    A mx = -d_inf<A>();
    for (int64_t j = g.lane; j < n; j += g.width) mx = FmaxOp()(mx, to_acc(xr[j]));
    mx = group_reduce<kWarp>(mx, FmaxOp(), -d_inf<A>());
    if (mx == -d_inf<A>()) mx = A(0);
    A sum = A(0);
    for (int64_t j = g.lane; j < n; j += g.width) sum += d_exp(to_acc(xr[j]) - mx);
    sum = group_reduce<kWarp>(sum, SumOp(), A(0));
    if (log) {
      A lse = mx + d_log(sum);
      for (int64_t j = g.lane; j < n; j += g.width) yr[j] = from_acc<T>(to_acc(xr[j]) - lse);
    } else {
      A inv = A(1) / sum;
      for (int64_t j = g.lane; j < n; j += g.width) yr[j] = from_acc<T>(d_exp(to_acc(xr[j]) - mx) * inv);
    }
  }
}

template <class T>
__global__ void softmax_cols_kernel(T* y, const T* x, int64_t outer, int64_t n, int64_t inner, bool log) {
  using A = acc_t<T>;
  ENGINE_GRID_STRIDE(c, outer * inner) {
    int64_t base = (c / inner) * n * inner + c % inner;
    const T* xc = x + base;
    T* yc = y + base;
    A mx = -d_inf<A>();
    for (int64_t j = 0; j < n; ++j) mx = FmaxOp()(mx, to_acc(xc[j * inner]));
    if (mx == -d_inf<A>()) mx = A(0);
    A sum = A(0);
    for (int64_t j = 0; j < n; ++j) sum += d_exp(to_acc(xc[j * inner]) - mx);
    if (log) {
      A lse = mx + d_log(sum);
      for (int64_t j = 0; j < n; ++j) yc[j * inner] = from_acc<T>(to_acc(xc[j * inner]) - lse);
    } else {
      A inv = A(1) / sum;
      for (int64_t j = 0; j < n; ++j) yc[j * inner] = from_acc<T>(d_exp(to_acc(xc[j * inner]) - mx) * inv);
    }
  }
}

template <class T, bool kWarp>
__global__ void softmax_bwd_rows_kernel(T* gx, const T* gy, const T* y, int64_t rows, int64_t n, bool log) {
  using A = acc_t<T>;
  RowGroup<kWarp> g;
  for (int64_t r = g.first; r < rows; r += g.step) {
    const T *gr = gy + r * n, *yr = y + r * n;
    T* out = gx + r * n;
    A dot = A(0);
    for (int64_t j = g.lane; j < n; j += g.width) dot += log ? to_acc(gr[j]) : to_acc(gr[j]) * to_acc(yr[j]);
    dot = group_reduce<kWarp>(dot, SumOp(), A(0));
    for (int64_t j = g.lane; j < n; j += g.width) {
      A gj = to_acc(gr[j]), yj = to_acc(yr[j]);
      out[j] = from_acc<T>(log ? gj - d_exp(yj) * dot : yj * (gj - dot));
    }
  }
}

template <class T>
__global__ void softmax_bwd_cols_kernel(T* gx, const T* gy, const T* y, int64_t outer, int64_t n, int64_t inner,
                                        bool log) {
  using A = acc_t<T>;
  ENGINE_GRID_STRIDE(c, outer * inner) {
    int64_t base = (c / inner) * n * inner + c % inner;
    const T *g = gy + base, *yc = y + base;
    T* out = gx + base;
    A dot = A(0);
    for (int64_t j = 0; j < n; ++j) dot += log ? to_acc(g[j * inner]) : to_acc(g[j * inner]) * to_acc(yc[j * inner]);
    for (int64_t j = 0; j < n; ++j) {
      A gj = to_acc(g[j * inner]), yj = to_acc(yc[j * inner]);
      out[j * inner] = from_acc<T>(log ? gj - d_exp(yj) * dot : yj * (gj - dot));
    }
  }
}

__device__ __forceinline__ bool label_ok(int64_t label, int64_t C, CudaIndexError* err) {
  if (label >= 0 && label < C) return true;
  report_bad_index(err, label, C);
  return false;
}

template <class T, bool kWarp>
__global__ void xent_fwd_kernel(T* lse, const T* logits, const int64_t* labels, int64_t N, int64_t C, double s,
                                double* row_loss, CudaIndexError* err) {
  using A = acc_t<T>;
  RowGroup<kWarp> g;
  for (int64_t r = g.first; r < N; r += g.step) {
    const T* x = logits + r * C;
    A mx = -d_inf<A>();
    for (int64_t c = g.lane; c < C; c += g.width) mx = FmaxOp()(mx, to_acc(x[c]));
    mx = group_reduce<kWarp>(mx, FmaxOp(), -d_inf<A>());
    A sum = A(0), xsum = A(0);
    for (int64_t c = g.lane; c < C; c += g.width) {
      A v = to_acc(x[c]);
      sum += d_exp(v - mx);
      xsum += v;
    }
    sum = group_reduce<kWarp>(sum, SumOp(), A(0));
    xsum = group_reduce<kWarp>(xsum, SumOp(), A(0));
    if (g.lane == 0) {
      int64_t label = labels[r];
      double l = double(mx) + double(d_log(sum));
      if (label_ok(label, C, err)) {
        // The shifted form of the CPU reference: huge logits cancel exactly.
        double picked = double(to_acc(x[label])) - l;
        double mean_logp = double(xsum) / double(C) - l;
        row_loss[r] = -(1.0 - s) * picked - s * mean_logp;
        lse[r] = from_acc<T>(acc_t<T>(l));
      } else {
        row_loss[r] = __longlong_as_double(0x7ff8000000000000LL);
        lse[r] = from_acc<T>(acc_t<T>(row_loss[r]));
      }
    }
  }
}

// One block: the row losses in a fixed order of partial sums, so the loss is deterministic.
template <class T>
__global__ void xent_mean_kernel(T* loss, const double* row_loss, int64_t N) {
  double s = 0;
  for (int64_t r = threadIdx.x; r < N; r += blockDim.x) s += row_loss[r];
  s = block_reduce(s, SumOp(), 0.0);
  if (threadIdx.x == 0) *loss = from_acc<T>(acc_t<T>(s / double(N)));
}

template <class T>
__global__ void xent_bwd_kernel(T* glogits, const T* gloss, const T* logits, const int64_t* labels, const T* lse,
                                int64_t N, int64_t C, double s, CudaIndexError* err) {
  using A = acc_t<T>;
  const A scale = A(double(to_acc(*gloss)) / double(N)), uniform = A(s / double(C)), hit = A(1.0 - s);
  ENGINE_GRID_STRIDE(i, N * C) {
    int64_t r = i / C, c = i % C, label = labels[r];
    if (c == 0) label_ok(label, C, err);
    A target = uniform + (c == label ? hit : A(0));
    glogits[i] = from_acc<T>(scale * (d_exp(to_acc(logits[i]) - to_acc(lse[r])) - target));
  }
}

}  // namespace

template <class T>
void softmax_fwd_cuda(T* y, const T* x, int64_t outer, int64_t n, int64_t inner, bool log, cudaStream_t stream) {
  if (outer * n * inner == 0) return;
  if (inner > 1) {
    ENGINE_LAUNCH(grid_for(outer * inner), kBlock, 0, stream, softmax_cols_kernel<T>)(y, x, outer, n, inner, log);
    ENGINE_CUDA_LAUNCH_CHECK("softmax_cols_kernel");
  } else if (n <= kWarpRowMax) {
    ENGINE_LAUNCH(grid_for(outer, kBlock / 32), kBlock, 0, stream, softmax_rows_kernel<T, true>)(y, x, outer, n, log);
    ENGINE_CUDA_LAUNCH_CHECK("softmax_rows_kernel<warp>");
  } else {
    ENGINE_LAUNCH(grid_for(outer, 1), kRowBlock, 0, stream, softmax_rows_kernel<T, false>)(y, x, outer, n, log);
    ENGINE_CUDA_LAUNCH_CHECK("softmax_rows_kernel<block>");
  }
}

template <class T>
void softmax_bwd_cuda(T* gx, const T* gy, const T* y, int64_t outer, int64_t n, int64_t inner, bool log,
                      cudaStream_t stream) {
  if (outer * n * inner == 0) return;
  if (inner > 1) {
    ENGINE_LAUNCH(grid_for(outer * inner), kBlock, 0, stream, softmax_bwd_cols_kernel<T>)
    (gx, gy, y, outer, n, inner, log);
    ENGINE_CUDA_LAUNCH_CHECK("softmax_bwd_cols_kernel");
  } else if (n <= kWarpRowMax) {
    ENGINE_LAUNCH(grid_for(outer, kBlock / 32), kBlock, 0, stream, softmax_bwd_rows_kernel<T, true>)
    (gx, gy, y, outer, n, log);
    ENGINE_CUDA_LAUNCH_CHECK("softmax_bwd_rows_kernel<warp>");
  } else {
    ENGINE_LAUNCH(grid_for(outer, 1), kRowBlock, 0, stream, softmax_bwd_rows_kernel<T, false>)
    (gx, gy, y, outer, n, log);
    ENGINE_CUDA_LAUNCH_CHECK("softmax_bwd_rows_kernel<block>");
  }
}

template <class T>
void cross_entropy_fwd_cuda(T* loss, T* lse, const T* logits, const int64_t* labels, int64_t N, int64_t C, double s,
                            double* row_loss, CudaIndexError* err, cudaStream_t stream) {
  if (N == 0) return;
  if (C <= kWarpRowMax) {
    ENGINE_LAUNCH(grid_for(N, kBlock / 32), kBlock, 0, stream, xent_fwd_kernel<T, true>)
    (lse, logits, labels, N, C, s, row_loss, err);
    ENGINE_CUDA_LAUNCH_CHECK("xent_fwd_kernel<warp>");
  } else {
    ENGINE_LAUNCH(grid_for(N, 1), kRowBlock, 0, stream, xent_fwd_kernel<T, false>)
    (lse, logits, labels, N, C, s, row_loss, err);
    ENGINE_CUDA_LAUNCH_CHECK("xent_fwd_kernel<block>");
  }
  ENGINE_LAUNCH(1, 1024, 0, stream, xent_mean_kernel<T>)(loss, row_loss, N);
  ENGINE_CUDA_LAUNCH_CHECK("xent_mean_kernel");
}

template <class T>
void cross_entropy_bwd_cuda(T* glogits, const T* gloss, const T* logits, const int64_t* labels, const T* lse, int64_t N,
                            int64_t C, double s, CudaIndexError* err, cudaStream_t stream) {
  if (N * C == 0) return;
  ENGINE_LAUNCH(grid_for(N * C), kBlock, 0, stream, xent_bwd_kernel<T>)
  (glogits, gloss, logits, labels, lse, N, C, s, err);
  ENGINE_CUDA_LAUNCH_CHECK("xent_bwd_kernel");
}

#define INSTANTIATE(T)                                                                                                \
  template void softmax_fwd_cuda<T>(T*, const T*, int64_t, int64_t, int64_t, bool, cudaStream_t);                     \
  template void softmax_bwd_cuda<T>(T*, const T*, const T*, int64_t, int64_t, int64_t, bool, cudaStream_t);           \
  template void cross_entropy_fwd_cuda<T>(T*, T*, const T*, const int64_t*, int64_t, int64_t, double, double*,        \
                                          CudaIndexError*, cudaStream_t);                                             \
  template void cross_entropy_bwd_cuda<T>(T*, const T*, const T*, const int64_t*, const T*, int64_t, int64_t, double, \
                                          CudaIndexError*, cudaStream_t);
INSTANTIATE(float)
INSTANTIATE(double)
INSTANTIATE(bf16_t)
INSTANTIATE(f16_t)
#undef INSTANTIATE

}  // namespace engine::kernels
