#include "kernels/cpu/amp.h"

#include <cmath>

namespace engine::kernels {

template <class T>
void amp_unscale_cpu(T* g, int64_t n, double inv_scale, float* found_inf) {
  const T s = T(inv_scale);
  int bad = 0;
#pragma omp parallel for reduction(| : bad) if (n > (1 << 16))
  for (int64_t i = 0; i < n; ++i) {
    T v = g[i] * s;
    g[i] = v;
    bad |= std::isfinite(v) ? 0 : 1;
  }
  if (bad) *found_inf = 1.0f;
}

template void amp_unscale_cpu<float>(float*, int64_t, double, float*);
template void amp_unscale_cpu<double>(double*, int64_t, double, float*);

}  // namespace engine::kernels
