// Depthwise convolution, forward and input gradient, on 8 channels at a time (see ckernels.h).
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

typedef float v8 __attribute__((vector_size(32)));
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

static long floordiv(long a, long b) { return a >= 0 ? a / b : -((-a + b - 1) / b); }
static long imin(long a, long b) { return a < b ? a : b; }
static long imax(long a, long b) { return a > b ? a : b; }

/// buf[p·8 + l] = src[l][first + p] for p < count where 0 ≤ first + p < width and src[l] is non-null, else 0.
CKD static void pack_row(const float *const *src, long width, long first, long count, float *buf) {
    const long lo = imin(count, imax(0, -first)), hi = imax(lo, imin(count, width - first));
    long p = 0;
    for (; p < lo; p++) st(buf + 8 * p, zero8());
    for (; p + 8 <= hi; p += 8) {
        v8 r[8];
        for (int l = 0; l < 8; l++) r[l] = src[l] ? ld(src[l] + first + p) : zero8();
        transpose8(r);
        for (int k = 0; k < 8; k++) st(buf + 8 * (p + k), r[k]);
    }
    for (; p < hi; p++) {
        for (int l = 0; l < 8; l++) buf[8 * p + l] = src[l] ? src[l][first + p] : 0.0f;
    }
    for (; p < count; p++) st(buf + 8 * p, zero8());
}

/// dst[l][p] = buf[p·8 + l] (max(0, ·) when relu) for p < count and every non-null dst[l].
CKD static void unpack_row(const float *buf, long count, int relu, float *const *dst) {
    long p = 0;
    for (; p + 8 <= count; p += 8) {
        v8 r[8];
        for (int k = 0; k < 8; k++) r[k] = relu ? relu8(ld(buf + 8 * (p + k))) : ld(buf + 8 * (p + k));
        transpose8(r);
        for (int l = 0; l < 8; l++) if (dst[l]) st(dst[l] + p, r[l]);
    }
    for (; p < count; p++) {
        v8 v = relu ? relu8(ld(buf + 8 * p)) : ld(buf + 8 * p);
        for (int l = 0; l < 8; l++) if (dst[l]) dst[l][p] = v[l];
    }
}

/// n consecutive outputs: out[j·ostep] = init + Σ_t w_t · x_t[j·step] (vectors; fixed tap order).
CKD INLINE void block(const int n, const tap *taps, long ntaps, long step, v8 init, float *out, long ostep) {
    v8 acc[8];
    for (int j = 0; j < n; j++) acc[j] = init;
    for (long t = 0; t < ntaps; t++) {
        const v8 w = ld(taps[t].w);
        const float *x = taps[t].x;
        for (int j = 0; j < n; j++) acc[j] = fma8(w, ld(x + 8 * j * step), acc[j]);
    }
    for (int j = 0; j < n; j++) st(out + 8 * j * ostep, acc[j]);
}

/// `count` outputs of one row, output j reading each tap's input at x + j·step vectors, written at out + j·ostep.
CKD static void run_row(tap *taps, long ntaps, long count, long step, v8 init, float *out, long ostep) {
    long j = 0;
    while (j < count) {
        const long left = count - j;
        const int n = left >= 8 ? 8 : left >= 4 ? 4 : left >= 2 ? 2 : 1;
        if (n == 8) block(8, taps, ntaps, step, init, out + 8 * j * ostep, ostep);
        else if (n == 4) block(4, taps, ntaps, step, init, out + 8 * j * ostep, ostep);
        else if (n == 2) block(2, taps, ntaps, step, init, out + 8 * j * ostep, ostep);
        else block(1, taps, ntaps, step, init, out + 8 * j * ostep, ostep);
        for (long t = 0; t < ntaps; t++) taps[t].x += 8 * n * step;
        j += n;
    }
}

/// n outputs at arbitrary positions: out[8·j] = init + Σ_t w_t · (base_j + off_t) (vectors; fixed tap order, the
/// same sum `block` forms for a row).
CKD INLINE void pixel_block(const int n, const float *wpack, const long *off, long ntaps, const float *const *base,
                            v8 init, float *out) {
    v8 acc[8];
    for (int j = 0; j < n; j++) acc[j] = init;
    for (long t = 0; t < ntaps; t++) {
        const v8 w = ld(wpack + 8 * t);
        const long o = off[t];
        for (int j = 0; j < n; j++) acc[j] = fma8(w, ld(base[j] + o), acc[j]);
    }
    for (int j = 0; j < n; j++) st(out + 8 * j, acc[j]);
}

