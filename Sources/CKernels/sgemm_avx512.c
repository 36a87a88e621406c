// AVX-512F SGEMM macro/micro-kernel: 12×32 register blocking (24 zmm accumulators, two zmm B rows,
// A values as embedded broadcasts). Compiled for AVX-512 by function attribute only, so the rest of the
// build stays AVX2; callers must check ck_cpu_has_avx512f() before calling.
#include "ckernels.h"

#if defined(__x86_64__)
#include <immintrin.h>

#define CK512 __attribute__((target("avx512f,fma")))
#define MR CK_SGEMM512_MR
#define NR CK_SGEMM512_NR

// Writes rows 0..<rows of one tile: C = alpha·acc + beta·C (C not read when beta == 0), masked to `cols`.
CK512 static inline void store_row(float *c, __m512 lo, __m512 hi, __m512 va, __m512 vb, int useBeta,
                                   __mmask16 m0, __mmask16 m1) {
    lo = _mm512_mul_ps(lo, va);
    hi = _mm512_mul_ps(hi, va);
    if (useBeta) {
        lo = _mm512_fmadd_ps(vb, _mm512_maskz_loadu_ps(m0, c), lo);
        hi = _mm512_fmadd_ps(vb, _mm512_maskz_loadu_ps(m1, c + 16), hi);
    }
    _mm512_mask_storeu_ps(c, m0, lo);
    _mm512_mask_storeu_ps(c + 16, m1, hi);
}

#define ACC_DECL(r) __m512 c##r##0 = _mm512_setzero_ps(), c##r##1 = _mm512_setzero_ps();
#define ACC_STEP(r)                                                                     \
    do {                                                                                \
        __m512 av = _mm512_set1_ps(a[r]);                                               \
        c##r##0 = _mm512_fmadd_ps(av, b0, c##r##0);                                     \
        c##r##1 = _mm512_fmadd_ps(av, b1, c##r##1);                                     \
    } while (0)
#define ACC_STORE(r) \
    if (r < rows) store_row(c + (long)(r) * ldc, c##r##0, c##r##1, va, vb, useBeta, m0, m1);

// One MR×NR tile over a depth of kc: `a` is a packed MR-row panel (MR floats per p), `b` a packed NR-column
// panel (NR floats per p). Only rows 0..<rows and columns 0..<cols of C are touched.
CK512 static void tile(long kc, const float *a, const float *b, float *c, long ldc, float alpha, float beta,
                       int rows, int cols) {
    ACC_DECL(0) ACC_DECL(1) ACC_DECL(2) ACC_DECL(3) ACC_DECL(4) ACC_DECL(5)
    ACC_DECL(6) ACC_DECL(7) ACC_DECL(8) ACC_DECL(9) ACC_DECL(10) ACC_DECL(11)
    for (long p = 0; p < kc; p++) {
        __m512 b0 = _mm512_loadu_ps(b), b1 = _mm512_loadu_ps(b + 16);
        _mm_prefetch((const char *)(b + 8 * NR), _MM_HINT_T0);
        ACC_STEP(0); ACC_STEP(1); ACC_STEP(2); ACC_STEP(3); ACC_STEP(4); ACC_STEP(5);
        ACC_STEP(6); ACC_STEP(7); ACC_STEP(8); ACC_STEP(9); ACC_STEP(10); ACC_STEP(11);
        a += MR;
        b += NR;
    }
    const __m512 va = _mm512_set1_ps(alpha), vb = _mm512_set1_ps(beta);
    const int useBeta = beta != 0.0f;
    const __mmask16 m0 = cols >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << cols) - 1);
    const __mmask16 m1 = cols >= 32 ? (__mmask16)0xFFFF : cols <= 16 ? (__mmask16)0 : (__mmask16)((1u << (cols - 16)) - 1);
    ACC_STORE(0) ACC_STORE(1) ACC_STORE(2) ACC_STORE(3) ACC_STORE(4) ACC_STORE(5)
    ACC_STORE(6) ACC_STORE(7) ACC_STORE(8) ACC_STORE(9) ACC_STORE(10) ACC_STORE(11)
}

