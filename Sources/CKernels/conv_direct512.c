// AVX-512 direct convolution for layers with few input channels (the stems: 3 → 64, 7×7 stride 2 and the like), where
// building and packing im2col's columns costs nearly what the FMAs do (each column is read by only M rows). See
// ckernels.h.
//
// Every input row a chunk of output rows reads is copied once into `sW` phase rows, zero-padded:
// phase[φ][i] = x[i·sW + φ − padLeft]. Tap kj of output column ow then reads phase[kj mod sW][ow + kj / sW], a
// contiguous run for 16 consecutive outputs. Eight output channels × up to three 16-column vectors are summed in 24
// registers, one FMA chain per output element from 0, taps in (c, ki, kj) order, then the bias added: the bits of
// im2col + the packed GEMM, whose chain runs over the same taps in the same order.
// Compiled for AVX-512 by function attribute only; callers must check ck_cpu_has_avx512f() first.
#include "ckernels.h"

#if defined(__x86_64__)
#include <immintrin.h>
#include "lanes512.h"

#define CK512 __attribute__((target("avx512f,fma")))

// Columns of a phase row: every output column's taps, plus a tile's width of slack for the last tile's loads.
static long phase_length(const ck_dw_shape *s) { return s->outW + s->kernelW / s->strideW + 48; }

// Input rows that output rows r0 ..< r0 + rows read (some may lie outside the input).
static long span_rows(const ck_dw_shape *s, long rows) {
    return (rows - 1) * s->strideH + (s->kernelH - 1) * s->dilationH + 1;
}

long ck_conv_direct512_scratch(const ck_dw_shape *s, long channels, long rows) {
    return channels * span_rows(s, rows) * s->strideW * phase_length(s);
}

// One tile: output channels m0 ..< m0 + mcount (≤ 8; weights wt[tap·ldw + m], zero past outChannels), columns
// ow0 ..< ow0 + 16·nv (the last vector masked to `last` lanes) of output row oh. Inlined with nv constant, so the
// accumulators stay in registers.
CK512 static inline __attribute__((always_inline)) void tile(const ck_dw_shape *s, long channels, const float *wt,
                       long ldw, const float *bias, long m0, long mcount, int relu, float *y, long oh, long ow0,
                       const int nv, long last, const float *phase, long phaseLen, long ih0, long span) {
    __m512 acc[3][8];
    for (int j = 0; j < 8; j++) for (int v = 0; v < 3; v++) acc[v][j] = _mm512_setzero_ps();
    const long kh = s->kernelH, kw = s->kernelW, sw = s->strideW;
    for (long c = 0; c < channels; c++) {
        for (long ki = 0; ki < kh; ki++) {
            const long ih = oh * s->strideH - s->padTop + ki * s->dilationH;
            if (ih < 0 || ih >= s->height) continue;   // zero rows add nothing
            const float *rows = phase + ((c * span + ih - ih0) * sw) * phaseLen;
            const float *w = wt + ((c * kh + ki) * kw) * ldw + m0;
            for (long kj = 0; kj < kw; kj++, w += ldw) {
                const float *src = rows + (kj % sw) * phaseLen + ow0 + kj / sw;
                __m512 xv[3];
                for (int v = 0; v < nv; v++) xv[v] = _mm512_loadu_ps(src + 16 * v);
                for (int j = 0; j < 8; j++) {
                    const __m512 wj = _mm512_set1_ps(w[j]);
                    for (int v = 0; v < nv; v++) acc[v][j] = _mm512_fmadd_ps(wj, xv[v], acc[v][j]);
                }
            }
        }
    }
    const long plane = s->outH * s->outW;
    for (int j = 0; j < mcount; j++) {
        float *dst = y + (m0 + j) * plane + oh * s->outW + ow0;
        const __m512 b = _mm512_set1_ps(bias ? bias[m0 + j] : 0.0f);
        for (int v = 0; v < nv; v++) {
            __m512 r = bias ? _mm512_add_ps(acc[v][j], b) : acc[v][j];
            if (relu) r = _mm512_max_ps(r, _mm512_setzero_ps());
            _mm512_mask_storeu_ps(dst + 16 * v, v == nv - 1 ? ck_lanes16(last) : (__mmask16)0xFFFF, r);
        }
    }
}

