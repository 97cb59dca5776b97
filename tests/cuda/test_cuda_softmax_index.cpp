// CUDA parity: softmax and log-softmax (forward, backward), fused cross-entropy
// (forward, backward, label smoothing), gather / scatter-add / index-select /
// index-add, concat, dropout and top-k.
#include <cmath>

#include "cuda_parity.h"

using namespace engine;
using namespace engine::testing;

namespace {

// Random indices in [0, n), deterministic.
Tensor random_index(const Shape& s, int64_t n, uint64_t seed) {
  std::vector<double> u = uniform64(s, seed, 0.0, double(n)).to_vector();
  std::vector<int64_t> v;
  for (double x : u) v.push_back(std::min<int64_t>(int64_t(x), n - 1));
  return i64_tensor(v, s);
}

}  // namespace

TEST_CASE("cuda softmax and log_softmax: last, middle and first axis, long rows", "[cuda]") {
  begin_cuda_test();
  for (DType d : float_dtypes())
    for (Shape s : {Shape{7, 10}, Shape{3, 9, 5}, Shape{4, 3000}, Shape{2, 1}})
      for (int64_t axis : {int64_t(-1), int64_t(0)}) {
        Tensor x = rand_input(s, 60, d, 0.0, 3.0), gy = rand_input(s, 61, d);
        std::string what = shape_str(s) + " axis " + std::to_string(axis);
        Tensor y = ops::softmax(cpu_twin(x), axis), ly = ops::log_softmax(cpu_twin(x), axis);
        Tensor y_g = ops::softmax(on_gpu(x), axis), ly_g = ops::log_softmax(on_gpu(x), axis);
        check_parity(y_g, y, d, "softmax " + what);
        check_parity(ly_g, ly, d, "log_softmax " + what);
        // Backward on the same y for both devices (the CPU result, rounded to d).
        Tensor yd = y.to(d), lyd = ly.to(d);
        check_parity(ops::softmax_bwd(on_gpu(gy), on_gpu(yd), axis), ops::softmax_bwd(cpu_twin(gy), cpu_twin(yd), axis),
                     d, "softmax_bwd " + what);
        check_parity(ops::log_softmax_bwd(on_gpu(gy), on_gpu(lyd), axis),
                     ops::log_softmax_bwd(cpu_twin(gy), cpu_twin(lyd), axis), d, "log_softmax_bwd " + what);
      }
}

TEST_CASE("cuda softmax of huge values stays finite like the CPU", "[cuda]") {
  begin_cuda_test();
  Tensor x = Tensor::from_vector({1000.0, 999.0, -1000.0, 5.0}, {1, 4});
  check_parity(ops::softmax(on_gpu(x), -1), ops::softmax(x, -1), DType::f32, "softmax of huge values");
  check_parity(ops::log_softmax(on_gpu(x), -1), ops::log_softmax(x, -1), DType::f32, "log_softmax of huge values");
}

TEST_CASE("cuda cross_entropy forward and backward, with label smoothing", "[cuda]") {
  begin_cuda_test();
  for (DType d : float_dtypes())
    for (Shape s : {Shape{9, 10}, Shape{5, 2001}, Shape{1, 3}})
      for (double smoothing : {0.0, 0.1}) {
        Tensor logits = rand_input(s, 62, d, 0.0, 2.0);
        Tensor labels = random_index({s[0]}, s[1], 63);
        ops::CrossEntropyOutput got = ops::cross_entropy(on_gpu(logits), on_gpu(labels), smoothing);
        ops::CrossEntropyOutput want = ops::cross_entropy(cpu_twin(logits), labels, smoothing);
        std::string what = "cross_entropy " + shape_str(s) + " smoothing " + std::to_string(smoothing);
        check_parity(got.loss, want.loss, d, what + " loss");
        check_parity(got.lse, want.lse, d, what + " lse");
        Tensor gloss = Tensor::scalar(0.75, d), lse = want.lse.to(d);
        check_parity(ops::cross_entropy_bwd(on_gpu(gloss), on_gpu(logits), on_gpu(labels), on_gpu(lse), smoothing),
                     ops::cross_entropy_bwd(cpu_twin(gloss), cpu_twin(logits), labels, cpu_twin(lse), smoothing), d,
                     what + " backward");
      }
}

