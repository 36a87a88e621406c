// Depthwise convolution, forward and input gradient, on 8 channels at a time (see ckernels.h); the body is in
// depthwise_lanes.h, which depthwise512.c instantiates for 16 channels with AVX-512.
//
// A strip of rows of 8 channel planes is copied (transposed, zero-padded) into an interleaved buffer whose element
// (r, c) is one 8-lane vector, lane l = channel l. Every output element is then a sum of taps, each one vector FMA
// (weight vector × input vector), whatever the plane size, stride or kernel: planes down to 1×1 use all 8 lanes.
// The pixels of a strip are summed in blocks of 8 that may cross rows (`run_strip`), so narrow planes keep the FMA
// pipes busy, and the strip is unpacked as one run (its rows are contiguous in every channel plane).
// The input gradient is a gather: each dx element sums the dy elements it fed, in a fixed tap order (row phase,
// then column phase of the stride; at stride 1 every tap of the zero-padded window), so strips of dx rows never
// overlap and need no atomics.
// x86-64 builds use AVX2 + FMA by function attribute (the Swift targets require them there); other targets use
// clang vector extensions, which lower to the native vector unit (NEON on aarch64).
#include "ckernels.h"

#if defined(__x86_64__) && !defined(CK_DW_PORTABLE)
#include <immintrin.h>
#define CKD __attribute__((target("avx2,fma")))
#define CK_DW_AVX2 1
#else
#define CKD
#endif
#define INLINE static inline __attribute__((always_inline))

#define L 8
#define DW(name) ck_dw_##name
typedef float v8 __attribute__((vector_size(32)));
typedef v8 vec;
typedef float v8u __attribute__((vector_size(32), aligned(4)));

/// One tap of an output row: the weight vector and the input vector under the row's first output element.
typedef struct { const float *w; const float *x; } tap;

CKD INLINE v8 ld(const float *p) { return *(const v8u *)p; }
CKD INLINE void st(float *p, v8 v) { *(v8u *)p = v; }
CKD INLINE v8 zero8(void) { v8 z = {0, 0, 0, 0, 0, 0, 0, 0}; return z; }

CKD INLINE v8 fma8(v8 a, v8 b, v8 c) {
#if CK_DW_AVX2
    return _mm256_fmadd_ps(a, b, c);
#else
    for (int l = 0; l < 8; l++) c[l] = __builtin_fmaf(a[l], b[l], c[l]);
    return c;
#endif
}

/// max(0, v) as ONNX Relu: NaN and −0 give +0.
CKD INLINE v8 relu8(v8 v) {
#if CK_DW_AVX2
    return _mm256_max_ps(v, _mm256_setzero_ps());
#else
    for (int l = 0; l < 8; l++) v[l] = v[l] > 0.0f ? v[l] : 0.0f;
    return v;
#endif
}

/// r[k] lane l := r[l] lane k (an 8×8 transpose, its own inverse).
CKD INLINE void transpose8(v8 *r) {
#if CK_DW_AVX2
    __m256 t0 = _mm256_unpacklo_ps(r[0], r[1]), t1 = _mm256_unpackhi_ps(r[0], r[1]);
    __m256 t2 = _mm256_unpacklo_ps(r[2], r[3]), t3 = _mm256_unpackhi_ps(r[2], r[3]);
    __m256 t4 = _mm256_unpacklo_ps(r[4], r[5]), t5 = _mm256_unpackhi_ps(r[4], r[5]);
    __m256 t6 = _mm256_unpacklo_ps(r[6], r[7]), t7 = _mm256_unpackhi_ps(r[6], r[7]);
    __m256 s0 = _mm256_shuffle_ps(t0, t2, 0x44), s1 = _mm256_shuffle_ps(t0, t2, 0xEE);
    __m256 s2 = _mm256_shuffle_ps(t1, t3, 0x44), s3 = _mm256_shuffle_ps(t1, t3, 0xEE);
    __m256 s4 = _mm256_shuffle_ps(t4, t6, 0x44), s5 = _mm256_shuffle_ps(t4, t6, 0xEE);
    __m256 s6 = _mm256_shuffle_ps(t5, t7, 0x44), s7 = _mm256_shuffle_ps(t5, t7, 0xEE);
    r[0] = _mm256_permute2f128_ps(s0, s4, 0x20); r[1] = _mm256_permute2f128_ps(s1, s5, 0x20);
    r[2] = _mm256_permute2f128_ps(s2, s6, 0x20); r[3] = _mm256_permute2f128_ps(s3, s7, 0x20);
    r[4] = _mm256_permute2f128_ps(s0, s4, 0x31); r[5] = _mm256_permute2f128_ps(s1, s5, 0x31);
    r[6] = _mm256_permute2f128_ps(s2, s6, 0x31); r[7] = _mm256_permute2f128_ps(s3, s7, 0x31);
#else
    float m[8][8];
    for (int i = 0; i < 8; i++) for (int j = 0; j < 8; j++) m[j][i] = r[i][j];
    for (int i = 0; i < 8; i++) for (int j = 0; j < 8; j++) r[i][j] = m[i][j];
#endif
}

#define zeroL zero8
#define fmaL fma8
#define reluL relu8
#define transposeL transpose8
#define prefetchL(p) ((void)(p))

#include "depthwise_lanes.h"
