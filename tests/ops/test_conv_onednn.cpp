// The f32 CPU convolutions through oneDNN against the im2col reference path
// (ENGINE_CPU_CONV=im2col): forward, backward-data and backward-filter over a table of
// shapes, NCHW and channels-last, with and without bias; and the primitive cache. In a
// build without oneDNN the cases only check that the reference path is taken.
#include <cmath>
#include <sstream>

#include "kernels/cpu/conv_onednn.h"
#include "kernels/cpu/conv_wgrad_gemm.h"
#include "kernels/cpu/gemm_bf16.h"
#include "test_util.h"

using namespace engine;
using engine::testing::normalized_error;
using engine::testing::randn64;

namespace {

constexpr MemoryFormat kCL = MemoryFormat::ChannelsLast;
// Normalised error (max|a - b| / max(1, max|b|)) allowed between the two f32 paths: they
// sum the same products in different orders; the deepest sums here have C*R*S = 392 terms.
constexpr double kTol = 1e-5;

struct ConvShape {
  int64_t N, C, H, W, K, R, S, stride, pad, dil = 1, groups = 1;
};

// Strides 1 and 2, padding 0 and 1 (3 for the 7x7 stem), 1x1, 3x3 and 7x7 filters,
// N = 1..4, odd and even sizes; dilation and groups (oneDNN takes both) at the end.
const std::vector<ConvShape> kShapes = {{1, 3, 8, 8, 4, 3, 3, 1, 1},    {2, 5, 7, 9, 6, 3, 3, 2, 1},
                                        {3, 8, 9, 9, 16, 1, 1, 1, 0},   {4, 4, 10, 10, 8, 1, 1, 2, 0},
                                        {2, 3, 15, 15, 8, 7, 7, 2, 3},  {1, 16, 6, 6, 16, 3, 3, 1, 0},
                                        {3, 6, 11, 13, 5, 3, 3, 2, 0},  {2, 8, 5, 5, 12, 3, 3, 1, 1},
                                        {1, 4, 9, 7, 4, 3, 3, 1, 2, 2}, {2, 8, 7, 7, 6, 3, 3, 1, 1, 1, 2}};

std::string describe(const ConvShape& s, bool cl) {
  std::ostringstream os;
  os << "x " << s.N << "x" << s.C << "x" << s.H << "x" << s.W << ", w " << s.K << "x" << s.C / s.groups << "x" << s.R
     << "x" << s.S << ", stride " << s.stride << ", pad " << s.pad << ", dil " << s.dil << ", groups " << s.groups
     << (cl ? ", channels-last" : ", NCHW");
  return os.str();
}

ops::Conv2dOptions options(const ConvShape& s) {
  ops::Conv2dOptions o;
  o.stride_h = o.stride_w = s.stride;
  o.pad_h = o.pad_w = s.pad;
  o.dil_h = o.dil_w = s.dil;
  o.groups = s.groups;
  return o;
}

Tensor f32(const Shape& shape, uint64_t seed) { return randn64(shape, seed).to(DType::f32); }

// Runs `fn` once per path and returns {onednn, im2col}.
template <class Fn>
std::pair<Tensor, Tensor> both_paths(Fn fn) {
  return engine::testing::under_both("ENGINE_CPU_CONV=onednn", "ENGINE_CPU_CONV=im2col", fn);
}

kernels::Conv2dParams params_of(const ConvShape& s, bool cl) {
  kernels::Conv2dParams p = ops::conv2d_params({s.N, s.C, s.H, s.W}, {s.K, s.C / s.groups, s.R, s.S}, options(s));
  p.channels_last = cl;
  return p;
}

}  // namespace

