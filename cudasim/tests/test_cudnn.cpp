// The simulated cuDNN against naive convolution loops in double, written from the
// definition (no im2col), over layouts, groups, padding, strides, dilations and both
// modes; and every check it makes: descriptor consistency, algorithms and workspace
// sizes, the workspace marker, device faults, capture by value. Inputs are multiples of
// 1/8 in [-2, 2], so sums are exact in f32 and results compare exactly after the one
// rounding to the output type.
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>
#include <cudnn.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <cmath>
#include <cstring>
#include <functional>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "cudasim/cudasim.h"
#include "sim_test.h"

namespace {

using namespace simtest;
constexpr double kSentinel = 7.0;  // fills gaps between the elements of strided tensors

simtest::Num num_of(cudnnDataType_t t) {
  return t == CUDNN_DATA_DOUBLE  ? Num::f64
         : t == CUDNN_DATA_FLOAT ? Num::f32
         : t == CUDNN_DATA_HALF  ? Num::f16
                                 : Num::bf16;
}
std::vector<unsigned char> encode(const std::vector<double>& v, cudnnDataType_t t) { return encode_num(v, num_of(t)); }
std::vector<double> decode(const std::vector<unsigned char>& b, cudnnDataType_t t) { return decode_num(b, num_of(t)); }

// A device buffer holding values of one type.
struct Dev : DevBuf {
  Dev(const std::vector<double>& v, cudnnDataType_t type) : DevBuf(v, num_of(type)) {}
};

// A 4-d layout: logical (n, c, h, w) at n*sn + c*sc + h*sh + w*sw.
struct Layout {
  int n, c, h, w;
  long long sn, sc, sh, sw;
  size_t span() const { return size_t(1 + (n - 1) * sn + (c - 1) * sc + (h - 1) * sh + (w - 1) * sw); }
  size_t at(int i, int j, int k, int l) const { return size_t(i * sn + j * sc + k * sh + l * sw); }
};
Layout nchw(int n, int c, int h, int w) { return {n, c, h, w, (long long)c * h * w, (long long)h * w, w, 1}; }
Layout nhwc(int n, int c, int h, int w) { return {n, c, h, w, (long long)h * w * c, 1, (long long)w * c, c}; }

// Logical NCHW values to a buffer in layout l (gaps hold the sentinel).
std::vector<double> to_layout(const std::vector<double>& v, const Layout& l) {
  std::vector<double> out(l.span(), kSentinel);
  size_t i = 0;
  for (int a = 0; a < l.n; ++a)
    for (int b = 0; b < l.c; ++b)
      for (int c = 0; c < l.h; ++c)
        for (int d = 0; d < l.w; ++d) out[l.at(a, b, c, d)] = v[i++];
  return out;
}

struct Cfg {
  int N, C, H, W, K, R, S, ph, pw, u, v, dh, dw, G;
  bool channels_last, filter_krsc;  // NHWC activations; KRSC (NHWC-format) filter
  cudnnConvolutionMode_t mode;
  int Cg() const { return C / G; }
  int P() const { return (H + 2 * ph - ((R - 1) * dh + 1)) / u + 1; }
  int Q() const { return (W + 2 * pw - ((S - 1) * dw + 1)) / v + 1; }
  Layout x() const { return channels_last ? nhwc(N, C, H, W) : nchw(N, C, H, W); }
  Layout y() const { return channels_last ? nhwc(N, K, P(), Q()) : nchw(N, K, P(), Q()); }
  Layout w() const { return filter_krsc ? nhwc(K, Cg(), R, S) : nchw(K, Cg(), R, S); }
};

// The reference convolutions on logical NCHW / KCRS arrays, from the definition:
// y[n, k, p, q] = sum over c of group(k), r, s of x[n, c, p*u - ph + r*dh, q*v - pw + s*dw] * w'[k, c, r, s],
// w' the filter, mirrored in CUDNN_CONVOLUTION mode. Calls f(n, k, p, q, ci, c, r, s, ih, iw) per tap.
template <class F>
void each_tap(const Cfg& c, F f) {
  const int Kg = c.K / c.G;
  for (int n = 0; n < c.N; ++n)
    for (int k = 0; k < c.K; ++k)
      for (int p = 0; p < c.P(); ++p)
        for (int q = 0; q < c.Q(); ++q)
          for (int ci = 0; ci < c.Cg(); ++ci)
            for (int r = 0; r < c.R; ++r)
              for (int s = 0; s < c.S; ++s) {
                const int ih = p * c.u - c.ph + r * c.dh, iw = q * c.v - c.pw + s * c.dw;
                if (ih < 0 || ih >= c.H || iw < 0 || iw >= c.W) continue;
                f(n, k, p, q, (k / Kg) * c.Cg() + ci, ci, r, s, ih, iw);
              }
}
size_t xi(const Cfg& c, int n, int ch, int h, int w) { return size_t(((n * c.C + ch) * c.H + h) * c.W + w); }
size_t yi(const Cfg& c, int n, int k, int p, int q) { return size_t(((n * c.K + k) * c.P() + p) * c.Q() + q); }
size_t wi(const Cfg& c, int k, int ci, int r, int s) {
  if (c.mode == CUDNN_CONVOLUTION) r = c.R - 1 - r, s = c.S - 1 - s;
  return size_t(((k * c.Cg() + ci) * c.R + r) * c.S + s);
}

enum class Dir { fwd, bwd_data, bwd_filter };

// Runs one convolution through cuDNN the way conv.cu does (descriptors, _v7 query, the
// first FMA algorithm, its workspace size) and compares it with the reference.
void run_case(const Cfg& c, cudnnDataType_t t, Dir dir, double beta, std::mt19937& rng,
              const Layout* xl_custom = nullptr, const Layout* yl_custom = nullptr) {
  INFO("N C H W " << c.N << " " << c.C << " " << c.H << " " << c.W << ", K R S " << c.K << " " << c.R << " " << c.S
                  << ", groups " << c.G << ", nhwc " << c.channels_last << ", type " << t << ", dir " << int(dir)
                  << ", beta " << beta);
  cudnnHandle_t h;
  REQUIRE(cudnnCreate(&h) == CUDNN_STATUS_SUCCESS);
  cudnnTensorDescriptor_t xd, yd;
  cudnnFilterDescriptor_t wd;
  cudnnConvolutionDescriptor_t cd;
  REQUIRE(cudnnCreateTensorDescriptor(&xd) == CUDNN_STATUS_SUCCESS);
  REQUIRE(cudnnCreateTensorDescriptor(&yd) == CUDNN_STATUS_SUCCESS);
  REQUIRE(cudnnCreateFilterDescriptor(&wd) == CUDNN_STATUS_SUCCESS);
  REQUIRE(cudnnCreateConvolutionDescriptor(&cd) == CUDNN_STATUS_SUCCESS);
  const Layout xl = xl_custom ? *xl_custom : c.x(), yl = yl_custom ? *yl_custom : c.y(), wl = c.w();
  const auto fmt = c.channels_last ? CUDNN_TENSOR_NHWC : CUDNN_TENSOR_NCHW;
  if (xl_custom)
    REQUIRE(cudnnSetTensor4dDescriptorEx(xd, t, c.N, c.C, c.H, c.W, int(xl.sn), int(xl.sc), int(xl.sh), int(xl.sw)) ==
            CUDNN_STATUS_SUCCESS);
  else
    REQUIRE(cudnnSetTensor4dDescriptor(xd, fmt, t, c.N, c.C, c.H, c.W) == CUDNN_STATUS_SUCCESS);
  if (yl_custom)
    REQUIRE(cudnnSetTensor4dDescriptorEx(yd, t, c.N, c.K, c.P(), c.Q(), int(yl.sn), int(yl.sc), int(yl.sh),
                                         int(yl.sw)) == CUDNN_STATUS_SUCCESS);
  else
    REQUIRE(cudnnSetTensor4dDescriptor(yd, fmt, t, c.N, c.K, c.P(), c.Q()) == CUDNN_STATUS_SUCCESS);
  REQUIRE(cudnnSetFilter4dDescriptor(wd, t, c.filter_krsc ? CUDNN_TENSOR_NHWC : CUDNN_TENSOR_NCHW, c.K, c.Cg(), c.R,
                                     c.S) == CUDNN_STATUS_SUCCESS);
  const auto compute = t == CUDNN_DATA_DOUBLE ? CUDNN_DATA_DOUBLE : CUDNN_DATA_FLOAT;
  REQUIRE(cudnnSetConvolution2dDescriptor(cd, c.ph, c.pw, c.u, c.v, c.dh, c.dw, c.mode, compute) ==
          CUDNN_STATUS_SUCCESS);
  REQUIRE(cudnnSetConvolutionGroupCount(cd, c.G) == CUDNN_STATUS_SUCCESS);
  REQUIRE(cudnnSetConvolutionMathType(cd, CUDNN_FMA_MATH) == CUDNN_STATUS_SUCCESS);
  int on, oc, oh, ow;
  REQUIRE(cudnnGetConvolution2dForwardOutputDim(cd, xd, wd, &on, &oc, &oh, &ow) == CUDNN_STATUS_SUCCESS);
  REQUIRE((on == c.N && oc == c.K && oh == c.P() && ow == c.Q()));

  const auto x = grid_values(size_t(c.N * c.C * c.H * c.W), rng),
             w = grid_values(size_t(c.K * c.Cg() * c.R * c.S), rng),
             y = grid_values(size_t(c.N * c.K * c.P() * c.Q()), rng);
  const size_t out_n = dir == Dir::fwd ? y.size() : dir == Dir::bwd_data ? x.size() : w.size();
  std::vector<double> old = beta == 0 ? std::vector<double>(out_n, NAN) : grid_values(out_n, rng);
  std::vector<double> ref(out_n, 0.0);
  each_tap(c, [&](int n, int k, int p, int q, int ch, int ci, int r, int s, int ih, int iw) {
    if (dir == Dir::fwd) ref[yi(c, n, k, p, q)] += x[xi(c, n, ch, ih, iw)] * w[wi(c, k, ci, r, s)];
    if (dir == Dir::bwd_data) ref[xi(c, n, ch, ih, iw)] += y[yi(c, n, k, p, q)] * w[wi(c, k, ci, r, s)];
    if (dir == Dir::bwd_filter) ref[wi(c, k, ci, r, s)] += y[yi(c, n, k, p, q)] * x[xi(c, n, ch, ih, iw)];
  });
  const double alpha = 1.5;
  for (size_t i = 0; i < out_n; ++i) ref[i] = alpha * ref[i] + (beta == 0 ? 0.0 : beta * old[i]);
  const Layout& ol = dir == Dir::fwd ? yl : dir == Dir::bwd_data ? xl : wl;
  Dev dx(to_layout(dir == Dir::bwd_data ? old : x, xl), t), dy(to_layout(dir == Dir::fwd ? old : y, yl), t),
      dw(to_layout(dir == Dir::bwd_filter ? old : w, wl), t);
  const float af = float(alpha), bf = float(beta);
  const void* pa = t == CUDNN_DATA_DOUBLE ? static_cast<const void*>(&alpha) : &af;
  const void* pb = t == CUDNN_DATA_DOUBLE ? static_cast<const void*>(&beta) : &bf;

  auto pick = [](const auto* perf, int n) {  // the engine's choice for strict f32: the first FMA algorithm
    for (int i = 0; i < n; ++i)
      if (perf[i].status == CUDNN_STATUS_SUCCESS && perf[i].mathType == CUDNN_FMA_MATH) return i;
    FAIL("no FMA algorithm");
    return 0;
  };
  int found = 0;
  size_t need = 0;
  void* ws = nullptr;
  cudnnStatus_t st = CUDNN_STATUS_INTERNAL_ERROR;
  if (dir == Dir::fwd) {
    cudnnConvolutionFwdAlgoPerf_t perf[16];
    REQUIRE(cudnnGetConvolutionForwardAlgorithm_v7(h, xd, wd, cd, yd, 16, &found, perf) == CUDNN_STATUS_SUCCESS);
    const auto& e = perf[pick(perf, found)];
    REQUIRE(cudnnGetConvolutionForwardWorkspaceSize(h, xd, wd, cd, yd, e.algo, &need) == CUDNN_STATUS_SUCCESS);
    CHECK(need == e.memory);
    REQUIRE(cudaMalloc(&ws, need) == cudaSuccess);
    st = cudnnConvolutionForward(h, pa, xd, dx.p, wd, dw.p, cd, e.algo, ws, need, pb, yd, dy.p);
  } else if (dir == Dir::bwd_data) {
    cudnnConvolutionBwdDataAlgoPerf_t perf[16];
    REQUIRE(cudnnGetConvolutionBackwardDataAlgorithm_v7(h, wd, yd, cd, xd, 16, &found, perf) == CUDNN_STATUS_SUCCESS);
    const auto& e = perf[pick(perf, found)];
    REQUIRE(cudnnGetConvolutionBackwardDataWorkspaceSize(h, wd, yd, cd, xd, e.algo, &need) == CUDNN_STATUS_SUCCESS);
    CHECK(need == e.memory);
    REQUIRE(cudaMalloc(&ws, need) == cudaSuccess);
    st = cudnnConvolutionBackwardData(h, pa, wd, dw.p, yd, dy.p, cd, e.algo, ws, need, pb, xd, dx.p);
  } else {
    cudnnConvolutionBwdFilterAlgoPerf_t perf[16];
    REQUIRE(cudnnGetConvolutionBackwardFilterAlgorithm_v7(h, xd, yd, cd, wd, 16, &found, perf) == CUDNN_STATUS_SUCCESS);
    const auto& e = perf[pick(perf, found)];
    REQUIRE(cudnnGetConvolutionBackwardFilterWorkspaceSize(h, xd, yd, cd, wd, e.algo, &need) == CUDNN_STATUS_SUCCESS);
    CHECK(need == e.memory);
    REQUIRE(cudaMalloc(&ws, need) == cudaSuccess);
    st = cudnnConvolutionBackwardFilter(h, pa, xd, dx.p, yd, dy.p, cd, e.algo, ws, need, pb, wd, dw.p);
  }
  REQUIRE(st == CUDNN_STATUS_SUCCESS);
  REQUIRE(cudaDeviceSynchronize() == cudaSuccess);
  const Dev& out = dir == Dir::fwd ? dy : dir == Dir::bwd_data ? dx : dw;
  const auto buf = out.get();
  // Every element as the reference, nothing written between the elements of a strided output.
  CHECK(mismatches(buf, to_layout(decode(encode(ref, t), t), ol)) == 0);
  std::vector<unsigned char> wsb(need);
  REQUIRE(cudaMemcpy(wsb.data(), ws, need, cudaMemcpyDeviceToHost) == cudaSuccess);
  CHECK(std::count(wsb.begin(), wsb.end(), kMarker) == long(need));
  cudaFree(ws);
  cudnnDestroyConvolutionDescriptor(cd);
  cudnnDestroyFilterDescriptor(wd);
  cudnnDestroyTensorDescriptor(yd);
  cudnnDestroyTensorDescriptor(xd);
  cudnnDestroy(h);
}

const Cfg kCases[] = {
    // N C  H  W  K  R  S ph pw u v dh dw G  NHWC   KRSC   mode
    {2, 3, 7, 6, 4, 3, 3, 1, 1, 1, 1, 1, 1, 1, false, false, CUDNN_CROSS_CORRELATION},
    {1, 4, 9, 8, 6, 3, 2, 2, 0, 2, 3, 1, 2, 2, true, true, CUDNN_CONVOLUTION},
    {3, 6, 5, 5, 6, 1, 1, 0, 0, 2, 2, 1, 1, 3, false, true, CUDNN_CROSS_CORRELATION},
    {2, 4, 6, 7, 4, 3, 3, 1, 2, 1, 1, 2, 1, 4, true, true, CUDNN_CROSS_CORRELATION},  // depthwise, dilated
    {2, 32, 12, 12, 70, 3, 3, 1, 1, 1, 1, 1, 1, 1, false, false, CUDNN_CONVOLUTION},  // past the kernel's blocks
};

}  // namespace

