#include "kernels/cpu/optim.h"

#include <cmath>

namespace engine::kernels {

template <class T>
void sgd_step_cpu(T* p, const T* g, T* buf, int64_t n, double lr, double momentum, double dampening,
                  double weight_decay, bool nesterov, bool first_step) {
#pragma omp parallel for if (n > (1 << 16))
  for (int64_t i = 0; i < n; ++i) {
    double d = double(g[i]) + weight_decay * double(p[i]);
    if (momentum != 0) {
      double b = first_step ? d : momentum * double(buf[i]) + (1 - dampening) * d;
      buf[i] = T(b);
      d = nesterov ? d + momentum * b : b;
    }
    p[i] = T(double(p[i]) - lr * d);
  }
}

template <class T>
void adamw_step_cpu(T* p, const T* g, T* m, T* v, int64_t n, double lr, double beta1, double beta2, double eps,
                    double weight_decay, int64_t step) {
  double bc1 = 1 - std::pow(beta1, double(step)), bc2 = 1 - std::pow(beta2, double(step));
#pragma omp parallel for if (n > (1 << 16))
  for (int64_t i = 0; i < n; ++i) {
    double gi = double(g[i]);
    double mi = beta1 * double(m[i]) + (1 - beta1) * gi;
    double vi = beta2 * double(v[i]) + (1 - beta2) * gi * gi;
    m[i] = T(mi);
    v[i] = T(vi);
    double pi = double(p[i]) * (1 - lr * weight_decay);
    p[i] = T(pi - lr * (mi / bc1) / (std::sqrt(vi / bc2) + eps));
  }
}

template void sgd_step_cpu<float>(float*, const float*, float*, int64_t, double, double, double, double, bool, bool);
template void sgd_step_cpu<double>(double*, const double*, double*, int64_t, double, double, double, double, bool,
                                   bool);
template void adamw_step_cpu<float>(float*, const float*, float*, float*, int64_t, double, double, double, double,
                                    double, int64_t);
template void adamw_step_cpu<double>(double*, const double*, double*, double*, int64_t, double, double, double, double,
                                     double, int64_t);

}  // namespace engine::kernels
