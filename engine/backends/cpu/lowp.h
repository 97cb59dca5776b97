#pragma once
// Reduced precision on the CPU: the CPU kernels take f32 and f64 only. An op whose
// floating tensors include bf16/f16 runs through one generic path: those tensors are
// widened to f32 temporaries of the same layout, the f32 kernel runs, and what the
// kernel wrote is rounded back (round to nearest even). Storage is low precision,
// arithmetic and accumulation are f32: the contract cuBLAS/cuDNN give on CUDA.
#include "engine/core/dispatch.h"

namespace engine {

bool is_low_precision(DType d);
// True when the CPU call holds a bf16/f16 tensor and its kernel is f32/f64 only
// (copies, fills, random fills and index_select handle every dtype themselves, and so do convolutions
// whose operands are all bf16 on a CPU with bf16 arithmetic: cpu_conv_runs_bf16, and
// the GEMM ops likewise: cpu_gemm_runs_bf16, and batch norm + activation with bf16
// activations and f32 channels: cpu_norm_act_runs_bf16, and dense bf16 binary, unary and
// activation-backward ops: cpu_elementwise_runs_bf16).
bool cpu_needs_lowp(const OpCall& call);
void run_cpu_lowp(const OpCall& call, KernelFn fn);

}  // namespace engine
