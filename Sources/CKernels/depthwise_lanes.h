// The depthwise kernels' body, for L channel lanes (see depthwise.c): included by depthwise.c (L = 8: AVX2 or
// portable vectors) and depthwise512.c (L = 16: AVX-512). The includer defines L, the vector type `vec`, CKD (the
// target attribute), INLINE, DW(name) (the exported name), the `tap` struct and ld, st, zeroL, fmaL, reluL,
// transposeL (an L×L transpose of L vectors) and prefetchL (a hint for a plane row read or written a few vectors on,
// where L rows at once are more streams than the hardware prefetchers follow). Each lane is one channel and runs the
// same FMAs at either width, so both widths give the same bits.

static long floordiv(long a, long b) { return a >= 0 ? a / b : -((-a + b - 1) / b); }
static long imin(long a, long b) { return a < b ? a : b; }
static long imax(long a, long b) { return a > b ? a : b; }

/// buf[p·L + l] = src[l][first + p] for p < count where 0 ≤ first + p < width and src[l] is non-null, else 0.
CKD static void pack_row(const float *const *src, long width, long first, long count, float *buf) {
    const long lo = imin(count, imax(0, -first)), hi = imax(lo, imin(count, width - first));
    long p = 0;
    for (; p < lo; p++) st(buf + L * p, zeroL());
    for (; p + L <= hi; p += L) {
        vec r[L];
        for (int l = 0; l < L; l++) {
            if (!src[l]) { r[l] = zeroL(); continue; }
            prefetchL(src[l] + first + p + 4 * L);
            r[l] = ld(src[l] + first + p);
        }
        transposeL(r);
        for (int k = 0; k < L; k++) st(buf + L * (p + k), r[k]);
    }
    for (; p < hi; p++) {
        for (int l = 0; l < L; l++) buf[L * p + l] = src[l] ? src[l][first + p] : 0.0f;
    }
    for (; p < count; p++) st(buf + L * p, zeroL());
}

/// dst[l][p] = buf[p·L + l] (max(0, ·) when relu) for p < count and every non-null dst[l].
CKD static void unpack_row(const float *buf, long count, int relu, float *const *dst) {
    long p = 0;
    for (; p + L <= count; p += L) {
        vec r[L];
        for (int k = 0; k < L; k++) r[k] = relu ? reluL(ld(buf + L * (p + k))) : ld(buf + L * (p + k));
        transposeL(r);
        for (int l = 0; l < L; l++) if (dst[l]) { prefetchL(dst[l] + p + 4 * L); st(dst[l] + p, r[l]); }
    }
    for (; p < count; p++) {
        float v[L];
        st(v, relu ? reluL(ld(buf + L * p)) : ld(buf + L * p));
        for (int l = 0; l < L; l++) if (dst[l]) dst[l][p] = v[l];
    }
}

/// n consecutive outputs: out[j·ostep] = init + Σ_t w_t · x_t[j·step] (vectors; fixed tap order).
CKD INLINE void block(const int n, const tap *taps, long ntaps, long step, vec init, float *out, long ostep) {
    vec acc[8];
    for (int j = 0; j < n; j++) acc[j] = init;
    for (long t = 0; t < ntaps; t++) {
        const vec w = ld(taps[t].w);
        const float *x = taps[t].x;
        for (int j = 0; j < n; j++) acc[j] = fmaL(w, ld(x + L * j * step), acc[j]);
    }
    for (int j = 0; j < n; j++) st(out + L * j * ostep, acc[j]);
}

/// `count` outputs of one row, output j reading each tap's input at x + j·step vectors, written at out + j·ostep.
CKD static void run_row(tap *taps, long ntaps, long count, long step, vec init, float *out, long ostep) {
    long j = 0;
    while (j < count) {
        const long left = count - j;
        const int n = left >= 8 ? 8 : left >= 4 ? 4 : left >= 2 ? 2 : 1;
        if (n == 8) block(8, taps, ntaps, step, init, out + L * j * ostep, ostep);
        else if (n == 4) block(4, taps, ntaps, step, init, out + L * j * ostep, ostep);
        else if (n == 2) block(2, taps, ntaps, step, init, out + L * j * ostep, ostep);
        else block(1, taps, ntaps, step, init, out + L * j * ostep, ostep);
        for (long t = 0; t < ntaps; t++) taps[t].x += L * n * step;
        j += n;
    }
}

