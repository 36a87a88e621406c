#ifndef ATLAS_CKERNELS_H
#define ATLAS_CKERNELS_H
/// CPU feature detection for run-time kernel selection.
/// Returns 1 when the CPU and OS support AVX-512F (ZMM state enabled), else 0.
int ck_cpu_has_avx512f(void);

/// Sets the C allocator's threshold above which blocks are mapped (and unmapped on free) to `bytes`, which also
/// stops glibc from raising it on its own; returns 1 on success, 0 where unsupported.
int ck_malloc_set_mmap_threshold(long bytes);

/// Register tile of the AVX-512 SGEMM kernel: rows of a packed A panel, columns of a packed B panel.
#define CK_SGEMM512_MR 12
#define CK_SGEMM512_NR 32

/// AVX-512 macro-kernel of the packed SGEMM: for every 12×32 tile of the C block (rows 0..<mcb, columns
/// col0..<col1, col0 a multiple of 32), C = alpha·Σ_p A[i,p]·B[p,j] + beta·C (C not read when beta == 0).
/// `ap`: packed A block, 12-row panels of kcb×12 floats (zero-padded). `bp`: packed B block, 32-column panels
/// of kcb×32 floats (zero-padded), panel q at bp + q·kcb·32. `c` points at the block's element (0, 0).
/// Only callable when ck_cpu_has_avx512f() returns 1 (x86-64 only; a no-op elsewhere).
void ck_sgemm512_macro(const float *ap, const float *bp, long mcb, long kcb, long col0, long col1,
                       float alpha, float beta, float *c, long ldc);
#endif
