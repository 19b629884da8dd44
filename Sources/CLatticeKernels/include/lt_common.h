// Shared definitions for Lattice's C kernels.
//
// Kernels are written once in portable C and compiled for several instruction sets inside the
// same binary: `LT_CLONES` asks clang for AVX-512 (x86-64-v4), AVX2+FMA (x86-64-v3) and baseline
// clones of a function and picks one at load time (ifunc). Hand-written micro-kernels use
// `LT_TARGET_AVX512` / `LT_TARGET_AVX2` and are dispatched through `lt_cpu_*` below. This keeps
// the package free of unsafeFlags, so other packages can depend on it.
#ifndef LT_COMMON_H
#define LT_COMMON_H

#include <stddef.h>
#include <stdint.h>

#if defined(__x86_64__) && defined(__linux__) && defined(__clang__)
#define LT_X86_DISPATCH 1
#define LT_CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define LT_CLONES
#endif

#if defined(__x86_64__)
#define LT_TARGET_AVX512 \
    __attribute__((target("avx512f,avx512vl,avx512bw,avx512dq,avx2,fma,f16c")))
#define LT_TARGET_AVX2 __attribute__((target("avx2,fma,f16c")))
#endif

#ifdef __cplusplus
extern "C" {
#endif

/// Instruction-set level of this CPU: 2 = AVX-512 (F/BW/VL/DQ), 1 = AVX2+FMA, 0 = baseline.
/// On arm64 this is 0 and NEON code paths (baseline there) are used.
int lt_cpu_level(void);

/// Overrides the detected level on the calling thread (for naive-twin tests and benchmarks);
/// -1 restores detection. Parallel.run propagates it to the workers of a parallel loop.
void lt_cpu_force_level(int level);

/// The calling thread's forced level, or -1 when none is forced.
int lt_cpu_forced_level(void);

/// Name of the active level, for logs and benchmark records.
const char *lt_cpu_level_name(void);

#ifdef __cplusplus
}
#endif
#endif
