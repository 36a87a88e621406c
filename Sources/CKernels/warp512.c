// AVX-512F bilinear affine warp of one plane and its adjoint (AtlasVis's AffineWarp): the same taps, products and
// sums as the portable Swift path, so the same bits. Compiled for AVX-512 by function attribute only; callers must
// check ck_cpu_has_avx512f() first.
#include "ckernels.h"

#if defined(__x86_64__)
#include <immintrin.h>
#include "lanes512.h"

#define CK512 __attribute__((target("avx512f")))

// The four taps of outputs (x ..< x + 16, y): top-left, top-right, bottom-left, bottom-right input indices (clamped
// into the plane, also for lanes past the row's end; their columns and rows in col and row) and bilinear weights (0
// for a tap outside the plane unless clamping to the edge). Each value is rounded exactly where AffineWarp.taps8
// rounds it: intrinsics only, so no contraction into a fused multiply-add can change a bit.
CK512 static inline void taps16(const float m[6], long h, long w, int clamp, long y, long x, __m512i idx[4], __m512 wt[4],
                                __m512i col[2], __m512i row[2]) {
    const float cx = (float)(w - 1) / 2, cy = (float)(h - 1) / 2;
    const float ry = (float)y - cy;
    const __m512 iota = _mm512_set_ps(15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0);
    const __m512 rx = _mm512_sub_ps(_mm512_add_ps(iota, _mm512_set1_ps((float)x)), _mm512_set1_ps(cx));
    const float bry = m[1] * ry, dry = m[3] * ry;
    // s = ((a·rx + b·ry) + c) + t, left to right as Swift evaluates it.
    const __m512 sx0 = _mm512_add_ps(_mm512_mul_ps(_mm512_set1_ps(m[0]), rx), _mm512_set1_ps(bry));
    const __m512 sy0 = _mm512_add_ps(_mm512_mul_ps(_mm512_set1_ps(m[2]), rx), _mm512_set1_ps(dry));
    const __m512 sx = _mm512_add_ps(_mm512_add_ps(sx0, _mm512_set1_ps(cx)), _mm512_set1_ps(m[4]));
    const __m512 sy = _mm512_add_ps(_mm512_add_ps(sy0, _mm512_set1_ps(cy)), _mm512_set1_ps(m[5]));
    const __m512 x0 = _mm512_roundscale_ps(sx, _MM_FROUND_TO_NEG_INF | _MM_FROUND_NO_EXC);
    const __m512 y0 = _mm512_roundscale_ps(sy, _MM_FROUND_TO_NEG_INF | _MM_FROUND_NO_EXC);
    const __m512 fx = _mm512_sub_ps(sx, x0), fy = _mm512_sub_ps(sy, y0);
    const __m512 one = _mm512_set1_ps(1), zero = _mm512_setzero_ps();
    const __m512 lastX = _mm512_set1_ps((float)(w - 1)), lastY = _mm512_set1_ps((float)(h - 1));
    const __m512 x1 = _mm512_add_ps(x0, one), y1 = _mm512_add_ps(y0, one);
    // Clamped in float, as the Swift path does (a −0 there is +0 here: the same index).
    const __m512 xa = _mm512_min_ps(_mm512_max_ps(x0, zero), lastX), xb = _mm512_min_ps(_mm512_max_ps(x1, zero), lastX);
    const __m512 ya = _mm512_min_ps(_mm512_max_ps(y0, zero), lastY), yb = _mm512_min_ps(_mm512_max_ps(y1, zero), lastY);
    __m512 wxa = _mm512_sub_ps(one, fx), wxb = fx, wya = _mm512_sub_ps(one, fy), wyb = fy;
    if (!clamp) {
        wxa = _mm512_maskz_mov_ps(_mm512_cmp_ps_mask(xa, x0, _CMP_EQ_OQ), wxa);
        wxb = _mm512_maskz_mov_ps(_mm512_cmp_ps_mask(xb, x1, _CMP_EQ_OQ), wxb);
        wya = _mm512_maskz_mov_ps(_mm512_cmp_ps_mask(ya, y0, _CMP_EQ_OQ), wya);
        wyb = _mm512_maskz_mov_ps(_mm512_cmp_ps_mask(yb, y1, _CMP_EQ_OQ), wyb);
    }
    // Clamped coordinates are whole numbers inside the plane: exact as integers, and so are the indices.
    col[0] = _mm512_cvttps_epi32(xa); col[1] = _mm512_cvttps_epi32(xb);
    row[0] = _mm512_cvttps_epi32(ya); row[1] = _mm512_cvttps_epi32(yb);
    const __m512i wi = _mm512_set1_epi32((int)w);
    const __m512i rowA = _mm512_mullo_epi32(row[0], wi), rowB = _mm512_mullo_epi32(row[1], wi);
    idx[0] = _mm512_add_epi32(rowA, col[0]);
    idx[1] = _mm512_add_epi32(rowA, col[1]);
    idx[2] = _mm512_add_epi32(rowB, col[0]);
    idx[3] = _mm512_add_epi32(rowB, col[1]);
    wt[0] = _mm512_mul_ps(wya, wxa);
    wt[1] = _mm512_mul_ps(wya, wxb);
    wt[2] = _mm512_mul_ps(wyb, wxa);
    wt[3] = _mm512_mul_ps(wyb, wxb);
}

