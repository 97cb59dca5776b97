#include "base/check.h"
#include "kernels/cuda/attention.h"
#include "kernels/cuda/common.cuh"
#include "kernels/cuda/launch.cuh"

namespace engine::kernels {
namespace {

template <class T, bool kWarp>
__global__ void masked_softmax_kernel(T* y, const T* x, const uint8_t* mask, StridedLayout ml, int64_t rows,
                                      int64_t n) {
  using A = acc_t<T>;
  RowGroup<kWarp> g;
  const int64_t mstep = mask ? ml.strides[ml.ndim - 1] : 0;
  for (int64_t r = g.first; r < rows; r += g.step) {
    const T* xr = x + r * n;
    T* yr = y + r * n;
    const uint8_t* mr = mask ? mask + layout_offset(ml, r * n) : nullptr;
    A mx = -d_inf<A>(), kept = A(0);
    for (int64_t j = g.lane; j < n; j += g.width)
      if (!mr || mr[j * mstep]) {
        mx = FmaxOp()(mx, to_acc(xr[j]));
        kept += A(1);
      }
    mx = group_reduce<kWarp>(mx, FmaxOp(), -d_inf<A>());
    kept = group_reduce<kWarp>(kept, SumOp(), A(0));
    if (kept == A(0)) {
      for (int64_t j = g.lane; j < n; j += g.width) yr[j] = from_acc<T>(A(0));
      continue;
    }
    if (mx == -d_inf<A>()) mx = A(0);
    A sum = A(0);
    for (int64_t j = g.lane; j < n; j += g.width)
      if (!mr || mr[j * mstep]) sum += d_exp(to_acc(xr[j]) - mx);
    const A inv = A(1) / group_reduce<kWarp>(sum, SumOp(), A(0));
    for (int64_t j = g.lane; j < n; j += g.width)
      yr[j] = from_acc<T>(!mr || mr[j * mstep] ? d_exp(to_acc(xr[j]) - mx) * inv : A(0));
  }
}

// Flash-attention style kernels: one thread per query (forward, gq) or key (gk, gv) row,
// kThreads rows per block, the other side streamed through shared memory in tiles of
// kTile rows (16 KiB per pair of tiles) with the scores of one row and tile in registers.
// kD is the padded head dimension: rows are zero beyond the true D, which adds nothing
// to a dot product.
constexpr int kThreads = 64;

template <int kD, class A>
constexpr int tile_rows() {
  return int(8192 / (kD * sizeof(A))) > 64 ? 64 : int(8192 / (kD * sizeof(A)));
}

template <int kD, class A>
__device__ __forceinline__ A dot_row(const A* a, const A* b) {
  A d = A(0);
#pragma unroll
  for (int c = 0; c < kD; ++c) d += a[c] * b[c];
  return d;
}

// Loads rows [r0, r0 + kTile) of src [L, D] (zeros past L and D) into dst [kTile][kD].
template <int kTile, int kD, class T, class A>
__device__ __forceinline__ void load_tile(A (&dst)[kTile][kD], const T* src, int64_t r0, int64_t L, int D) {
  for (int e = int(threadIdx.x); e < kTile * kD; e += int(blockDim.x)) {
    const int r = e / kD, c = e % kD;
    const int64_t row = r0 + r;
    dst[r][c] = row < L && c < D ? to_acc(src[row * D + c]) : A(0);
  }
}

template <int kD, class T, class A>
__device__ __forceinline__ void load_row(A (&dst)[kD], const T* src, bool active, int D) {
#pragma unroll
  for (int c = 0; c < kD; ++c) dst[c] = active && c < D ? to_acc(src[c]) : A(0);
}

// Keys and values [k0, k0 + kTile) of one (batch, head) into shared memory, with each
// key's keep flag (0 past Lk or where the mask excludes it).
template <int kTile, int kD, class T, class A>
__device__ __forceinline__ void load_key_tiles(A (&ks)[kTile][kD], A (&vs)[kTile][kD], unsigned char (&keep)[kTile],
                                               const T* kb, const T* vb, const uint8_t* km, int64_t k0, int64_t Lk,
                                               int D) {
  load_tile<kTile, kD>(ks, kb, k0, Lk, D);
  load_tile<kTile, kD>(vs, vb, k0, Lk, D);
  for (int r = int(threadIdx.x); r < kTile; r += int(blockDim.x)) keep[r] = k0 + r < Lk && (!km || km[k0 + r]) ? 1 : 0;
}

// This thread's (batch * head) and row when blocks of kThreads rows tile the L rows of
// every head.
struct BlockRow {
  int64_t bh, row;
};
__device__ __forceinline__ BlockRow block_row(int64_t L) {
  const int64_t tiles = (L + kThreads - 1) / kThreads;
  return BlockRow{int64_t(blockIdx.x) / tiles, (int64_t(blockIdx.x) % tiles) * kThreads + threadIdx.x};
}

template <class T, int kD>
__global__ void attention_fwd_kernel(T* o, acc_t<T>* lse, const T* q, const T* k, const T* v, const uint8_t* key_mask,
                                     AttentionParams p) {
  using A = acc_t<T>;
  constexpr int kTile = tile_rows<kD, A>();
  ENGINE_SHARED(A, ks, [kTile][kD]);
  ENGINE_SHARED(A, vs, [kTile][kD]);
  ENGINE_SHARED(unsigned char, keep, [kTile]);
  const auto [bh, i] = block_row(p.Lq);
  const int D = int(p.D);
  const bool active = i < p.Lq;
  const A scale = A(p.scale);
  const T *kb = k + bh * p.Lk * D, *vb = v + bh * p.Lk * D;
  const uint8_t* km = key_mask ? key_mask + (bh / p.H) * p.Lk : nullptr;
  A qr[kD], acc[kD], s[kTile];
  load_row<kD>(qr, q + (bh * p.Lq + i) * D, active, D);
#pragma unroll
  for (int c = 0; c < kD; ++c) acc[c] = A(0);
  A m = -d_inf<A>(), l = A(0);
  for (int64_t k0 = 0; k0 < p.Lk; k0 += kTile) {
    __syncthreads();  // every thread is done with the previous tile
    load_key_tiles<kTile, kD>(ks, vs, keep, kb, vb, km, k0, p.Lk, D);
    __syncthreads();
    if (!active) continue;
    A mx = -d_inf<A>();
    for (int r = 0; r < kTile; ++r) {
      s[r] = keep[r] ? scale * dot_row<kD>(qr, ks[r]) : -d_inf<A>();
      mx = s[r] > mx ? s[r] : mx;
    }
    if (mx == -d_inf<A>()) continue;  // nothing to attend to in this tile
    const A m_new = m > mx ? m : mx, corr = d_exp(m - m_new);
    l *= corr;
#pragma unroll
    for (int c = 0; c < kD; ++c) acc[c] *= corr;
    for (int r = 0; r < kTile; ++r) {
      if (!keep[r]) continue;
      const A pr = d_exp(s[r] - m_new);
      l += pr;
#pragma unroll
      for (int c = 0; c < kD; ++c) acc[c] += pr * vs[r][c];
    }
    m = m_new;
  }
  if (!active) return;
  const A inv = l > A(0) ? A(1) / l : A(0);
  T* orow = o + (bh * p.Lq + i) * D;
  for (int c = 0; c < D; ++c) orow[c] = from_acc<T>(acc[c] * inv);
  lse[bh * p.Lq + i] = l > A(0) ? m + d_log(l) : -d_inf<A>();
}

template <class T>
__global__ void attention_delta_kernel(acc_t<T>* delta, const T* go, const T* o, int64_t rows, int64_t D) {
  using A = acc_t<T>;
  ENGINE_GRID_STRIDE(r, rows) {
    A d = A(0);
    for (int64_t c = 0; c < D; ++c) d += to_acc(go[r * D + c]) * to_acc(o[r * D + c]);
    delta[r] = d;
  }
}

// gq of one query row per thread: the keys and values stream through shared memory.
template <class T, int kD>
__global__ void attention_bwd_gq_kernel(T* gq, const T* go, const T* q, const T* k, const T* v, const acc_t<T>* lse,
                                        const acc_t<T>* delta, const uint8_t* key_mask, AttentionParams p) {
  using A = acc_t<T>;
  constexpr int kTile = tile_rows<kD, A>();
  ENGINE_SHARED(A, ks, [kTile][kD]);
  ENGINE_SHARED(A, vs, [kTile][kD]);
  ENGINE_SHARED(unsigned char, keep, [kTile]);
  const auto [bh, i] = block_row(p.Lq);
  const int D = int(p.D);
  const A scale = A(p.scale);
  const A li = i < p.Lq ? lse[bh * p.Lq + i] : -d_inf<A>(), di = i < p.Lq ? delta[bh * p.Lq + i] : A(0);
  const bool active = i < p.Lq, live = active && li != -d_inf<A>();
  const uint8_t* km = key_mask ? key_mask + (bh / p.H) * p.Lk : nullptr;
  A qr[kD], gor[kD], g[kD];
  load_row<kD>(qr, q + (bh * p.Lq + i) * D, active, D);
  load_row<kD>(gor, go + (bh * p.Lq + i) * D, active, D);
#pragma unroll
  for (int c = 0; c < kD; ++c) g[c] = A(0);
  for (int64_t k0 = 0; k0 < p.Lk; k0 += kTile) {
    __syncthreads();
    load_key_tiles<kTile, kD>(ks, vs, keep, k + bh * p.Lk * D, v + bh * p.Lk * D, km, k0, p.Lk, D);
    __syncthreads();
    if (!live) continue;
    for (int r = 0; r < kTile; ++r) {
      if (!keep[r]) continue;
      const A pr = d_exp(scale * dot_row<kD>(qr, ks[r]) - li);
      const A gs = pr * (dot_row<kD>(gor, vs[r]) - di) * scale;
#pragma unroll
      for (int c = 0; c < kD; ++c) g[c] += gs * ks[r][c];
    }
  }
  if (!active) return;
  T* out = gq + (bh * p.Lq + i) * D;
  for (int c = 0; c < D; ++c) out[c] = from_acc<T>(g[c]);
}

// gk and gv of one key row per thread: the queries, their output gradients, lse and
// delta stream through shared memory.
template <class T, int kD>
__global__ void attention_bwd_gkv_kernel(T* gk, T* gv, const T* go, const T* q, const T* k, const T* v,
                                         const acc_t<T>* lse, const acc_t<T>* delta, const uint8_t* key_mask,
                                         AttentionParams p) {
  using A = acc_t<T>;
  constexpr int kTile = tile_rows<kD, A>();
  ENGINE_SHARED(A, qs, [kTile][kD]);
  ENGINE_SHARED(A, gos, [kTile][kD]);
  ENGINE_SHARED(A, ls, [kTile]);
  ENGINE_SHARED(A, ds, [kTile]);
  const auto [bh, j] = block_row(p.Lk);
  const int D = int(p.D);
  const A scale = A(p.scale);
  const bool active = j < p.Lk, live = active && (!key_mask || key_mask[(bh / p.H) * p.Lk + j]);
  A kr[kD], vr[kD], gkr[kD], gvr[kD];
  load_row<kD>(kr, k + (bh * p.Lk + j) * D, active, D);
  load_row<kD>(vr, v + (bh * p.Lk + j) * D, active, D);
#pragma unroll
  for (int c = 0; c < kD; ++c) gkr[c] = gvr[c] = A(0);
  for (int64_t q0 = 0; q0 < p.Lq; q0 += kTile) {
    __syncthreads();
    load_tile<kTile, kD>(qs, q + bh * p.Lq * D, q0, p.Lq, D);
    load_tile<kTile, kD>(gos, go + bh * p.Lq * D, q0, p.Lq, D);
    for (int r = int(threadIdx.x); r < kTile; r += int(blockDim.x)) {
      const bool in = q0 + r < p.Lq;
      ls[r] = in ? lse[bh * p.Lq + q0 + r] : -d_inf<A>();
      ds[r] = in ? delta[bh * p.Lq + q0 + r] : A(0);
    }
    __syncthreads();
    if (!live) continue;
    for (int r = 0; r < kTile; ++r) {
      if (ls[r] == -d_inf<A>()) continue;
      const A pr = d_exp(scale * dot_row<kD>(qs[r], kr) - ls[r]);
      const A gs = pr * (dot_row<kD>(gos[r], vr) - ds[r]) * scale;
#pragma unroll
      for (int c = 0; c < kD; ++c) {
        gvr[c] += pr * gos[r][c];
        gkr[c] += gs * qs[r][c];
      }
    }
  }
  if (!active) return;
  T *ok = gk + (bh * p.Lk + j) * D, *ov = gv + (bh * p.Lk + j) * D;
  for (int c = 0; c < D; ++c) {
    ok[c] = from_acc<T>(gkr[c]);
    ov[c] = from_acc<T>(gvr[c]);
  }
}

unsigned blocks_for(const AttentionParams& p, int64_t L) {
  return unsigned(p.B * p.H * ((L + kThreads - 1) / kThreads));
}

template <class T, int kD>
void attention_fwd_launch(T* o, acc_t<T>* lse, const T* q, const T* k, const T* v, const uint8_t* key_mask,
                          const AttentionParams& p, cudaStream_t stream) {
  ENGINE_LAUNCH(blocks_for(p, p.Lq), kThreads, 0, stream, attention_fwd_kernel<T, kD>)(o, lse, q, k, v, key_mask, p);
  ENGINE_CUDA_LAUNCH_CHECK("attention_fwd_kernel");
}

template <class T, int kD>
void attention_bwd_launch(T* gq, T* gk, T* gv, const T* go, const T* q, const T* k, const T* v, const acc_t<T>* lse,
                          const acc_t<T>* delta, const uint8_t* key_mask, const AttentionParams& p,
                          cudaStream_t stream) {
  ENGINE_LAUNCH(blocks_for(p, p.Lq), kThreads, 0, stream, attention_bwd_gq_kernel<T, kD>)
  (gq, go, q, k, v, lse, delta, key_mask, p);
  ENGINE_CUDA_LAUNCH_CHECK("attention_bwd_gq_kernel");
  ENGINE_LAUNCH(blocks_for(p, p.Lk), kThreads, 0, stream, attention_bwd_gkv_kernel<T, kD>)
  (gk, gv, go, q, k, v, lse, delta, key_mask, p);
  ENGINE_CUDA_LAUNCH_CHECK("attention_bwd_gkv_kernel");
}

void check_head_dim(int64_t D) {
  ENGINE_CHECK(D >= 1 && D <= kAttentionMaxHeadDim, "op attention: head dimension "
                                                        << D << " is not supported by the CUDA kernels (1 to "
                                                        << kAttentionMaxHeadDim << ")");
}

}  // namespace

template <class T>
void masked_softmax_fwd_cuda(T* y, const T* x, const uint8_t* mask, const StridedLayout& ml, int64_t rows, int64_t n,
                             cudaStream_t stream) {
  if (rows * n == 0) return;
  if (n <= kWarpRowMax) {
    ENGINE_LAUNCH(grid_for(rows, kBlock / 32), kBlock, 0, stream, masked_softmax_kernel<T, true>)
    (y, x, mask, ml, rows, n);
    ENGINE_CUDA_LAUNCH_CHECK("masked_softmax_kernel<warp>");
  } else {
    ENGINE_LAUNCH(grid_for(rows, 1), kRowBlock, 0, stream, masked_softmax_kernel<T, false>)(y, x, mask, ml, rows, n);
    ENGINE_CUDA_LAUNCH_CHECK("masked_softmax_kernel<block>");
  }
}

template <class T, class A>
void attention_fwd_cuda(T* o, A* lse, const T* q, const T* k, const T* v, const uint8_t* key_mask,
                        const AttentionParams& p, cudaStream_t stream) {
  check_head_dim(p.D);
  if (p.B * p.H * p.Lq == 0) return;
  if (p.D <= 32)
    attention_fwd_launch<T, 32>(o, lse, q, k, v, key_mask, p, stream);
  else if (p.D <= 64)
    attention_fwd_launch<T, 64>(o, lse, q, k, v, key_mask, p, stream);
  else
    attention_fwd_launch<T, 128>(o, lse, q, k, v, key_mask, p, stream);
}

size_t attention_bwd_cuda_scratch_bytes(const AttentionParams& p, size_t acc_size) {
  return size_t(p.B * p.H * p.Lq) * acc_size;
}

template <class T, class A>
void attention_bwd_cuda(T* gq, T* gk, T* gv, const T* go, const T* q, const T* k, const T* v, const T* o, const A* lse,
                        const uint8_t* key_mask, const AttentionParams& p, void* scratch, cudaStream_t stream) {
  check_head_dim(p.D);
  if (p.B * p.H * (p.Lq + p.Lk) == 0) return;
  A* delta = static_cast<A*>(scratch);
  const int64_t rows = p.B * p.H * p.Lq;
  if (rows > 0) {
    ENGINE_LAUNCH(grid_for(rows), kBlock, 0, stream, attention_delta_kernel<T>)(delta, go, o, rows, p.D);
    ENGINE_CUDA_LAUNCH_CHECK("attention_delta_kernel");
  }
  if (p.D <= 32)
    attention_bwd_launch<T, 32>(gq, gk, gv, go, q, k, v, lse, delta, key_mask, p, stream);
  else if (p.D <= 64)
    attention_bwd_launch<T, 64>(gq, gk, gv, go, q, k, v, lse, delta, key_mask, p, stream);
  else
    attention_bwd_launch<T, 128>(gq, gk, gv, go, q, k, v, lse, delta, key_mask, p, stream);
}

#define INSTANTIATE(T)                                                                                           \
  template void masked_softmax_fwd_cuda<T>(T*, const T*, const uint8_t*, const StridedLayout&, int64_t, int64_t, \
                                           cudaStream_t);                                                        \
  template void attention_fwd_cuda<T, acc_t<T>>(T*, acc_t<T>*, const T*, const T*, const T*, const uint8_t*,     \
                                                const AttentionParams&, cudaStream_t);                           \
  template void attention_bwd_cuda<T, acc_t<T>>(T*, T*, T*, const T*, const T*, const T*, const T*, const T*,    \
                                                const acc_t<T>*, const uint8_t*, const AttentionParams&, void*,  \
                                                cudaStream_t);
INSTANTIATE(float)
INSTANTIATE(double)
INSTANTIATE(bf16_t)
INSTANTIATE(f16_t)
#undef INSTANTIATE

}  // namespace engine::kernels
