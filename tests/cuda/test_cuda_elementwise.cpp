// CUDA parity: elementwise ops, copies and casts, fills, random numbers, reductions.
#include <cmath>
#include <limits>

#include "cuda_parity.h"

using namespace engine;
using namespace engine::testing;

namespace {

const char* binary_name(BinaryOp op) {
  switch (op) {
    case BinaryOp::Add: return "add";
    case BinaryOp::Sub: return "sub";
    case BinaryOp::Mul: return "mul";
    case BinaryOp::Div: return "div";
    case BinaryOp::Pow: return "pow";
    case BinaryOp::Maximum: return "maximum";
  }
  return "?";
}

// Normal values rounded to multiples of 0.5 (exact in every float dtype): ties are common.
Tensor coarse_input(const Shape& s, uint64_t seed, DType d) {
  std::vector<double> v = randn64(s, seed, 0.0, 2.0).to_vector();
  for (double& x : v) x = std::round(2.0 * x) / 2.0;
  return Tensor::from_vector(v, s, d);
}

}  // namespace

TEST_CASE("cuda binary ops: broadcasting, strided views, every float dtype", "[cuda]") {
  begin_cuda_test();
  for (DType d : float_dtypes())
    for (BinaryOp op : {BinaryOp::Add, BinaryOp::Sub, BinaryOp::Mul, BinaryOp::Div, BinaryOp::Pow, BinaryOp::Maximum}) {
      // pow and div want a positive, non-small second operand.
      bool positive = op == BinaryOp::Pow || op == BinaryOp::Div;
      Tensor a = positive ? rand_uniform_input({5, 1, 7}, 1, d, 0.5, 2.0) : rand_input({5, 1, 7}, 1, d);
      Tensor b = positive ? rand_uniform_input({3, 7}, 2, d, 0.5, 2.0) : rand_input({3, 7}, 2, d);
      check_parity(ops::binary(op, on_gpu(a), on_gpu(b)), ops::binary(op, cpu_twin(a), cpu_twin(b)), d,
                   std::string(binary_name(op)) + " broadcast");
      // Non-contiguous operands: a transposed and a strided slice.
      // pow of a negative base to a fractional power is NaN on both devices: keep pow's base positive.
      Tensor c = op == BinaryOp::Pow ? rand_uniform_input({9, 6}, 3, d, 0.5, 2.0) : rand_input({9, 6}, 3, d);
      Tensor e = rand_uniform_input({6, 19}, 4, d, 0.5, 2.0);
      Tensor cg = on_gpu(c).transpose(0, 1), eg = on_gpu(e).slice(1, 1, 19, 2);
      Tensor cc = cpu_twin(c).transpose(0, 1), ec = cpu_twin(e).slice(1, 1, 19, 2);
      check_parity(ops::binary(op, cg, eg), ops::binary(op, cc, ec), d, std::string(binary_name(op)) + " strided");
    }
}

TEST_CASE("cuda compare and where", "[cuda]") {
  begin_cuda_test();
  for (DType d : float_dtypes()) {
    Tensor a = coarse_input({4, 1, 5}, 5, d), b = coarse_input({3, 5}, 6, d);
    for (CompareOp op : {CompareOp::Eq, CompareOp::Ne, CompareOp::Lt, CompareOp::Le, CompareOp::Gt, CompareOp::Ge}) {
      check_exact(ops::compare(op, on_gpu(a), on_gpu(b)), ops::compare(op, cpu_twin(a), cpu_twin(b)),
                  std::string("compare ") + std::to_string(int(op)) + " " + dtype_name(d));
    }
    Tensor cond = ops::compare(CompareOp::Gt, cpu_twin(a), cpu_twin(b));
    Tensor x = rand_input({3, 5}, 7, d), y = rand_input({5}, 8, d);
    check_parity(ops::where(on_gpu(cond), on_gpu(x), on_gpu(y)), ops::where(cond, cpu_twin(x), cpu_twin(y)), d,
                 "where");
  }
}

TEST_CASE("cuda unary ops on strided inputs", "[cuda]") {
  begin_cuda_test();
  for (DType d : float_dtypes())
    for (UnaryOp op : {UnaryOp::Neg, UnaryOp::Exp, UnaryOp::Log, UnaryOp::Sqrt, UnaryOp::Rsqrt, UnaryOp::Relu,
                       UnaryOp::Gelu, UnaryOp::Sigmoid, UnaryOp::Tanh, UnaryOp::Clamp}) {
      bool positive = op == UnaryOp::Log || op == UnaryOp::Sqrt || op == UnaryOp::Rsqrt;
      Tensor x = positive ? rand_uniform_input({7, 13}, 9, d, 0.1, 3.0) : rand_input({7, 13}, 9, d);
      Tensor got = ops::unary(op, on_gpu(x).transpose(0, 1), -0.5, 0.7);
      Tensor want = ops::unary(op, cpu_twin(x).transpose(0, 1), -0.5, 0.7);
      check_parity(got, want, d, "unary " + std::to_string(int(op)));
    }
}

