// Run-time CPU feature detection shared by every dispatching kernel.
#include "lt_common.h"

// Thread-local so a test forcing a level cannot change the kernels other threads (other tests
// running in parallel) use; Parallel.run carries the caller's forced level to its workers.
static _Thread_local int lt_forced_level = -1;

static int lt_detect_level(void) {
#if defined(__x86_64__) && defined(__clang__)
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw")
        && __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq"))
        return 2;
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return 1;
    return 0;
#else
    return 0;
#endif
}

int lt_cpu_level(void) {
    static int detected = -2;
    if (lt_forced_level >= 0) return lt_forced_level;
    if (detected == -2) detected = lt_detect_level();
    return detected;
}

void lt_cpu_force_level(int level) {
    int hw = lt_detect_level();
    lt_forced_level = (level >= 0 && level <= hw) ? level : -1;
}

int lt_cpu_forced_level(void) { return lt_forced_level; }

const char *lt_cpu_level_name(void) {
    switch (lt_cpu_level()) {
    case 2: return "avx512";
    case 1: return "avx2";
    default:
#if defined(__aarch64__)
        return "neon";
#else
        return "baseline";
#endif
    }
}