/// n outputs at arbitrary positions: out[L·j] = init + Σ_t w_t · (base_j + off_t) (vectors; fixed tap order, the
/// same sum `block` forms for a row).
CKD INLINE void pixel_block(const int n, const float *wpack, const long *off, long ntaps, const float *const *base,
                            vec init, float *out) {
    vec acc[8];
    for (int j = 0; j < n; j++) acc[j] = init;
    for (long t = 0; t < ntaps; t++) {
        const vec w = ld(wpack + L * t);
        const long o = off[t];
        for (int j = 0; j < n; j++) acc[j] = fmaL(w, ld(base[j] + o), acc[j]);
    }
    for (int j = 0; j < n; j++) st(out + L * j, acc[j]);
}

/// The outputs of a whole strip, taken as one run of `count` pixels in row-major order (rows `width` wide), in blocks
/// of 8 that may span rows, so a plane narrower than 8 still keeps 8 independent sums in flight. Pixel (r, c) reads
/// each tap at in + L·(r·rowStride + c·colStride) + off_t.
CKD static void run_strip(const float *wpack, const long *off, long ntaps, const float *in, long rowStride,
                          long colStride, long width, long count, vec init, float *out) {
    const float *base[8];
    long q = 0;
    while (q < count) {
        const long left = count - q;
        const int n = left >= 8 ? 8 : left >= 4 ? 4 : left >= 2 ? 2 : 1;
        for (int j = 0; j < n; j++) base[j] = in + L * ((q + j) / width * rowStride + (q + j) % width * colStride);
        if (n == 8) pixel_block(8, wpack, off, ntaps, base, init, out + L * q);
        else if (n == 4) pixel_block(4, wpack, off, ntaps, base, init, out + L * q);
        else if (n == 2) pixel_block(2, wpack, off, ntaps, base, init, out + L * q);
        else pixel_block(1, wpack, off, ntaps, base, init, out + L * q);
        q += n;
    }
}

