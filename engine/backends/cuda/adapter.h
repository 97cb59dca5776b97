#pragma once
// Helpers for the CUDA adapters (engine/backends/cuda/*.cu), which unpack OpCalls into
// calls of kernels/cuda. Every adapter is registered through reg<F>(), which runs it
// with its device current and the op named in error messages, and with
// ENGINE_CUDA_SYNC=1 waits for the op so that an asynchronous error names its op.
#include <cuda_runtime_api.h>

#include "engine/backends/adapter_util.h"
#include "engine/backends/cuda/device.h"
#include "engine/core/attrs.h"
#include "engine/core/dispatch.h"
#include "kernels/cuda/check.h"

namespace engine {

// One per CUDA adapter file; cuda_backend_init calls them all.
void register_cuda_elementwise();
void register_cuda_misc();
void register_cuda_reduce();
void register_cuda_linalg();
void register_cuda_conv();
void register_cuda_norm_pool();
void register_cuda_norm_act();
void register_cuda_softmax();
void register_cuda_index();
void register_cuda_optim();
void register_cuda_amp();
void register_cuda_moe();
void register_cuda_augment();
void register_cuda_transformer();

namespace cuda_adapter {

inline int op_device(const OpCall& c) {
  for (const Tensor& t : c.in)
    if (t.defined()) return t.device().index;
  for (const Tensor& t : c.out)
    if (t.defined()) return t.device().index;
  return 0;
}

inline cudaStream_t stream_of(const OpCall& c) { return runtime::cuda::compute_stream(op_device(c)); }

template <void (*F)(const OpCall&)>
void run(const OpCall& c) {
  int dev = op_device(c);
  runtime::cuda::DeviceGuard guard(dev);
  kernels::CudaOpScope scope(op_name(c.op));
  F(c);
  if (kernels::cuda_sync_debug() && !runtime::cuda::capturing(dev)) runtime::cuda::synchronize(dev);
}

template <void (*F)(const OpCall&)>
void reg(OpKind op, DTypeMask dtypes = kFloatDTypes) {
  register_kernel(op, DeviceType::CUDA, &run<F>, dtypes);
}

}  // namespace cuda_adapter
}  // namespace engine

// CUDA kernels take f32, f64, bf16 and f16 (bf16 and f16 computed in f32).
#define ENGINE_CUDA_DISPATCH_FLOAT(dtype, op, ...)                                                \
  switch (dtype) {                                                                                \
    ENGINE_DTYPE_CASE(f32, float, __VA_ARGS__)                                                    \
    ENGINE_DTYPE_CASE(f64, double, __VA_ARGS__)                                                   \
    ENGINE_DTYPE_CASE(bf16, ::engine::bf16_t, __VA_ARGS__)                                        \
    ENGINE_DTYPE_CASE(f16, ::engine::f16_t, __VA_ARGS__)                                          \
    ENGINE_DTYPE_UNSUPPORTED(dtype, op, "CUDA kernel (CUDA kernels take f32, f64, bf16 and f16)") \
  }

// The same for ops whose CUDA kernels accumulate with atomics: f32 and f64 only.
#define ENGINE_CUDA_DISPATCH_F32_F64(dtype, op, ...)                                       \
  switch (dtype) {                                                                         \
    ENGINE_DTYPE_CASE(f32, float, __VA_ARGS__)                                             \
    ENGINE_DTYPE_CASE(f64, double, __VA_ARGS__)                                            \
    ENGINE_DTYPE_UNSUPPORTED(dtype, op, "CUDA kernel (this op takes f32 and f64 on CUDA)") \
  }

namespace engine::cuda_adapter {

// Runs F<T, P>::run(c) for x's dtype T and the dtype P of `param` (the parameters or
// statistics of a norm op): x's dtype, or f32 beside a bf16/f16 x. An undefined param
// counts as x's dtype.
template <template <class, class> class F>
void by_dtypes(const OpCall& c, const Tensor& x, const Tensor& param) {
  if (!param.defined() || param.dtype() == x.dtype()) {
    ENGINE_CUDA_DISPATCH_FLOAT(x.dtype(), c.op, F<scalar_t, scalar_t>::run(c));
  } else {
    switch (x.dtype()) {
      ENGINE_DTYPE_CASE(bf16, ::engine::bf16_t, F<scalar_t, float>::run(c))
      ENGINE_DTYPE_CASE(f16, ::engine::f16_t, F<scalar_t, float>::run(c))
      ENGINE_DTYPE_UNSUPPORTED(x.dtype(), c.op, "CUDA kernel with f32 parameters (only bf16/f16 inputs take them)")
    }
  }
}

}  // namespace engine::cuda_adapter
