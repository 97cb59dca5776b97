#include "kernels/cpu/reduce.h"

#include <cmath>
#include <limits>

namespace engine::kernels {

template <class T>
void reduce_rows_cpu(ReduceOp op, T* y, const T* x, int64_t outer, int64_t inner, int64_t correction) {
#pragma omp parallel for if (outer * inner > (1 << 15))
  for (int64_t o = 0; o < outer; ++o) {
    const T* r = x + o * inner;
    double acc = 0;
    switch (op) {
      case ReduceOp::Sum:
      case ReduceOp::Mean:
        for (int64_t i = 0; i < inner; ++i) acc += double(r[i]);
        if (op == ReduceOp::Mean) acc /= double(inner);
        break;
      case ReduceOp::Max:
        acc = -std::numeric_limits<double>::infinity();
        for (int64_t i = 0; i < inner; ++i) {
          double v = double(r[i]);
          if (v > acc || std::isnan(v)) acc = v;
          if (std::isnan(v)) break;
        }
        break;
      case ReduceOp::Var: {
        double m = 0;
        for (int64_t i = 0; i < inner; ++i) m += double(r[i]);
        m /= double(inner);
        for (int64_t i = 0; i < inner; ++i) {
          double d = double(r[i]) - m;
          acc += d * d;
        }
        acc /= double(inner - correction);
        break;
      }
    }
    y[o] = T(acc);
  }
}

template <class T>
void argmax_rows_cpu(int64_t* y, const T* x, int64_t outer, int64_t inner) {
#pragma omp parallel for if (outer * inner > (1 << 15))
  for (int64_t o = 0; o < outer; ++o) {
    const T* r = x + o * inner;
    int64_t best = 0;
    for (int64_t i = 1; i < inner; ++i) {
      if (std::isnan(double(r[best]))) break;
      if (r[i] > r[best] || std::isnan(double(r[i]))) best = i;
    }
    y[o] = best;
  }
}

template void reduce_rows_cpu<float>(ReduceOp, float*, const float*, int64_t, int64_t, int64_t);
template void reduce_rows_cpu<double>(ReduceOp, double*, const double*, int64_t, int64_t, int64_t);
template void argmax_rows_cpu<float>(int64_t*, const float*, int64_t, int64_t);
template void argmax_rows_cpu<double>(int64_t*, const double*, int64_t, int64_t);

}  // namespace engine::kernels
