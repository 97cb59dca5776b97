// The optimizers over GPU parameters: global-norm clipping through the multi-tensor sum
// of squares, and SGD through the multi-tensor step, against the CPU. (The multi-tensor
// ops' parity is the op-case table's, run by tests/ops.)
#include "cuda_parity.h"
#include "engine/optim/optimizer.h"

using namespace engine;
using namespace engine::testing;

namespace {

const std::vector<Shape> kShapes = {{0}, {1}, {33, 7}, {5}, {331, 307}, {2, 3, 3, 3}, {70001}};

std::vector<Tensor> group(uint64_t seed, DType d) {
  std::vector<Tensor> out;
  for (const Shape& s : kShapes) out.push_back(rand_input(s, seed++, d));
  return out;
}
std::vector<Tensor> map(const std::vector<Tensor>& ts, Tensor (*f)(const Tensor&)) {
  std::vector<Tensor> out;
  for (const Tensor& t : ts) out.push_back(f(t));
  return out;
}
Tensor twin_clone(const Tensor& t) { return cpu_twin(t).clone(); }
Tensor gpu_copy(const Tensor& t) { return on_gpu(t); }

}  // namespace

TEST_CASE("cuda sum_squares_multi and clip_grad_norm against the CPU", "[cuda]") {
  begin_cuda_test();
  for (DType d : float_dtypes()) {
    std::vector<Tensor> xs = group(500, d);
    Tensor got = ops::sum_squares_multi(map(xs, gpu_copy));
    Tensor want = ops::sum_squares_multi(map(xs, twin_clone));
    REQUIRE(got.dtype() == DType::f64);
    check_parity(got, want, DType::f64, std::string("sum_squares_multi ") + dtype_name(d));
  }
  // Only empty tensors: a sum of nothing.
  CHECK(ops::sum_squares_multi({on_gpu(Tensor::zeros({0}))}).item() == 0.0);
  std::vector<Variable> pg, pc;
  for (size_t i = 0; i < kShapes.size(); ++i) {
    Tensor g = rand_input(kShapes[i], 600 + i, DType::f32);
    pg.emplace_back(on_gpu(Tensor::zeros(kShapes[i])), true);
    pg.back().set_grad(on_gpu(g));
    pc.emplace_back(Tensor::zeros(kShapes[i]), true);
    pc.back().set_grad(g.clone());
  }
  double ng = optim::clip_grad_norm(pg, 1.0), nc = optim::clip_grad_norm(pc, 1.0);
  CHECK(ng == Approx(nc).epsilon(1e-12));
  check_parity(pg[4].grad(), pc[4].grad(), DType::f32, "clipped gradient");
}

TEST_CASE("cuda SGD optimizer over GPU parameters (multi-tensor path) equals the CPU optimizer", "[cuda]") {
  begin_cuda_test();
  std::vector<std::pair<std::string, Variable>> ng, nc;
  for (size_t i = 0; i < kShapes.size(); ++i) {
    Tensor t = rand_input(kShapes[i], 700 + i, DType::f32);
    std::string name = (kShapes[i].size() == 1 ? "bn" : "w") + std::to_string(i) + ".weight";
    ng.emplace_back(name, Variable(on_gpu(t), true));
    nc.emplace_back(name, Variable(t.clone(), true));
  }
  optim::SGD og(optim::make_param_entries(ng, 5e-4, true), optim::SgdOptions{0.1, 0.9, 0.0, true});
  optim::SGD oc(optim::make_param_entries(nc, 5e-4, true), optim::SgdOptions{0.1, 0.9, 0.0, true});
  for (int step = 0; step < 3; ++step) {
    for (size_t i = 0; i < kShapes.size(); ++i) {
      Tensor g = rand_input(kShapes[i], 800 + 10 * uint64_t(step) + i, DType::f32);
      ng[i].second.set_grad(on_gpu(g));
      nc[i].second.set_grad(g);
    }
    og.step();
    oc.step();
  }
  for (size_t i = 0; i < kShapes.size(); ++i)
    check_parity(ng[i].second.data(), nc[i].second.data(), DType::f32, "SGD optimizer " + ng[i].first);
}