CK512 void ck_conv_direct512(const ck_dw_shape *s, long channels, long outChannels, const float *x, const float *wt,
                             long ldw, const float *bias, int relu, float *y, long r0, long r1, float *scratch) {
    if (r1 <= r0) return;
    const long sw = s->strideW, phaseLen = phase_length(s), span = span_rows(s, r1 - r0);
    const long ih0 = r0 * s->strideH - s->padTop;
    // The phase rows of every input row the chunk reads, built once (rows outside the input are skipped by `tile`).
    for (long c = 0; c < channels; c++) {
        for (long r = 0; r < span; r++) {
            const long ih = ih0 + r;
            if (ih < 0 || ih >= s->height) continue;
            const float *row = x + (c * s->height + ih) * s->width;
            float *dst = scratch + ((c * span + r) * sw) * phaseLen;
            for (long phi = 0; phi < sw; phi++, dst += phaseLen) {
                // Columns i with 0 ≤ i·sW + φ − padLeft < width are copied, the others are 0.
                const long top = s->width - 1 + s->padLeft - phi;   // last valid i·sW, negative when none is
                long lo = (s->padLeft - phi + sw - 1) / sw, hi = top < 0 ? 0 : top / sw + 1;
                if (lo < 0) lo = 0;
                if (hi > phaseLen) hi = phaseLen;
                if (hi < lo) hi = lo;
                for (long i = 0; i < lo; i++) dst[i] = 0.0f;
                for (long i = lo; i < hi; i++) dst[i] = row[i * sw + phi - s->padLeft];
                for (long i = hi; i < phaseLen; i++) dst[i] = 0.0f;
            }
        }
    }
    const long vectors = (s->outW + 15) / 16;
    for (long oh = r0; oh < r1; oh++) {
        for (long m0 = 0; m0 < outChannels; m0 += 8) {
            const long mcount = outChannels - m0 < 8 ? outChannels - m0 : 8;
            // Tiles of up to three vectors, as even as they go (7 vectors: 3, 2, 2).
            const long tiles = (vectors + 2) / 3;
            long v0 = 0;
            for (long t = 0; t < tiles; t++) {
                const int nv = (int)((vectors - v0 + (tiles - t) - 1) / (tiles - t));
                const long ow0 = 16 * v0, cols = (s->outW - ow0 < 16 * nv ? s->outW - ow0 : 16 * nv);
                const long last = cols - 16 * (nv - 1);
                if (nv == 3) tile(s, channels, wt, ldw, bias, m0, mcount, relu, y, oh, ow0, 3, last, scratch, phaseLen, ih0, span);
                else if (nv == 2) tile(s, channels, wt, ldw, bias, m0, mcount, relu, y, oh, ow0, 2, last, scratch, phaseLen, ih0, span);
                else tile(s, channels, wt, ldw, bias, m0, mcount, relu, y, oh, ow0, 1, last, scratch, phaseLen, ih0, span);
                v0 += nv;
            }
        }
    }
}

#else
long ck_conv_direct512_scratch(const ck_dw_shape *s, long channels, long rows) {
    (void)s; (void)channels; (void)rows; return 0;
}
void ck_conv_direct512(const ck_dw_shape *s, long channels, long outChannels, const float *x, const float *wt,
                       long ldw, const float *bias, int relu, float *y, long r0, long r1, float *scratch) {
    (void)s; (void)channels; (void)outChannels; (void)x; (void)wt; (void)ldw; (void)bias; (void)relu; (void)y;
    (void)r0; (void)r1; (void)scratch;
}
#endif
