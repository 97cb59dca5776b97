#pragma once
// ENGINE_CLONES before a hot leaf function compiles it for x86-64-v4 (AVX-512), v3
// (AVX2 + FMA) and baseline x86-64; the loader picks the clone for the machine (GCC's
// target_clones, through an ifunc), so no kernel assumes the CPU's instruction set.
// Elsewhere (other compilers or CPUs, AddressSanitizer builds) it is empty.
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && !defined(__SANITIZE_ADDRESS__)
#define ENGINE_CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define ENGINE_CLONES
#endif
