#include "kernels/cpu/elementwise.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <utility>

#include "base/check.h"
#include "base/convert.h"
#include "base/rng.h"
#include "kernels/cpu/convert.h"
#include "kernels/cpu/gelu_f32.h"

namespace engine::kernels {
namespace {

constexpr int64_t kParallelMin = 1 << 15;

inline int64_t off(const StridedLayout& l, int64_t i) { return l.contiguous ? i : strided_offset(l, i); }

template <class T>
inline T apply_binary(BinaryOp op, T a, T b) {
  switch (op) {
    case BinaryOp::Add: return a + b;
    case BinaryOp::Sub: return a - b;
    case BinaryOp::Mul: return a * b;
    case BinaryOp::Div: return a / b;
    case BinaryOp::Pow: return std::pow(a, b);
    case BinaryOp::Maximum: return a >= b ? a : b;
  }
  return T(0);
}

template <class T>
inline T gelu(T x) {
  return T(0.5) * x * (T(1) + std::erf(x * T(0.70710678118654752440)));
}

// d gelu / dx = Phi(x) + x phi(x): the scalar form of every GELU backward loop here.
template <class T>
inline T gelu_grad(T x) {
  const T cdf = T(0.5) * (T(1) + std::erf(x * T(0.70710678118654752440)));
  const T pdf = std::exp(T(-0.5) * x * x) * T(0.39894228040143267794);
  return cdf + x * pdf;
}

template <class T>
inline T apply_unary(UnaryOp op, T x, T alpha, T beta) {
  switch (op) {
    case UnaryOp::Neg: return -x;
    case UnaryOp::Exp: return std::exp(x);
    case UnaryOp::Log: return std::log(x);
    case UnaryOp::Sqrt: return std::sqrt(x);
    case UnaryOp::Rsqrt: return T(1) / std::sqrt(x);
    case UnaryOp::Relu: return x > T(0) ? x : T(0);
    case UnaryOp::Gelu: return gelu(x);
    case UnaryOp::Sigmoid: return T(1) / (T(1) + std::exp(-x));
    case UnaryOp::Tanh: return std::tanh(x);
    case UnaryOp::Clamp: return x < alpha ? alpha : (x > beta ? beta : x);
  }
  return T(0);
}

}  // namespace

namespace {

// Calls body(f) with f the scalar function of op, so that loops are compiled per op
// (and vectorise) instead of switching per element.
template <class T, class Body>
void with_binary_op(BinaryOp op, Body&& body) {
  switch (op) {
    case BinaryOp::Add: return body([](T a, T b) { return a + b; });
    case BinaryOp::Sub: return body([](T a, T b) { return a - b; });
    case BinaryOp::Mul: return body([](T a, T b) { return a * b; });
    case BinaryOp::Div: return body([](T a, T b) { return a / b; });
    case BinaryOp::Pow: return body([](T a, T b) { return std::pow(a, b); });
    case BinaryOp::Maximum: return body([](T a, T b) { return a >= b ? a : b; });
  }
}

// Broadcasts row by row: one offset computation per row of the innermost dimension,
// then a loop along it with each operand's stride there (1, or 0 for a broadcast
// value), the common cases (a bias over rows, a scale per row) as unit-stride loops.
template <class T, class F>
void binary_rows(F f, T* y, const T* a, const StridedLayout& la, const T* b, const StridedLayout& lb, int64_t n) {
  const int64_t inner = la.shape[la.ndim - 1], rows = n / inner;
  const int64_t sa = la.contiguous ? 1 : la.strides[la.ndim - 1], sb = lb.contiguous ? 1 : lb.strides[lb.ndim - 1];
#pragma omp parallel for if (n > kParallelMin)
  for (int64_t r = 0; r < rows; ++r) {
    const T* ar = a + off(la, r * inner);
    const T* br = b + off(lb, r * inner);
    T* yr = y + r * inner;
    if (sa == 1 && sb == 1) {
      for (int64_t j = 0; j < inner; ++j) yr[j] = f(ar[j], br[j]);
    } else if (sa == 1 && sb == 0) {
      const T bv = br[0];
      for (int64_t j = 0; j < inner; ++j) yr[j] = f(ar[j], bv);
    } else if (sa == 0 && sb == 1) {
      const T av = ar[0];
      for (int64_t j = 0; j < inner; ++j) yr[j] = f(av, br[j]);
    } else {
      for (int64_t j = 0; j < inner; ++j) yr[j] = f(ar[j * sa], br[j * sb]);
    }
  }
}

}  // namespace

template <class T>
void binary_fwd_cpu(BinaryOp op, T* y, const T* a, const StridedLayout& la, const T* b, const StridedLayout& lb,
                    int64_t n) {
  if (la.contiguous && lb.contiguous) {
    with_binary_op<T>(op, [&](auto f) {
#pragma omp parallel for if (n > kParallelMin)
      for (int64_t i = 0; i < n; ++i) y[i] = f(a[i], b[i]);
    });
    return;
  }
  // Rows long enough to amortise their offsets go row by row; both layouts carry the
  // output's shape (broadcast operands are expanded views).
  if (la.ndim >= 1 && la.ndim == lb.ndim && la.shape[la.ndim - 1] >= 8 && n > 0) {
    with_binary_op<T>(op, [&](auto f) { binary_rows<T>(f, y, a, la, b, lb, n); });
    return;
  }
#pragma omp parallel for if (n > kParallelMin)
  for (int64_t i = 0; i < n; ++i) y[i] = apply_binary(op, a[off(la, i)], b[off(lb, i)]);
}

namespace {
constexpr int64_t kBf16Block = 2048;  // elements per staged block (8 KiB of f32 per operand)

// f(i0, m, a, b): the f32 work on block [i0, i0 + m) with two block buffers, threaded
// over blocks.
template <class F>
void for_bf16_blocks(int64_t n, F f) {
#pragma omp parallel for schedule(static) if (n > kParallelMin)
  for (int64_t i0 = 0; i0 < n; i0 += kBf16Block) {
    float a[kBf16Block], b[kBf16Block];
    f(i0, std::min(kBf16Block, n - i0), a, b);
  }
}
}  // namespace

void binary_bf16_dense_cpu(BinaryOp op, uint16_t* y, const uint16_t* a, const uint16_t* b, int64_t n) {
  with_binary_op<float>(op, [&](auto f) {
    for_bf16_blocks(n, [&](int64_t i0, int64_t m, float* fa, float* fb) {
      bf16_to_f32_serial(fa, a + i0, m);
      bf16_to_f32_serial(fb, b + i0, m);
      for (int64_t i = 0; i < m; ++i) fa[i] = f(fa[i], fb[i]);
      f32_to_bf16_serial(y + i0, fa, m);
    });
  });
}

void unary_bf16_dense_cpu(UnaryOp op, double alpha, double beta, uint16_t* y, const uint16_t* x, int64_t n) {
  for_bf16_blocks(n, [&](int64_t i0, int64_t m, float* fx, float* fy) {
    StridedLayout dense;
    dense.ndim = 1;
    dense.shape[0] = m;
    dense.strides[0] = 1;
    bf16_to_f32_serial(fx, x + i0, m);
    unary_fwd_cpu<float>(op, alpha, beta, fy, fx, dense, m);
    f32_to_bf16_serial(y + i0, fy, m);
  });
}

void activation_bwd_bf16_cpu(ActivationKind kind, uint16_t* gx, const uint16_t* gy, const uint16_t* x_or_y, int64_t n) {
  for_bf16_blocks(n, [&](int64_t i0, int64_t m, float* fg, float* fv) {
    bf16_to_f32_serial(fg, gy + i0, m);
    bf16_to_f32_serial(fv, x_or_y + i0, m);
    activation_bwd_cpu<float>(kind, fg, fg, fv, m);  // in place: every kernel reads gy[i] before it writes gx[i]
    f32_to_bf16_serial(gx + i0, fg, m);
  });
}

template <class T>
void compare_fwd_cpu(CompareOp op, uint8_t* y, const T* a, const StridedLayout& la, const T* b, const StridedLayout& lb,
                     int64_t n) {
#pragma omp parallel for if (n > kParallelMin)
  for (int64_t i = 0; i < n; ++i) {
    T x = a[off(la, i)], z = b[off(lb, i)];
    bool r = false;
    switch (op) {
      case CompareOp::Eq: r = x == z; break;
      case CompareOp::Ne: r = x != z; break;
      case CompareOp::Lt: r = x < z; break;
      case CompareOp::Le: r = x <= z; break;
      case CompareOp::Gt: r = x > z; break;
      case CompareOp::Ge: r = x >= z; break;
    }
    y[i] = r ? 1 : 0;
  }
}

template <class T>
void where_fwd_cpu(T* y, const uint8_t* c, const StridedLayout& lc, const T* a, const StridedLayout& la, const T* b,
                   const StridedLayout& lb, int64_t n) {
#pragma omp parallel for if (n > kParallelMin)
  for (int64_t i = 0; i < n; ++i) y[i] = c[off(lc, i)] ? a[off(la, i)] : b[off(lb, i)];
}

template <class T>
void unary_fwd_cpu(UnaryOp op, double alpha, double beta, T* y, const T* x, const StridedLayout& lx, int64_t n) {
  // Contiguous f32 GELU: the vector kernel (kernels/cpu/gelu_f32.h).
  if constexpr (std::is_same_v<T, float>)
    if (op == UnaryOp::Gelu && lx.contiguous) return gelu_f32_cpu(y, x, n);
  T al = T(alpha), be = T(beta);
#pragma omp parallel for if (n > kParallelMin)
  for (int64_t i = 0; i < n; ++i) y[i] = apply_unary(op, x[off(lx, i)], al, be);
}

template <class T>
void activation_bwd_cpu(ActivationKind kind, T* gx, const T* gy, const T* v, int64_t n) {
  if constexpr (std::is_same_v<T, float>)
    if (kind == ActivationKind::Gelu) return gelu_bwd_f32_cpu(gx, gy, v, n);
#pragma omp parallel for if (n > kParallelMin)
  for (int64_t i = 0; i < n; ++i) {
    T d = T(0);
    switch (kind) {
      case ActivationKind::Relu: d = v[i] > T(0) ? T(1) : T(0); break;
      case ActivationKind::Gelu: d = gelu_grad(v[i]); break;
      case ActivationKind::Sigmoid: d = v[i] * (T(1) - v[i]); break;
      case ActivationKind::Tanh: d = T(1) - v[i] * v[i]; break;
    }
    gx[i] = gy[i] * d;
  }
}

#define INSTANTIATE(T)                                                                                               \
  template void binary_fwd_cpu<T>(BinaryOp, T*, const T*, const StridedLayout&, const T*, const StridedLayout&,      \
                                  int64_t);                                                                          \
  template void compare_fwd_cpu<T>(CompareOp, uint8_t*, const T*, const StridedLayout&, const T*,                    \
                                   const StridedLayout&, int64_t);                                                   \
  template void where_fwd_cpu<T>(T*, const uint8_t*, const StridedLayout&, const T*, const StridedLayout&, const T*, \
                                 const StridedLayout&, int64_t);                                                     \
  template void unary_fwd_cpu<T>(UnaryOp, double, double, T*, const T*, const StridedLayout&, int64_t);              \
  template void activation_bwd_cpu<T>(ActivationKind, T*, const T*, const T*, int64_t);
INSTANTIATE(float)
INSTANTIATE(double)
#undef INSTANTIATE

namespace {

// The length of the rows both layouts walk with one stride each: their last dimension
// when they share it, else single elements.
int64_t shared_row(const StridedLayout& ld, const StridedLayout& ls, int64_t n) {
  if (ld.ndim == 0 || ls.ndim == 0 || ld.shape[ld.ndim - 1] != ls.shape[ls.ndim - 1]) return 1;
  const int64_t w = ld.shape[ld.ndim - 1];
  return w > 0 && n % w == 0 ? w : 1;
}

// Row by row: one strided offset per row of each layout (not one per element), then a
// strided walk along the row.
template <class D, class S>
void copy_typed(D* dst, const StridedLayout& ld, const S* src, const StridedLayout& ls, int64_t n) {
  const int64_t w = shared_row(ld, ls, n), rows = n / w;
  auto step = [w](const StridedLayout& l) { return w == 1 ? 0 : l.contiguous ? 1 : l.strides[l.ndim - 1]; };
  const int64_t sd = step(ld), ss = step(ls);
#pragma omp parallel for if (n > kParallelMin)
  for (int64_t r = 0; r < rows; ++r) {
    D* d = dst + off(ld, r * w);
    const S* s = src + off(ls, r * w);
    for (int64_t j = 0; j < w; ++j) {
      if constexpr (std::is_same_v<D, S>) {
        d[j * sd] = s[j * ss];
      } else {
        d[j * sd] = from_f64<D>(to_f64<S>(s[j * ss]));
      }
    }
  }
}

bool same_layout(const StridedLayout& a, const StridedLayout& b) {
  if (a.ndim != b.ndim) return false;
  for (int d = 0; d < a.ndim; ++d)
    if (a.shape[d] != b.shape[d] || (a.shape[d] > 1 && a.strides[d] != b.strides[d])) return false;
  return true;
}

// Whether the n elements of l fill [0, n) of memory once each: the dimensions, ordered
// by stride, have the strides of a contiguous tensor (size-1 dimensions aside).
bool dense(const StridedLayout& l, int64_t n) {
  int order[kMaxDims];
  int k = 0;
  for (int d = 0; d < l.ndim; ++d)
    if (l.shape[d] > 1) order[k++] = d;
  for (int i = 1; i < k; ++i)  // insertion sort by stride (k <= kMaxDims)
    for (int j = i; j > 0 && l.strides[order[j]] < l.strides[order[j - 1]]; --j) std::swap(order[j], order[j - 1]);
  int64_t expect = 1;
  for (int i = 0; i < k; ++i) {
    if (l.strides[order[i]] != expect) return false;
    expect *= l.shape[order[i]];
  }
  return expect == n;
}

template <class F>
void with_type(DType d, F&& f) {
  switch (d) {
    case DType::f32: f(float{}); break;
    case DType::f64: f(double{}); break;
    case DType::bf16: f(bf16_t{}); break;
    case DType::f16: f(f16_t{}); break;
    case DType::i32: f(int32_t{}); break;
    case DType::i64: f(int64_t{}); break;
    case DType::u8: f(uint8_t{}); break;
  }
}

}  // namespace

void copy_cpu(void* dst, DType dt, const StridedLayout& ld, const void* src, DType st, const StridedLayout& ls,
              int64_t n) {
  // Both sides dense in one layout (contiguous, or e.g. both channels-last): element i of
  // memory is element i of memory, whatever the logical order.
  const bool linear = (ld.contiguous && ls.contiguous) || (same_layout(ld, ls) && dense(ld, n));
  if (linear && dt == st) {
    std::memcpy(dst, src, size_t(n) * dtype_size(dt));
    return;
  }
  if (linear && dt == DType::bf16 && st == DType::f32) {
    f32_to_bf16_cpu(static_cast<uint16_t*>(dst), static_cast<const float*>(src), n);
    return;
  }
  if (linear && dt == DType::f32 && st == DType::bf16) {
    bf16_to_f32_cpu(static_cast<float*>(dst), static_cast<const uint16_t*>(src), n);
    return;
  }
  with_type(dt, [&](auto d) {
    using D = decltype(d);
    with_type(st, [&](auto s) {
      using S = decltype(s);
      copy_typed(static_cast<D*>(dst), ld, static_cast<const S*>(src), ls, n);
    });
  });
}

void fill_cpu(void* dst, DType dt, const StridedLayout& ld, double value, int64_t n) {
  with_type(dt, [&](auto d) {
    using D = decltype(d);
    D v = from_f64<D>(value);
    D* p = static_cast<D*>(dst);
#pragma omp parallel for if (n > kParallelMin)
    for (int64_t i = 0; i < n; ++i) p[off(ld, i)] = v;
  });
}

void rng_uniform_cpu(void* y, DType dt, int64_t n, uint64_t seed, uint64_t offset, double lo, double hi) {
  with_type(dt, [&](auto d) {
    using D = decltype(d);
    D* p = static_cast<D*>(y);
#pragma omp parallel for if (n > kParallelMin)
    for (int64_t i = 0; i < n; ++i)
      p[i] = from_f64<D>(lo + (hi - lo) * double(philox_uniform(seed, offset + uint64_t(i))));
  });
}

void rng_normal_cpu(void* y, DType dt, int64_t n, uint64_t seed, uint64_t offset, double mean, double stddev) {
  with_type(dt, [&](auto d) {
    using D = decltype(d);
    D* p = static_cast<D*>(y);
#pragma omp parallel for if (n > kParallelMin)
    for (int64_t i = 0; i < n; ++i)
      p[i] = from_f64<D>(mean + stddev * double(philox_normal(seed, offset + uint64_t(i))));
  });
}

}  // namespace engine::kernels
