#include <array>
#include <climits>
#include <map>
#include <mutex>

#include "base/check.h"
#include "kernels/cuda/common.cuh"
#include "kernels/cuda/conv.h"
#include "kernels/cuda/launch.cuh"
#include "kernels/cuda/libs.h"

namespace engine::kernels {
namespace {

enum class Dir { Fwd = 0, BwdData = 1, BwdFilter = 2 };

// Heuristic candidates needing more workspace than this are passed over.
constexpr size_t kMaxWorkspace = size_t(2) << 30;

int to_int(int64_t v, const char* what) {
  ENGINE_CHECK(v >= 0 && v <= INT_MAX, "conv2d: " << what << " = " << v << " does not fit cuDNN's 32-bit int");
  return int(v);
}

cudnnDataType_t data_type(DType t) {
  switch (t) {
    case DType::f32: return CUDNN_DATA_FLOAT;
    case DType::f64: return CUDNN_DATA_DOUBLE;
    case DType::bf16: return CUDNN_DATA_BFLOAT16;
    case DType::f16: return CUDNN_DATA_HALF;
    default: ENGINE_THROW("conv2d: dtype " << dtype_name(t) << " has no CUDA kernel (f32, f64, bf16, f16)");
  }
}

struct Descriptors {
  cudnnTensorDescriptor_t x = nullptr, y = nullptr;
  cudnnFilterDescriptor_t w = nullptr;
  cudnnConvolutionDescriptor_t conv = nullptr;