TEST_CASE("oneDNN convolutions match the im2col reference (f32)", "[ops][conv][onednn]") {
  if (!kernels::conv2d_onednn_built()) {
    WARN("this build has no oneDNN: only the im2col path exists");
    return;
  }
  uint64_t seed = 100;
  for (const ConvShape& s : kShapes)
    for (bool cl : {false, true}) {
      INFO(describe(s, cl));
      const ops::Conv2dOptions o = options(s);
      Tensor x = f32({s.N, s.C, s.H, s.W}, ++seed), w = f32({s.K, s.C / s.groups, s.R, s.S}, ++seed);
      if (cl) x = x.contiguous(kCL);
      const kernels::Conv2dParams p = params_of(s, cl);
      for (bool with_bias : {false, true}) {
        INFO("bias " << with_bias);
        Tensor bias = with_bias ? f32({s.K}, ++seed) : Tensor();
        auto [got, want] = both_paths([&] { return ops::conv2d(x, w, bias, o); });
        CHECK(got.suggest_memory_format() == x.suggest_memory_format());
        CHECK(normalized_error(got, want) <= kTol);
        CHECK(kernels::conv2d_onednn_cached(kernels::ConvDirection::Forward, p, with_bias) != nullptr);
      }
      Tensor gy = f32({s.N, s.K, p.P, p.Q}, ++seed);
      if (cl) gy = gy.contiguous(kCL);
      auto [gx, gx_ref] = both_paths([&] { return ops::conv2d_bwd_data(gy, w, x.shape(), o); });
      CHECK(gx.suggest_memory_format() == x.suggest_memory_format());
      CHECK(normalized_error(gx, gx_ref) <= kTol);
      CHECK(kernels::conv2d_onednn_cached(kernels::ConvDirection::BackwardData, p) != nullptr);
      auto [gw, gw_ref] = both_paths([&] { return ops::conv2d_bwd_filter(gy, x, w.shape(), o); });
      CHECK(gw.is_contiguous());
      CHECK(normalized_error(gw, gw_ref) <= kTol);
      CHECK(kernels::conv2d_onednn_cached(kernels::ConvDirection::BackwardFilter, p) != nullptr);
    }
}

TEST_CASE("the oneDNN primitive cache reuses the primitive of a repeated shape", "[ops][conv][onednn]") {
  if (!kernels::conv2d_onednn_built()) {
    WARN("this build has no oneDNN: no primitive cache");
    return;
  }
  opcases::EnvScope env({"ENGINE_CPU_CONV=onednn"});
  const ConvShape s{2, 7, 13, 11, 9, 3, 3, 2, 1};
  const ops::Conv2dOptions o = options(s);
  const kernels::Conv2dParams p = params_of(s, false);
  Tensor x = f32({s.N, s.C, s.H, s.W}, 1), w = f32({s.K, s.C, s.R, s.S}, 2);
  Tensor y1 = ops::conv2d(x, w, Tensor(), o);
  const void* first = kernels::conv2d_onednn_cached(kernels::ConvDirection::Forward, p);
  const size_t size = kernels::conv2d_onednn_cache_size();
  REQUIRE(first != nullptr);
  Tensor y2 = ops::conv2d(x, w, Tensor(), o);
  CHECK(kernels::conv2d_onednn_cached(kernels::ConvDirection::Forward, p) == first);
  CHECK(kernels::conv2d_onednn_cache_size() == size);
  CHECK(normalized_error(y2, y1) == 0.0);
  // Another batch size is another primitive; the layout and the bias are part of the key.
  ops::conv2d(f32({3, s.C, s.H, s.W}, 3), w, Tensor(), o);
  CHECK(kernels::conv2d_onednn_cache_size() == size + 1);
  CHECK(kernels::conv2d_onednn_cached(kernels::ConvDirection::Forward, params_of(s, true)) == nullptr);
  CHECK(kernels::conv2d_onednn_cached(kernels::ConvDirection::Forward, p, true) == nullptr);
}