TEST_CASE("cuDNN convolutions match the reference for every layout, type and direction", "[cudasim]") {
  Fresh fresh;
  std::mt19937 rng(5);
  for (const Cfg& c : kCases)
    for (cudnnDataType_t t : {CUDNN_DATA_FLOAT, CUDNN_DATA_DOUBLE, CUDNN_DATA_HALF, CUDNN_DATA_BFLOAT16})
      for (Dir dir : {Dir::fwd, Dir::bwd_data, Dir::bwd_filter})
        for (double beta : {0.0, 0.5}) run_case(c, t, dir, beta, rng);
}

TEST_CASE("cuDNN convolutions follow explicit tensor strides", "[cudasim]") {
  Fresh fresh;
  std::mt19937 rng(9);
  const Cfg c = {2, 3, 6, 5, 5, 3, 3, 1, 1, 1, 2, 1, 1, 1, false, false, CUDNN_CROSS_CORRELATION};
  // x: NCHW with padded rows and gaps between images; y: NHWC with padded channels.
  const Layout xl = {c.N, c.C, c.H, c.W, (long long)c.C * c.H * (c.W + 3) + 7, (long long)c.H * (c.W + 3), c.W + 3, 1};
  const int K2 = c.K + 2;
  const Layout yl = {c.N, c.K, c.P(), c.Q(), (long long)c.P() * c.Q() * K2 + 5, 1, (long long)c.Q() * K2, K2};
  // Images innermost (HWCN and HWNC orders): the channel stride is neither 1 nor the largest.
  const Layout xl2 = {c.N, c.C, c.H, c.W, 1, c.N, (long long)c.W * c.C * c.N, (long long)c.C * c.N};
  const Layout yl2 = {c.N, c.K, c.P(), c.Q(), c.K, 1, (long long)c.Q() * c.N * c.K, (long long)c.N * c.K};
  for (Dir dir : {Dir::fwd, Dir::bwd_data, Dir::bwd_filter})
    for (double beta : {0.0, 0.5}) {
      run_case(c, CUDNN_DATA_FLOAT, dir, beta, rng, &xl, &yl);
      run_case(c, CUDNN_DATA_HALF, dir, beta, rng, &xl2, &yl2);
    }
}