CK512 void ck_sgemm512_macro(const float *ap, const float *bp, long mcb, long kcb, long col0, long col1,
                             float alpha, float beta, float *c, long ldc) {
    for (long jr = col0; jr < col1; jr += NR) {
        const int cols = (int)(col1 - jr < NR ? col1 - jr : NR);
        const float *bPanel = bp + (jr / NR) * kcb * NR;
        for (long ir = 0; ir < mcb; ir += MR) {
            const int rows = (int)(mcb - ir < MR ? mcb - ir : MR);
            tile(kcb, ap + ir * kcb, bPanel, c + ir * ldc + jr, ldc, alpha, beta, rows, cols);
        }
    }
}

// The 16 columns of a 16×16 block held as 16 rows (`r[i]` = row i): unpacks pair rows, then 128-bit lanes are
// gathered so that r[j] ends up holding column j.
CK512 static inline void transpose16(__m512 r[16]) {
    __m512 t[16];
    for (int i = 0; i < 16; i += 2) {
        t[i] = _mm512_unpacklo_ps(r[i], r[i + 1]);
        t[i + 1] = _mm512_unpackhi_ps(r[i], r[i + 1]);
    }
    for (int i = 0; i < 16; i += 4) {
        const __m512d a = _mm512_castps_pd(t[i]), b = _mm512_castps_pd(t[i + 1]);
        const __m512d c = _mm512_castps_pd(t[i + 2]), d = _mm512_castps_pd(t[i + 3]);
        r[i] = _mm512_castpd_ps(_mm512_unpacklo_pd(a, c));
        r[i + 1] = _mm512_castpd_ps(_mm512_unpackhi_pd(a, c));
        r[i + 2] = _mm512_castpd_ps(_mm512_unpacklo_pd(b, d));
        r[i + 3] = _mm512_castpd_ps(_mm512_unpackhi_pd(b, d));
    }
    // r[g + 4q] now holds columns g, g + 4, g + 8, g + 12 of rows 4q..<4q + 4, one per 128-bit lane.
    for (int g = 0; g < 4; g++) {
        const __m512 u0 = _mm512_shuffle_f32x4(r[g], r[g + 4], 0x88), u1 = _mm512_shuffle_f32x4(r[g], r[g + 4], 0xdd);
        const __m512 u2 = _mm512_shuffle_f32x4(r[g + 8], r[g + 12], 0x88), u3 = _mm512_shuffle_f32x4(r[g + 8], r[g + 12], 0xdd);
        t[g] = _mm512_shuffle_f32x4(u0, u2, 0x88);
        t[g + 8] = _mm512_shuffle_f32x4(u0, u2, 0xdd);
        t[g + 4] = _mm512_shuffle_f32x4(u1, u3, 0x88);
        t[g + 12] = _mm512_shuffle_f32x4(u1, u3, 0xdd);
    }
    for (int i = 0; i < 16; i++) r[i] = t[i];
}

CK512 void ck_pack_a12(const float *a, long lda, long rows, long kcb, float *ap) {
    for (long p0 = 0; p0 < kcb; p0 += 16) {
        const long count = kcb - p0 < 16 ? kcb - p0 : 16;
        const __mmask16 m = count >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << count) - 1);
        __m512 r[16];
        for (long i = 0; i < 16; i++) {
            r[i] = i < rows ? _mm512_maskz_loadu_ps(m, a + i * lda + p0) : _mm512_setzero_ps();
            if (i < rows) _mm_prefetch((const char *)(a + i * lda + p0 + 64), _MM_HINT_T0);
        }
        transpose16(r);
        for (long q = 0; q < count; q++) _mm512_mask_storeu_ps(ap + (p0 + q) * MR, (__mmask16)0x0FFF, r[q]);
    }
}

