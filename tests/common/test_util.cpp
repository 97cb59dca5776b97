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