TEST_CASE("cuda activation backward", "[cuda]") {
  begin_cuda_test();
  for (DType d : float_dtypes())
    for (ActivationKind k : {ActivationKind::Relu, ActivationKind::Gelu, ActivationKind::Sigmoid, ActivationKind::Tanh}) {
      Tensor gy = rand_input({11, 5}, 10, d);
      Tensor v = k == ActivationKind::Sigmoid ? rand_uniform_input({11, 5}, 11, d, 0.0, 1.0)
                                              : rand_input({11, 5}, 11, d);
      check_parity(ops::activation_bwd(k, on_gpu(gy), on_gpu(v)), ops::activation_bwd(k, cpu_twin(gy), cpu_twin(v)),
                   d, "activation_bwd " + std::to_string(int(k)));
    }
}

TEST_CASE("cuda copy: every dtype pair, contiguous and strided, bit-exact", "[cuda]") {
  begin_cuda_test();
  const std::vector<DType> all = {DType::f32, DType::f64, DType::bf16, DType::f16, DType::i32, DType::i64, DType::u8};
  Tensor base = rand_uniform_input({6, 9}, 12, DType::f64, 0.0, 120.0);
  for (DType s : all)
    for (DType d : all) {
      Tensor x = base.to(s);
      std::string what = std::string("copy ") + dtype_name(s) + " -> " + dtype_name(d);
      check_exact(on_gpu(x).to(d), x.to(d), what);
      check_exact(on_gpu(x).transpose(0, 1).to(d).contiguous(), x.transpose(0, 1).contiguous().to(d),
                  what + " transposed");
      // A strided destination, a broadcast source.
      Tensor dst_g = Tensor::zeros({9, 12}, d, gpu()).slice(1, 0, 12, 2);
      Tensor dst_c = Tensor::zeros({9, 12}, d).slice(1, 0, 12, 2);
      dst_g.copy_from(on_gpu(x.select(0, 2)).unsqueeze(1).expand({9, 6}));
      dst_c.copy_from(x.select(0, 2).unsqueeze(1).expand({9, 6}));
      check_exact(dst_g, dst_c, what + " into a strided view");
    }
}

TEST_CASE("cuda fill, contiguous and strided", "[cuda]") {
  begin_cuda_test();
  for (DType d : {DType::f32, DType::f64, DType::bf16, DType::f16, DType::i32, DType::i64, DType::u8}) {
    check_exact(Tensor::full({3, 5}, 2.75, d, gpu()), Tensor::full({3, 5}, 2.75, d), "full");
    check_exact(Tensor::zeros({7}, d, gpu()), Tensor::zeros({7}, d), "zeros");
    Tensor g = Tensor::ones({4, 6}, d, gpu()), c = Tensor::ones({4, 6}, d);
    g.slice(1, 1, 6, 2).fill_(3.0);
    c.slice(1, 1, 6, 2).fill_(3.0);
    check_exact(g, c, "strided fill");
  }
}

TEST_CASE("cuda random numbers: the CPU's Philox stream", "[cuda]") {
  begin_cuda_test();
  for (DType d : {DType::f32, DType::f64, DType::bf16}) {
    check_exact(ops::rand_uniform({1001}, 42, 12, d, gpu(), -1.5, 3.0), ops::rand_uniform({1001}, 42, 12, d, Device::cpu(), -1.5, 3.0),
                std::string("uniform ") + dtype_name(d));
    // Normal values go through logf/cosf, whose last bits differ between libm and CUDA.
    Tensor got = ops::randn({999}, 43, 5, d, gpu(), 0.5, 2.0), want = ops::randn({999}, 43, 5, d, Device::cpu(), 0.5, 2.0);
    double e = normalized_error(got, want);
    INFO("randn " << dtype_name(d) << ": normalised error " << e);
    CHECK(e <= (d == DType::bf16 ? 1e-2 : 1e-6));
  }
}

