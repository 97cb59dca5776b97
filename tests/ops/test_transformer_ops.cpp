// The transformer ops against composed references: fused attention against matmul +
// masked softmax + matmul (outputs and f64 gradients, CPU and the CUDA device), layer
// norm against a naive f64 loop, the masked softmax's fully masked rows, embedding
// errors, and the attention matmul with a transposed view running without a copy.
#include <atomic>
#include <cmath>

#include "engine/autograd/autocast.h"
#include "engine/autograd/functions.h"
#include "engine/autograd/gradcheck.h"
#include "engine/backends/cuda/context.h"
#include "engine/core/dispatch.h"
#include "engine/ops/functional.h"
#include "opcases/op_cases.h"
#include "test_util.h"

using namespace engine;
using opcases::normalized_error;
using opcases::randn64;

namespace {

// batch 0 keeps all keys, batch 1 none (fully masked rows), batch 2 its first 2.
Tensor padded_mask(int64_t L) {
  std::vector<double> m;
  for (int64_t b = 0; b < 3; ++b)
    for (int64_t j = 0; j < L; ++j) m.push_back(b == 0 || (b == 2 && j < 2) ? 1.0 : 0.0);
  return Tensor::from_vector(m, {3, L}, DType::u8);
}

Tensor composed_attention(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& mask, double scale) {
  Tensor s = ops::mul(ops::matmul(q, k.transpose(-1, -2)), scale);
  Tensor m = mask.defined() ? mask.reshape({mask.size(0), 1, 1, mask.size(1)}) : Tensor();
  return ops::matmul(ops::masked_softmax(s, m), v);
}

Variable composed_attention(const Variable& q, const Variable& k, const Variable& v, const Tensor& mask, double scale) {
  Variable s = ag::mul(ag::matmul(q, ag::transpose(k, -1, -2)), scale);
  return ag::matmul(ag::masked_softmax(s, mask.reshape({mask.size(0), 1, 1, mask.size(1)})), v);
}

void check_fused_against_composed(Device dev, DType d, double tol) {
  for (int64_t D : {32, 64})
    for (int64_t Lk : {5, 70}) {
      const double scale = 1.0 / std::sqrt(double(D));
      Tensor q = randn64({3, 2, 9, D}, 1).to(d), k = randn64({3, 2, Lk, D}, 2).to(d),
             v = randn64({3, 2, Lk, D}, 3).to(d);
      Tensor mask = padded_mask(Lk);
      Tensor want = composed_attention(q, k, v, mask, scale);
      Tensor got = ops::attention(q.to(dev), k.to(dev), v.to(dev), mask.to(dev), scale).to(Device::cpu());
      INFO("D " << D << ", Lk " << Lk << ", " << dtype_name(d) << " on " << dev.str());
      CHECK(normalized_error(got, want) < tol);
      // The fully masked rows (batch 1) are exactly 0.
      CHECK(ops::sum(ops::mul(got.slice(0, 1, 2), got.slice(0, 1, 2))).item() == 0.0);
    }
}

}  // namespace

TEST_CASE("attention equals matmul + masked softmax + matmul on the CPU", "[ops]") {
  check_fused_against_composed(Device::cpu(), DType::f64, 1e-12);
  check_fused_against_composed(Device::cpu(), DType::f32, 1e-5);
}

TEST_CASE("attention on CUDA equals the composed reference on the CPU", "[cuda][ops]") {
  testing::require_cuda();
  check_fused_against_composed(Device::cuda(0), DType::f64, 1e-12);
  check_fused_against_composed(Device::cuda(0), DType::f32, 1e-5);
  // Head dimensions past the kernels' largest instantiation are refused by name.
  Tensor big = Tensor::zeros({1, 1, 2, 130}, DType::f32, Device::cuda(0));
  CHECK_THROWS_WITH(ops::attention(big, big, big, Tensor(), 1.0), Catch::Contains("head dimension 130"));
}