TEST_CASE("f64 and ENGINE_CPU_CONV=im2col convolutions take the im2col path", "[ops][conv][onednn]") {
  const ConvShape s{1, 3, 6, 5, 2, 3, 3, 1, 1};
  const kernels::Conv2dParams p = params_of(s, false);
  Tensor x = randn64({s.N, s.C, s.H, s.W}, 5), w = randn64({s.K, s.C, s.R, s.S}, 6);
  ops::conv2d(x, w, Tensor(), options(s));  // f64: oneDNN has no f64
  CHECK(kernels::conv2d_onednn_cached(kernels::ConvDirection::Forward, p) == nullptr);
  {
    opcases::EnvScope env({"ENGINE_CPU_CONV=im2col"});
    ops::conv2d(x.to(DType::f32), w.to(DType::f32), Tensor(), options(s));
    CHECK(kernels::conv2d_onednn_cached(kernels::ConvDirection::Forward, p) == nullptr);
  }
  {
    opcases::EnvScope env({"ENGINE_CPU_CONV=gemm"});
    CHECK_THROWS_WITH(ops::conv2d(x.to(DType::f32), w.to(DType::f32), Tensor(), options(s)),
                      Catch::Contains("ENGINE_CPU_CONV must be im2col or onednn"));
  }
}

namespace {
// Rounding of the outputs to bf16 (8 significant bits) may differ by one unit in the
// last place between two f32 sums of other orders: 2^-8 relative, twice for margin.
constexpr double kBf16Tol = 2.0 / 256;

double dot(const Tensor& a, const Tensor& b) {
  const std::vector<double> u = a.to_vector(), v = b.to_vector();
  double s = 0;
  for (size_t i = 0; i < u.size(); ++i) s += u[i] * v[i];
  return s;
}
}  // namespace

TEST_CASE("bf16 convolutions on the CPU match the f32 reference and are adjoint", "[ops][conv][onednn]") {
  if (!kernels::conv2d_onednn_built() || !kernels::conv2d_onednn_bf16_native()) {
    WARN("no oneDNN in this build or no bf16 arithmetic on this CPU: bf16 takes the f32 stand-ins");
    return;
  }
  uint64_t seed = 700;
  for (size_t i = 0; i < kShapes.size(); i += 2)
    for (bool cl : {false, true}) {
      const ConvShape& s = kShapes[i];
      INFO(describe(s, cl) << ", bf16");
      const ops::Conv2dOptions o = options(s);
      const kernels::Conv2dParams p = params_of(s, cl);
      Tensor x = f32({s.N, s.C, s.H, s.W}, ++seed).to(DType::bf16),
             w = f32({s.K, s.C / s.groups, s.R, s.S}, ++seed).to(DType::bf16),
             bias = f32({s.K}, ++seed).to(DType::bf16);
      Tensor gy = f32({s.N, s.K, p.P, p.Q}, ++seed).to(DType::bf16);
      if (cl) {
        x = x.contiguous(kCL);
        gy = gy.contiguous(kCL);
      }
      // The reference: im2col in f32 on the bf16 values, rounded to bf16 (lowp.h).
      auto [y, y_ref] = both_paths([&] { return ops::conv2d(x, w, bias, o); });
      CHECK(y.dtype() == DType::bf16);
      CHECK(y.suggest_memory_format() == x.suggest_memory_format());
      CHECK(normalized_error(y, y_ref) <= kBf16Tol);
      CHECK(kernels::conv2d_onednn_cached(kernels::ConvDirection::Forward, p, true, kernels::ConvDType::bf16) !=
            nullptr);
      auto [gx, gx_ref] = both_paths([&] { return ops::conv2d_bwd_data(gy, w, x.shape(), o); });
      CHECK(normalized_error(gx, gx_ref) <= kBf16Tol);
      auto [gw, gw_ref] = both_paths([&] { return ops::conv2d_bwd_filter(gy, x, w.shape(), o); });
      CHECK(gw.dtype() == DType::bf16);
      CHECK(normalized_error(gw, gw_ref) <= kBf16Tol);
      // Backward-filter runs in bf16 on AMX only, f32 oneDNN on the widened operands
      // elsewhere (engine/backends/cpu/conv.cpp); none of these shapes takes the GEMM path.
      CHECK(kernels::conv2d_onednn_cached(kernels::ConvDirection::BackwardData, p, false, kernels::ConvDType::bf16) !=
            nullptr);
      CHECK(!kernels::conv2d_wgrad_gemm_fits(p));
      CHECK((kernels::conv2d_onednn_cached(kernels::ConvDirection::BackwardFilter, p, false,
                                           kernels::ConvDType::bf16) != nullptr) == kernels::conv2d_onednn_amx());
      // The three directions are one linear map and its adjoints:
      // <gy, conv(x, w)> = <bwd_data(gy, w), x> = <bwd_filter(gy, x), w>.
      opcases::EnvScope env({"ENGINE_CPU_CONV=onednn"});
      const Tensor y0 = ops::conv2d(x, w, Tensor(), o);
      const double a = dot(gy, y0), b = dot(gx, x), c = dot(gw, w);
      // Each product is off by at most the outputs' rounding: bounded through Cauchy-Schwarz.
      const double scale = std::sqrt(dot(gy, gy) * dot(y0, y0)) + std::sqrt(dot(gx, gx) * dot(x, x)) +
                           std::sqrt(dot(gw, gw) * dot(w, w));
      CHECK(std::abs(a - b) <= kBf16Tol * scale);
      CHECK(std::abs(a - c) <= kBf16Tol * scale);
    }
}

