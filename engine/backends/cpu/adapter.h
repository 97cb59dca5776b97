#pragma once
// The CPU backend's adapters (engine/backends/cpu/<family>.cpp) unpack OpCalls into
// calls of kernels/cpu. Each family file defines one register function; the
// registrar (register.cpp) calls them all before main().
#include "engine/backends/adapter_util.h"
#include "engine/core/attrs.h"
#include "engine/core/dispatch.h"

namespace engine {

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

}  // namespace engine
