#ifndef ATLAS_CKERNELS_H
#define ATLAS_CKERNELS_H
/// CPU feature detection for run-time kernel selection.
/// Returns 1 when the CPU and OS support AVX-512F (ZMM state enabled), else 0.
int ck_cpu_has_avx512f(void);
#endif
