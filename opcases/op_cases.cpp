#include "opcases/op_cases.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <numeric>
#include <random>
#include <sstream>

#include "engine/backends/cuda/context.h"
#include "engine/core/backend.h"
#include "engine/ops/functional.h"

namespace engine::opcases {

const std::vector<OpCase>& op_cases() {
  static const std::vector<OpCase> all = [] {
    std::vector<OpCase> v;
    add_elementwise_cases(v);
    add_reduce_cases(v);
    add_linalg_conv_cases(v);
    add_norm_pool_cases(v);
    add_norm_act_cases(v);
    add_softmax_index_cases(v);
    add_optim_amp_cases(v);
    add_moe_cases(v);
    add_augment_cases(v);
    add_transformer_cases(v);
    return v;
  }();
  return all;
}

std::vector<std::string> families() {
  std::vector<std::string> f;
  for (const OpCase& c : op_cases())
    if (std::find(f.begin(), f.end(), c.family) == f.end()) f.push_back(c.family);
  return f;
}

const std::vector<DType>& float_dtypes() {
  static const std::vector<DType> all = {DType::f32, DType::f64, DType::bf16, DType::f16};
  return all;
}

double parity_tol(DType d) {
  switch (d) {
    case DType::f64: return 1e-10;
    case DType::f32: return 1e-5;
    case DType::bf16: return 2e-2;
    case DType::f16: return 4e-3;
    default: return 0.0;
  }
}

Tensor cpu_twin(const Tensor& t) {
  if (!t.defined()) return t;
  return t.dtype() == DType::bf16 || t.dtype() == DType::f16 ? t.to(DType::f32) : t;
}

double normalized_error(const Tensor& a, const Tensor& b) {
  std::vector<double> x = a.to_vector(), y = b.to_vector();
  if (x.size() != y.size()) return INFINITY;
  double scale = 1.0, err = 0.0;
  for (double v : y) scale = std::max(scale, std::abs(v));
  for (size_t i = 0; i < x.size(); ++i) {
    double d = std::abs(x[i] - y[i]);
    if (std::isnan(d)) return INFINITY;
    err = std::max(err, d);
  }
  return err / scale;
}

namespace {

const char* format_name(MemoryFormat f) { return f == MemoryFormat::ChannelsLast ? "channels-last" : "contiguous"; }

std::string compare_elements(const Out& got, const Out& want) {
  std::vector<double> g = got.t.to_vector(), w = want.t.to_vector();
  size_t bad = 0, first = g.size();
  for (size_t i = 0; i < g.size(); ++i) {
    bool eq;
    if (got.cmp == Cmp::NanMask) {
      eq = std::isnan(g[i]) == std::isnan(w[i]);
    } else if (got.cmp == Cmp::ExactNan) {
      eq = std::isnan(w[i]) ? std::isnan(g[i]) : g[i] == w[i];
    } else {
      eq = g[i] == w[i];
    }
    if (!eq && bad++ == 0) first = i;
  }
  if (bad == 0) return "";
  std::ostringstream os;
  os << bad << " of " << g.size() << " elements differ, first at " << first << ": device " << g[first] << " vs cpu "
     << w[first];
  return os.str();
}

}  // namespace

std::string compare(const Out& got, const Out& want, DType case_dtype) {
  std::ostringstream os;
  if (got.t.defined() != want.t.defined()) return "defined on one device only";
  if (!got.t.defined()) return "";
  if (got.t.shape() != want.t.shape()) {
    os << "shape " << shape_str(got.t.shape()) << " vs cpu " << shape_str(want.t.shape());
    return os.str();
  }
  if (got.check_layout && got.t.suggest_memory_format() != want.t.suggest_memory_format()) {
    os << "layout " << format_name(got.t.suggest_memory_format()) << " vs cpu "
       << format_name(want.t.suggest_memory_format()) << " (strides " << shape_str(got.t.strides()) << ")";
    return os.str();
  }
  if (got.cmp != Cmp::Tol) return compare_elements(got, want);
  double tol = got.tol >= 0 ? got.tol : parity_tol(got.tol_dtype.value_or(case_dtype));
  double e = normalized_error(got.t, want.t);
  if (e <= tol) return "";
  os << "normalised error " << e << ", tolerance " << tol;
  return os.str();
}

namespace {

std::vector<Tensor> inputs_on(const std::vector<Tensor>& in, Device dev) {
  std::vector<Tensor> out;
  for (const Tensor& t : in) out.push_back(t.defined() ? t.to(dev) : t);
  return out;
}

std::vector<Tensor> cpu_inputs(const std::vector<Tensor>& in, bool twin) {
  std::vector<Tensor> out;
  for (const Tensor& t : in) {
    if (!t.defined()) {
      out.push_back(t);
      continue;
    }
    Tensor c = twin ? cpu_twin(t) : t;
    // In-place ops must not write the generated tensor (the device copy came from it).
    if (c.data_ptr() == t.data_ptr()) {
      c = c.clone();
      if (t.dim() == 4 && t.suggest_memory_format() == MemoryFormat::ChannelsLast)
        c = c.contiguous(MemoryFormat::ChannelsLast);
    }
    out.push_back(c);
  }
  return out;
}

Outs on_cpu(const Outs& outs) {
  Outs r = outs;
  for (Out& o : r)
    if (o.t.defined()) o.t = o.t.to(Device::cpu());
  return r;
}

}  // namespace

std::string run_parity(const OpCase& c, DType d, Device dev) {
  EnvScope env(c.env);
  std::vector<Tensor> in = c.make ? c.make(d) : std::vector<Tensor>{};
  Outs got = c.run(inputs_on(in, dev), d, dev);
  Outs again;
  if (c.deterministic) again = on_cpu(c.run(inputs_on(in, dev), d, dev));
  Outs want = c.run(cpu_inputs(in, c.twin), c.twin ? DType::f32 : d, Device::cpu());
  std::ostringstream os;
  if (got.size() != want.size()) return "the devices gave different numbers of outputs";
  for (size_t i = 0; i < got.size(); ++i) {
    if (got[i].t.defined() && got[i].t.device() != dev) os << got[i].name << ": not on " << dev.str() << "\n";
    std::string m = compare(got[i], want[i], d);
    if (!m.empty()) os << got[i].name << ": " << m << "\n";
    if (c.deterministic && got[i].t.defined()) {
      Out a = again[i];
      a.cmp = Cmp::ExactNan;
      Out g = got[i];
      g.cmp = Cmp::ExactNan;
      std::string r = compare(g, a, d);
      if (!r.empty()) os << got[i].name << " run to run: " << r << "\n";
    }
  }
  if (c.check) {
    std::string m = c.check(on_cpu(got), want, d);
    if (!m.empty()) os << m << "\n";
  }
  return os.str();
}

EnvScope::EnvScope(const std::vector<std::string>& assignments) {
  for (const std::string& a : assignments) {
    size_t eq = a.find('=');
    names_.push_back(a.substr(0, eq));
    setenv(names_.back().c_str(), a.substr(eq + 1).c_str(), 1);
  }
}

EnvScope::~EnvScope() {
  for (const std::string& n : names_) unsetenv(n.c_str());
}

Tensor randn64(const Shape& s, uint64_t seed, double mean, double stddev) {
  return ops::randn(s, seed, 0, DType::f64, Device::cpu(), mean, stddev);
}

Tensor uniform64(const Shape& s, uint64_t seed, double lo, double hi) {
  return ops::rand_uniform(s, seed, 0, DType::f64, Device::cpu(), lo, hi);
}

Tensor distinct64(const Shape& s, uint64_t seed, double gap) {
  int64_t n = shape_numel(s);
  std::vector<double> v(static_cast<size_t>(n));
  std::iota(v.begin(), v.end(), 0.0);
  std::mt19937_64 rng(seed);
  std::shuffle(v.begin(), v.end(), rng);
  for (double& x : v) x = (x - double(n) / 2) * gap + gap * 0.5;
  return Tensor::from_vector(v, s, DType::f64);
}

Tensor rand_input(const Shape& s, uint64_t seed, DType d, double mean, double stddev) {
  return randn64(s, seed, mean, stddev).to(d);
}

Tensor rand_uniform_input(const Shape& s, uint64_t seed, DType d, double lo, double hi) {
  return uniform64(s, seed, lo, hi).to(d);
}

Tensor coarse_input(const Shape& s, uint64_t seed, DType d, double step) {
  std::vector<double> v = randn64(s, seed, 0.0, 2.0).to_vector();
  for (double& x : v) x = std::round(x / step) * step;
  return Tensor::from_vector(v, s, d);
}

Tensor random_index(const Shape& s, int64_t n, uint64_t seed) {
  std::vector<double> u = uniform64(s, seed, 0.0, double(n)).to_vector();
  std::vector<int64_t> v;
  for (double x : u) v.push_back(std::min<int64_t>(int64_t(x), n - 1));
  return i64_tensor(v, s);
}

Tensor i64_tensor(const std::vector<int64_t>& v, const Shape& s) {
  std::vector<double> d(v.begin(), v.end());
  return Tensor::from_vector(d, s, DType::i64);
}

OpCase op_case(std::string family, std::string name, std::vector<OpKind> ops, std::vector<DType> dtypes, MakeFn make,
               RunFn run) {
  OpCase c;
  c.family = std::move(family);
  c.name = std::move(name);
  c.ops = std::move(ops);
  c.dtypes = std::move(dtypes);
  c.make = std::move(make);
  c.run = std::move(run);
  return c;
}

OpCase grad_case(std::string family, std::string name, OpKind op, std::function<std::vector<Tensor>()> inputs,
                 GradCheckFn fn, GradCheckOptions options) {
  OpCase c;
  c.family = std::move(family);
  c.name = std::move(name);
  c.ops = {op};
  c.grads.push_back({std::move(inputs), std::move(fn), std::move(options)});
  return c;
}

Tensor bench_randn(const Shape& s, uint64_t seed, Device dev, DType d) { return ops::randn(s, seed, 0, d, dev); }

Tensor bench_index(const Shape& s, int64_t n, uint64_t seed, Device dev) {
  return ops::rand_uniform(s, seed, 0, DType::f64, dev, 0.0, double(n) - 0.5).to(DType::i64);
}

std::string dims(const Shape& s) {
  std::string r;
  for (size_t i = 0; i < s.size(); ++i) r += (i ? "x" : "") + std::to_string(s[i]);
  return r;
}

}  // namespace engine::opcases
