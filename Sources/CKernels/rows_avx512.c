// AVX-512F row kernels of the transformer layers (Softmax and LayerNormalization over contiguous rows) and the
// elementwise SiLU, which share the exponential.
// Compiled for AVX-512 by function attribute only; callers must check ck_cpu_has_avx512f() first.
#include "ckernels.h"

#if defined(__x86_64__)
#include <immintrin.h>
#include "lanes512.h"
#include <math.h>

#define CK512 __attribute__((target("avx512f,fma")))

// e^x lane by lane with exactly the operations of AtlasCore's FastMath.exp (Cephes: clamp, n = round(x·log₂e) by
// the 1.5·2²³ shifter, r = x − n·ln 2 in two fused steps, degree-6 polynomial, 2ⁿ in the exponent bits), so every
// lane has FastMath.exp's bits. Intrinsics only: no contraction can change a rounding.
CK512 static inline __m512 exp16(__m512 v) {
    const __m512 low = _mm512_set1_ps(-87.33654f), high = _mm512_set1_ps(88.37626f);
    const __mmask16 under = _mm512_cmp_ps_mask(v, low, _CMP_LT_OQ), over = _mm512_cmp_ps_mask(v, high, _CMP_GT_OQ);
    __m512 x = _mm512_mask_blend_ps(over, _mm512_mask_blend_ps(under, v, low), high);
    const __m512 shifter = _mm512_set1_ps(12582912.0f);
    const __m512 big = _mm512_fmadd_ps(x, _mm512_set1_ps(1.44269504f), shifter);
    const __m512 n = _mm512_sub_ps(big, shifter);
    __m512 r = _mm512_fmadd_ps(n, _mm512_set1_ps(-0.693359375f), x);
    r = _mm512_fmadd_ps(n, _mm512_set1_ps(2.1219444e-4f), r);
    __m512 p = _mm512_set1_ps(1.98756915e-4f);
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.3981999507e-3f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(8.3334519073e-3f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(4.1665795894e-2f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.6666665459e-1f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(5.0000001201e-1f));
    const __m512 e = _mm512_fmadd_ps(p, _mm512_mul_ps(r, r), _mm512_add_ps(r, _mm512_set1_ps(1.0f)));
    const __m512i bits = _mm512_add_epi32(_mm512_slli_epi32(_mm512_castps_si512(big), 23), _mm512_set1_epi32(127 << 23));
    __m512 y = _mm512_mul_ps(e, _mm512_castsi512_ps(bits));
    y = _mm512_mask_blend_ps(over, y, _mm512_set1_ps(INFINITY));
    return _mm512_mask_blend_ps(under, y, _mm512_setzero_ps());
}

CK512 void ck_softmax512_rows(const float *x, float *y, long rows, long n) {
    for (long row = 0; row < rows; row++, x += n, y += n) {
        __m512 vm = _mm512_set1_ps(-INFINITY);
        long j = 0;
        for (; j + 16 <= n; j += 16) vm = _mm512_max_ps(vm, _mm512_loadu_ps(x + j));
        if (j < n) vm = _mm512_mask_max_ps(vm, ck_lanes16(n - j), vm, _mm512_maskz_loadu_ps(ck_lanes16(n - j), x + j));
        const __m512 m = _mm512_set1_ps(_mm512_reduce_max_ps(vm));
        __m512 acc = _mm512_setzero_ps();
        for (j = 0; j + 16 <= n; j += 16) {
            const __m512 e = exp16(_mm512_sub_ps(_mm512_loadu_ps(x + j), m));
            _mm512_storeu_ps(y + j, e);
            acc = _mm512_add_ps(acc, e);
        }
        if (j < n) {
            const __mmask16 k = ck_lanes16(n - j);
            const __m512 e = _mm512_maskz_mov_ps(k, exp16(_mm512_sub_ps(_mm512_maskz_loadu_ps(k, x + j), m)));
            _mm512_mask_storeu_ps(y + j, k, e);
            acc = _mm512_add_ps(acc, e);
        }
        const __m512 inv = _mm512_set1_ps(1.0f / _mm512_reduce_add_ps(acc));
        for (j = 0; j + 16 <= n; j += 16) _mm512_storeu_ps(y + j, _mm512_mul_ps(_mm512_loadu_ps(y + j), inv));
        if (j < n) _mm512_mask_storeu_ps(y + j, ck_lanes16(n - j), _mm512_mul_ps(_mm512_maskz_loadu_ps(ck_lanes16(n - j), y + j), inv));
    }
}

// Σ x[j] and Σ (x[j] − mean)² of one row in double precision, 16 lanes then the lanes in a fixed order.
CK512 static double row_sum(const float *x, long n, double mean, int squares) {
    __m512d s0 = _mm512_setzero_pd(), s1 = _mm512_setzero_pd();
    const __m512d vm = _mm512_set1_pd(mean);
    long j = 0;
    for (; j + 16 <= n; j += 16) {
        __m512d a = _mm512_cvtps_pd(_mm256_loadu_ps(x + j)), b = _mm512_cvtps_pd(_mm256_loadu_ps(x + j + 8));
        if (squares) {
            a = _mm512_sub_pd(a, vm); b = _mm512_sub_pd(b, vm);
            a = _mm512_mul_pd(a, a); b = _mm512_mul_pd(b, b);
        }
        s0 = _mm512_add_pd(s0, a);
        s1 = _mm512_add_pd(s1, b);
    }
    double s = _mm512_reduce_add_pd(_mm512_add_pd(s0, s1));
    for (; j < n; j++) { const double d = (double)x[j] - (squares ? mean : 0.0); s += squares ? d * d : d; }
    return s;
}

CK512 void ck_layernorm512_rows(const float *x, float *y, long rows, long n, const float *gamma, const float *beta,
                                float epsilon) {
    for (long row = 0; row < rows; row++, x += n, y += n) {
        const double mean = row_sum(x, n, 0.0, 0) / (double)n;
        const double var = row_sum(x, n, mean, 1) / (double)n;
        const __m512 vm = _mm512_set1_ps((float)mean), vr = _mm512_set1_ps((float)(1.0 / sqrt(var + (double)epsilon)));
        for (long j = 0; j < n; j += 16) {
            const __mmask16 k = ck_lanes16(n - j);
            __m512 v = _mm512_mul_ps(_mm512_mul_ps(_mm512_sub_ps(_mm512_maskz_loadu_ps(k, x + j), vm), vr),
                                     _mm512_maskz_loadu_ps(k, gamma + j));
            if (beta) v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(k, beta + j));
            _mm512_mask_storeu_ps(y + j, k, v);
        }
    }
}
CK512 void ck_softmax512_backward_rows(const float *y, const float *g, float *gx, long rows, long n) {
    for (long row = 0; row < rows; row++, y += n, g += n, gx += n) {
        __m512 acc = _mm512_setzero_ps();
        for (long j = 0; j < n; j += 16) {
            const __mmask16 k = ck_lanes16(n - j);
            acc = _mm512_add_ps(acc, _mm512_mul_ps(_mm512_maskz_loadu_ps(k, g + j), _mm512_maskz_loadu_ps(k, y + j)));
        }
        const __m512 dot = _mm512_set1_ps(_mm512_reduce_add_ps(acc));
        for (long j = 0; j < n; j += 16) {
            const __mmask16 k = ck_lanes16(n - j);
            const __m512 yv = _mm512_maskz_loadu_ps(k, y + j);
            _mm512_mask_storeu_ps(gx + j, k, _mm512_mul_ps(yv, _mm512_sub_ps(_mm512_maskz_loadu_ps(k, g + j), dot)));
        }
    }
}

