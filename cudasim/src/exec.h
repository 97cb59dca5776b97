#pragma once
// Kernel execution (exec.cpp), as the runtime sees it.
#include "cudasim/device.h"

namespace cudasim {

// Runs every block of a launch now, on this host thread. A fault is reported through
// fail_sticky().
void execute_kernel(const LaunchConfig& cfg, KernelBody& body);
// cudaFuncSetAttribute(func, cudaFuncAttributeMaxDynamicSharedMemorySize, bytes).
void set_max_dynamic_shared(const void* func, int bytes);

}  // namespace cudasim
