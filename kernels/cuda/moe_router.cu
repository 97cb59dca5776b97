#include "base/check.h"
#include "kernels/cuda/common.cuh"
#include "kernels/cuda/launch.cuh"
#include "kernels/cuda/moe_router.h"

namespace engine::kernels {
namespace {

constexpr int kMaxE = int(kMoeRouterMaxExperts);
constexpr int kWarps = 8;  // tokens per block at a time: one per warp
// Token chunk of one gw partial sum: fixed, so that the reduction order never changes.
constexpr int64_t kTokenChunk = 256;

// The argmax over the warp of (value, lane) pairs: larger value first, then lower index,
// NaN above every number (as MaxOp has it). A total order, so every lane ends with the
// same winner; with plain `>` a NaN made every lane keep its own pair, and later rounds
// picked a lane past E. A NaN input makes every probability NaN, and then the k lowest
// experts are chosen, as the CPU reference does.
template <class A>
__device__ __forceinline__ bool argmax_before(A v2, int i2, A v, int i) {
  const bool n2 = d_isnan(v2), n = d_isnan(v);
  if (n2 != n) return n2;
  if (!n2 && v2 != v) return v2 > v;
  return i2 < i;
}

template <class A>
__device__ __forceinline__ void warp_argmax(A& v, int& i) {
  for (int o = 16; o > 0; o >>= 1) {
    A v2 = __shfl_xor_sync(0xffffffffu, v, o);
    int i2 = __shfl_xor_sync(0xffffffffu, i, o);
    if (argmax_before(v2, i2, v, i)) {
      v = v2;
      i = i2;
    }
  }
}

// One warp per token: lanes split the C features and keep one partial dot product per
// expert, a butterfly sum hands expert e's logit to lane e, then softmax and the k
// rounds of argmax stay in registers. The weight is read from shared memory when it
// fits (kShared), otherwise from global memory through the cache.
template <class T, bool kShared>
__global__ void router_fwd_kernel(T* logits, T* probs, int64_t* top_idx, T* top_probs, T* weights, const T* x,
                                  const T* w, MoeRouterParams p) {
  using A = acc_t<T>;
  ENGINE_DYNAMIC_SHARED(unsigned char, smem_raw);
  A* ws = reinterpret_cast<A*>(smem_raw);
  const int64_t C = p.C;
  const int E = int(p.E), k = int(p.k);
  if (kShared) {
    for (int64_t i = threadIdx.x; i < E * C; i += blockDim.x) ws[i] = to_acc(w[i]);
    __syncthreads();
  }
  const int lane = int(threadIdx.x) & 31, warp = int(threadIdx.x) >> 5;
  const A inv_temp = A(1.0 / p.temperature);
  for (int64_t t = int64_t(blockIdx.x) * kWarps + warp; t < p.T; t += int64_t(gridDim.x) * kWarps) {
    A acc[kMaxE];
#pragma unroll
    for (int e = 0; e < kMaxE; ++e) acc[e] = A(0);
    const T* xt = x + t * C;
    for (int64_t c = lane; c < C; c += 32) {
      const A xv = to_acc(xt[c]);
#pragma unroll
      for (int e = 0; e < kMaxE; ++e)
        if (e < E) acc[e] += xv * (kShared ? ws[e * C + c] : to_acc(w[e * C + c]));
    }
    A mine = A(0);
#pragma unroll
    for (int e = 0; e < kMaxE; ++e)
      if (e < E) {
        A s = warp_reduce(acc[e], SumOp());
        if (lane == e) mine = s;
      }
    const bool active = lane < E;
    // Softmax and top-k run on the stored (rounded) values, as the CPU reference does.
    A z = -d_inf<A>();
    if (active) {
      T zt = from_acc<T>(mine * inv_temp);
      logits[t * E + lane] = zt;
      z = to_acc(zt);
    }
    const A mx = warp_reduce(z, MaxOp());
    const A ex = active ? d_exp(z - mx) : A(0);
    const A sum = warp_reduce(ex, SumOp());
    A pr = -d_inf<A>();
    if (active) {
      T pt = from_acc<T>(ex / sum);
      probs[t * E + lane] = pt;
      pr = to_acc(pt);
    }
    bool taken = !active;
    A my_top = A(0);
    int my_idx = 0;
    for (int j = 0; j < k; ++j) {
      A v = taken ? -d_inf<A>() : pr;
      int i = taken ? kMaxE : lane;
      warp_argmax(v, i);
      if (lane == i) taken = true;
      if (lane == j) {
        my_top = v;
        my_idx = i;
      }
    }
    const A top_sum = warp_reduce(lane < k ? my_top : A(0), SumOp());
    if (lane < k) {
      top_idx[t * k + lane] = my_idx;
      top_probs[t * k + lane] = from_acc<T>(my_top);
      weights[t * k + lane] = from_acc<T>(p.renormalize ? my_top / top_sum : my_top);
    }
  }
}

// One warp per token: g [T, E] = d loss / d (x w^T) (lane e holds expert e), then the
// token's row of gx = g w.
template <class T>
__global__ void router_bwd_token_kernel(T* gx, acc_t<T>* g, const T* w, const T* probs, const int64_t* top_idx,
                                        const T* top_probs, const T* g_logits, const T* g_probs, const T* g_weights,
                                        MoeRouterParams p) {
  using A = acc_t<T>;
  const int64_t C = p.C;
  const int E = int(p.E), k = int(p.k);
  const int lane = int(threadIdx.x) & 31, warp = int(threadIdx.x) >> 5;
  const bool active = lane < E, choice = lane < k;
  for (int64_t t = int64_t(blockIdx.x) * kWarps + warp; t < p.T; t += int64_t(gridDim.x) * kWarps) {
    const A pr = active ? to_acc(probs[t * E + lane]) : A(0);
    A gp = active && g_probs ? to_acc(g_probs[t * E + lane]) : A(0);
    if (g_weights) {
      const A top = choice ? to_acc(top_probs[t * k + lane]) : A(0);
      const A gwt = choice ? to_acc(g_weights[t * k + lane]) : A(0);
      A gv = gwt;
      if (p.renormalize) {
        // weights = v / sum(v) gives dv_j = (gw_j - sum_i gw_i weight_i) / sum(v).
        const A sum = warp_reduce(top, SumOp());
        const A dot = warp_reduce(choice ? gwt * top / sum : A(0), SumOp());
        gv = (gwt - dot) / sum;
      }
      const int my_idx = choice ? int(top_idx[t * k + lane]) : -1;
      for (int j = 0; j < k; ++j) {
        const int e = __shfl_sync(0xffffffffu, my_idx, j);
        const A v = __shfl_sync(0xffffffffu, gv, j);
        if (lane == e) gp += v;
      }
    }
    const A dot = warp_reduce(gp * pr, SumOp());
    A gz = pr * (gp - dot) + (active && g_logits ? to_acc(g_logits[t * E + lane]) : A(0));
    gz *= A(1.0 / p.temperature);
    if (active) g[t * E + lane] = gz;
    A ge[kMaxE];
#pragma unroll
    for (int e = 0; e < kMaxE; ++e) ge[e] = __shfl_sync(0xffffffffu, gz, e);
    for (int64_t c = lane; c < C; c += 32) {
      A acc = A(0);
#pragma unroll
      for (int e = 0; e < kMaxE; ++e)
        if (e < E) acc += ge[e] * to_acc(w[e * C + c]);
      gx[t * C + c] = from_acc<T>(acc);
    }
  }
}

// partial[chunk, e, c] = sum over the chunk's tokens of g[t, e] x[t, c]: block (32, kWarps)
// covers 32 columns of one chunk; its warps take every kWarps-th token and are summed
// in warp order through shared memory.
template <class T>
__global__ void router_bwd_weight_partial_kernel(acc_t<T>* partial, const acc_t<T>* g, const T* x, MoeRouterParams p) {
  using A = acc_t<T>;
  ENGINE_SHARED(A, red, [kMaxE][32]);
  const int64_t C = p.C;
  const int E = int(p.E);
  const int lane = int(threadIdx.x), wy = int(threadIdx.y);
  const int64_t c = int64_t(blockIdx.x) * 32 + lane, chunk = blockIdx.y;
  const int64_t t0 = chunk * kTokenChunk, t1 = t0 + kTokenChunk < p.T ? t0 + kTokenChunk : p.T;
  A acc[kMaxE];
#pragma unroll
  for (int e = 0; e < kMaxE; ++e) acc[e] = A(0);
  if (c < C)
    for (int64_t t = t0 + wy; t < t1; t += kWarps) {
      const A xv = to_acc(x[t * C + c]);
#pragma unroll
      for (int e = 0; e < kMaxE; ++e)
        if (e < E) acc[e] += g[t * E + e] * xv;
    }
  for (int r = 0; r < kWarps; ++r) {
    if (wy == r)
#pragma unroll
      for (int e = 0; e < kMaxE; ++e)
        if (e < E) red[e][lane] = r == 0 ? acc[e] : red[e][lane] + acc[e];
    __syncthreads();
  }
  if (c < C)
    for (int e = wy; e < E; e += kWarps) partial[(chunk * E + e) * C + c] = red[e][lane];
}

template <class T>
__global__ void router_bwd_weight_sum_kernel(T* gw, const acc_t<T>* partial, int64_t chunks, int64_t EC) {
  ENGINE_GRID_STRIDE(i, EC) {
    acc_t<T> acc = 0;
    for (int64_t ch = 0; ch < chunks; ++ch) acc += partial[ch * EC + i];
    gw[i] = from_acc<T>(acc);
  }
}

int64_t chunks_of(const MoeRouterParams& p) { return (p.T + kTokenChunk - 1) / kTokenChunk; }

size_t align256(size_t n) { return (n + 255) / 256 * 256; }

unsigned token_blocks(int64_t T) {
  int dev = 0, sms = 0;
  ENGINE_CUDA_CHECK(cudaGetDevice(&dev));
  ENGINE_CUDA_CHECK(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, dev));
  // Enough blocks to fill the device; more would only reload the weight.
  int64_t want = (T + kWarps - 1) / kWarps, cap = int64_t(sms) * 4;
  return unsigned(want < cap ? (want > 0 ? want : 1) : cap);
}

void check_router_params(const MoeRouterParams& p) {
  ENGINE_CHECK(p.E >= 1 && p.E <= kMoeRouterMaxExperts && p.k >= 1 && p.k <= p.E,
               "op moe_router_topk: the CUDA kernel takes 1..." << kMoeRouterMaxExperts << " experts and 1 <= k <= E"
                                                                << ", got E = " << p.E << ", k = " << p.k);
}

}  // namespace