namespace {

// The descriptors of a small valid forward problem (x 2x4x8x8, w 6x4x3x3, pad 1, y 2x6x8x8)
// for the checks below to spoil one at a time.
struct Small {
  cudnnHandle_t h = nullptr;
  cudnnTensorDescriptor_t x = nullptr, y = nullptr;
  cudnnFilterDescriptor_t w = nullptr;
  cudnnConvolutionDescriptor_t c = nullptr;
  explicit Small(cudnnDataType_t t = CUDNN_DATA_FLOAT) {
    REQUIRE(cudnnCreate(&h) == CUDNN_STATUS_SUCCESS);
    REQUIRE(cudnnCreateTensorDescriptor(&x) == CUDNN_STATUS_SUCCESS);
    REQUIRE(cudnnCreateTensorDescriptor(&y) == CUDNN_STATUS_SUCCESS);
    REQUIRE(cudnnCreateFilterDescriptor(&w) == CUDNN_STATUS_SUCCESS);
    REQUIRE(cudnnCreateConvolutionDescriptor(&c) == CUDNN_STATUS_SUCCESS);
    REQUIRE(cudnnSetTensor4dDescriptor(x, CUDNN_TENSOR_NCHW, t, 2, 4, 8, 8) == CUDNN_STATUS_SUCCESS);
    REQUIRE(cudnnSetTensor4dDescriptor(y, CUDNN_TENSOR_NCHW, t, 2, 6, 8, 8) == CUDNN_STATUS_SUCCESS);
    REQUIRE(cudnnSetFilter4dDescriptor(w, t, CUDNN_TENSOR_NCHW, 6, 4, 3, 3) == CUDNN_STATUS_SUCCESS);
    const auto compute = t == CUDNN_DATA_DOUBLE ? CUDNN_DATA_DOUBLE : CUDNN_DATA_FLOAT;
    REQUIRE(cudnnSetConvolution2dDescriptor(c, 1, 1, 1, 1, 1, 1, CUDNN_CROSS_CORRELATION, compute) ==
            CUDNN_STATUS_SUCCESS);
  }
  ~Small() {
    cudnnDestroyConvolutionDescriptor(c);
    cudnnDestroyFilterDescriptor(w);
    cudnnDestroyTensorDescriptor(y);
    cudnnDestroyTensorDescriptor(x);
    cudnnDestroy(h);
  }
};

// The _v7 answers of one direction: the three offered algorithms first (SUCCESS,
// distinct non-zero workspaces equal to the size query's, the first with tensor-op math
// unless double), then the rest NOT_SUPPORTED; times increasing throughout.
template <class Perf>
void check_perf(const Perf* perf, int found, int algo_count, cudnnDataType_t t,
                const std::function<cudnnStatus_t(int, size_t*)>& size_of) {
  CHECK(found == algo_count);
  std::vector<size_t> sizes;
  for (int i = 0; i < found; ++i) {
    INFO("entry " << i << ", algo " << int(perf[i].algo));
    if (i > 0) CHECK(perf[i].time > perf[i - 1].time);
    size_t bytes = 0;
    const cudnnStatus_t s = size_of(int(perf[i].algo), &bytes);
    if (i < 3) {
      CHECK(perf[i].status == CUDNN_STATUS_SUCCESS);
      CHECK(perf[i].memory > 0);
      CHECK(s == CUDNN_STATUS_SUCCESS);
      CHECK(bytes == perf[i].memory);
      CHECK(std::count(sizes.begin(), sizes.end(), perf[i].memory) == 0);
      sizes.push_back(perf[i].memory);
      const bool tensor_op = i == 0 && t != CUDNN_DATA_DOUBLE;
      CHECK(perf[i].mathType == (tensor_op ? CUDNN_TENSOR_OP_MATH : CUDNN_FMA_MATH));
    } else {
      CHECK(perf[i].status == CUDNN_STATUS_NOT_SUPPORTED);
      CHECK(s == CUDNN_STATUS_NOT_SUPPORTED);
    }
  }
}

}  // namespace