TEST_CASE("cuda reductions over axes, rows long and short", "[cuda]") {
  begin_cuda_test();
  for (DType d : float_dtypes()) {
    for (Shape s : {Shape{5, 3, 7}, Shape{3, 2000}, Shape{1, 70001}, Shape{4099, 3}}) {
      Tensor x = rand_input(s, 13, d, 0.5, 1.0);
      Tensor xg = on_gpu(x), xc = cpu_twin(x);
      check_parity(ops::sum(xg, {-1}), ops::sum(xc, {-1}), d, "sum last axis");
      check_parity(ops::sum(xg, {0}, true), ops::sum(xc, {0}, true), d, "sum first axis");
      check_parity(ops::sum(xg), ops::sum(xc), d, "sum all");
      check_parity(ops::mean(xg, {-1}), ops::mean(xc, {-1}), d, "mean");
      check_parity(ops::max(xg, {-1}), ops::max(xc, {-1}), d, "max");
      check_parity(ops::var(xg, {-1}), ops::var(xc, {-1}), d, "var");
      check_parity(ops::var(xg, {0}, 0, true), ops::var(xc, {0}, 0, true), d, "var without correction");
    }
  }
}

TEST_CASE("cuda argmax: the first maximum wins, ties included", "[cuda]") {
  begin_cuda_test();
  for (DType d : float_dtypes()) {
    for (Shape s : {Shape{6, 9}, Shape{3, 1000}, Shape{2, 5000}}) {
      Tensor x = coarse_input(s, 14, d);  // many ties
      check_exact(ops::argmax(on_gpu(x), -1), ops::argmax(cpu_twin(x), -1), std::string("argmax ") + dtype_name(d));
      check_exact(ops::argmax(on_gpu(x), 0, true), ops::argmax(cpu_twin(x), 0, true),
                  std::string("argmax axis 0 ") + dtype_name(d));
    }
  }
}

TEST_CASE("cuda arg-max ops carry NaN and inf as the CPU does: argmax, max, maxpool2d in both layouts", "[cuda]") {
  begin_cuda_test();
  const double nan = std::nan(""), inf = std::numeric_limits<double>::infinity();
  for (DType d : float_dtypes()) {
    Tensor x64 = randn64({2, 3, 6, 7}, 91);
    double* p = x64.data<double>();
    p[3] = nan;          // a NaN inside a row and a pooling window
    p[50] = inf;         // +inf beside finite values
    p[51] = nan;         // NaN after +inf in the same row
    p[100] = -inf;       // -inf
    for (int i = 126; i < 133; ++i) p[i] = -inf;  // a row of -inf only
    p[200] = nan;
    p[201] = nan;        // two NaN: the first wins
    Tensor x = x64.to(d);
    const std::string dn = dtype_name(d);
    Tensor rows = x.reshape({36, 7});
    check_exact(ops::argmax(on_gpu(rows), -1), ops::argmax(cpu_twin(rows), -1), "argmax rows " + dn);
    check_exact(ops::argmax(on_gpu(rows), 0), ops::argmax(cpu_twin(rows), 0), "argmax columns " + dn);
    std::vector<double> gm = ops::max(on_gpu(rows), {1}).to_vector(), wm = ops::max(cpu_twin(rows), {1}).to_vector();
    REQUIRE(gm.size() == wm.size());
    for (size_t i = 0; i < gm.size(); ++i) {
      INFO("max of row " << i << " [" << dn << "]: cuda " << gm[i] << ", cpu " << wm[i]);
      CHECK((std::isnan(gm[i]) ? std::isnan(wm[i]) : gm[i] == wm[i]));
    }
    ops::Pool2dOptions o;
    o.kh = o.kw = 3;
    o.sh = o.sw = 2;
    o.ph = o.pw = 1;
    for (MemoryFormat mf : {MemoryFormat::Contiguous, MemoryFormat::ChannelsLast}) {
      ops::MaxPoolOutput got = ops::maxpool2d(on_gpu(x).contiguous(mf), o);
      ops::MaxPoolOutput want = ops::maxpool2d(cpu_twin(x).contiguous(mf), o);
      std::string what = "maxpool2d " + std::string(mf == MemoryFormat::ChannelsLast ? "channels-last " : "") + dn;
      check_exact(got.indices, want.indices, what + " indices");
      std::vector<double> gy = got.y.to_vector(), wy = want.y.to_vector();
      for (size_t i = 0; i < gy.size(); ++i) {
        INFO(what << " y[" << i << "]: cuda " << gy[i] << ", cpu " << wy[i]);
        CHECK((std::isnan(gy[i]) ? std::isnan(wy[i]) : gy[i] == wy[i]));
      }
    }
  }
}
