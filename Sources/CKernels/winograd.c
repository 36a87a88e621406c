// Winograd F(2×2, 3×3) and F(4×4, 3×3) data transforms (see ckernels.h; the matrices are documented in
// AtlasCore's WinogradTransforms.swift). x86-64 builds use AVX2 + FMA by function attribute (the Swift targets
// already require them there); other targets use the portable loops, which the compiler vectorizes.
#include "ckernels.h"

// The 1-D transforms on t (or m) values d[0..], written once for floats and for 8-lane vectors.
#define BT2(T, d, r) do { r[0] = d[0] - d[2]; r[1] = d[1] + d[2]; r[2] = d[2] - d[1]; r[3] = d[1] - d[3]; } while (0)
#define BT4(T, d, r) do {                                                                            \
        T s12_ = d[1] + d[2], d12_ = d[1] - d[2], s34_ = d[3] + d[4], d43_ = d[4] - d[3];            \
        T a_ = d[4] - d[2], b_ = d[3] - d[1];                                                        \
        r[0] = d[4] + 4.0f * d[0] - 5.0f * d[2]; r[1] = s34_ - 4.0f * s12_; r[2] = d43_ + 4.0f * d12_; \
        r[3] = a_ + 2.0f * b_; r[4] = a_ - 2.0f * b_; r[5] = d[5] + 4.0f * d[1] - 5.0f * d[3];       \
    } while (0)
#define AT2(T, x, y) do { y[0] = x[0] + x[1] + x[2]; y[1] = x[1] - x[2] - x[3]; } while (0)
#define AT4(T, x, y) do {                                                                            \
        T a_ = x[1] + x[2], b_ = x[1] - x[2], c_ = x[3] + x[4], d_ = x[3] - x[4];                    \
        y[0] = x[0] + a_ + c_; y[1] = b_ + 2.0f * d_; y[2] = a_ + 4.0f * c_; y[3] = b_ + 8.0f * d_ + x[5]; \
    } while (0)
#define BT(T, m, d, r) do { if ((m) == 2) BT2(T, d, r); else BT4(T, d, r); } while (0)
#define AT(T, m, x, y) do { if ((m) == 2) AT2(T, x, y); else AT4(T, x, y); } while (0)

void ck_prefetch(const void *p, long bytes) {
    for (long i = 0; i < bytes; i += 64) __builtin_prefetch((const char *)p + i);
}

#if defined(__x86_64__) && !defined(CK_WINO_PORTABLE)
#include <immintrin.h>

#define CKW __attribute__((target("avx2,fma")))
#define INLINE static inline __attribute__((always_inline))
typedef __m256 v8;

CKW INLINE v8 load2(const float *lo, const float *hi) {
    return _mm256_insertf128_ps(_mm256_castps128_ps256(_mm_loadu_ps(lo)), _mm_loadu_ps(hi), 1);
}
CKW INLINE v8 lo_pd(v8 a, v8 b) {
    return _mm256_castpd_ps(_mm256_unpacklo_pd(_mm256_castps_pd(a), _mm256_castps_pd(b)));
}
CKW INLINE v8 hi_pd(v8 a, v8 b) {
    return _mm256_castpd_ps(_mm256_unpackhi_pd(_mm256_castps_pd(a), _mm256_castps_pd(b)));
}
// Elements 0, 2, …, 14 (evens) or 1, 3, …, 15 (odds) of the 16 floats a ‖ b, in order.
CKW INLINE v8 evens(v8 a, v8 b) {
    return _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(_mm256_shuffle_ps(a, b, 0x88)), 0xD8));
}
CKW INLINE v8 odds(v8 a, v8 b) {
    return _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(_mm256_shuffle_ps(a, b, 0xDD)), 0xD8));
}