TEST_CASE("cuDNN _v7 queries offer three algorithms with distinct workspaces, as the size queries say", "[cudasim]") {
  Fresh fresh;
  for (cudnnDataType_t t : {CUDNN_DATA_FLOAT, CUDNN_DATA_DOUBLE, CUDNN_DATA_HALF}) {
    Small d(t);
    int found = 0;
    cudnnConvolutionFwdAlgoPerf_t fwd[16];
    REQUIRE(cudnnGetConvolutionForwardAlgorithm_v7(d.h, d.x, d.w, d.c, d.y, 16, &found, fwd) == CUDNN_STATUS_SUCCESS);
    check_perf(fwd, found, CUDNN_CONVOLUTION_FWD_ALGO_COUNT, t, [&](int a, size_t* s) {
      return cudnnGetConvolutionForwardWorkspaceSize(d.h, d.x, d.w, d.c, d.y, cudnnConvolutionFwdAlgo_t(a), s);
    });
    cudnnConvolutionBwdDataAlgoPerf_t bwd[16];
    REQUIRE(cudnnGetConvolutionBackwardDataAlgorithm_v7(d.h, d.w, d.y, d.c, d.x, 16, &found, bwd) ==
            CUDNN_STATUS_SUCCESS);
    check_perf(bwd, found, CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT, t, [&](int a, size_t* s) {
      return cudnnGetConvolutionBackwardDataWorkspaceSize(d.h, d.w, d.y, d.c, d.x, cudnnConvolutionBwdDataAlgo_t(a), s);
    });
    cudnnConvolutionBwdFilterAlgoPerf_t flt[16];
    REQUIRE(cudnnGetConvolutionBackwardFilterAlgorithm_v7(d.h, d.x, d.y, d.c, d.w, 16, &found, flt) ==
            CUDNN_STATUS_SUCCESS);
    check_perf(flt, found, CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT, t, [&](int a, size_t* s) {
      return cudnnGetConvolutionBackwardFilterWorkspaceSize(d.h, d.x, d.y, d.c, d.w, cudnnConvolutionBwdFilterAlgo_t(a),
                                                            s);
    });
    // Fewer requested, fewer returned; none requested is an error.
    REQUIRE(cudnnGetConvolutionForwardAlgorithm_v7(d.h, d.x, d.w, d.c, d.y, 2, &found, fwd) == CUDNN_STATUS_SUCCESS);
    CHECK(found == 2);
    CHECK(cudnnGetConvolutionForwardAlgorithm_v7(d.h, d.x, d.w, d.c, d.y, 0, &found, fwd) == CUDNN_STATUS_BAD_PARAM);
    CHECK(reported("requestedAlgoCount = 0"));
  }
}

