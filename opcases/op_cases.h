#pragma once
// The op-case table: every op's test and benchmark cases in one place, read by three
// runners: the device parity test (tests/ops: each non-CPU device against the CPU, with
// poisoned device allocations), the f64 gradient checks (tests/grad) and the timing mode
// of apps/bench_kernels.
//
// A case names the ops it exercises, the dtypes it runs in, an input generator (seeded,
// device-independent: inputs are made on the CPU and copied to the device), a run
// function (functional ops::* calls on one device) and, per output, how the device
// result is compared with the CPU one. bf16 and f16 inputs meet their CPU twin in f32
// (the same rounded values), as the CPU computes those dtypes through f32 anyway.
// Optional parts: a gradient check (an ag:: function checked in f64 on the CPU) and a
// benchmark (a sweep of problem sizes with the bytes or FLOPs each must move).
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "engine/autograd/gradcheck.h"
#include "engine/core/op_kind.h"
#include "engine/core/tensor.h"

namespace engine::opcases {

// How a device output is compared with the CPU's.
enum class Cmp {
  Tol,       // normalised error <= the dtype's tolerance (tol_dtype, or the case's dtype)
  Exact,     // equal element for element (indices, masks, copies); NaN never equals
  ExactNan,  // equal element for element, NaN equal to NaN (ops that carry NaN)
  NanMask,   // the same elements are NaN; nothing else compared
};

struct Out {
  Out(std::string name_, Tensor t_, Cmp cmp_ = Cmp::Tol, std::optional<DType> tol_dtype_ = {}, double tol_ = -1,
      bool check_layout_ = false)
      : name(std::move(name_)),
        t(std::move(t_)),
        cmp(cmp_),
        tol_dtype(tol_dtype_),
        tol(tol_),
        check_layout(check_layout_) {}
  std::string name;
  Tensor t;
  Cmp cmp = Cmp::Tol;
  std::optional<DType> tol_dtype;  // the tolerance's dtype when not the case's
  double tol = -1;                 // an explicit tolerance (Cmp::Tol), when >= 0
  bool check_layout = false;       // the device output keeps the CPU output's memory format
};
using Outs = std::vector<Out>;

// Inputs are CPU tensors; the runner copies them to the device (keeping their layout)
// and gives the CPU the f32 twin of bf16/f16 ones.
using MakeFn = std::function<std::vector<Tensor>(DType)>;
// Runs the case on one device. `dtype` is the case's dtype (f32 on the CPU twin of a
// bf16/f16 run), `dev` where the inputs are (ops that create tensors need it).
using RunFn = std::function<Outs(const std::vector<Tensor>& in, DType dtype, Device dev)>;
// Extra comparison of a device result with the CPU one: "" when it agrees, else why not.
using CheckFn = std::function<std::string(const Outs& got, const Outs& want, DType dtype)>;

struct GradSpec {
  std::function<std::vector<Tensor>()> inputs;  // f64 CPU tensors
  GradCheckFn fn;
  GradCheckOptions options;
};

// One problem size of a benchmark.
struct BenchRun {
  std::string size;             // label of the problem size
  double bytes = 0;             // minimum bytes read and written (memory-bound ops)
  double flops = 0;             // floating-point operations (GEMM, convolution), else 0
  std::function<Tensor()> run;  // runs the op once, returns its main output
};
struct BenchSpec {
  std::string label;                                        // the row's name in the table
  std::vector<int64_t> scales;                              // the first one is also validated against the CPU
  std::function<BenchRun(Device dev, int64_t scale)> make;  // inputs from Philox: the same on every device
  double tol = 1e-4;                                        // relative error allowed against the CPU at the first scale
};

struct OpCase {
  std::string family;         // elementwise, reduce, linalg, conv, norm_pool, ...
  std::string name;           // what the case is: op, shape, layout, variant
  std::vector<OpKind> ops;    // ops the case exercises
  std::vector<DType> dtypes;  // dtypes of the parity run (empty: no parity run)
  MakeFn make;
  RunFn run;
  CheckFn check;                 // optional
  bool twin = true;              // the CPU computes bf16/f16 in f32 on the same values
  bool deterministic = false;    // two device runs must agree bit for bit
  std::vector<std::string> env;  // "NAME=value" set around both runs (a CUDA path choice)
  std::vector<GradSpec> grads;   // f64 gradient checks of ops[0] (a DIFF op)
  std::vector<BenchSpec> benches;
};

// The whole table, built once.
const std::vector<OpCase>& op_cases();
std::vector<std::string> families();

// ---- what the runners share ----
const std::vector<DType>& float_dtypes();  // f32, f64, bf16, f16
double parity_tol(DType d);                // normalised-error tolerance of a result in d
Tensor cpu_twin(const Tensor& t);          // bf16/f16 -> f32, others as they are
// Compares one device output with the CPU's; "" when it passes.
std::string compare(const Out& got, const Out& want, DType case_dtype);
// Runs `c` in dtype d on `dev` (inputs copied there) and on the CPU; every failure, one
// per line, or "" when all outputs agree.
std::string run_parity(const OpCase& c, DType d, Device dev);
double normalized_error(const Tensor& a, const Tensor& b);  // max|a-b| / max(1, max|b|)

// Sets environment variables for one scope.
class EnvScope {
 public:
  explicit EnvScope(const std::vector<std::string>& assignments);
  ~EnvScope();
  EnvScope(const EnvScope&) = delete;
  EnvScope& operator=(const EnvScope&) = delete;