CK512 void ck_layernorm512_backward_rows(const float *x, const float *gy, float *gx, long rows, long n,
                                         const float *gamma, float epsilon) {
    for (long row = 0; row < rows; row++, x += n, gy += n, gx += n) {
        const double mean = row_sum(x, n, 0.0, 0) / (double)n;
        const double var = row_sum(x, n, mean, 1) / (double)n;
        const __m512 vm = _mm512_set1_ps((float)mean), vr = _mm512_set1_ps((float)(1.0 / sqrt(var + (double)epsilon)));
        __m512d sg0 = _mm512_setzero_pd(), sg1 = _mm512_setzero_pd(), sx0 = _mm512_setzero_pd(), sx1 = _mm512_setzero_pd();
        for (long j = 0; j < n; j += 16) {
            const __mmask16 k = ck_lanes16(n - j);
            const __m512 gp = _mm512_mul_ps(_mm512_maskz_loadu_ps(k, gy + j), _mm512_maskz_loadu_ps(k, gamma + j));
            const __m512 xh = _mm512_mul_ps(_mm512_sub_ps(_mm512_maskz_loadu_ps(k, x + j), vm), vr);
            const __m512d g0 = _mm512_cvtps_pd(_mm512_castps512_ps256(gp));
            const __m512d g1 = _mm512_cvtps_pd(_mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(gp), 1)));
            const __m512d x0 = _mm512_cvtps_pd(_mm512_castps512_ps256(xh));
            const __m512d x1 = _mm512_cvtps_pd(_mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(xh), 1)));
            sg0 = _mm512_add_pd(sg0, g0); sg1 = _mm512_add_pd(sg1, g1);
            sx0 = _mm512_add_pd(sx0, _mm512_mul_pd(g0, x0)); sx1 = _mm512_add_pd(sx1, _mm512_mul_pd(g1, x1));
        }
        const __m512 mg = _mm512_set1_ps((float)(_mm512_reduce_add_pd(_mm512_add_pd(sg0, sg1)) / (double)n));
        const __m512 mgx = _mm512_set1_ps((float)(_mm512_reduce_add_pd(_mm512_add_pd(sx0, sx1)) / (double)n));
        for (long j = 0; j < n; j += 16) {
            const __mmask16 k = ck_lanes16(n - j);
            const __m512 gp = _mm512_mul_ps(_mm512_maskz_loadu_ps(k, gy + j), _mm512_maskz_loadu_ps(k, gamma + j));
            const __m512 xh = _mm512_mul_ps(_mm512_sub_ps(_mm512_maskz_loadu_ps(k, x + j), vm), vr);
            _mm512_mask_storeu_ps(gx + j, k, _mm512_mul_ps(vr, _mm512_sub_ps(_mm512_sub_ps(gp, mg), _mm512_mul_ps(xh, mgx))));
        }
    }
}