TEST_CASE("cuDNN descriptor errors return cuDNN's status and name the problem", "[cudasim]") {
  Fresh fresh;
  Small d;
  int n, c, h, w;
  cudnnConvolutionFwdAlgoPerf_t perf[8];
  int found = 0;
  auto query = [&] { return cudnnGetConvolutionForwardAlgorithm_v7(d.h, d.x, d.w, d.c, d.y, 8, &found, perf); };
  REQUIRE(query() == CUDNN_STATUS_SUCCESS);
  // Input channels that are not the filter's channels times the group count.
  REQUIRE(cudnnSetTensor4dDescriptor(d.x, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, 2, 6, 8, 8) == CUDNN_STATUS_SUCCESS);
  CHECK(cudnnGetConvolution2dForwardOutputDim(d.c, d.x, d.w, &n, &c, &h, &w) == CUDNN_STATUS_BAD_PARAM);
  CHECK(reported("has C = 6 channels"));
  CHECK(query() == CUDNN_STATUS_BAD_PARAM);
  REQUIRE(cudnnSetConvolutionGroupCount(d.c, 2) == CUDNN_STATUS_SUCCESS);  // 6 = 3 x 2 still is not 4 x 2
  CHECK(query() == CUDNN_STATUS_BAD_PARAM);
  REQUIRE(cudnnSetTensor4dDescriptor(d.x, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, 2, 8, 8, 8) == CUDNN_STATUS_SUCCESS);
  CHECK(query() == CUDNN_STATUS_SUCCESS);  // 8 = 4 x 2
  REQUIRE(cudnnSetConvolutionGroupCount(d.c, 4) == CUDNN_STATUS_SUCCESS);
  REQUIRE(cudnnSetTensor4dDescriptor(d.x, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, 2, 16, 8, 8) == CUDNN_STATUS_SUCCESS);
  CHECK(query() == CUDNN_STATUS_BAD_PARAM);  // K = 6 output channels in 4 groups
  CHECK(reported("not a multiple of groupCount = 4"));
  REQUIRE(cudnnSetConvolutionGroupCount(d.c, 1) == CUDNN_STATUS_SUCCESS);
  REQUIRE(cudnnSetTensor4dDescriptor(d.x, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, 2, 4, 8, 8) == CUDNN_STATUS_SUCCESS);
  // An output descriptor that disagrees with the output-size query.
  REQUIRE(cudnnSetTensor4dDescriptor(d.y, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, 2, 6, 7, 8) == CUDNN_STATUS_SUCCESS);
  CHECK(query() == CUDNN_STATUS_BAD_PARAM);
  CHECK(reported("yDesc is [2, 6, 7, 8]"));
  // Data types that differ, and a compute type the data type does not take.
  REQUIRE(cudnnSetTensor4dDescriptor(d.y, CUDNN_TENSOR_NCHW, CUDNN_DATA_HALF, 2, 6, 8, 8) == CUDNN_STATUS_SUCCESS);
  CHECK(query() == CUDNN_STATUS_BAD_PARAM);
  CHECK(reported("data types differ"));
  REQUIRE(cudnnSetTensor4dDescriptor(d.y, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, 2, 6, 8, 8) == CUDNN_STATUS_SUCCESS);
  REQUIRE(query() == CUDNN_STATUS_SUCCESS);
  REQUIRE(cudnnSetConvolution2dDescriptor(d.c, 1, 1, 1, 1, 1, 1, CUDNN_CROSS_CORRELATION, CUDNN_DATA_DOUBLE) ==
          CUDNN_STATUS_SUCCESS);
  CHECK(query() == CUDNN_STATUS_NOT_SUPPORTED);
  CHECK(reported("computeType"));
  // A filter larger than the padded input.
  REQUIRE(cudnnSetConvolution2dDescriptor(d.c, 0, 0, 1, 1, 4, 4, CUDNN_CROSS_CORRELATION, CUDNN_DATA_FLOAT) ==
          CUDNN_STATUS_SUCCESS);
  CHECK(cudnnGetConvolution2dForwardOutputDim(d.c, d.x, d.w, &n, &c, &h, &w) == CUDNN_STATUS_BAD_PARAM);
  CHECK(reported("larger than the padded input"));
  REQUIRE(cudnnSetConvolution2dDescriptor(d.c, 1, 1, 1, 1, 1, 1, CUDNN_CROSS_CORRELATION, CUDNN_DATA_FLOAT) ==
          CUDNN_STATUS_SUCCESS);
  // Descriptors never set, destroyed, or NULL; a NULL handle.
  cudnnTensorDescriptor_t unset = nullptr, gone = nullptr;
  REQUIRE(cudnnCreateTensorDescriptor(&unset) == CUDNN_STATUS_SUCCESS);
  CHECK(cudnnGetConvolutionForwardAlgorithm_v7(d.h, d.x, d.w, d.c, unset, 8, &found, perf) == CUDNN_STATUS_BAD_PARAM);
  CHECK(reported("yDesc was created but never set"));
  REQUIRE(cudnnCreateTensorDescriptor(&gone) == CUDNN_STATUS_SUCCESS);
  REQUIRE(cudnnSetTensor4dDescriptor(gone, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, 2, 4, 8, 8) == CUDNN_STATUS_SUCCESS);
  REQUIRE(cudnnDestroyTensorDescriptor(gone) == CUDNN_STATUS_SUCCESS);
  CHECK(cudnnGetConvolutionForwardAlgorithm_v7(d.h, gone, d.w, d.c, d.y, 8, &found, perf) == CUDNN_STATUS_BAD_PARAM);
  CHECK(reported("xDesc was destroyed or never created"));
  CHECK(cudnnDestroyTensorDescriptor(gone) == CUDNN_STATUS_BAD_PARAM);
  cudnnDestroyTensorDescriptor(unset);
  CHECK(cudnnGetConvolutionForwardAlgorithm_v7(nullptr, d.x, d.w, d.c, d.y, 8, &found, perf) == CUDNN_STATUS_BAD_PARAM);
  CHECK(reported("handle is NULL"));
  // Bad values in the setters.
  CHECK(cudnnSetTensor4dDescriptor(d.x, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, 0, 4, 8, 8) == CUDNN_STATUS_BAD_PARAM);
  CHECK(reported("must all be positive"));
  CHECK(cudnnSetTensor4dDescriptor(d.x, CUDNN_TENSOR_NCHW_VECT_C, CUDNN_DATA_FLOAT, 2, 4, 8, 8) ==
        CUDNN_STATUS_NOT_SUPPORTED);
  CHECK(cudnnSetTensor4dDescriptor(d.x, CUDNN_TENSOR_NCHW, CUDNN_DATA_INT8, 2, 4, 8, 8) == CUDNN_STATUS_NOT_SUPPORTED);
  CHECK(cudnnSetTensor4dDescriptorEx(d.x, CUDNN_DATA_FLOAT, 2, 4, 8, 8, 256, 64, 0, 1) == CUDNN_STATUS_BAD_PARAM);
  CHECK(cudnnSetFilter4dDescriptor(d.w, CUDNN_DATA_FLOAT, CUDNN_TENSOR_NCHW, 6, -4, 3, 3) == CUDNN_STATUS_BAD_PARAM);
  CHECK(cudnnSetConvolution2dDescriptor(d.c, 1, 1, 0, 1, 1, 1, CUDNN_CROSS_CORRELATION, CUDNN_DATA_FLOAT) ==
        CUDNN_STATUS_BAD_PARAM);
  CHECK(reported("strides (0, 1)"));
  CHECK(cudnnSetConvolution2dDescriptor(d.c, -1, 1, 1, 1, 1, 1, CUDNN_CROSS_CORRELATION, CUDNN_DATA_FLOAT) ==
        CUDNN_STATUS_BAD_PARAM);
  CHECK(cudnnSetConvolution2dDescriptor(d.c, 1, 1, 1, 1, 1, 0, CUDNN_CROSS_CORRELATION, CUDNN_DATA_FLOAT) ==
        CUDNN_STATUS_BAD_PARAM);
  CHECK(cudnnSetConvolutionGroupCount(d.c, 0) == CUDNN_STATUS_BAD_PARAM);
  CHECK(query() == CUDNN_STATUS_SUCCESS);  // the failed setters changed nothing
  CHECK(cudaDeviceSynchronize() == cudaSuccess);
  CHECK(std::string(cudnnGetErrorString(CUDNN_STATUS_BAD_PARAM)) == "CUDNN_STATUS_BAD_PARAM");
}