  Descriptors(const Conv2dParams& p, DType dtype) {
    cudnnDataType_t data = data_type(dtype);
    cudnnDataType_t compute = dtype == DType::f64 ? CUDNN_DATA_DOUBLE : CUDNN_DATA_FLOAT;
    ENGINE_CUDNN_CHECK(cudnnCreateTensorDescriptor(&x));
    ENGINE_CUDNN_CHECK(cudnnCreateTensorDescriptor(&y));
    ENGINE_CUDNN_CHECK(cudnnCreateFilterDescriptor(&w));
    ENGINE_CUDNN_CHECK(cudnnCreateConvolutionDescriptor(&conv));
    // Activations may be NHWC; filters stay KCRS (cuDNN takes the mix, see conv.h).
    const cudnnTensorFormat_t act = p.channels_last ? CUDNN_TENSOR_NHWC : CUDNN_TENSOR_NCHW;
    ENGINE_CUDNN_CHECK(cudnnSetTensor4dDescriptor(x, act, data, to_int(p.N, "N"), to_int(p.C, "C"), to_int(p.H, "H"),
                                                  to_int(p.W, "W")));
    ENGINE_CUDNN_CHECK(cudnnSetTensor4dDescriptor(y, act, data, to_int(p.N, "N"), to_int(p.K, "K"), to_int(p.P, "P"),
                                                  to_int(p.Q, "Q")));
    ENGINE_CUDNN_CHECK(cudnnSetFilter4dDescriptor(w, data, CUDNN_TENSOR_NCHW, to_int(p.K, "K"),
                                                  to_int(p.C / p.groups, "C/groups"), to_int(p.R, "R"),
                                                  to_int(p.S, "S")));
    ENGINE_CUDNN_CHECK(cudnnSetConvolution2dDescriptor(conv, to_int(p.pad_h, "pad_h"), to_int(p.pad_w, "pad_w"),
                                                       to_int(p.stride_h, "stride_h"), to_int(p.stride_w, "stride_w"),
                                                       to_int(p.dil_h, "dil_h"), to_int(p.dil_w, "dil_w"),
                                                       CUDNN_CROSS_CORRELATION, compute));
    ENGINE_CUDNN_CHECK(cudnnSetConvolutionGroupCount(conv, to_int(p.groups, "groups")));
    int n = 0, k = 0, h = 0, wd = 0;
    ENGINE_CUDNN_CHECK(cudnnGetConvolution2dForwardOutputDim(conv, x, w, &n, &k, &h, &wd));
    ENGINE_CHECK(n == p.N && k == p.K && h == p.P && wd == p.Q, "conv2d: cuDNN computes an output of ["
                                                                    << n << ", " << k << ", " << h << ", " << wd
                                                                    << "], the op expects [" << p.N << ", " << p.K
                                                                    << ", " << p.P << ", " << p.Q << "]");
  }
  ~Descriptors() {
    cudnnDestroyConvolutionDescriptor(conv);
    cudnnDestroyFilterDescriptor(w);
    cudnnDestroyTensorDescriptor(y);
    cudnnDestroyTensorDescriptor(x);
  }
  Descriptors(const Descriptors&) = delete;
  Descriptors& operator=(const Descriptors&) = delete;
};

struct Choice {
  int algo = 0;
  cudnnMathType_t math = CUDNN_FMA_MATH;
};

using Key = std::array<int64_t, 21>;

Key make_key(Dir dir, DType dtype, bool tf32, const Conv2dParams& p) {
  int dev = 0;
  ENGINE_CUDA_CHECK(cudaGetDevice(&dev));
  return Key{int64_t(dir),
             int64_t(dtype),
             int64_t(tf32),
             dev,
             p.N,
             p.C,
             p.H,
             p.W,
             p.K,
             p.R,
             p.S,
             p.stride_h,
             p.stride_w,
             p.pad_h,
             p.pad_w,
             p.dil_h,
             p.dil_w,
             p.groups,
             p.P,
             p.Q,
             int64_t(p.channels_last)};
}

// Strict f32 (no TF32) may only use FMA kernels; other dtypes take any math type.
bool acceptable(cudnnStatus_t status, cudnnMathType_t math, size_t memory, DType dtype, bool tf32) {
  if (status != CUDNN_STATUS_SUCCESS || memory > kMaxWorkspace) return false;
  return dtype != DType::f32 || tf32 || math == CUDNN_FMA_MATH;
}

template <class Perf, class GetFn>
Choice pick(GetFn get, DType dtype, bool tf32) {
  constexpr int kMax = 16;
  Perf perf[kMax];
  int found = 0;
  ENGINE_CUDNN_CHECK(get(kMax, &found, perf));
  for (int i = 0; i < found; ++i)
    if (acceptable(perf[i].status, perf[i].mathType, perf[i].memory, dtype, tf32))
      return Choice{int(perf[i].algo), perf[i].mathType};
  // Algorithm 0 (implicit GEMM) runs every configuration with plain FMA math.
  return Choice{0, CUDNN_FMA_MATH};
}

Choice choose(Dir dir, cudnnHandle_t h, const Descriptors& d, DType dtype, bool tf32, const Conv2dParams& p) {
  static std::mutex mu;
  static std::map<Key, Choice> cache;
  Key key = make_key(dir, dtype, tf32, p);
  {
    std::lock_guard<std::mutex> lock(mu);
    auto it = cache.find(key);
    if (it != cache.end()) return it->second;
  }
  Choice c;
  switch (dir) {
    case Dir::Fwd:
      c = pick<cudnnConvolutionFwdAlgoPerf_t>(
          [&](int n, int* found, cudnnConvolutionFwdAlgoPerf_t* perf) {
            return cudnnGetConvolutionForwardAlgorithm_v7(h, d.x, d.w, d.conv, d.y, n, found, perf);
          },
          dtype, tf32);
      break;
    case Dir::BwdData:
      c = pick<cudnnConvolutionBwdDataAlgoPerf_t>(
          [&](int n, int* found, cudnnConvolutionBwdDataAlgoPerf_t* perf) {
            return cudnnGetConvolutionBackwardDataAlgorithm_v7(h, d.w, d.y, d.conv, d.x, n, found, perf);
          },
          dtype, tf32);
      break;
    case Dir::BwdFilter:
      c = pick<cudnnConvolutionBwdFilterAlgoPerf_t>(
          [&](int n, int* found, cudnnConvolutionBwdFilterAlgoPerf_t* perf) {
            return cudnnGetConvolutionBackwardFilterAlgorithm_v7(h, d.x, d.y, d.conv, d.w, n, found, perf);
          },
          dtype, tf32);
      break;
  }
  std::lock_guard<std::mutex> lock(mu);
  cache.emplace(key, c);
  return c;
}

// cuDNN reads alpha and beta as double for f64 data and as float otherwise.
struct Scalars {
  double d1 = 1.0, d0 = 0.0;
  float f1 = 1.0f, f0 = 0.0f;
  bool dbl;
  explicit Scalars(DType t) : dbl(t == DType::f64) {}
  const void* one() const { return dbl ? static_cast<const void*>(&d1) : static_cast<const void*>(&f1); }
  const void* zero() const { return dbl ? static_cast<const void*>(&d0) : static_cast<const void*>(&f0); }
};

// Channel of element i: (i / PQ) % K in NCHW; NHWC passes PQ = 1 (channel = i % K).
template <class T>
__global__ void add_bias_kernel(T* y, const T* bias, int64_t n, int64_t K, int64_t PQ) {
  ENGINE_GRID_STRIDE(i, n) { y[i] = from_acc<T>(to_acc(y[i]) + to_acc(bias[(i / PQ) % K])); }
}

void add_bias(DType dtype, void* y, const void* bias, const Conv2dParams& p, cudaStream_t stream) {
  int64_t n = p.N * p.K * p.P * p.Q, PQ = p.channels_last ? 1 : p.P * p.Q;
  unsigned grid = grid_for(n);
  switch (dtype) {
    case DType::f32:
      ENGINE_LAUNCH(grid, kBlock, 0, stream, add_bias_kernel<float>)
      (static_cast<float*>(y), static_cast<const float*>(bias), n, p.K, PQ);
      break;
    case DType::f64:
      ENGINE_LAUNCH(grid, kBlock, 0, stream, add_bias_kernel<double>)
      (static_cast<double*>(y), static_cast<const double*>(bias), n, p.K, PQ);
      break;
    case DType::bf16:
      ENGINE_LAUNCH(grid, kBlock, 0, stream, add_bias_kernel<bf16_t>)
      (static_cast<bf16_t*>(y), static_cast<const bf16_t*>(bias), n, p.K, PQ);
      break;
    case DType::f16:
      ENGINE_LAUNCH(grid, kBlock, 0, stream, add_bias_kernel<f16_t>)
      (static_cast<f16_t*>(y), static_cast<const f16_t*>(bias), n, p.K, PQ);
      break;
    default: ENGINE_THROW("conv2d: dtype " << dtype_name(dtype) << " has no CUDA kernel");
  }
  ENGINE_CUDA_LAUNCH_CHECK("add_bias_kernel");
}

}  // namespace

void conv2d_fwd_cuda(cudnnHandle_t h, DType dtype, void* y, const void* x, const void* w, const void* bias,
                     const Conv2dParams& p, bool tf32, const ScratchFn& scratch, cudaStream_t stream) {
  if (p.N == 0 || p.K == 0 || p.P == 0 || p.Q == 0) return;
  Descriptors d(p, dtype);
  Choice c = choose(Dir::Fwd, h, d, dtype, tf32, p);
  ENGINE_CUDNN_CHECK(cudnnSetConvolutionMathType(d.conv, c.math));
  auto algo = cudnnConvolutionFwdAlgo_t(c.algo);
  size_t ws_bytes = 0;
  ENGINE_CUDNN_CHECK(cudnnGetConvolutionForwardWorkspaceSize(h, d.x, d.w, d.conv, d.y, algo, &ws_bytes));
  void* ws = ws_bytes ? scratch(ws_bytes) : nullptr;
  Scalars s(dtype);
  ENGINE_CUDNN_CHECK(cudnnConvolutionForward(h, s.one(), d.x, x, d.w, w, d.conv, algo, ws, ws_bytes, s.zero(), d.y, y));
  if (bias) add_bias(dtype, y, bias, p, stream);
}

void conv2d_bwd_data_cuda(cudnnHandle_t h, DType dtype, void* gx, const void* gy, const void* w, const Conv2dParams& p,
                          bool tf32, const ScratchFn& scratch, cudaStream_t stream) {
  if (p.N == 0 || p.C == 0 || p.H == 0 || p.W == 0) return;
  if (p.K == 0) {
    ENGINE_CUDA_CHECK(cudaMemsetAsync(gx, 0, size_t(p.N * p.C * p.H * p.W) * dtype_size(dtype), stream));
    return;
  }
  Descriptors d(p, dtype);
  Choice c = choose(Dir::BwdData, h, d, dtype, tf32, p);
  ENGINE_CUDNN_CHECK(cudnnSetConvolutionMathType(d.conv, c.math));
  auto algo = cudnnConvolutionBwdDataAlgo_t(c.algo);
  size_t ws_bytes = 0;
  ENGINE_CUDNN_CHECK(cudnnGetConvolutionBackwardDataWorkspaceSize(h, d.w, d.y, d.conv, d.x, algo, &ws_bytes));
  void* ws = ws_bytes ? scratch(ws_bytes) : nullptr;
  Scalars s(dtype);
  ENGINE_CUDNN_CHECK(
      cudnnConvolutionBackwardData(h, s.one(), d.w, w, d.y, gy, d.conv, algo, ws, ws_bytes, s.zero(), d.x, gx));
}

void conv2d_bwd_filter_cuda(cudnnHandle_t h, DType dtype, void* gw, const void* gy, const void* x,
                            const Conv2dParams& p, bool tf32, const ScratchFn& scratch, cudaStream_t stream) {
  int64_t w_numel = p.K * (p.groups ? p.C / p.groups : 0) * p.R * p.S;
  if (w_numel == 0) return;
  if (p.N == 0 || p.P == 0 || p.Q == 0) {
    ENGINE_CUDA_CHECK(cudaMemsetAsync(gw, 0, size_t(w_numel) * dtype_size(dtype), stream));
    return;
  }
  Descriptors d(p, dtype);
  Choice c = choose(Dir::BwdFilter, h, d, dtype, tf32, p);
  ENGINE_CUDNN_CHECK(cudnnSetConvolutionMathType(d.conv, c.math));
  auto algo = cudnnConvolutionBwdFilterAlgo_t(c.algo);
  size_t ws_bytes = 0;
  ENGINE_CUDNN_CHECK(cudnnGetConvolutionBackwardFilterWorkspaceSize(h, d.x, d.y, d.conv, d.w, algo, &ws_bytes));
  void* ws = ws_bytes ? scratch(ws_bytes) : nullptr;
  Scalars s(dtype);
  ENGINE_CUDNN_CHECK(
      cudnnConvolutionBackwardFilter(h, s.one(), d.x, x, d.y, gy, d.conv, algo, ws, ws_bytes, s.zero(), d.w, gw));
}

}  // namespace engine::kernels
