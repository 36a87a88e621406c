// Shared by the AVX-512 kernels (x86-64 only; include after <immintrin.h>).
#ifndef ATLAS_CKERNELS_LANES512_H
#define ATLAS_CKERNELS_LANES512_H

// Lanes 0..<count of a 16-float vector set (all 16 from 16 on).
static inline __mmask16 ck_lanes16(long count) {
    return count >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << count) - 1);
}

#endif