/// The outputs of a whole strip, taken as one run of `count` pixels in row-major order (rows `width` wide), in blocks
/// of 8 that may span rows, so a plane narrower than 8 still keeps 8 independent sums in flight. Pixel (r, c) reads
/// each tap at in + 8·(r·rowStride + c·colStride) + off_t.
CKD static void run_strip(const float *wpack, const long *off, long ntaps, const float *in, long rowStride,
                          long colStride, long width, long count, v8 init, float *out) {
    const float *base[8];
    long q = 0;
    while (q < count) {
        const long left = count - q;
        const int n = left >= 8 ? 8 : left >= 4 ? 4 : left >= 2 ? 2 : 1;
        for (int j = 0; j < n; j++) base[j] = in + 8 * ((q + j) / width * rowStride + (q + j) % width * colStride);
        if (n == 8) pixel_block(8, wpack, off, ntaps, base, init, out + 8 * q);
        else if (n == 4) pixel_block(4, wpack, off, ntaps, base, init, out + 8 * q);
        else if (n == 2) pixel_block(2, wpack, off, ntaps, base, init, out + 8 * q);
        else pixel_block(1, wpack, off, ntaps, base, init, out + 8 * q);
        q += n;
    }
}

/// wpack[(j·taps + t)·8 + l] = weight t of output channel ((c0 + l)·mult + j), 0 for lanes ≥ lanes.
CKD static void pack_weights(const float *w, long taps, long c0, long lanes, long mult, float *wpack) {
    for (long j = 0; j < mult; j++) {
        for (long t = 0; t < taps; t++) {
            for (long l = 0; l < 8; l++) wpack[(j * taps + t) * 8 + l] = l < lanes ? w[((c0 + l) * mult + j) * taps + t] : 0.0f;
        }
    }
}

// Scratch layouts (floats, in order): taps (4 floats each: two pointers), packed weights, input strip, one row.
static long tap_floats(long n) { return 4 * n; }

static long forward_input_cols(const ck_dw_shape *s) { return (s->outW - 1) * s->strideW + (s->kernelW - 1) * s->dilationW + 1; }
static long forward_input_rows(const ck_dw_shape *s, long rows) {
    return (rows - 1) * s->strideH + (s->kernelH - 1) * s->dilationH + 1;
}

// Forward scratch (floats, in order): tap offsets (2 floats each: one long), packed weights, input strip, output strip.
long ck_dw_forward_scratch(const ck_dw_shape *s, long rows) {
    const long taps = s->kernelH * s->kernelW;
    return 2 * taps + 8 + 8 * taps + 8 * forward_input_rows(s, rows) * forward_input_cols(s) + 8 * rows * s->outW + 8;
}

