#include "test_util.h"

#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <catch2/catch.hpp>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <numeric>
#include <random>
#include <sstream>

#include "engine/core/backend.h"

namespace engine::testing {

std::string read_text(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

void write_text(const std::string& path, const std::string& bytes) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f.write(bytes.data(), std::streamsize(bytes.size()));
  REQUIRE(f.good());
}

ShellRun run_shell(const std::string& command) {
  static std::atomic<int> counter{0};
  std::string log = std::filesystem::temp_directory_path().string() + "/engine_shell_" + std::to_string(::getpid()) +
                    "_" + std::to_string(counter++) + ".log";
  int rc = std::system((command + " >" + log + " 2>&1").c_str());
  ShellRun r;
  r.rc = WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
  r.output = read_text(log);
  std::remove(log.c_str());
  return r;
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

std::string fresh_scratch_dir(const std::string& name) {
  std::string d = std::string(ENGINE_BINARY_DIR) + "/e2e_scratch/" + name;
  std::filesystem::remove_all(d);
  std::filesystem::create_directories(d);
  return d;
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

std::vector<std::vector<std::string>> metrics_without_timing(const std::string& run_dir) {
  auto rows = read_csv(run_dir + "/metrics.csv");
  for (auto& r : rows) {
    REQUIRE(r.size() > 9);
    r.erase(r.begin() + 8, r.begin() + 10);
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