TEST_CASE("attention gradients equal those of the composed reference (f64)", "[ops]") {
  const double scale = 0.3;
  Tensor mask = padded_mask(7);
  auto grads = [&](bool fused) {
    Variable q(randn64({3, 2, 4, 5}, 4), true), k(randn64({3, 2, 7, 5}, 5), true), v(randn64({3, 2, 7, 5}, 6), true);
    Variable o = fused ? ag::attention(q, k, v, mask, scale) : composed_attention(q, k, v, mask, scale);
    ag::sum(ag::mul(o, Variable(randn64({3, 2, 4, 5}, 7)))).backward();
    return std::vector<Tensor>{q.grad(), k.grad(), v.grad()};
  };
  std::vector<Tensor> f = grads(true), c = grads(false);
  for (size_t i = 0; i < 3; ++i) {
    INFO("gradient " << i);
    CHECK(normalized_error(f[i], c[i]) < 1e-12);
  }
  // A fully masked query row (batch 1) passes no gradient to its query.
  CHECK(ops::sum(ops::mul(f[0].slice(0, 1, 2), f[0].slice(0, 1, 2))).item() == 0.0);
}

TEST_CASE("layer_norm equals a naive f64 loop", "[ops]") {
  Tensor x = randn64({5, 3, 11}, 8, 1.0, 3.0), w = randn64({11}, 9), b = randn64({11}, 10);
  Tensor y = ops::layer_norm(x, w, b, 1e-5);
  std::vector<double> xv = x.to_vector(), wv = w.to_vector(), bv = b.to_vector(), yv = y.to_vector();
  double err = 0;
  for (size_t r = 0; r < 15; ++r) {
    double mu = 0, var = 0;
    for (size_t j = 0; j < 11; ++j) mu += xv[r * 11 + j] / 11.0;
    for (size_t j = 0; j < 11; ++j) var += (xv[r * 11 + j] - mu) * (xv[r * 11 + j] - mu) / 11.0;
    for (size_t j = 0; j < 11; ++j)
      err = std::max(err, std::abs(yv[r * 11 + j] - ((xv[r * 11 + j] - mu) / std::sqrt(var + 1e-5) * wv[j] + bv[j])));
  }
  CHECK(err < 1e-12);
  CHECK_THROWS_WITH(ops::layer_norm(x, randn64({4}, 1), Tensor(), 1e-5), Catch::Contains("weight must be [11]"));
}

TEST_CASE("masked_softmax: excluded entries and fully masked rows give 0 and not NaN", "[ops]") {
  Tensor x = Tensor::from_vector({1, 2, 3, 4, 5, 6}, {2, 3}, DType::f32);
  Tensor m = Tensor::from_vector({1, 0, 1, 0, 0, 0}, {2, 3}, DType::u8);
  std::vector<double> y = ops::masked_softmax(x, m).to_vector();
  CHECK(y[0] == Approx(1.0 / (1.0 + std::exp(2.0))));
  CHECK(y[1] == 0.0);
  CHECK(y[2] == Approx(std::exp(2.0) / (1.0 + std::exp(2.0))));
  CHECK((y[3] == 0.0 && y[4] == 0.0 && y[5] == 0.0));
  CHECK_THROWS_WITH(ops::masked_softmax(x, Tensor::zeros({4}, DType::u8)), Catch::Contains("does not broadcast"));
}

TEST_CASE("embedding: rows by ids of any shape and an unknown id names itself and the vocabulary", "[ops]") {
  Tensor w = randn64({5, 3}, 11);
  Tensor ids = Tensor::from_vector({4, 0, 4, 2, 1, 0}, {2, 1, 3}, DType::i32);
  Tensor e = ops::embedding(w, ids);
  REQUIRE(e.shape() == (Shape{2, 1, 3, 3}));
  CHECK(normalized_error(e.slice(2, 2, 3).reshape({2, 3}),
                         ops::index_select(w, 0, Tensor::from_vector({4, 0}, {2}, DType::i64)).reshape({2, 3})) == 0.0);
  CHECK_THROWS_WITH(ops::embedding(w, Tensor::from_vector({1, 7}, {2}, DType::i64)),
                    Catch::Contains("id 7") && Catch::Contains("vocabulary of 5"));
  CHECK_THROWS_WITH(ops::embedding(w, Tensor::from_vector({-1}, {1}, DType::i32)), Catch::Contains("id -1"));
}