TEST_CASE("cuDNN checks a convolution's algorithm, workspace and scalars", "[cudasim]") {
  Fresh fresh;
  Small d;
  Dev x(std::vector<double>(2 * 4 * 8 * 8, 1.0), CUDNN_DATA_FLOAT),
      w(std::vector<double>(6 * 4 * 9, 1.0), CUDNN_DATA_FLOAT),
      y(std::vector<double>(2 * 6 * 8 * 8, 0.0), CUDNN_DATA_FLOAT);
  const auto algo = CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_GEMM;
  size_t need = 0;
  REQUIRE(cudnnGetConvolutionForwardWorkspaceSize(d.h, d.x, d.w, d.c, d.y, algo, &need) == CUDNN_STATUS_SUCCESS);
  void* ws = nullptr;
  REQUIRE(cudaMalloc(&ws, need) == cudaSuccess);
  const float one = 1, zero = 0;
  auto fwd = [&](cudnnConvolutionFwdAlgo_t a, void* space, size_t bytes, const void* alpha = nullptr) {
    return cudnnConvolutionForward(d.h, alpha ? alpha : &one, d.x, x.p, d.w, w.p, d.c, a, space, bytes, &zero, d.y,
                                   y.p);
  };
  CHECK(fwd(algo, ws, need - 1) == CUDNN_STATUS_BAD_PARAM);
  CHECK(reported("workSpaceSizeInBytes = " + std::to_string(need - 1) + " is less than the " + std::to_string(need)));
  CHECK(fwd(algo, nullptr, need) == CUDNN_STATUS_BAD_PARAM);
  CHECK(reported("workSpace is NULL"));
  size_t fft = 0;
  CHECK(cudnnGetConvolutionForwardWorkspaceSize(d.h, d.x, d.w, d.c, d.y, CUDNN_CONVOLUTION_FWD_ALGO_FFT, &fft) ==
        CUDNN_STATUS_NOT_SUPPORTED);
  CHECK(fwd(CUDNN_CONVOLUTION_FWD_ALGO_FFT, ws, need) == CUDNN_STATUS_NOT_SUPPORTED);
  CHECK(fwd(CUDNN_CONVOLUTION_FWD_ALGO_COUNT, ws, need) == CUDNN_STATUS_BAD_PARAM);
  CHECK(reported("algo = 8 is not a forward algorithm"));
  CHECK(cudnnConvolutionForward(d.h, nullptr, d.x, x.p, d.w, w.p, d.c, algo, ws, need, &zero, d.y, y.p) ==
        CUDNN_STATUS_BAD_PARAM);
  CHECK(reported("alpha is NULL"));
  CHECK(cudaDeviceSynchronize() == cudaSuccess);
  CHECK(y.get() == std::vector<double>(y.n, 0.0));  // nothing ran
  REQUIRE(fwd(algo, ws, need) == CUDNN_STATUS_SUCCESS);
  REQUIRE(cudaDeviceSynchronize() == cudaSuccess);
  CHECK(y.get()[9] == 36.0);  // an inner pixel: 4 channels x 3 x 3 ones
  cudaFree(ws);
}

