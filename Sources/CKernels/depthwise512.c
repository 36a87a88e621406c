// The depthwise kernels of depthwise.c on 16 channels at a time (AVX-512F by function attribute; callers must check
// ck_cpu_has_avx512f() first): the same body (depthwise_lanes.h) with 16-lane vectors, so each channel gets the
// same FMAs, and the same bits, as on 8 lanes, with half the instructions.
#include "ckernels.h"

#if defined(__x86_64__)
#include <immintrin.h>

#define CKD __attribute__((target("avx512f,fma")))
#define INLINE static inline __attribute__((always_inline))
#define L 16
#define DW(name) ck_dw512_##name
typedef __m512 vec;

/// One tap of an output row: the weight vector and the input vector under the row's first output element.
typedef struct { const float *w; const float *x; } tap;

CKD INLINE vec ld(const float *p) { return _mm512_loadu_ps(p); }
CKD INLINE void st(float *p, vec v) { _mm512_storeu_ps(p, v); }
CKD INLINE vec zeroL(void) { return _mm512_setzero_ps(); }
CKD INLINE vec fmaL(vec a, vec b, vec c) { return _mm512_fmadd_ps(a, b, c); }
CKD INLINE void prefetchL(const float *p) { _mm_prefetch((const char *)p, _MM_HINT_T0); }
/// max(0, v) as ONNX Relu: NaN and −0 give +0 (the second operand, as the 8-lane kernel's max).
CKD INLINE vec reluL(vec v) { return _mm512_max_ps(v, _mm512_setzero_ps()); }

/// r[k] lane l := r[l] lane k (a 16×16 transpose, its own inverse): 4×4 blocks inside each 128-bit lane by
/// unpack and shuffle, then the 128-bit blocks by two rounds of shuffle_f32x4.
CKD INLINE void transposeL(vec *r) {
    vec t[16], u[16];
    for (int i = 0; i < 16; i += 2) {
        t[i] = _mm512_unpacklo_ps(r[i], r[i + 1]);
        t[i + 1] = _mm512_unpackhi_ps(r[i], r[i + 1]);
    }
    for (int i = 0; i < 16; i += 4) {
        u[i] = _mm512_shuffle_ps(t[i], t[i + 2], 0x44);
        u[i + 1] = _mm512_shuffle_ps(t[i], t[i + 2], 0xEE);
        u[i + 2] = _mm512_shuffle_ps(t[i + 1], t[i + 3], 0x44);
        u[i + 3] = _mm512_shuffle_ps(t[i + 1], t[i + 3], 0xEE);
    }
    for (int i = 0; i < 4; i++) {
        t[i] = _mm512_shuffle_f32x4(u[i], u[i + 4], 0x88);
        t[i + 4] = _mm512_shuffle_f32x4(u[i], u[i + 4], 0xDD);
        t[i + 8] = _mm512_shuffle_f32x4(u[i + 8], u[i + 12], 0x88);
        t[i + 12] = _mm512_shuffle_f32x4(u[i + 8], u[i + 12], 0xDD);
    }
    for (int i = 0; i < 8; i++) {
        r[i] = _mm512_shuffle_f32x4(t[i], t[i + 8], 0x88);
        r[i + 8] = _mm512_shuffle_f32x4(t[i], t[i + 8], 0xDD);
    }
}

#include "depthwise_lanes.h"

#else
long ck_dw512_forward_scratch(const ck_dw_shape *s, long rows) { (void)s; (void)rows; return 0; }
void ck_dw512_forward(const ck_dw_shape *s, const float *x, const float *w, const float *bias, long m0, long lanes,
                      long mult, int relu, float *y, long r0, long r1, float *scratch) {
    (void)s; (void)x; (void)w; (void)bias; (void)m0; (void)lanes; (void)mult; (void)relu; (void)y; (void)r0; (void)r1;
    (void)scratch;
}
long ck_dw512_backward_scratch(const ck_dw_shape *s, long mult, long rows) { (void)s; (void)mult; (void)rows; return 0; }
void ck_dw512_backward(const ck_dw_shape *s, const float *dy, const float *w, long c0, long lanes, long mult,
                       float *dx, long r0, long r1, float *scratch) {
    (void)s; (void)dy; (void)w; (void)c0; (void)lanes; (void)mult; (void)dx; (void)r0; (void)r1; (void)scratch;
}
#endif