TEST_CASE("embedding on CUDA: rows by ids and an unknown id reported as the index ops do", "[cuda][ops]") {
  testing::require_cuda();
  Tensor w = randn64({5, 3}, 14);
  Tensor ids = Tensor::from_vector({4, 0, 4, 2}, {2, 2}, DType::i32);
  Tensor got = ops::embedding(w.to(Device::cuda(0)), ids.to(Device::cuda(0))).to(Device::cpu());
  CHECK(normalized_error(got, ops::embedding(w, ids)) == 0.0);
  std::string msg;
  try {
    Tensor y = ops::embedding(w.to(Device::cuda(0)), Tensor::from_vector({1, 7}, {2}, DType::i64).to(Device::cuda(0)));
    runtime::cuda_synchronize(0);
  } catch (const Error& e) {
    msg = e.what();
  }
  INFO("message: " << msg);
  CHECK(msg.find("index 7") != std::string::npos);
  CHECK(msg.find("[0, 5)") != std::string::npos);
  runtime::cuda_synchronize(0);
}

namespace {
std::atomic<int> g_copies{0};
void count_copies(OpKind op, DeviceType) {
  if (op == OpKind::COPY) ++g_copies;
}
}  // namespace

TEST_CASE("matmul of B x H x L x D by a transposed B x H x D x L view copies nothing", "[ops]") {
  Tensor q = randn64({2, 3, 7, 32}, 12), k = randn64({2, 3, 9, 32}, 13);
  g_copies = 0;
  set_dispatch_observer(count_copies);
  Tensor s = ops::matmul(q, k.transpose(-1, -2));
  set_dispatch_observer(nullptr);
  CHECK(g_copies == 0);
  Tensor want = ops::matmul(q, k.transpose(-1, -2).contiguous());
  CHECK(normalized_error(s, want) < 1e-12);
}

namespace {
// GELU as BERT uses it: x * Phi(x) with the error function (not the tanh approximation,
// which differs by up to about 5e-4 on [-5, 5]).
void check_exact_gelu(Device dev) {
  std::vector<double> xs;
  for (int i = -500; i <= 500; ++i) xs.push_back(i / 100.0);
  for (DType d : {DType::f32, DType::f64}) {
    Tensor x = Tensor::from_vector(xs, {int64_t(xs.size())}, d);
    std::vector<double> y = ops::gelu(x.to(dev)).to(Device::cpu()).to_vector(), xv = x.to_vector();
    double err = 0;
    for (size_t i = 0; i < y.size(); ++i)
      err = std::max(err, std::abs(y[i] - 0.5 * xv[i] * std::erfc(-xv[i] / std::sqrt(2.0))));
    INFO(dtype_name(d) << " on " << dev.str());
    CHECK(err < (d == DType::f64 ? 1e-14 : 2e-6));
  }
}
}  // namespace

TEST_CASE("gelu is the exact erf form against an f64 reference", "[ops]") { check_exact_gelu(Device::cpu()); }

TEST_CASE("gelu on CUDA is the exact erf form against an f64 reference", "[cuda][ops]") {
  testing::require_cuda();
  check_exact_gelu(Device::cuda(0));
}

TEST_CASE("autocast: attention computes in bf16, layer_norm and masked_softmax in f32", "[ops]") {
  Variable q(randn64({2, 2, 3, 8}, 15).to(DType::f32), true), k(randn64({2, 2, 5, 8}, 16).to(DType::f32), true);
  Variable x(randn64({4, 8}, 17).to(DType::f32), true), w(randn64({8}, 18).to(DType::f32), true);
  Tensor mask = padded_mask(5).slice(0, 0, 2);
  AutocastGuard guard(DType::bf16);
  Variable o = ag::attention(q, k, k, mask, 0.5);
  CHECK(o.dtype() == DType::bf16);
  Tensor want = ops::attention(q.data().to(DType::bf16), k.data().to(DType::bf16), k.data().to(DType::bf16), mask, 0.5);
  CHECK(normalized_error(o.data(), want) == 0.0);
  Variable y = ag::layer_norm(ag::cast(x, DType::bf16), w, Variable(), 1e-5);
  CHECK(y.dtype() == DType::f32);
  CHECK(ag::masked_softmax(ag::cast(x, DType::bf16), Tensor()).dtype() == DType::f32);
  ag::sum(ag::add(ag::cast(o, DType::f32), ag::sum(y))).backward();
  CHECK((q.grad().dtype() == DType::f32 && w.grad().dtype() == DType::f32 && x.grad().dtype() == DType::f32));
}