TEST_CASE("cuDNN f32 convolutions round inputs to TF32 unless the math type is CUDNN_FMA_MATH", "[cudasim]") {
  Fresh fresh;
  cudnnHandle_t h;
  cudnnTensorDescriptor_t xd, yd;
  cudnnFilterDescriptor_t wd;
  cudnnConvolutionDescriptor_t cd;
  REQUIRE(cudnnCreate(&h) == CUDNN_STATUS_SUCCESS);
  REQUIRE(cudnnCreateTensorDescriptor(&xd) == CUDNN_STATUS_SUCCESS);
  REQUIRE(cudnnCreateTensorDescriptor(&yd) == CUDNN_STATUS_SUCCESS);
  REQUIRE(cudnnCreateFilterDescriptor(&wd) == CUDNN_STATUS_SUCCESS);
  REQUIRE(cudnnCreateConvolutionDescriptor(&cd) == CUDNN_STATUS_SUCCESS);
  REQUIRE(cudnnSetTensor4dDescriptor(xd, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, 1, 1, 1, 3) == CUDNN_STATUS_SUCCESS);
  REQUIRE(cudnnSetTensor4dDescriptor(yd, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, 1, 1, 1, 3) == CUDNN_STATUS_SUCCESS);
  REQUIRE(cudnnSetFilter4dDescriptor(wd, CUDNN_DATA_FLOAT, CUDNN_TENSOR_NCHW, 1, 1, 1, 1) == CUDNN_STATUS_SUCCESS);
  REQUIRE(cudnnSetConvolution2dDescriptor(cd, 0, 0, 1, 1, 1, 1, CUDNN_CROSS_CORRELATION, CUDNN_DATA_FLOAT) ==
          CUDNN_STATUS_SUCCESS);
  const std::vector<double> xs = {1 + 0x1p-12, 1 + 0x1p-11, 1 + 3 * 0x1p-12};
  Dev x(xs, CUDNN_DATA_FLOAT), w({1.0}, CUDNN_DATA_FLOAT), y({0, 0, 0}, CUDNN_DATA_FLOAT);
  const auto algo = CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_GEMM;
  size_t need = 0;
  REQUIRE(cudnnGetConvolutionForwardWorkspaceSize(h, xd, wd, cd, yd, algo, &need) == CUDNN_STATUS_SUCCESS);
  void* ws = nullptr;
  REQUIRE(cudaMalloc(&ws, need) == cudaSuccess);
  auto run = [&](cudnnMathType_t math) {
    REQUIRE(cudnnSetConvolutionMathType(cd, math) == CUDNN_STATUS_SUCCESS);
    const float one = 1, zero = 0;
    REQUIRE(cudnnConvolutionForward(h, &one, xd, x.p, wd, w.p, cd, algo, ws, need, &zero, yd, y.p) ==
            CUDNN_STATUS_SUCCESS);
    return y.get();
  };
  const std::vector<double> tf32 = {1.0, 1 + 0x1p-10, 1 + 0x1p-10};
  CHECK(run(CUDNN_DEFAULT_MATH) == tf32);
  CHECK(run(CUDNN_TENSOR_OP_MATH) == tf32);
  CHECK(run(CUDNN_FMA_MATH) == xs);
  cudaFree(ws);
  cudnnDestroyConvolutionDescriptor(cd);
  cudnnDestroyFilterDescriptor(wd);
  cudnnDestroyTensorDescriptor(yd);
  cudnnDestroyTensorDescriptor(xd);
  cudnnDestroy(h);
}

