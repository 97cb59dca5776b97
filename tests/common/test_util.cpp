#include "test_util.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <numeric>
#include <random>
#include <sstream>

#include "engine/core/backend.h"

namespace engine::testing {

Tensor randn64(const Shape& shape, uint64_t seed, double mean, double stddev) {
  return ops::randn(shape, seed, 0, DType::f64, Device::cpu(), mean, stddev);
}

Tensor uniform64(const Shape& shape, uint64_t seed, double lo, double hi) {
  return ops::rand_uniform(shape, seed, 0, DType::f64, Device::cpu(), lo, hi);
}

Tensor distinct64(const Shape& shape, uint64_t seed, double gap) {
  int64_t n = shape_numel(shape);
  std::vector<double> v(static_cast<size_t>(n));
  std::iota(v.begin(), v.end(), 0.0);
  std::mt19937_64 rng(seed);
  std::shuffle(v.begin(), v.end(), rng);
  for (double& x : v) x = (x - double(n) / 2) * gap + gap * 0.5;
  return Tensor::from_vector(v, shape, DType::f64);
}

double normalized_error(const Tensor& a, const Tensor& b) {
  REQUIRE(a.shape() == b.shape());
  std::vector<double> x = a.to_vector(), y = b.to_vector();
  double scale = 1.0, err = 0.0;
  for (double v : y) scale = std::max(scale, std::abs(v));
  for (size_t i = 0; i < x.size(); ++i) {
    double d = std::abs(x[i] - y[i]);
    if (std::isnan(d)) return INFINITY;
    err = std::max(err, d);
  }
  return err / scale;
}

std::set<OpKind>& grad_tested_ops() {
  static std::set<OpKind> s;
  return s;
}

bool register_grad_test(OpKind op) {
  grad_tested_ops().insert(op);
  return true;
}

std::vector<std::vector<std::string>> read_csv(const std::string& path) {
  std::vector<std::vector<std::string>> rows;
  std::ifstream f(path);
  for (std::string line; std::getline(f, line);) {
    std::vector<std::string> cells;
    std::stringstream ss(line);
    for (std::string c; std::getline(ss, c, ',');) cells.push_back(c);
    rows.push_back(cells);
  }
  return rows;
}

void require_cuda() {
  if (!runtime::cuda_available()) {
    std::cout << "SKIPPED (no CUDA device): " << runtime::cuda_unavailable_reason() << std::endl;
    std::_Exit(77);
  }
}

}  // namespace engine::testing
