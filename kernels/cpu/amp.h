#pragma once
// Loss-scaling support (CPU reference): unscale one gradient in place and raise a
// found-inf flag when a result is inf or NaN.
#include <cstdint>

namespace engine::kernels {

// g[i] *= inv_scale (in T's precision, as on CUDA); *found_inf = 1 when any result is
// not finite. The flag is only ever raised, so one flag serves a list of gradients.
template <class T>
void amp_unscale_cpu(T* g, int64_t n, double inv_scale, float* found_inf);

}  // namespace engine::kernels