TEST_CASE("a cuDNN convolution on host memory faults like a GPU", "[cudasim]") {
  Fresh fresh;
  Small d;
  std::vector<float> host_x(2 * 4 * 8 * 8, 1.0f);
  Dev w(std::vector<double>(6 * 4 * 9, 1.0), CUDNN_DATA_FLOAT),
      y(std::vector<double>(2 * 6 * 8 * 8, 0.0), CUDNN_DATA_FLOAT);
  size_t need = 0;
  const auto algo = CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_GEMM;
  REQUIRE(cudnnGetConvolutionForwardWorkspaceSize(d.h, d.x, d.w, d.c, d.y, algo, &need) == CUDNN_STATUS_SUCCESS);
  void* ws = nullptr;
  REQUIRE(cudaMalloc(&ws, need) == cudaSuccess);
  const float one = 1, zero = 0;
  CHECK(cudnnConvolutionForward(d.h, &one, d.x, host_x.data(), d.w, w.p, d.c, algo, ws, need, &zero, d.y, y.p) ==
        CUDNN_STATUS_SUCCESS);
  CHECK(cudaDeviceSynchronize() == cudaErrorIllegalAddress);
  CHECK(reported("cudnnConvolutionForward: x ("));
}

TEST_CASE("a captured cuDNN convolution replays with the descriptors and scalars of the call", "[cudasim]") {
  Fresh fresh;
  cudaStream_t s = nullptr;
  REQUIRE(cudaStreamCreate(&s) == cudaSuccess);
  auto d = std::make_unique<Small>();
  REQUIRE(cudnnSetStream(d->h, s) == CUDNN_STATUS_SUCCESS);
  Dev x(std::vector<double>(2 * 4 * 8 * 8, 1.0), CUDNN_DATA_FLOAT),
      w(std::vector<double>(6 * 4 * 9, 1.0), CUDNN_DATA_FLOAT),
      y(std::vector<double>(2 * 6 * 8 * 8, 0.0), CUDNN_DATA_FLOAT);
  const auto algo = CUDNN_CONVOLUTION_FWD_ALGO_GEMM;
  size_t need = 0;
  REQUIRE(cudnnGetConvolutionForwardWorkspaceSize(d->h, d->x, d->w, d->c, d->y, algo, &need) == CUDNN_STATUS_SUCCESS);
  void* ws = nullptr;
  REQUIRE(cudaMalloc(&ws, need) == cudaSuccess);
  float alpha = 2, beta = 0;
  REQUIRE(cudaStreamBeginCapture(s, cudaStreamCaptureModeGlobal) == cudaSuccess);
  REQUIRE(cudnnConvolutionForward(d->h, &alpha, d->x, x.p, d->w, w.p, d->c, algo, ws, need, &beta, d->y, y.p) ==
          CUDNN_STATUS_SUCCESS);
  cudaGraph_t graph = nullptr;
  REQUIRE(cudaStreamEndCapture(s, &graph) == cudaSuccess);
  CHECK(y.get()[9] == 0.0);  // recorded, not run
  // The engine destroys its descriptors right after the call; the scalars were read then.
  d.reset();
  alpha = 100;
  const std::vector<unsigned char> twos = encode(std::vector<double>(x.n, 2.0), CUDNN_DATA_FLOAT);
  REQUIRE(cudaMemcpy(x.p, twos.data(), twos.size(), cudaMemcpyHostToDevice) == cudaSuccess);
  cudaGraphExec_t exec = nullptr;
  REQUIRE(cudaGraphInstantiate(&exec, graph, 0) == cudaSuccess);
  REQUIRE(cudaGraphLaunch(exec, s) == cudaSuccess);
  REQUIRE(cudaStreamSynchronize(s) == cudaSuccess);
  CHECK(y.get()[9] == 2 * 36 * 2.0);  // alpha 2 at capture, x 2 at replay, 36 taps
  cudaGraphExecDestroy(exec);
  cudaGraphDestroy(graph);
  cudaFree(ws);
  cudaStreamDestroy(s);
}
