#pragma once
// Checked cuBLAS and cuDNN calls (see check.h).
#include <cublas_v2.h>
#include <cudnn.h>

#include "kernels/cuda/check.h"

namespace engine::kernels {

inline void cublas_check(cublasStatus_t s, const char* call, const char* file, int line) {
  if (s != CUBLAS_STATUS_SUCCESS) cuda_fail("cuBLAS", call, cublasGetStatusString(s), file, line);
}
inline void cudnn_check(cudnnStatus_t s, const char* call, const char* file, int line) {
  if (s != CUDNN_STATUS_SUCCESS) cuda_fail("cuDNN", call, cudnnGetErrorString(s), file, line);
}

}  // namespace engine::kernels

#define ENGINE_CUBLAS_CHECK(call) ::engine::kernels::cublas_check((call), #call, __FILE__, __LINE__)
#define ENGINE_CUDNN_CHECK(call) ::engine::kernels::cudnn_check((call), #call, __FILE__, __LINE__)
