#pragma once
// Kernel launches and shared memory, spelled so that the same source compiles under
// nvcc and in the simulated-device build (ENGINE_CUDA=SIM, where g++ compiles the .cu
// files against cudasim/include/cudasim/device.h and `<<<>>>` is not C++).
//   ENGINE_LAUNCH(grid, block, smem, stream, kernel<T, K>)(args...);
//   ENGINE_SHARED(float, tile, [32][33]);      // __shared__ float tile[32][33];
//   ENGINE_SHARED(Scratch, sh);                // __shared__ Scratch sh;
//   ENGINE_DYNAMIC_SHARED(unsigned char, raw); // extern __shared__ __align__(16) unsigned char raw[];
// The kernel comes last so that commas in its template arguments need no parentheses.

#if defined(__CUDASIM__)

#include <type_traits>

#define ENGINE_LAUNCH(grid, block, smem, stream, ...) \
  ::cudasim::launch((grid), (block), (smem), (stream), #__VA_ARGS__, __FILE__, __LINE__, __VA_ARGS__)
#define ENGINE_SHARED(T, name, ...)                                                                       \
  static thread_local ::cudasim::SharedSlot name##_cudasim_slot;                                          \
  std::add_lvalue_reference_t<T __VA_ARGS__> name = *reinterpret_cast<std::add_pointer_t<T __VA_ARGS__>>( \
      ::cudasim::shared_slot(name##_cudasim_slot, sizeof(T __VA_ARGS__), alignof(T __VA_ARGS__)))
#define ENGINE_DYNAMIC_SHARED(T, name) T* name = reinterpret_cast<T*>(::cudasim::dynamic_shared())

#else

#define ENGINE_LAUNCH(grid, block, smem, stream, ...) __VA_ARGS__<<<(grid), (block), (smem), (stream)>>>
#define ENGINE_SHARED(T, name, ...) __shared__ T name __VA_ARGS__
#define ENGINE_DYNAMIC_SHARED(T, name) extern __shared__ __align__(16) T name[]

#endif