// The four tap values of 16 outputs, from the input rows their taps touch. Clamped coordinates are monotone along
// an output row (the map is affine in x, floor and clamp keep order), so the lanes' extremes are lanes 0 and 15. Where
// every tap lies in at most `maxRows` rows and 32 columns, each row is read once (masked to the row) and its values
// permuted into the lanes that want them; elsewhere (a steep rotation, a strong zoom) the values are gathered. The
// same input elements either way.
#define WARP_MAX_ROWS 6
CK512 static inline int32_t first(__m512i v) { return _mm512_cvtsi512_si32(v); }
CK512 static inline int32_t last(__m512i v) { return _mm_extract_epi32(_mm512_extracti32x4_epi32(v, 3), 3); }
static inline int32_t min2(int32_t a, int32_t b) { return a < b ? a : b; }
static inline int32_t max2(int32_t a, int32_t b) { return a > b ? a : b; }
CK512 static inline void values16(const float *src, long w, const __m512i idx[4], const __m512i col[2],
                                  const __m512i row[2], __m512 v[4]) {
    const int32_t c0 = min2(first(col[0]), last(col[0])), c1 = max2(first(col[1]), last(col[1]));
    const int32_t r0 = min2(first(row[0]), last(row[0])), r1 = max2(first(row[1]), last(row[1]));
    if (c1 - c0 >= 32 || r1 - r0 >= WARP_MAX_ROWS) {
        for (int t = 0; t < 4; t++) v[t] = _mm512_i32gather_ps(idx[t], src, 4);
        return;
    }
    const __m512i base = _mm512_set1_epi32(c0);
    const __m512i ka = _mm512_sub_epi32(col[0], base), kb = _mm512_sub_epi32(col[1], base);
    const long left = w - c0;
    const __mmask16 loMask = ck_lanes16(left), hiMask = ck_lanes16(left - 16 > 0 ? left - 16 : 0);
    for (int t = 0; t < 4; t++) v[t] = _mm512_setzero_ps();
    for (int32_t r = r0; r <= r1; r++) {
        const float *p = src + (long)r * w + c0;
        const __m512 lo = _mm512_maskz_loadu_ps(loMask, p), hi = _mm512_maskz_loadu_ps(hiMask, p + 16);
        const __m512 a = _mm512_permutex2var_ps(lo, ka, hi), b = _mm512_permutex2var_ps(lo, kb, hi);
        const __m512i rv = _mm512_set1_epi32(r);
        const __mmask16 top = _mm512_cmpeq_epi32_mask(row[0], rv), bottom = _mm512_cmpeq_epi32_mask(row[1], rv);
        v[0] = _mm512_mask_mov_ps(v[0], top, a);
        v[1] = _mm512_mask_mov_ps(v[1], top, b);
        v[2] = _mm512_mask_mov_ps(v[2], bottom, a);
        v[3] = _mm512_mask_mov_ps(v[3], bottom, b);
    }
}

CK512 void ck_warp512_forward(const float *src, float *dst, long planes, long h, long w, const float m[6], int clamp) {
    const long plane = h * w;
    for (long y = 0; y < h; y++) {
        for (long x = 0; x < w; x += 16) {
            __m512i idx[4], col[2], row[2];
            __m512 wt[4], v[4];
            taps16(m, h, w, clamp, y, x, idx, wt, col, row);
            for (long p = 0; p < planes; p++) {
                values16(src + p * plane, w, idx, col, row, v);
                __m512 sum = _mm512_setzero_ps();
                for (int t = 0; t < 4; t++) sum = _mm512_add_ps(sum, _mm512_mul_ps(wt[t], v[t]));
                _mm512_mask_storeu_ps(dst + p * plane + y * w + x, ck_lanes16(w - x), sum);
            }
        }
    }
}

CK512 void ck_warp512_adjoint(const float *grad, float *gin, long planes, long h, long w, const float m[6], int clamp) {
    int32_t index[64] __attribute__((aligned(64)));
    float add[64] __attribute__((aligned(64)));
    const long plane = h * w;
    for (long y = 0; y < h; y++) {
        for (long x = 0; x < w; x += 16) {
            __m512i idx[4], col[2], row[2];
            __m512 wt[4];
            taps16(m, h, w, clamp, y, x, idx, wt, col, row);
            for (int t = 0; t < 4; t++) _mm512_store_si512((__m512i *)(index + 16 * t), idx[t]);
            const __mmask16 k = ck_lanes16(w - x);
            const long count = w - x < 16 ? w - x : 16;
            for (long p = 0; p < planes; p++) {
                const __m512 g = _mm512_maskz_loadu_ps(k, grad + p * plane + y * w + x);
                for (int t = 0; t < 4; t++) _mm512_store_ps(add + 16 * t, _mm512_mul_ps(wt[t], g));
                // Outputs in order, taps in order. Adding a product of ±0 changes nothing (a sum from +0 never
                // becomes −0), so unlike the Swift path there is no test for it.
                float *gp = gin + p * plane;
                for (long l = 0; l < count; l++) {
                    gp[index[l]] += add[l];
                    gp[index[16 + l]] += add[16 + l];
                    gp[index[32 + l]] += add[32 + l];
                    gp[index[48 + l]] += add[48 + l];
                }
            }
        }
    }
}

#else
void ck_warp512_forward(const float *src, float *dst, long planes, long h, long w, const float m[6], int clamp) {
    (void)src; (void)dst; (void)planes; (void)h; (void)w; (void)m; (void)clamp;
}
void ck_warp512_adjoint(const float *grad, float *gin, long planes, long h, long w, const float m[6], int clamp) {
    (void)grad; (void)gin; (void)planes; (void)h; (void)w; (void)m; (void)clamp;
}
#endif