CK512 void ck_pack_b32_trans(const float *b, long ldb, long cols, long kcb, float *bp) {
    for (long p0 = 0; p0 < kcb; p0 += 16) {
        const long count = kcb - p0 < 16 ? kcb - p0 : 16;
        const __mmask16 m = count >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << count) - 1);
        for (long half = 0; half < NR; half += 16) {
            __m512 r[16];
            for (long i = 0; i < 16; i++) {
                const long j = half + i;
                r[i] = j < cols ? _mm512_maskz_loadu_ps(m, b + j * ldb + p0) : _mm512_setzero_ps();
            }
            transpose16(r);
            for (long q = 0; q < count; q++) _mm512_storeu_ps(bp + (p0 + q) * NR + half, r[q]);
        }
    }
}

#else
void ck_sgemm512_macro(const float *ap, const float *bp, long mcb, long kcb, long col0, long col1,
                       float alpha, float beta, float *c, long ldc) {
    (void)ap; (void)bp; (void)mcb; (void)kcb; (void)col0; (void)col1; (void)alpha; (void)beta; (void)c; (void)ldc;
}
void ck_pack_a12(const float *a, long lda, long rows, long kcb, float *ap) {
    (void)a; (void)lda; (void)rows; (void)kcb; (void)ap;
}
void ck_pack_b32_trans(const float *b, long ldb, long cols, long kcb, float *bp) {
    (void)b; (void)ldb; (void)cols; (void)kcb; (void)bp;
}
#endif

#if defined(__x86_64__)
// Direct 1×1 convolution: no packing; bias, residual and ReLU applied in registers.
#define PW_ACC(r) __m512 p##r##0 = vinit[r], p##r##1 = vinit[r];
#define PW_STEP(r)                                                                      \
    do {                                                                                \
        const __m512 wv = _mm512_set1_ps(wr[(r) * k]);                                  \
        p##r##0 = _mm512_fmadd_ps(wv, x0, p##r##0);                                     \
        p##r##1 = _mm512_fmadd_ps(wv, x1, p##r##1);                                     \
    } while (0)
#define PW_STORE(r)                                                                     \
    if (r < rows) {                                                                     \
        __m512 lo = p##r##0, hi = p##r##1;                                              \
        if (res) {                                                                      \
            lo = _mm512_add_ps(lo, _mm512_maskz_loadu_ps(m0, res + (long)(r) * ldy + j));        \
            hi = _mm512_add_ps(hi, _mm512_maskz_loadu_ps(m1, res + (long)(r) * ldy + j + 16));   \
        }                                                                               \
        if (relu) { lo = _mm512_max_ps(lo, _mm512_setzero_ps()); hi = _mm512_max_ps(hi, _mm512_setzero_ps()); } \
        if (clip) { lo = pw_clip(lo, clip); hi = pw_clip(hi, clip); }                  \
        _mm512_mask_storeu_ps(y + (long)(r) * ldy + j, m0, lo);                         \
        _mm512_mask_storeu_ps(y + (long)(r) * ldy + j + 16, m1, hi);                    \
    }

// v < lo → lo, then (v > hi on v as it was) → hi: AtlasCore's Clip lane by lane (a NaN stays NaN).
CK512 static inline __m512 pw_clip(__m512 v, const float *clip) {
    const __m512 lo = _mm512_set1_ps(clip[0]), hi = _mm512_set1_ps(clip[1]);
    const __m512 low = _mm512_mask_blend_ps(_mm512_cmp_ps_mask(v, lo, _CMP_LT_OQ), v, lo);
    return _mm512_mask_blend_ps(_mm512_cmp_ps_mask(v, hi, _CMP_GT_OQ), low, hi);
}

