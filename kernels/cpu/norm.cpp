#include "kernels/cpu/norm.h"

#include "kernels/cpu/norm_act.h"

namespace engine::kernels {

template <class T>
void batchnorm2d_fwd_cpu(const BatchNormParams& p, T* y, T* save_mean, T* save_invstd, const T* x, const T* gamma,
                         const T* beta, T* running_mean, T* running_var) {
  batchnorm2d_act_fwd_cpu<T>(without_epilogue(p), y, save_mean, save_invstd, x, nullptr, gamma, beta, running_mean,
                             running_var);
}

template <class T>
void batchnorm2d_bwd_cpu(const BatchNormParams& p, T* gx, T* ggamma, T* gbeta, const T* gy, const T* x, const T* gamma,
                         const T* save_mean, const T* save_invstd) {
  batchnorm2d_act_bwd_cpu<T>(without_epilogue(p), gx, ggamma, gbeta, nullptr, gy, nullptr, x, gamma, save_mean,
                             save_invstd);
}

template void batchnorm2d_fwd_cpu<float>(const BatchNormParams&, float*, float*, float*, const float*, const float*,
                                         const float*, float*, float*);
template void batchnorm2d_fwd_cpu<double>(const BatchNormParams&, double*, double*, double*, const double*,
                                          const double*, const double*, double*, double*);
template void batchnorm2d_bwd_cpu<float>(const BatchNormParams&, float*, float*, float*, const float*, const float*,
                                         const float*, const float*, const float*);
template void batchnorm2d_bwd_cpu<double>(const BatchNormParams&, double*, double*, double*, const double*,
                                          const double*, const double*, const double*, const double*);

}  // namespace engine::kernels