TEST_CASE("cuda gather and scatter_add along each axis", "[cuda]") {
  begin_cuda_test();
  for (DType d : float_dtypes())
    for (int64_t axis : {0, 1, 2}) {
      Shape xs = {4, 6, 5};
      Shape is = xs;
      is[size_t(axis)] = 7;  // more picks than rows: repeated indices, colliding adds
      Tensor x = rand_input(xs, 64, d), idx = random_index(is, xs[size_t(axis)], 65);
      std::string what = "axis " + std::to_string(axis);
      check_parity(ops::gather(on_gpu(x), axis, on_gpu(idx)), ops::gather(cpu_twin(x), axis, idx), d, "gather " + what);
      if (d != DType::f32 && d != DType::f64) continue;  // scatter_add accumulates with f32/f64 atomics
      Tensor src = rand_input(is, 66, d);
      check_parity(ops::scatter_add(on_gpu(x), axis, on_gpu(idx), on_gpu(src)), ops::scatter_add(x, axis, idx, src), d,
                   "scatter_add " + what);
    }
}

TEST_CASE("cuda index_select and index_add along each axis", "[cuda]") {
  begin_cuda_test();
  for (DType d : float_dtypes())
    for (int64_t axis : {0, 1, 2}) {
      Shape xs = {5, 4, 6};
      Tensor x = rand_input(xs, 67, d), idx = random_index({9}, xs[size_t(axis)], 68);
      std::string what = "axis " + std::to_string(axis);
      check_parity(ops::index_select(on_gpu(x), axis, on_gpu(idx)), ops::index_select(cpu_twin(x), axis, idx), d,
                   "index_select " + what);
      if (d != DType::f32 && d != DType::f64) continue;  // index_add accumulates with f32/f64 atomics
      Shape ss = xs;
      ss[size_t(axis)] = 9;
      Tensor src = rand_input(ss, 69, d);
      check_parity(ops::index_add(on_gpu(x), axis, on_gpu(idx), on_gpu(src)), ops::index_add(x, axis, idx, src), d,
                   "index_add " + what);
    }
}

TEST_CASE("cuda concat of several pieces, an empty one among them, every dtype", "[cuda]") {
  begin_cuda_test();
  for (DType d : {DType::f32, DType::f64, DType::bf16, DType::f16, DType::i64, DType::u8})
    for (int64_t axis : {0, 1, 2}) {
      std::vector<Tensor> cpu, dev;
      for (int64_t t = 0; t < 4; ++t) {
        Shape s = {3, 4, 5};
        s[size_t(axis)] = t == 2 ? 0 : t + 1;
        Tensor x = rand_uniform_input(s, 70 + uint64_t(t), DType::f64, 0.0, 50.0).to(d);
        cpu.push_back(x);
        dev.push_back(on_gpu(x));
      }
      check_exact(ops::concat(dev, axis), ops::concat(cpu, axis),
                  std::string("concat ") + dtype_name(d) + " axis " + std::to_string(axis));
    }
}

TEST_CASE("cuda dropout: the CPU's mask and scaling", "[cuda]") {
  begin_cuda_test();
  for (DType d : float_dtypes())
    for (double p : {0.0, 0.3, 1.0}) {
      Tensor x = rand_input({37, 29}, 74, d);
      ops::DropoutOutput got = ops::dropout(on_gpu(x), p, 99, 8);
      ops::DropoutOutput want = ops::dropout(cpu_twin(x), p, 99, 8);
      std::string what = std::string("dropout ") + dtype_name(d) + " p " + std::to_string(p);
      check_exact(got.mask, want.mask, what + " mask");
      check_parity(got.y, want.y, d, what + " y");
    }
}

TEST_CASE("cuda topk: largest and smallest, ties to the lower index, every axis", "[cuda]") {
  begin_cuda_test();
  for (DType d : float_dtypes())
    for (bool largest : {true, false})
      for (int64_t axis : {int64_t(-1), int64_t(0)}) {
        // Values on a coarse grid: many ties.
        std::vector<double> v = randn64({6, 50}, 75, 0.0, 2.0).to_vector();
        for (double& e : v) e = std::round(e);
        Tensor x = Tensor::from_vector(v, {6, 50}, d);
        int64_t n = x.size(axis);
        for (int64_t k : {int64_t(1), int64_t(3), n}) {
          ops::TopKOutput got = ops::topk(on_gpu(x), k, axis, largest);
          ops::TopKOutput want = ops::topk(cpu_twin(x), k, axis, largest);
          std::string what = std::string("topk ") + dtype_name(d) + " k " + std::to_string(k) +
                             (largest ? " largest" : " smallest") + " axis " + std::to_string(axis);
          check_exact(got.indices, want.indices, what + " indices");
          check_parity(got.values, want.values, d, what + " values");
        }
      }
}

TEST_CASE("cuda topk ranks NaN above every number", "[cuda]") {
  begin_cuda_test();
  Tensor x = Tensor::from_vector({1.0, NAN, 3.0, NAN, -2.0}, {1, 5});
  for (bool largest : {true, false}) {
    ops::TopKOutput got = ops::topk(on_gpu(x), 5, -1, largest), want = ops::topk(x, 5, -1, largest);
    check_exact(got.indices, want.indices, largest ? "topk NaN largest" : "topk NaN smallest");
  }
}