template <class T>
void moe_router_fwd_cuda(T* logits, T* probs, int64_t* top_idx, T* top_probs, T* weights, const T* x, const T* w,
                         const MoeRouterParams& p, cudaStream_t stream) {
  check_router_params(p);
  if (p.T == 0) return;
  const size_t bytes = size_t(p.E * p.C) * sizeof(acc_t<T>);
  int dev = 0, optin = 0;
  ENGINE_CUDA_CHECK(cudaGetDevice(&dev));
  ENGINE_CUDA_CHECK(cudaDeviceGetAttribute(&optin, cudaDevAttrMaxSharedMemoryPerBlockOptin, dev));
  const unsigned grid = token_blocks(p.T), block = 32 * kWarps;
  if (bytes <= size_t(optin)) {
    if (bytes > 48 * 1024)
      ENGINE_CUDA_CHECK(
          cudaFuncSetAttribute(router_fwd_kernel<T, true>, cudaFuncAttributeMaxDynamicSharedMemorySize, int(bytes)));
    ENGINE_LAUNCH(grid, block, bytes, stream, router_fwd_kernel<T, true>)
    (logits, probs, top_idx, top_probs, weights, x, w, p);
  } else {
    ENGINE_LAUNCH(grid, block, 0, stream, router_fwd_kernel<T, false>)
    (logits, probs, top_idx, top_probs, weights, x, w, p);
  }
  ENGINE_CUDA_LAUNCH_CHECK("router_fwd_kernel");
}

