#ifndef ATLAS_CKERNELS_H
#define ATLAS_CKERNELS_H
#include <stdint.h>
/// CPU feature detection for run-time kernel selection.
/// Returns 1 when the CPU and OS support AVX-512F (ZMM state enabled), else 0.
int ck_cpu_has_avx512f(void);

/// Sets the C allocator's threshold above which blocks are mapped (and unmapped on free) to `bytes`, which also
/// stops glibc from raising it on its own; returns 1 on success, 0 where unsupported.
int ck_malloc_set_mmap_threshold(long bytes);

/// Register tile of the AVX-512 SGEMM kernel: rows of a packed A panel, columns of a packed B panel.
#define CK_SGEMM512_MR 12
#define CK_SGEMM512_NR 32

/// AVX-512 macro-kernel of the packed SGEMM: for every 12×32 tile of the C block (rows 0..<mcb, columns
/// col0..<col1, col0 a multiple of 32), C = alpha·Σ_p A[i,p]·B[p,j] + beta·C (C not read when beta == 0).
/// `ap`: packed A block, 12-row panels of kcb×12 floats (zero-padded). `bp`: packed B block, 32-column panels
/// of kcb×32 floats (zero-padded), panel q at bp + q·kcb·32. `c` points at the block's element (0, 0).
/// Only callable when ck_cpu_has_avx512f() returns 1 (x86-64 only; a no-op elsewhere).
void ck_sgemm512_macro(const float *ap, const float *bp, long mcb, long kcb, long col0, long col1,
                       float alpha, float beta, float *c, long ldc);

/// Packs one 12-row panel of the AVX-512 SGEMM from row-major A (row stride lda): ap[p·12 + r] = a[r·lda + p] for
/// p < kcb, r < rows (≤ 12), 0 for rows ≥ rows (16×16 register transposes). Only callable when ck_cpu_has_avx512f().
void ck_pack_a12(const float *a, long lda, long rows, long kcb, float *ap);

/// Packs one 32-column panel of the AVX-512 SGEMM from a transposed B (op(B)(p, j) = b[j·ldb + p]):
/// bp[p·32 + j] = b[j·ldb + p] for p < kcb, j < cols (≤ 32), 0 for j ≥ cols (16×16 register transposes).
/// Only callable when ck_cpu_has_avx512f() returns 1 (a no-op elsewhere).
void ck_pack_b32_trans(const float *b, long ldb, long cols, long kcb, float *bp);

/// Most input channels of `ck_pw512_direct` when m < 12.
#define CK_PW512_SHORT_K 64

/// AVX-512 direct 1×1 convolution, without packing: y[i·ldy + j] = bias[i] (0 when null) + Σ_{p<k} w[i·k + p]·x[p·ldx + j]
/// (one FMA chain per element, p in order), then + residual[i·ldy + j] when residual is non-null, then max(0, ·)
/// when relu, or clamped to [clip[0], clip[1]] as AtlasCore's Clip when clip is non-null, for i < m and j < n;
/// k ≤ CK_PW512_SHORT_K when m < 12. Only callable when ck_cpu_has_avx512f() returns 1 (a no-op elsewhere).
void ck_pw512_direct(const float *w, long m, long k, const float *x, long ldx, long n, const float *bias,
                     const float *residual, int relu, const float *clip, float *y, long ldy);

/// Winograd F(m×m, 3×3) data transforms, m = 2 or 4, t = m + 2, on groups of 8 tiles of one tile row (AVX2 on
/// x86-64, portable C elsewhere). The matrices are documented in AtlasCore's WinogradTransforms.swift.
///
/// Vertical half of the input transform: tmp row k (k < t, row stride `stride`) = Σ_i Bᵀ[k][i]·in_i over columns
/// 0..<width (a multiple of 8), where in_i[u] = rows[i][u] for lo ≤ u < hi and rows[i] non-null, else 0.
void ck_wino_input_rows(int m, const float *const *rows, long lo, long hi, float *tmp, long stride, long width);

/// Horizontal half for `groups` groups of 8 tiles, tile p's columns at tmp[m·p ..< m·p + t] (tmp as written by
/// ck_wino_input_rows with width ≥ 8·m·groups + 8): (Bᵀ d B)[k][l] of tile p goes to v[(k·t + l)·xiStride + p].
/// Only columns p < limit are written (groups' lanes past the tiles of interest may be written below limit).
void ck_wino_input_tiles(int m, const float *tmp, long stride, long groups, float *v, long xiStride, long limit);

/// Output transform of `groups` groups of 8 tiles: tile p's t×t products at mo[ξ·xiStride + p]; writes
/// Y = Aᵀ M A (+ *bias when non-null, then max(0, ·) when relu, as ONNX Relu with NaN → 0) to y[i·ldy + m·p + j]
/// for rows i < rows (≤ m) and columns m·p + j < cols.
void ck_wino_output_tiles(int m, const float *mo, long xiStride, long groups, const float *bias, int relu,
                          float *y, long ldy, int rows, long cols);

