// CUDA parity: the multi-tensor optimizer steps (one launch over a group of tensors,
// several of them spanning many chunks) against the per-tensor CPU reference, the same
// bits as the per-tensor CUDA kernels in f32/f64, and the multi-tensor sum of squares.
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
Tensor gpu_clone(const Tensor& t) { return t.clone(); }
std::vector<Tensor> zeros_like(const std::vector<Tensor>& ts) {
  std::vector<Tensor> out;
  for (const Tensor& t : ts) out.push_back(Tensor::zeros(t.shape(), t.dtype(), t.device()));
  return out;
}

}  // namespace

TEST_CASE("cuda sgd_step_multi: every mode, per-tensor weight decay and first steps, against the CPU", "[cuda]") {
  begin_cuda_test();
  const std::vector<double> wd = {0.0, 5e-4, 1e-2, 0.0, 5e-4, 0.1, 1e-3};
  for (DType d : float_dtypes())
    for (double momentum : {0.0, 0.9})
      for (bool nesterov : {false, true}) {
        if (nesterov && momentum == 0.0) continue;
        std::vector<Tensor> p = group(80, d);
        std::vector<Tensor> p_g = map(p, gpu_copy), p_c = map(p, twin_clone), p_ref = map(p_g, gpu_clone);
        std::vector<Tensor> b_g = zeros_like(p_g), b_c = zeros_like(p_c), b_ref = zeros_like(p_g);
        for (int step = 0; step < 3; ++step) {
          std::vector<Tensor> g = group(200 + 10 * uint64_t(step), d);
          std::vector<bool> first(p.size(), momentum != 0 && step == 0);
          first[2] = momentum != 0 && step == 1;  // its buffer restarts at the second step
          ops::sgd_step_multi(p_g, map(g, gpu_copy), momentum != 0 ? b_g : std::vector<Tensor>{}, 0.1, momentum,
                              0.0, wd, nesterov, first);
          for (size_t i = 0; i < p.size(); ++i) {
            Tensor gi_c = cpu_twin(g[i]), gi_g = on_gpu(g[i]);
            ops::sgd_step(p_c[i], gi_c, momentum != 0 ? b_c[i] : Tensor(), 0.1, momentum, 0.0, wd[i], nesterov,
                          first[i]);
            ops::sgd_step(p_ref[i], gi_g, momentum != 0 ? b_ref[i] : Tensor(), 0.1, momentum, 0.0, wd[i], nesterov,
                          first[i]);
          }
        }
        std::string what = "sgd_step_multi momentum " + std::to_string(momentum) + (nesterov ? " nesterov" : "");
        for (size_t i = 0; i < p.size(); ++i) {
          check_parity(p_g[i], p_c[i], d, what + " param " + std::to_string(i));
          if (momentum != 0) check_parity(b_g[i], b_c[i], d, what + " buffer " + std::to_string(i));
          if (d == DType::f32 || d == DType::f64)
            check_exact(p_g[i], p_ref[i].to(Device::cpu()), what + " vs per-tensor");
        }
      }
}

TEST_CASE("cuda adamw_step_multi against the CPU and the per-tensor kernel", "[cuda]") {
  begin_cuda_test();
  const std::vector<double> wd = {0.0, 0.01, 0.05, 0.0, 0.01, 0.2, 0.0};
  for (DType d : float_dtypes()) {
    std::vector<Tensor> p = group(300, d);
    std::vector<Tensor> p_g = map(p, gpu_copy), p_c = map(p, twin_clone), p_ref = map(p_g, gpu_clone);
    std::vector<Tensor> m_g = zeros_like(p_g), v_g = zeros_like(p_g), m_c = zeros_like(p_c), v_c = zeros_like(p_c);
    std::vector<Tensor> m_r = zeros_like(p_g), v_r = zeros_like(p_g);
    for (int64_t step = 1; step <= 3; ++step) {
      std::vector<Tensor> g = group(400 + 10 * uint64_t(step), d);
      ops::adamw_step_multi(p_g, map(g, gpu_copy), m_g, v_g, 1e-2, 0.9, 0.999, 1e-8, wd, step);
      for (size_t i = 0; i < p.size(); ++i) {
        ops::adamw_step(p_c[i], cpu_twin(g[i]), m_c[i], v_c[i], 1e-2, 0.9, 0.999, 1e-8, wd[i], step);
        ops::adamw_step(p_ref[i], on_gpu(g[i]), m_r[i], v_r[i], 1e-2, 0.9, 0.999, 1e-8, wd[i], step);
      }
    }
    for (size_t i = 0; i < p.size(); ++i) {
      std::string what = "adamw_step_multi tensor " + std::to_string(i);
      check_parity(p_g[i], p_c[i], d, what + " param");
      check_parity(m_g[i], m_c[i], d, what + " exp_avg");
      check_parity(v_g[i], v_c[i], d, what + " exp_avg_sq");
      if (d == DType::f32 || d == DType::f64) check_exact(p_g[i], p_ref[i].to(Device::cpu()), what + " vs kernel");
    }
  }
}

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
