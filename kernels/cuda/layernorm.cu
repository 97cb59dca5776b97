#include "kernels/cuda/common.cuh"
#include "kernels/cuda/launch.cuh"
#include "kernels/cuda/layernorm.h"

namespace engine::kernels {
namespace {

// Column sums of the backward: blocks of 32 columns x kSliceRows threads over one slice
// of rows each, at most kMaxSlices slices of at least kMinSliceRows rows.
constexpr int kColTile = 32, kSliceRows = 8;
constexpr int64_t kMaxSlices = 256, kMinSliceRows = 64;

int64_t slices_for(int64_t rows) {
  int64_t s = rows / kMinSliceRows;
  return s < 1 ? 1 : (s > kMaxSlices ? kMaxSlices : s);
}

template <class P>
__device__ __forceinline__ acc_t<P> param_or(const P* p, int64_t j, acc_t<P> dflt) {
  return p ? to_acc(p[j]) : dflt;
}

template <class T, class P, class A, bool kWarp>
__global__ void layer_norm_fwd_kernel(T* y, A* mean, A* rstd, const T* x, const P* w, const P* b, int64_t rows,
                                      int64_t D, double eps) {
  RowGroup<kWarp> g;
  for (int64_t r = g.first; r < rows; r += g.step) {
    const T* xr = x + r * D;
    T* yr = y + r * D;
    A s = A(0);
    for (int64_t j = g.lane; j < D; j += g.width) s += to_acc(xr[j]);
    const A mu = group_reduce<kWarp>(s, SumOp(), A(0)) / A(D);
    A ss = A(0);
    for (int64_t j = g.lane; j < D; j += g.width) {
      const A c = to_acc(xr[j]) - mu;
      ss += c * c;
    }
    ss = group_reduce<kWarp>(ss, SumOp(), A(0));
    const A rs = A(1) / d_sqrt(ss / A(D) + A(eps));
    for (int64_t j = g.lane; j < D; j += g.width)
      yr[j] = from_acc<T>((to_acc(xr[j]) - mu) * rs * A(param_or(w, j, 1.0f)) + A(param_or(b, j, 0.0f)));
    if (g.lane == 0) {
      mean[r] = mu;
      rstd[r] = rs;
    }
  }
}

template <class T, class P, class A, bool kWarp>
__global__ void layer_norm_bwd_gx_kernel(T* gx, const T* gy, const T* x, const P* w, const A* mean, const A* rstd,
                                         int64_t rows, int64_t D) {
  RowGroup<kWarp> g;
  for (int64_t r = g.first; r < rows; r += g.step) {
    const T *xr = x + r * D, *gr = gy + r * D;
    const A mu = mean[r], rs = rstd[r];
    A sg = A(0), sgx = A(0);
    for (int64_t j = g.lane; j < D; j += g.width) {
      const A gj = to_acc(gr[j]) * A(param_or(w, j, 1.0f));
      sg += gj;
      sgx += gj * (to_acc(xr[j]) - mu) * rs;
    }
    sg = group_reduce<kWarp>(sg, SumOp(), A(0)) / A(D);
    sgx = group_reduce<kWarp>(sgx, SumOp(), A(0)) / A(D);
    T* out = gx + r * D;
    for (int64_t j = g.lane; j < D; j += g.width) {
      const A gj = to_acc(gr[j]) * A(param_or(w, j, 1.0f));
      out[j] = from_acc<T>(rs * (gj - sg - (to_acc(xr[j]) - mu) * rs * sgx));
    }
  }
}

// partial[slice][j] and partial[slices + slice][j]: sums of gy * xhat and gy over the slice.
template <class T, class A>
__global__ void layer_norm_bwd_partial_kernel(A* partial, const T* gy, const T* x, const A* mean, const A* rstd,
                                              int64_t rows, int64_t D, int64_t slices) {
  ENGINE_SHARED(A, sw, [kSliceRows][kColTile + 1]);
  ENGINE_SHARED(A, sb, [kSliceRows][kColTile + 1]);
  const int tx = int(threadIdx.x), ty = int(threadIdx.y);
  const int64_t j = int64_t(blockIdx.x) * kColTile + tx, slice = blockIdx.y;
  const int64_t per = (rows + slices - 1) / slices, r0 = slice * per, r1 = r0 + per < rows ? r0 + per : rows;
  A aw = A(0), ab = A(0);
  if (j < D)
    for (int64_t r = r0 + ty; r < r1; r += kSliceRows) {
      const A g = to_acc(gy[r * D + j]);
      aw += g * (to_acc(x[r * D + j]) - mean[r]) * rstd[r];
      ab += g;
    }
  sw[ty][tx] = aw;
  sb[ty][tx] = ab;
  __syncthreads();
  if (ty == 0 && j < D) {
    for (int i = 1; i < kSliceRows; ++i) {
      aw += sw[i][tx];
      ab += sb[i][tx];
    }
    partial[slice * D + j] = aw;
    partial[(slices + slice) * D + j] = ab;
  }
}

template <class P, class A>
__global__ void layer_norm_bwd_finish_kernel(P* gw, P* gb, const A* partial, int64_t D, int64_t slices) {
  ENGINE_GRID_STRIDE(j, D) {
    A aw = A(0), ab = A(0);
    for (int64_t s = 0; s < slices; ++s) {
      aw += partial[s * D + j];
      ab += partial[(slices + s) * D + j];
    }
    if (gw) gw[j] = from_acc<P>(acc_t<P>(aw));
    if (gb) gb[j] = from_acc<P>(acc_t<P>(ab));
  }
}

}  // namespace

template <class T, class P, class A>
void layer_norm_fwd_cuda(T* y, A* mean, A* rstd, const T* x, const P* w, const P* b, int64_t rows, int64_t D,
                         double eps, cudaStream_t stream) {
  if (rows * D == 0) return;
  if (D <= kWarpRowMax) {
    ENGINE_LAUNCH(grid_for(rows, kBlock / 32), kBlock, 0, stream, layer_norm_fwd_kernel<T, P, A, true>)
    (y, mean, rstd, x, w, b, rows, D, eps);
    ENGINE_CUDA_LAUNCH_CHECK("layer_norm_fwd_kernel<warp>");
  } else {
    ENGINE_LAUNCH(grid_for(rows, 1), kRowBlock, 0, stream, layer_norm_fwd_kernel<T, P, A, false>)
    (y, mean, rstd, x, w, b, rows, D, eps);
    ENGINE_CUDA_LAUNCH_CHECK("layer_norm_fwd_kernel<block>");
  }
}

size_t layer_norm_bwd_cuda_scratch_bytes(int64_t rows, int64_t D, size_t acc_size) {
  return size_t(2 * slices_for(rows) * D) * acc_size;
}

template <class T, class P, class A>
void layer_norm_bwd_cuda(T* gx, P* gw, P* gb, const T* gy, const T* x, const P* w, const A* mean, const A* rstd,
                         int64_t rows, int64_t D, void* scratch, cudaStream_t stream) {
  if (D == 0) return;
  if (rows > 0 && D <= kWarpRowMax) {
    ENGINE_LAUNCH(grid_for(rows, kBlock / 32), kBlock, 0, stream, layer_norm_bwd_gx_kernel<T, P, A, true>)
    (gx, gy, x, w, mean, rstd, rows, D);
    ENGINE_CUDA_LAUNCH_CHECK("layer_norm_bwd_gx_kernel<warp>");
  } else if (rows > 0) {
    ENGINE_LAUNCH(grid_for(rows, 1), kRowBlock, 0, stream, layer_norm_bwd_gx_kernel<T, P, A, false>)
    (gx, gy, x, w, mean, rstd, rows, D);
    ENGINE_CUDA_LAUNCH_CHECK("layer_norm_bwd_gx_kernel<block>");
  }
  if (!gw && !gb) return;
  const int64_t slices = slices_for(rows);
  A* partial = static_cast<A*>(scratch);
  ENGINE_LAUNCH(dim3(unsigned((D + kColTile - 1) / kColTile), unsigned(slices)), dim3(kColTile, kSliceRows), 0, stream,
                layer_norm_bwd_partial_kernel<T, A>)
  (partial, gy, x, mean, rstd, rows, D, slices);
  ENGINE_CUDA_LAUNCH_CHECK("layer_norm_bwd_partial_kernel");
  ENGINE_LAUNCH(grid_for(D), kBlock, 0, stream, layer_norm_bwd_finish_kernel<P, A>)(gw, gb, partial, D, slices);
  ENGINE_CUDA_LAUNCH_CHECK("layer_norm_bwd_finish_kernel");
}

#define INSTANTIATE(T, P, A)                                                                                        \
  template void layer_norm_fwd_cuda<T, P, A>(T*, A*, A*, const T*, const P*, const P*, int64_t, int64_t, double,    \
                                             cudaStream_t);                                                         \
  template void layer_norm_bwd_cuda<T, P, A>(T*, P*, P*, const T*, const T*, const P*, const A*, const A*, int64_t, \
                                             int64_t, void*, cudaStream_t);
INSTANTIATE(float, float, float)
INSTANTIATE(double, double, double)
INSTANTIATE(bf16_t, bf16_t, float)
INSTANTIATE(bf16_t, float, float)
INSTANTIATE(f16_t, f16_t, float)
INSTANTIATE(f16_t, float, float)
#undef INSTANTIATE

}  // namespace engine::kernels