/// Geometry of a depthwise convolution's planes (input height × width, output outH × outW; the bottom and right pads
/// follow from the output size).
typedef struct {
    long height, width, outH, outW, kernelH, kernelW, strideH, strideW, padTop, padLeft, dilationH, dilationW;
} ck_dw_shape;

/// AVX-512 direct convolution of one image, output rows r0..<r1, for layers with few input channels (stems such as
/// 3 → 64, 7×7 stride 2): y[m][oh][ow] = (Σ_{c,ki,kj} wt[((c·kH + ki)·kW + kj)·ldw + m] ·
/// x[c][oh·sH − padTop + ki·dH][ow·sW − padLeft + kj]) + bias[m] (none when null; rows outside the input skipped,
/// columns outside it 0), one FMA chain per element from 0 in that tap order, then max(0, ·) when relu. wt holds ldw ≥ ⌈outChannels/8⌉·8 floats per tap,
/// zero past outChannels; dilationW must be 1. x and y point at the image's first plane; `scratch` holds
/// ck_conv_direct512_scratch(s, channels, r1 − r0) floats. Only callable when ck_cpu_has_avx512f() returns 1.
void ck_conv_direct512(const ck_dw_shape *s, long channels, long outChannels, const float *x, const float *wt,
                       long ldw, const float *bias, int relu, float *y, long r0, long r1, float *scratch);
long ck_conv_direct512_scratch(const ck_dw_shape *s, long channels, long rows);

/// Depthwise forward of output rows r0..<r1 of the `lanes` (≤ 8) output channels m0 ..< m0 + lanes of one image:
/// y[m] = bias[m] (0 when bias is null) + Σ_{ki,kj} w[m][ki][kj] · x[m / mult] at (oh·sH − padTop + ki·dH,
/// ow·sW − padLeft + kj·dW), 0 outside the input, then max(0, ·) when relu (ONNX Relu: NaN → 0). x and y point at
/// the image's first plane, w at [M][kH·kW]. Each output element is one fixed sequence of FMAs (bias first, taps in
/// row-major order). `scratch` holds ck_dw_forward_scratch(s, r1 − r0) floats, 32-byte aligned.
void ck_dw_forward(const ck_dw_shape *s, const float *x, const float *w, const float *bias, long m0, long lanes,
                   long mult, int relu, float *y, long r0, long r1, float *scratch);
long ck_dw_forward_scratch(const ck_dw_shape *s, long rows);

/// Depthwise input gradient of dx rows r0..<r1 of the `lanes` (≤ 8) input channels c0 ..< c0 + lanes of one image:
/// dx[c] = Σ_{j < mult} the transposed correlation of dy[c·mult + j] with w[c·mult + j], gathered (every dx element
/// written once, by one fixed sequence of FMAs). dy and dx point at the image's first plane. `scratch` holds
/// ck_dw_backward_scratch(s, mult, r1 − r0) floats.
void ck_dw_backward(const ck_dw_shape *s, const float *dy, const float *w, long c0, long lanes, long mult,
                    float *dx, long r0, long r1, float *scratch);
long ck_dw_backward_scratch(const ck_dw_shape *s, long mult, long rows);

/// ck_dw_forward and ck_dw_backward on `lanes` ≤ 16 channels at a time, with AVX-512 (the same bits: each channel
/// runs the same FMAs); their scratch sizes likewise. Only callable when ck_cpu_has_avx512f() returns 1.
void ck_dw512_forward(const ck_dw_shape *s, const float *x, const float *w, const float *bias, long m0, long lanes,
                      long mult, int relu, float *y, long r0, long r1, float *scratch);
long ck_dw512_forward_scratch(const ck_dw_shape *s, long rows);
void ck_dw512_backward(const ck_dw_shape *s, const float *dy, const float *w, long c0, long lanes, long mult,
                       float *dx, long r0, long r1, float *scratch);
long ck_dw512_backward_scratch(const ck_dw_shape *s, long mult, long rows);

/// Hints the CPU to fetch [p, p + bytes) into cache (no effect on results).
void ck_prefetch(const void *p, long bytes);
/// SHA-256 compression of `blocks` whole 64-byte blocks into `state` (eight words, FIPS 180-4 order): the x86 SHA
/// extensions where ck_sha256_has_extensions() says the CPU has them, else portable C.
void ck_sha256_blocks(uint32_t state[8], const uint8_t *data, long blocks);
/// The portable path of ck_sha256_blocks (for tests that compare the two).
void ck_sha256_blocks_portable(uint32_t state[8], const uint8_t *data, long blocks);
/// 1 when ck_sha256_blocks uses the CPU's SHA extensions.
int ck_sha256_has_extensions(void);