TEST_CASE("bf16 backward-filter as one GEMM matches the f32 reference", "[ops][conv][onednn]") {
  // Shapes with at most 16 output pixels per image (the GEMM path's domain): ResNet's last
  // stage (3x3 and 1x1 stride 2 onto 4x4), odd sizes, padding 0-2, dilation, N = 1..5.
  const std::vector<ConvShape> shapes = {{2, 32, 4, 4, 24, 3, 3, 1, 1},   {3, 16, 8, 8, 32, 3, 3, 2, 1},
                                         {2, 16, 8, 8, 32, 1, 1, 2, 0},   {5, 7, 3, 5, 9, 3, 3, 1, 1},
                                         {1, 12, 6, 5, 8, 3, 3, 1, 1, 2}, {4, 20, 6, 6, 3, 5, 5, 2, 2}};
  uint64_t seed = 900;
  for (const ConvShape& s : shapes) {
    INFO(describe(s, true) << ", bf16");
    const ops::Conv2dOptions o = options(s);
    const kernels::Conv2dParams p = params_of(s, true);
    REQUIRE(p.P * p.Q <= 16);
    CHECK(kernels::conv2d_wgrad_gemm_fits(p) == kernels::gemm_bf16_native());
    CHECK(!kernels::conv2d_wgrad_gemm_fits(params_of(s, false)));  // NCHW stays on oneDNN's kernels
    if (!kernels::gemm_bf16_native()) continue;
    const Tensor x = f32({s.N, s.C, s.H, s.W}, ++seed).to(DType::bf16).contiguous(kCL);
    const Tensor gy = f32({s.N, s.K, p.P, p.Q}, ++seed).to(DType::bf16).contiguous(kCL);
    // The reference: im2col in f32 on the bf16 values, rounded to bf16.
    Tensor ref;
    {
      opcases::EnvScope env({"ENGINE_CPU_CONV=im2col"});
      ref = ops::conv2d_bwd_filter(gy, x, {s.K, s.C, s.R, s.S}, o);
    }
    // The kernel itself (any CPU with a native bf16 GEMM), and the op (AMX: this path).
    Tensor gw = Tensor::empty({s.K, s.C, s.R, s.S}, DType::bf16, Device::cpu());
    kernels::conv2d_bwd_filter_bf16_gemm(static_cast<uint16_t*>(gw.data_ptr()),
                                         static_cast<const uint16_t*>(gy.data_ptr()),
                                         static_cast<const uint16_t*>(x.data_ptr()), p);
    CHECK(normalized_error(gw, ref) <= kBf16Tol);
    opcases::EnvScope env({"ENGINE_CPU_CONV=onednn"});
    const Tensor gw_op = ops::conv2d_bwd_filter(gy, x, {s.K, s.C, s.R, s.S}, o);
    CHECK(normalized_error(gw_op, ref) <= kBf16Tol);
    CHECK(kernels::conv2d_onednn_cached(kernels::ConvDirection::BackwardFilter, p, false, kernels::ConvDType::bf16) ==
          nullptr);
  }
}