// The t columns of 8 tiles of a row: s[j] lane p = row[m·p + j].
CKW INLINE void split(const int m, const float *row, v8 *s) {
    if (m == 2) {
        v8 x0 = _mm256_loadu_ps(row), x1 = _mm256_loadu_ps(row + 8);
        v8 y0 = _mm256_loadu_ps(row + 2), y1 = _mm256_loadu_ps(row + 10);
        s[0] = evens(x0, x1); s[1] = odds(x0, x1); s[2] = evens(y0, y1); s[3] = odds(y0, y1);
    } else {
        // a_q holds tiles q and q + 4 (4 columns each); tile 8 supplies columns 4 and 5 of tile 7.
        v8 a0 = load2(row, row + 16), a1 = load2(row + 4, row + 20), a2 = load2(row + 8, row + 24);
        v8 a3 = load2(row + 12, row + 28), a4 = load2(row + 16, row + 32);
        v8 lo01 = _mm256_unpacklo_ps(a0, a1), hi01 = _mm256_unpackhi_ps(a0, a1);
        v8 lo23 = _mm256_unpacklo_ps(a2, a3), hi23 = _mm256_unpackhi_ps(a2, a3);
        v8 lo12 = _mm256_unpacklo_ps(a1, a2), lo34 = _mm256_unpacklo_ps(a3, a4);
        s[0] = lo_pd(lo01, lo23); s[1] = hi_pd(lo01, lo23); s[2] = lo_pd(hi01, hi23); s[3] = hi_pd(hi01, hi23);
        s[4] = lo_pd(lo12, lo34); s[5] = hi_pd(lo12, lo34);
    }
}

// The inverse of split for m columns: row[m·p + j] = y[j] lane p, as m vectors o (8·m floats).
CKW INLINE void join(const int m, const v8 *y, v8 *o) {
    if (m == 2) {
        v8 lo = _mm256_unpacklo_ps(y[0], y[1]), hi = _mm256_unpackhi_ps(y[0], y[1]);
        o[0] = _mm256_permute2f128_ps(lo, hi, 0x20);
        o[1] = _mm256_permute2f128_ps(lo, hi, 0x31);
    } else {
        v8 u01lo = _mm256_unpacklo_ps(y[0], y[1]), u01hi = _mm256_unpackhi_ps(y[0], y[1]);
        v8 u23lo = _mm256_unpacklo_ps(y[2], y[3]), u23hi = _mm256_unpackhi_ps(y[2], y[3]);
        v8 t04 = lo_pd(u01lo, u23lo), t15 = hi_pd(u01lo, u23lo), t26 = lo_pd(u01hi, u23hi), t37 = hi_pd(u01hi, u23hi);
        o[0] = _mm256_permute2f128_ps(t04, t15, 0x20);
        o[1] = _mm256_permute2f128_ps(t26, t37, 0x20);
        o[2] = _mm256_permute2f128_ps(t04, t15, 0x31);
        o[3] = _mm256_permute2f128_ps(t26, t37, 0x31);
    }
}

// Stores lanes 0..<w (w < 8) of v (no library call, no masked store).
CKW INLINE void store_first(float *dst, v8 v, long w) {
    __m128 part = _mm256_castps256_ps128(v);
    if (w >= 4) {
        _mm_storeu_ps(dst, part);
        part = _mm256_extractf128_ps(v, 1);
        dst += 4;
        w -= 4;
    }
    if (w >= 2) {
        _mm_storel_pi((__m64 *)dst, part);
        part = _mm_movehl_ps(part, part);
        dst += 2;
        w -= 2;
    }
    if (w >= 1) _mm_store_ss(dst, part);
}