/// wpack[(j·taps + t)·L + l] = weight t of output channel ((c0 + l)·mult + j), 0 for lanes ≥ lanes.
CKD static void pack_weights(const float *w, long taps, long c0, long lanes, long mult, float *wpack) {
    for (long j = 0; j < mult; j++) {
        for (long t = 0; t < taps; t++) {
            for (long l = 0; l < L; l++) wpack[(j * taps + t) * L + l] = l < lanes ? w[((c0 + l) * mult + j) * taps + t] : 0.0f;
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
long DW(forward_scratch)(const ck_dw_shape *s, long rows) {
    const long taps = s->kernelH * s->kernelW;
    return 2 * taps + L + L * taps + L * forward_input_rows(s, rows) * forward_input_cols(s) + L * rows * s->outW + L;
}

CKD void DW(forward)(const ck_dw_shape *s, const float *x, const float *w, const float *bias, long m0, long lanes,
                       long mult, int relu, float *y, long r0, long r1, float *scratch) {
    const long kh = s->kernelH, kw = s->kernelW, ntaps = kh * kw;
    const long pw = forward_input_cols(s), rows = forward_input_rows(s, r1 - r0);
    long *off = (long *)scratch;
    // Keep the packed buffers aligned after the offsets (2 floats each, rounded up to L floats).
    float *wpack = scratch + (2 * ntaps + L - 1) / L * L, *in = wpack + L * ntaps, *out = in + L * rows * pw;
    const float *src[L];
    float *dst[L];
    float b[L] = {0};
    // Output channel m = m0 + l reads input channel m / mult: weights of "channel" m with multiplier 1.
    pack_weights(w, ntaps, m0, lanes, 1, wpack);
    for (long l = 0; l < L && l < lanes && bias; l++) b[l] = bias[m0 + l];
    const vec init = ld(b);
    for (long r = 0; r < rows; r++) {
        const long ih = r0 * s->strideH - s->padTop + r;
        for (int l = 0; l < L; l++) {
            src[l] = l < lanes && ih >= 0 && ih < s->height ? x + ((m0 + l) / mult * s->height + ih) * s->width : 0;
        }
        pack_row(src, s->width, -s->padLeft, pw, in + L * r * pw);
    }
    for (long ki = 0; ki < kh; ki++) {
        for (long kj = 0; kj < kw; kj++) off[ki * kw + kj] = L * (ki * s->dilationH * pw + kj * s->dilationW);
    }
    // Rows r0..<r1 of an output plane are one contiguous run, so the strip is computed and unpacked as one.
    const long count = (r1 - r0) * s->outW;
    run_strip(wpack, off, ntaps, in, s->strideH * pw, s->strideW, s->outW, count, init, out);
    for (int l = 0; l < L; l++) dst[l] = l < lanes ? y + ((m0 + l) * s->outH + r0) * s->outW : 0;
    unpack_row(out, count, relu, dst);
}

/// The dy rows and columns that dx rows r0..<r1 read: first row, row count, first column, column count.
static void backward_window(const ck_dw_shape *s, long r0, long r1, long *oh0, long *nrows, long *ow0, long *ncols) {
    *oh0 = floordiv(r0 + s->padTop - (s->kernelH - 1) * s->dilationH, s->strideH);
    *nrows = floordiv(r1 - 1 + s->padTop, s->strideH) - *oh0 + 1;
    *ow0 = floordiv(s->padLeft - (s->kernelW - 1) * s->dilationW, s->strideW);
    *ncols = floordiv(s->width - 1 + s->padLeft, s->strideW) - *ow0 + 1;
}

long DW(backward_scratch)(const ck_dw_shape *s, long mult, long rows) {
    const long taps = s->kernelH * s->kernelW * mult;
    long oh0, nrows, ow0, ncols;
    backward_window(s, 0, rows, &oh0, &nrows, &ow0, &ncols);
    nrows = (rows - 1 + (s->kernelH - 1) * s->dilationH) / s->strideH + 2;  // for any first row
    return tap_floats(taps) + L * taps + L * mult * nrows * ncols + L * rows * s->width + L;
}

CKD void DW(backward)(const ck_dw_shape *s, const float *dy, const float *w, long c0, long lanes, long mult,
                        float *dx, long r0, long r1, float *scratch) {
    const long kh = s->kernelH, kw = s->kernelW, sh = s->strideH, sw = s->strideW, k2 = kh * kw;
    const long outPlane = s->outH * s->outW;
    long oh0, nrows, ow0, ncols;
    backward_window(s, r0, r1, &oh0, &nrows, &ow0, &ncols);
    tap *taps = (tap *)scratch;
    float *wpack = scratch + tap_floats(k2 * mult), *in = wpack + L * k2 * mult, *row = in + L * mult * nrows * ncols;
    const float *src[L];
    float *dst[L];
    pack_weights(w, k2, c0, lanes, mult, wpack);
    for (long j = 0; j < mult; j++) {
        for (long r = 0; r < nrows; r++) {
            const long oh = oh0 + r;
            for (int l = 0; l < L; l++) {
                src[l] = l < lanes && oh >= 0 && oh < s->outH ? dy + ((c0 + l) * mult + j) * outPlane + oh * s->outW : 0;
            }
            pack_row(src, s->outW, ow0, ncols, in + L * (j * nrows + r) * ncols);
        }
    }
    if (sh == 1 && sw == 1) {
        // Stride 1: dx(ih, iw) = Σ_{j, ki, kj} w · window row ih + padTop − ki·dH − oh0, column iw + padLeft − kj·dW − ow0
        // (every tap inside the zero-padded window), so the strip is one run of pixels like forward's.
        long *off = (long *)taps;
        for (long j = 0; j < mult; j++) {
            for (long ki = 0; ki < kh; ki++) {
                for (long kj = 0; kj < kw; kj++) {
                    off[j * k2 + ki * kw + kj] = L * ((j * nrows + r0 + s->padTop - ki * s->dilationH - oh0) * ncols +
                                                      s->padLeft - kj * s->dilationW - ow0);
                }
            }
        }
        const long count = (r1 - r0) * s->width;
        run_strip(wpack, off, k2 * mult, in, ncols, 1, s->width, count, zeroL(), row);
        for (int l = 0; l < L; l++) dst[l] = l < lanes ? dx + ((c0 + l) * s->height + r0) * s->width : 0;
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
                        const float *base = in + L * ((j * nrows + r) * ncols + numc / sw - ow0);
                        taps[n++] = (tap){wpack + L * (j * k2 + ki * kw + kj), base};
                    }
                }
            }
            run_row(taps, n, (s->width - px + sw - 1) / sw, 1, zeroL(), row + L * px, sw);
        }
        for (int l = 0; l < L; l++) dst[l] = l < lanes ? dx + ((c0 + l) * s->height + ih) * s->width : 0;
        unpack_row(row, s->width, 0, dst);
    }
}