CKD void ck_dw_forward(const ck_dw_shape *s, const float *x, const float *w, const float *bias, long m0, long lanes,
                       long mult, int relu, float *y, long r0, long r1, float *scratch) {
    const long kh = s->kernelH, kw = s->kernelW, ntaps = kh * kw;
    const long pw = forward_input_cols(s), rows = forward_input_rows(s, r1 - r0);
    long *off = (long *)scratch;
    // Keep the packed buffers 32-byte aligned after the offsets (2 floats each, rounded up to 8 floats).
    float *wpack = scratch + (2 * ntaps + 7) / 8 * 8, *in = wpack + 8 * ntaps, *out = in + 8 * rows * pw;
    const float *src[8];
    float *dst[8];
    float b[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    // Output channel m = m0 + l reads input channel m / mult: weights of "channel" m with multiplier 1.
    pack_weights(w, ntaps, m0, lanes, 1, wpack);
    for (long l = 0; l < 8 && l < lanes && bias; l++) b[l] = bias[m0 + l];
    const v8 init = ld(b);
    for (long r = 0; r < rows; r++) {
        const long ih = r0 * s->strideH - s->padTop + r;
        for (int l = 0; l < 8; l++) {
            src[l] = l < lanes && ih >= 0 && ih < s->height ? x + ((m0 + l) / mult * s->height + ih) * s->width : 0;
        }
        pack_row(src, s->width, -s->padLeft, pw, in + 8 * r * pw);
    }
    for (long ki = 0; ki < kh; ki++) {
        for (long kj = 0; kj < kw; kj++) off[ki * kw + kj] = 8 * (ki * s->dilationH * pw + kj * s->dilationW);
    }
    // Rows r0..<r1 of an output plane are one contiguous run, so the strip is computed and unpacked as one.
    const long count = (r1 - r0) * s->outW;
    run_strip(wpack, off, ntaps, in, s->strideH * pw, s->strideW, s->outW, count, init, out);
    for (int l = 0; l < 8; l++) dst[l] = l < lanes ? y + ((m0 + l) * s->outH + r0) * s->outW : 0;
    unpack_row(out, count, relu, dst);
}

/// The dy rows and columns that dx rows r0..<r1 read: first row, row count, first column, column count.
static void backward_window(const ck_dw_shape *s, long r0, long r1, long *oh0, long *nrows, long *ow0, long *ncols) {
    *oh0 = floordiv(r0 + s->padTop - (s->kernelH - 1) * s->dilationH, s->strideH);
    *nrows = floordiv(r1 - 1 + s->padTop, s->strideH) - *oh0 + 1;
    *ow0 = floordiv(s->padLeft - (s->kernelW - 1) * s->dilationW, s->strideW);
    *ncols = floordiv(s->width - 1 + s->padLeft, s->strideW) - *ow0 + 1;
}

long ck_dw_backward_scratch(const ck_dw_shape *s, long mult, long rows) {
    const long taps = s->kernelH * s->kernelW * mult;
    long oh0, nrows, ow0, ncols;
    backward_window(s, 0, rows, &oh0, &nrows, &ow0, &ncols);
    nrows = (rows - 1 + (s->kernelH - 1) * s->dilationH) / s->strideH + 2;  // for any first row
    return tap_floats(taps) + 8 * taps + 8 * mult * nrows * ncols + 8 * rows * s->width + 8;
}

CKD void ck_dw_backward(const ck_dw_shape *s, const float *dy, const float *w, long c0, long lanes, long mult,
                        float *dx, long r0, long r1, float *scratch) {
    const long kh = s->kernelH, kw = s->kernelW, sh = s->strideH, sw = s->strideW, k2 = kh * kw;
    const long outPlane = s->outH * s->outW;
    long oh0, nrows, ow0, ncols;
    backward_window(s, r0, r1, &oh0, &nrows, &ow0, &ncols);
    tap *taps = (tap *)scratch;
    float *wpack = scratch + tap_floats(k2 * mult), *in = wpack + 8 * k2 * mult, *row = in + 8 * mult * nrows * ncols;
    const float *src[8];
    float *dst[8];
    pack_weights(w, k2, c0, lanes, mult, wpack);
    for (long j = 0; j < mult; j++) {
        for (long r = 0; r < nrows; r++) {
            const long oh = oh0 + r;
            for (int l = 0; l < 8; l++) {
                src[l] = l < lanes && oh >= 0 && oh < s->outH ? dy + ((c0 + l) * mult + j) * outPlane + oh * s->outW : 0;
            }
            pack_row(src, s->outW, ow0, ncols, in + 8 * (j * nrows + r) * ncols);
        }
    }
    if (sh == 1 && sw == 1) {
        // Stride 1: dx(ih, iw) = Σ_{j, ki, kj} w · window row ih + padTop − ki·dH − oh0, column iw + padLeft − kj·dW − ow0
        // (every tap inside the zero-padded window), so the strip is one run of pixels like forward's.
        long *off = (long *)taps;
        for (long j = 0; j < mult; j++) {
            for (long ki = 0; ki < kh; ki++) {
                for (long kj = 0; kj < kw; kj++) {
                    off[j * k2 + ki * kw + kj] = 8 * ((j * nrows + r0 + s->padTop - ki * s->dilationH - oh0) * ncols +
                                                      s->padLeft - kj * s->dilationW - ow0);
                }
            }
        }
        const long count = (r1 - r0) * s->width;
        run_strip(wpack, off, k2 * mult, in, ncols, 1, s->width, count, zero8(), row);
        for (int l = 0; l < 8; l++) dst[l] = l < lanes ? dx + ((c0 + l) * s->height + r0) * s->width : 0;
        unpack_row(row, count, 0, dst);
        return;
    }
    for (long ih = r0; ih < r1; ih++) {
        // dx column iw = px + sw·i (phase px) gets dy column (px + padLeft − kj·dW)/sw + i where that divides.
        for (long px = 0; px < sw && px < s->width; px++) {
            long n = 0;
            for (long j = 0; j < mult; j++) {
                for (long ki = 0; ki < kh; ki++) {
                    const long num = ih + s->padTop - ki * s->dilationH;
                    if (floordiv(num, sh) * sh != num || num < 0 || num / sh >= s->outH) continue;
                    const long r = num / sh - oh0;
                    for (long kj = 0; kj < kw; kj++) {
                        const long numc = px + s->padLeft - kj * s->dilationW;
                        if (floordiv(numc, sw) * sw != numc) continue;
                        const float *base = in + 8 * ((j * nrows + r) * ncols + numc / sw - ow0);
                        taps[n++] = (tap){wpack + 8 * (j * k2 + ki * kw + kj), base};
                    }
                }
            }
            run_row(taps, n, (s->width - px + sw - 1) / sw, 1, zero8(), row + 8 * px, sw);
        }
        for (int l = 0; l < 8; l++) dst[l] = l < lanes ? dx + ((c0 + l) * s->height + ih) * s->width : 0;
        unpack_row(row, s->width, 0, dst);
    }
}