CK512 static void pw_rows(const float *w, long k, const float *x, long ldx, long n, const float *bias,
                          const float *res, int relu, const float *clip, float *y, long ldy, int rows) {
    __m512 vinit[MR];
    for (int r = 0; r < MR; r++) vinit[r] = _mm512_set1_ps(r < rows && bias ? bias[r] : 0.0f);
    for (long j = 0; j < n; j += 32) {
        const long cols = n - j < 32 ? n - j : 32;
        const __mmask16 m0 = cols >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << cols) - 1);
        const __mmask16 m1 = cols >= 32 ? (__mmask16)0xFFFF : cols <= 16 ? (__mmask16)0 : (__mmask16)((1u << (cols - 16)) - 1);
        if (res) {
            // The residual is read once, long after it was written: ask for the next tile's lines now.
            for (int r = 0; r < rows; r++) {
                _mm_prefetch((const char *)(res + (long)r * ldy + j + 32), _MM_HINT_T0);
                _mm_prefetch((const char *)(res + (long)r * ldy + j + 48), _MM_HINT_T0);
            }
        }
        PW_ACC(0) PW_ACC(1) PW_ACC(2) PW_ACC(3) PW_ACC(4) PW_ACC(5)
        PW_ACC(6) PW_ACC(7) PW_ACC(8) PW_ACC(9) PW_ACC(10) PW_ACC(11)
        for (long p = 0; p < k; p++) {
            const __m512 x0 = _mm512_maskz_loadu_ps(m0, x + p * ldx + j), x1 = _mm512_maskz_loadu_ps(m1, x + p * ldx + j + 16);
            // The next tile's k rows are k separate streams, too many for the hardware prefetchers: 1.45× at
            // ResNet-50's 64 → 256 on 56² planes, batch 16 (one Zen 5 core), 1.07× with the planes in L3.
            _mm_prefetch((const char *)(x + p * ldx + j + 32), _MM_HINT_T0);
            _mm_prefetch((const char *)(x + p * ldx + j + 48), _MM_HINT_T0);
            const float *wr = w + p;
            PW_STEP(0); PW_STEP(1); PW_STEP(2); PW_STEP(3); PW_STEP(4); PW_STEP(5);
            PW_STEP(6); PW_STEP(7); PW_STEP(8); PW_STEP(9); PW_STEP(10); PW_STEP(11);
        }
        PW_STORE(0) PW_STORE(1) PW_STORE(2) PW_STORE(3) PW_STORE(4) PW_STORE(5)
        PW_STORE(6) PW_STORE(7) PW_STORE(8) PW_STORE(9) PW_STORE(10) PW_STORE(11)
    }
}

CK512 void ck_pw512_direct(const float *w, long m, long k, const float *x, long ldx, long n, const float *bias,
                           const float *residual, int relu, const float *clip, float *y, long ldy) {
    for (long i = 0; i < m; i += MR) {
        const int rows = (int)(m - i < MR ? m - i : MR);
        // A short last block with m ≥ 12 is the last 12 rows, overlapping the block before (a row's values depend
        // only on its weights, so rows written twice get the same bits twice).
        const long i0 = rows < MR && m >= MR ? m - MR : i;
        const float *res = residual ? residual + i0 * ldy : 0;
        if (rows == MR || m >= MR) {
            pw_rows(w + i0 * k, k, x, ldx, n, bias ? bias + i0 : 0, res, relu, clip, y + i0 * ldy, ldy, MR);
        } else {
            // Fewer than 12 rows in all: their weights copied into a full block padded with zeros.
            float wpad[MR * CK_PW512_SHORT_K];
            float bpad[MR];
            for (int r = 0; r < MR; r++) {
                for (long p = 0; p < k; p++) wpad[r * k + p] = r < rows ? w[(i + r) * k + p] : 0.0f;
                bpad[r] = r < rows && bias ? bias[i + r] : 0.0f;
            }
            pw_rows(wpad, k, x, ldx, n, bpad, res, relu, clip, y + i * ldy, ldy, rows);
        }
    }
}
#else
void ck_pw512_direct(const float *w, long m, long k, const float *x, long ldx, long n, const float *bias,
                     const float *residual, int relu, const float *clip, float *y, long ldy) {
    (void)w; (void)m; (void)k; (void)x; (void)ldx; (void)n; (void)bias; (void)residual; (void)relu; (void)clip;
    (void)y; (void)ldy;
}
#endif