 private:
  std::vector<std::string> names_;
};

// ---- input generators (CPU tensors, deterministic) ----
Tensor randn64(const Shape& s, uint64_t seed, double mean = 0.0, double stddev = 1.0);
Tensor uniform64(const Shape& s, uint64_t seed, double lo, double hi);
Tensor distinct64(const Shape& s, uint64_t seed, double gap = 0.05);  // a shuffled grid: no ties
Tensor rand_input(const Shape& s, uint64_t seed, DType d, double mean = 0.0, double stddev = 1.0);
Tensor rand_uniform_input(const Shape& s, uint64_t seed, DType d, double lo, double hi);
Tensor coarse_input(const Shape& s, uint64_t seed, DType d, double step = 0.5);  // a grid: many ties
Tensor random_index(const Shape& s, int64_t n, uint64_t seed);                   // i64 in [0, n)
Tensor i64_tensor(const std::vector<int64_t>& v, const Shape& s);
std::string dims(const Shape& s);  // 3x4x5

// A case with the parts every case has; the caller adds the optional ones.
OpCase op_case(std::string family, std::string name, std::vector<OpKind> ops, std::vector<DType> dtypes, MakeFn make,
               RunFn run);
// A gradient-only case: ag:: function checked in f64 (views, composite checks).
OpCase grad_case(std::string family, std::string name, OpKind op, std::function<std::vector<Tensor>()> inputs,
                 GradCheckFn fn, GradCheckOptions options = {});
// Random f32 (or d) input made directly on a device for benchmarks (Philox: the same on every device).
Tensor bench_randn(const Shape& s, uint64_t seed, Device dev, DType d = DType::f32);
Tensor bench_index(const Shape& s, int64_t n, uint64_t seed, Device dev);

// Each family's file adds its cases.
void add_elementwise_cases(std::vector<OpCase>& v);
void add_reduce_cases(std::vector<OpCase>& v);
void add_linalg_conv_cases(std::vector<OpCase>& v);
void add_norm_pool_cases(std::vector<OpCase>& v);
void add_norm_act_cases(std::vector<OpCase>& v);
void add_softmax_index_cases(std::vector<OpCase>& v);
void add_optim_amp_cases(std::vector<OpCase>& v);
void add_moe_cases(std::vector<OpCase>& v);
void add_augment_cases(std::vector<OpCase>& v);
void add_transformer_cases(std::vector<OpCase>& v);

}  // namespace engine::opcases