CKW INLINE void input_rows(const int m, const float *const *rows, long lo, long hi, float *tmp, long stride,
                           long width) {
    const int t = m + 2;
    const v8 zero = _mm256_setzero_ps();
    const __m256i lanes = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    for (long u = 0; u < width; u += 8) {
        v8 d[6], r[6];
        if (u + 8 <= lo || u >= hi) {
            for (int k = 0; k < t; k++) _mm256_storeu_ps(tmp + k * stride + u, zero);
            continue;
        }
        if (u >= lo && u + 8 <= hi) {
            for (int i = 0; i < t; i++) d[i] = rows[i] ? _mm256_loadu_ps(rows[i] + u) : zero;
        } else if (hi - lo >= 8) {
            // An edge block: 8 in-bounds columns from b, moved to their lanes, zero outside lo..<hi.
            const long b = u < lo ? lo : hi - 8;
            const __m256i col = _mm256_add_epi32(_mm256_set1_epi32((int)u), lanes);
            const __m256i idx = _mm256_sub_epi32(col, _mm256_set1_epi32((int)b));
            const v8 keep = _mm256_castsi256_ps(_mm256_and_si256(
                _mm256_cmpgt_epi32(col, _mm256_set1_epi32((int)lo - 1)), _mm256_cmpgt_epi32(_mm256_set1_epi32((int)hi), col)));
            for (int i = 0; i < t; i++) {
                d[i] = rows[i] ? _mm256_and_ps(_mm256_permutevar8x32_ps(_mm256_loadu_ps(rows[i] + b), idx), keep) : zero;
            }
        } else {
            // Fewer than 8 columns in all.
            for (int i = 0; i < t; i++) {
                float edge[8] = {0, 0, 0, 0, 0, 0, 0, 0};
                for (long l = 0; l < 8; l++) {
                    if (rows[i] && u + l >= lo && u + l < hi) edge[l] = rows[i][u + l];
                }
                d[i] = _mm256_loadu_ps(edge);
            }
        }
        BT(v8, m, d, r);
        for (int k = 0; k < t; k++) _mm256_storeu_ps(tmp + k * stride + u, r[k]);
    }
}

CKW INLINE void input_tiles(const int m, const float *tmp, long stride, long groups, float *v, long xiStride,
                            long limit) {
    const int t = m + 2;
    for (long g = 0; g < groups; g++) {
        const long col = 8 * g, w = limit - col;
        for (int k = 0; k < t; k++) {
            v8 s[6], r[6];
            split(m, tmp + k * stride + 8 * m * g, s);
            BT(v8, m, s, r);
            float *out = v + k * t * xiStride + col;
            if (w >= 8) {
                for (int l = 0; l < t; l++) _mm256_storeu_ps(out + l * xiStride, r[l]);
            } else {
                for (int l = 0; l < t; l++) store_first(out + l * xiStride, r[l], w);
            }
        }
    }
}

CKW INLINE void output_tiles(const int m, const float *mo, long xiStride, long groups, const float *bias, int relu,
                             float *y, long ldy, int rows, long cols) {
    const int t = m + 2;
    const v8 zero = _mm256_setzero_ps();
    for (long g = 0; g < groups; g++) {
        const float *base = mo + 8 * g;
        v8 z[6][4], out[4][4];
        for (int k = 0; k < t; k++) {
            v8 x[6];
            for (int l = 0; l < t; l++) x[l] = _mm256_loadu_ps(base + (k * t + l) * xiStride);
            AT(v8, m, x, z[k]);
        }
        for (int j = 0; j < m; j++) {
            v8 c[6], r[4];
            for (int k = 0; k < t; k++) c[k] = z[k][j];
            AT(v8, m, c, r);
            for (int i = 0; i < m; i++) {
                v8 e = r[i];
                if (bias) e = _mm256_add_ps(e, _mm256_set1_ps(*bias));
                if (relu) e = _mm256_max_ps(e, zero);  // second operand on NaN and on equality: NaN, -0 → +0
                out[i][j] = e;
            }
        }
        const long c0 = 8 * m * g, w = cols - c0 < 8 * m ? cols - c0 : 8 * m;
        for (int i = 0; i < rows; i++) {
            v8 o[4];
            join(m, out[i], o);
            float *dst = y + i * ldy + c0;
            for (int q = 0; q < m; q++) {
                if (8 * q + 8 <= w) _mm256_storeu_ps(dst + 8 * q, o[q]);
                else if (8 * q < w) store_first(dst + 8 * q, o[q], w - 8 * q);
            }
        }
    }
}