// σ(x) = 1 / (1 + e^−x) with the Swift Sigmoid's operations (−x by its sign bit, as Swift negates).
CK512 static inline __m512 sigmoid16(__m512 x) {
    const __m512 minus = _mm512_castsi512_ps(_mm512_xor_si512(_mm512_castps_si512(x), _mm512_set1_epi32((int)0x80000000u)));
    const __m512 one = _mm512_set1_ps(1.0f);
    return _mm512_div_ps(one, _mm512_add_ps(one, exp16(minus)));
}

CK512 void ck_silu512_forward(const float *x, float *y, long n) {
    long i = 0;
    for (; i + 16 <= n; i += 16) {
        const __m512 v = _mm512_loadu_ps(x + i);
        _mm512_storeu_ps(y + i, _mm512_mul_ps(v, sigmoid16(v)));
    }
    if (i < n) {
        const __mmask16 k = ck_lanes16(n - i);
        const __m512 v = _mm512_maskz_loadu_ps(k, x + i);
        _mm512_mask_storeu_ps(y + i, k, _mm512_mul_ps(v, sigmoid16(v)));
    }
}

// gx = g·s + g·x·s·(1 − s), each product and sum rounded as written (left to right).
CK512 static inline __m512 silu_grad16(__m512 g, __m512 x) {
    const __m512 s = sigmoid16(x);
    const __m512 oneMinus = _mm512_sub_ps(_mm512_set1_ps(1.0f), s);
    return _mm512_add_ps(_mm512_mul_ps(g, s), _mm512_mul_ps(_mm512_mul_ps(_mm512_mul_ps(g, x), s), oneMinus));
}

CK512 void ck_silu512_backward(const float *g, const float *x, float *gx, long n) {
    long i = 0;
    for (; i + 16 <= n; i += 16) _mm512_storeu_ps(gx + i, silu_grad16(_mm512_loadu_ps(g + i), _mm512_loadu_ps(x + i)));
    if (i < n) {
        const __mmask16 k = ck_lanes16(n - i);
        _mm512_mask_storeu_ps(gx + i, k, silu_grad16(_mm512_maskz_loadu_ps(k, g + i), _mm512_maskz_loadu_ps(k, x + i)));
    }
}
#else
void ck_silu512_forward(const float *x, float *y, long n) { (void)x; (void)y; (void)n; }
void ck_silu512_backward(const float *g, const float *x, float *gx, long n) { (void)g; (void)x; (void)gx; (void)n; }
void ck_softmax512_rows(const float *x, float *y, long rows, long n) { (void)x; (void)y; (void)rows; (void)n; }
void ck_softmax512_backward_rows(const float *y, const float *g, float *gx, long rows, long n) {
    (void)y; (void)g; (void)gx; (void)rows; (void)n;
}
void ck_layernorm512_backward_rows(const float *x, const float *gy, float *gx, long rows, long n,
                                   const float *gamma, float epsilon) {
    (void)x; (void)gy; (void)gx; (void)rows; (void)n; (void)gamma; (void)epsilon;
}
void ck_layernorm512_rows(const float *x, float *y, long rows, long n, const float *gamma, const float *beta,
                          float epsilon) {
    (void)x; (void)y; (void)rows; (void)n; (void)gamma; (void)beta; (void)epsilon;
}
#endif