size_t moe_router_bwd_scratch_bytes(const MoeRouterParams& p, bool f64) {
  const size_t a = f64 ? sizeof(double) : sizeof(float);
  return align256(size_t(p.T * p.E) * a) + size_t(chunks_of(p) * p.E * p.C) * a;
}

template <class T>
void moe_router_bwd_cuda(T* gx, T* gw, const T* x, const T* w, const T* probs, const int64_t* top_idx,
                         const T* top_probs, const T* g_logits, const T* g_probs, const T* g_weights, void* scratch,
                         const MoeRouterParams& p, cudaStream_t stream) {
  using A = acc_t<T>;
  check_router_params(p);
  if (p.T == 0 || p.C == 0) {
    if (p.C > 0) ENGINE_CUDA_CHECK(cudaMemsetAsync(gw, 0, size_t(p.E * p.C) * sizeof(T), stream));
    return;
  }
  A* g = static_cast<A*>(scratch);
  A* partial = reinterpret_cast<A*>(static_cast<char*>(scratch) + align256(size_t(p.T * p.E) * sizeof(A)));
  ENGINE_LAUNCH(token_blocks(p.T), 32 * kWarps, 0, stream, router_bwd_token_kernel<T>)
  (gx, g, w, probs, top_idx, top_probs, g_logits, g_probs, g_weights, p);
  ENGINE_CUDA_LAUNCH_CHECK("router_bwd_token_kernel");
  const int64_t chunks = chunks_of(p);
  ENGINE_CHECK(chunks <= 65535, "op moe_router_topk_bwd: " << p.T << " tokens exceed the " << 65535 * kTokenChunk
                                                           << " the weight-gradient grid covers");
  dim3 grid(unsigned((p.C + 31) / 32), unsigned(chunks)), block(32, kWarps);
  ENGINE_LAUNCH(grid, block, 0, stream, router_bwd_weight_partial_kernel<T>)(partial, g, x, p);
  ENGINE_CUDA_LAUNCH_CHECK("router_bwd_weight_partial_kernel");
  ENGINE_LAUNCH(grid_for(p.E * p.C), kBlock, 0, stream, router_bwd_weight_sum_kernel<T>)
  (gw, partial, chunks, p.E * p.C);
  ENGINE_CUDA_LAUNCH_CHECK("router_bwd_weight_sum_kernel");
}

#define INSTANTIATE(T)                                                                                           \
  template void moe_router_fwd_cuda<T>(T*, T*, int64_t*, T*, T*, const T*, const T*, const MoeRouterParams&,     \
                                       cudaStream_t);                                                            \
  template void moe_router_bwd_cuda<T>(T*, T*, const T*, const T*, const T*, const int64_t*, const T*, const T*, \
                                       const T*, const T*, void*, const MoeRouterParams&, cudaStream_t);
INSTANTIATE(float)
INSTANTIATE(double)
INSTANTIATE(bf16_t)
INSTANTIATE(f16_t)
#undef INSTANTIATE

}  // namespace engine::kernels