/// AVX-512 Softmax of `rows` contiguous rows of n floats: y = e^(x − max) / Σ e^(x − max), each e^v with the bits of
/// AtlasCore's FastMath.exp, the sum over 16 lanes then the lanes in a fixed order (x and y may be the same).
/// Only callable when ck_cpu_has_avx512f() returns 1 (a no-op elsewhere).
void ck_softmax512_rows(const float *x, float *y, long rows, long n);

/// Softmax's input gradient over the same rows: gx = y·(g − Σ g·y), the sum over 16 lanes then the lanes in a fixed
/// order. Only callable when ck_cpu_has_avx512f() returns 1 (a no-op elsewhere).
void ck_softmax512_backward_rows(const float *y, const float *g, float *gx, long rows, long n);

/// AVX-512 LayerNormalization of `rows` contiguous rows of n floats: mean μ and r = 1/√(σ² + ε) in double precision
/// (16 lanes, then the lanes in a fixed order), rounded to float, then y = (x − μ)·r·γ (+ β when beta is non-null),
/// each product and sum rounded as written. Only callable when ck_cpu_has_avx512f() returns 1 (a no-op elsewhere).
void ck_layernorm512_rows(const float *x, float *y, long rows, long n, const float *gamma, const float *beta,
                          float epsilon);

/// LayerNormalization's input gradient (γ constant, no β needed) over the same rows: μ and r as in the forward rows,
/// g′ = gy·γ and x̂ = (x − μ)·r in float, their means mean(g′) and mean(g′·x̂) in double (16 lanes, then the lanes),
/// gx = r·(g′ − mean(g′) − x̂·mean(g′·x̂)). Only callable when ck_cpu_has_avx512f() returns 1 (a no-op elsewhere).
void ck_layernorm512_backward_rows(const float *x, const float *gy, float *gx, long rows, long n,
                                   const float *gamma, float epsilon);

/// AVX-512 SiLU over n floats, y = x·(1 / (1 + e^−x)), e^v with FastMath.exp's bits: AtlasCore's SiLU bit for bit
/// (x and y may be the same). Only callable when ck_cpu_has_avx512f() returns 1 (a no-op elsewhere).
void ck_silu512_forward(const float *x, float *y, long n);

/// SiLU's input gradient over n floats, gx = g·s + g·x·s·(1 − s) with s = σ(x) as in the forward: AtlasCore's SiLU
/// bit for bit (g and gx may be the same). Only callable when ck_cpu_has_avx512f() returns 1 (a no-op elsewhere).
void ck_silu512_backward(const float *g, const float *x, float *gx, long n);

/// AVX-512 max pooling over one plane held in a frame of −∞ (frameWidth floats a row, the plane of row length inW at
/// (top, left), every window and 16-output block inside it), column dilation 1, column stride sw 1 or 2: y (outH ×
/// outW) gets each window's maximum, argmax the plane index of its first maximum in row-major order (a tap wins only
/// when greater), −1 where none wins (all −∞ or NaN), as AtlasCore's MaxPool.backwardFramed finds them. Only callable
/// when ck_cpu_has_avx512f() returns 1 (a no-op elsewhere).
void ck_maxpool512_forward_argmax(const float *frame, long frameWidth, long top, long left, long inW,
                                  long outH, long outW, long kh, long kw, long sh, long sw, long dh,
                                  float *y, int32_t *argmax);

/// AVX-512 bilinear warp of `planes` consecutive h×w planes (src and dst alike) through the affine map
/// m = (a, b, c, d, tx, ty) about the plane centre, as AtlasVis's AffineWarp.forward defines it (edge-clamped taps
/// when clamp is non-zero, else zero outside), with the same bits; each block's taps serve every plane. Only callable
/// when ck_cpu_has_avx512f() returns 1 (a no-op elsewhere).
void ck_warp512_forward(const float *src, float *dst, long planes, long h, long w, const float m[6], int clamp);

/// The warp's adjoint on each of `planes` consecutive planes, gin += Wᵀ·grad, outputs in order and taps in order,
/// with AffineWarp.adjoint's bits. Only callable when ck_cpu_has_avx512f() returns 1 (a no-op elsewhere).
void ck_warp512_adjoint(const float *grad, float *gin, long planes, long h, long w, const float m[6], int clamp);

/// Asks for the cache line at `p` ahead of its use (a hint: never faults, whatever the address). For packings that
/// read many rows a panel at a time, more streams than the hardware prefetchers follow.
static inline void ck_prefetch_line(const void *p) { __builtin_prefetch(p, 0, 3); }

#endif