CKW static void input_rows2(const float *const *rows, long lo, long hi, float *tmp, long stride, long width) {
    input_rows(2, rows, lo, hi, tmp, stride, width);
}
CKW static void input_rows4(const float *const *rows, long lo, long hi, float *tmp, long stride, long width) {
    input_rows(4, rows, lo, hi, tmp, stride, width);
}
CKW static void input_tiles2(const float *tmp, long stride, long groups, float *v, long xiStride, long limit) {
    input_tiles(2, tmp, stride, groups, v, xiStride, limit);
}
CKW static void input_tiles4(const float *tmp, long stride, long groups, float *v, long xiStride, long limit) {
    input_tiles(4, tmp, stride, groups, v, xiStride, limit);
}
CKW static void output_tiles2(const float *mo, long xiStride, long groups, const float *bias, int relu, float *y,
                              long ldy, int rows, long cols) {
    output_tiles(2, mo, xiStride, groups, bias, relu, y, ldy, rows, cols);
}
CKW static void output_tiles4(const float *mo, long xiStride, long groups, const float *bias, int relu, float *y,
                              long ldy, int rows, long cols) {
    output_tiles(4, mo, xiStride, groups, bias, relu, y, ldy, rows, cols);
}

void ck_wino_input_rows(int m, const float *const *rows, long lo, long hi, float *tmp, long stride, long width) {
    if (m == 2) input_rows2(rows, lo, hi, tmp, stride, width); else input_rows4(rows, lo, hi, tmp, stride, width);
}
void ck_wino_input_tiles(int m, const float *tmp, long stride, long groups, float *v, long xiStride, long limit) {
    if (m == 2) input_tiles2(tmp, stride, groups, v, xiStride, limit);
    else input_tiles4(tmp, stride, groups, v, xiStride, limit);
}
void ck_wino_output_tiles(int m, const float *mo, long xiStride, long groups, const float *bias, int relu,
                          float *y, long ldy, int rows, long cols) {
    if (m == 2) output_tiles2(mo, xiStride, groups, bias, relu, y, ldy, rows, cols);
    else output_tiles4(mo, xiStride, groups, bias, relu, y, ldy, rows, cols);
}

#else  // Portable loops, one tile (or column) at a time.

void ck_wino_input_rows(int m, const float *const *rows, long lo, long hi, float *tmp, long stride, long width) {
    const int t = m + 2;
    for (long u = 0; u < width; u++) {
        float d[6], r[6];
        for (int i = 0; i < t; i++) d[i] = rows[i] && u >= lo && u < hi ? rows[i][u] : 0.0f;
        BT(float, m, d, r);
        for (int k = 0; k < t; k++) tmp[k * stride + u] = r[k];
    }
}

void ck_wino_input_tiles(int m, const float *tmp, long stride, long groups, float *v, long xiStride, long limit) {
    const int t = m + 2;
    for (long p = 0; p < 8 * groups && p < limit; p++) {
        for (int k = 0; k < t; k++) {
            float s[6], r[6];
            for (int j = 0; j < t; j++) s[j] = tmp[k * stride + m * p + j];
            BT(float, m, s, r);
            for (int l = 0; l < t; l++) v[(k * t + l) * xiStride + p] = r[l];
        }
    }
}

void ck_wino_output_tiles(int m, const float *mo, long xiStride, long groups, const float *bias, int relu,
                          float *y, long ldy, int rows, long cols) {
    const int t = m + 2;
    for (long p = 0; p < 8 * groups && m * p < cols; p++) {
        float z[6][4], out[4][4];
        for (int k = 0; k < t; k++) {
            float x[6];
            for (int l = 0; l < t; l++) x[l] = mo[(k * t + l) * xiStride + p];
            AT(float, m, x, z[k]);
        }
        for (int j = 0; j < m; j++) {
            float c[6], r[4];
            for (int k = 0; k < t; k++) c[k] = z[k][j];
            AT(float, m, c, r);
            for (int i = 0; i < m; i++) out[i][j] = r[i];
        }
        for (int i = 0; i < rows; i++) {
            for (int j = 0; j < m && m * p + j < cols; j++) {
                float e = out[i][j];
                if (bias) e += *bias;
                if (relu) e = e > 0.0f ? e : 0.0f;
                y[i * ldy + m * p + j] = e;
            }
        }
    }
}
#endif
