import CKernels

/// 1×1 convolutions by the AVX-512 direct kernel (`ck_pw512_direct`): the planes read in place, no packing, bias,
/// residual and ReLU or Clip applied in registers. Serves the forward pass and, with the weights transposed, the input gradient.
/// Stems (few input channels, a large kernel) have a direct forward kernel of their own (`ck_conv_direct512`).
extension Conv2D {
    /// Whether the direct kernel serves the pointwise convolution `g` under `kernel` (the input gradient asks for
    /// `g.transposedPointwise`). On planes of `columnsPlane` pixels and more, packing B and separate bias and
    /// residual passes cost more than the FMAs (ResNet-50 at batch 16, 2 threads: 64 → 256 with residual 7.4 → 5.1
    /// ms, 128 → 512 6.5 → 4.2 ms, 256 → 64 5.7 → 4.6 ms; EfficientNet-B0's projections alike). Smaller planes fill
    /// whole panels merged across images: the kernel still wins for expansions on planes of `expansionPlane` pixels
    /// and more (ResNet-50's 14² 256 → 1024 with residual 5.5 → 4.8 ms; its 1024 → 256 reductions do not) and for
    /// expansions from at most 64 channels (MobileNet/EfficientNet's) at any size. Depends on one image's geometry
    /// only, so never on the batch.
    static func runsDirect(_ g: ConvGeometry, kernel: GEMMKernel) -> Bool {
        guard g.isPointwise, kernel == .avx512 else { return false }
        let mg = g.groupOutChannels, shortK = g.columnRows <= Int(CK_PW512_SHORT_K)
        if g.outPlane >= columnsPlane { return mg >= 12 || shortK }
        return mg >= g.columnRows && (shortK || g.outPlane >= expansionPlane)
    }

    /// Smallest plane on which the direct kernel serves expansions from more than 64 channels (see `runsDirect`).
    static let expansionPlane = 128

    /// y = act(W ⊛ x + b + residual) for a pointwise `g` that `runsDirect`, `w` as [M, C/groups] (residual laid out
    /// as y): column chunks of every (image, group) plane in parallel. An element's bits depend only on its
    /// weights row and its column of x, so not on the batch, the chunks or the thread count.
    static func forwardDirect(_ g: ConvGeometry, x: UnsafePointer<Float>, weight w: UnsafePointer<Float>,
                              bias b: UnsafePointer<Float>?, residual res: UnsafePointer<Float>?,
                              activation: (any ElementwiseLayer)?, y out: UnsafeMutablePointer<Float>) {
        let mg = g.groupOutChannels, kdim = g.columnRows
        let (chunks, width, _) = pointwiseChunks(g.outPlane, products: g.batch * g.groups, m: mg, k: kdim, direct: true)
        // Relu and Clip (ReLU6) are applied in registers by the kernel.
        let relu = activation is Relu, clip = (activation as? Clip).map { [$0.min, $0.max] }
        GEMM.forEachProduct(g.batch * g.groups * chunks) { task in
            let chunk = task % chunks, group = (task / chunks) % g.groups, n = task / (chunks * g.groups)
            let c0 = chunk * width, cols = min(g.outPlane, c0 + width) - c0
            let src = x + (n * g.channels + group * g.groupChannels) * g.inPlane + c0
            let dst = out + (n * g.outChannels + group * mg) * g.outPlane + c0
            func run(_ bounds: UnsafePointer<Float>?) {
                ck_pw512_direct(w + group * mg * kdim, mg, kdim, src, g.inPlane, cols, b.map { $0 + group * mg },
                                res.map { $0 + (dst - out) }, relu ? 1 : 0, bounds, dst, g.outPlane)
            }
            if let clip { clip.withUnsafeBufferPointer { run($0.baseAddress) } } else { run(nil) }
            // Another activation: a pass over the chunk while it is in cache.
            if let activation, !relu && clip == nil {
                epilogue(nil, activation: activation, dst, rows: mg, cols: cols, ldc: g.outPlane)
            }
        }
    }

    /// The weights of each group transposed to [C/groups, M/groups] (the input gradient's direct kernel reads Wᵀ as
    /// its weights), made once per layer and kept with the packings.
    func transposedWeights(_ g: ConvGeometry) -> UnsafePointer<Float> {
        let mg = g.groupOutChannels, cg = g.groupChannels
        let t = packedWeights.arranged(.pointwiseTransposed, count: weight.count) { wt in
            let w = UnsafePointer(weight.data)
            for group in 0..<g.groups {
                let src = w + group * mg * cg, dst = wt + group * mg * cg
                for m in 0..<mg { for c in 0..<cg { dst[c * mg + m] = src[m * cg + c] } }
            }
        }
        return UnsafePointer(t.data)
    }

    /// Whether the direct stem kernel serves the forward pass of `g`: one group, at most 4 input channels, a kernel of
    /// at least 5×5, column stride ≤ 4 without column dilation, 8 output channels or more, AVX-512. There an im2col
    /// column is read by only M rows of weights, so building and packing the columns costs nearly as much as the FMAs
    /// (GoogLeNet's 7×7 stride-2 3 → 64 at batch 16, 2 threads: 15.6–15.9 → 12.3 ms, the same bits). The 3×3 stems
    /// of EfficientNet and MobileNet measured no better and keep im2col. Depends on the layer's geometry only.
    static func runsStem(_ g: ConvGeometry, kernel: GEMMKernel) -> Bool {
        kernel == .avx512 && g.groups == 1 && g.channels <= 4 && g.kernelH * g.kernelW >= 25 && g.strideW <= 4 &&
            g.dilationW == 1 && g.outChannels >= 8
    }

    /// y = act(W ⊛ x + b) for a convolution that `runsStem`: chunks of output rows of every image in parallel. An
    /// element's bits depend only on its weights and its input window, so not on the batch, chunks or threads.
    func forwardStem(_ g: ConvGeometry, x: UnsafePointer<Float>, bias b: UnsafePointer<Float>?,
                     activation: (any ElementwiseLayer)?, y out: UnsafeMutablePointer<Float>) {
        let taps = g.columnRows, ldw = (g.outChannels + 7) / 8 * 8
        let wt = UnsafePointer(packedWeights.arranged(.stem, count: taps * ldw) { wt in
            let w = UnsafePointer(weight.data)
            wt.update(repeating: 0, count: taps * ldw)
            for m in 0..<g.outChannels { for t in 0..<taps { wt[t * ldw + m] = w[m * taps + t] } }
        }.data)
        var shape = Depthwise.shape(g)
        let chunks = min(g.outH, max(1, 4 * Parallel.threadCount / g.batch)), rows = (g.outH + chunks - 1) / chunks
        let relu = activation is Relu, scratch = ck_conv_direct512_scratch(&shape, g.channels, rows)
        GEMM.forEachProduct(g.batch * chunks) { task in
            let n = task / chunks, r0 = (task % chunks) * rows, r1 = min(g.outH, r0 + rows)
            guard r0 < r1 else { return }
            let dst = out + n * g.outChannels * g.outPlane
            Scratch.with(.columns, count: scratch) { buffer in
                var s = shape
                ck_conv_direct512(&s, g.channels, g.outChannels, x + n * g.channels * g.inPlane, wt, ldw, b,
                                  relu ? 1 : 0, dst, r0, r1, buffer)
            }
            // Another activation: a pass over the rows while they are in cache.
            if let activation, !relu {
                Conv2D.epilogue(nil, activation: activation, dst + r0 * g.outW, rows: g.outChannels,
                                cols: (r1 - r0) * g.outW, ldc: g.outPlane)
            }
        }
    }
}
