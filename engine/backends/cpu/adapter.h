#pragma once
// The CPU backend's adapters (engine/backends/cpu/<family>.cpp) unpack OpCalls into
// calls of kernels/cpu. Each family file defines one register function; the
// registrar (register.cpp) calls them all before main().
#include "engine/backends/adapter_util.h"
#include "engine/core/attrs.h"
#include "engine/core/dispatch.h"

namespace engine {

// A 16-bit (bf16/f16) tensor's elements as raw bits, for the kernels that take them so;
// null for an undefined tensor (an optional operand).
inline uint16_t* bits16(const Tensor& t) { return t.defined() ? static_cast<uint16_t*>(t.data_ptr()) : nullptr; }

void register_cpu_elementwise();
void register_cpu_reduce();
void register_cpu_linalg();
void register_cpu_conv();
void register_cpu_norm_pool();
void register_cpu_norm_act();
void register_cpu_softmax();
void register_cpu_index();
void register_cpu_misc();
void register_cpu_optim();
void register_cpu_amp();
void register_cpu_moe();
void register_cpu_augment();
void register_cpu_transformer();

// Whether a convolution call runs its bf16 operands natively (oneDNN on a CPU with bf16
// arithmetic), so that it skips the f32 stand-ins of lowp.h.
bool cpu_conv_runs_bf16(const OpCall& c);
// The same for the GEMM ops (MATMUL, LINEAR, the MoE grouped GEMMs): every floating
// operand bf16, a CPU with bf16 arithmetic, and ENGINE_CPU_BF16_GEMM not "widen".
bool cpu_gemm_runs_bf16(const OpCall& c);
// Batch norm + activation (forward or backward) with bf16 activations and f32 parameters,
// statistics and parameter gradients: bf16 kernels on any CPU (f32 arithmetic).
bool cpu_norm_act_runs_bf16(const OpCall& c);
// The binary arithmetic, unary and activation-backward ops on bf16 operands that are all
// dense in one order (a gradient sum, a residual add, GELU): widened and rounded in
// cache-sized blocks, on any CPU.
bool cpu_elementwise_runs_bf16(const OpCall& c);

}  // namespace engine
