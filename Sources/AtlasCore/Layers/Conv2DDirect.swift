import CKernels

/// 1×1 convolutions by the AVX-512 direct kernel (`ck_pw512_direct`): the planes read in place, no packing, bias,
/// residual and ReLU added in registers. Serves the forward pass and, with the weights transposed, the input gradient.
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
        let relu = activation is Relu
        GEMM.forEachProduct(g.batch * g.groups * chunks) { task in
            let chunk = task % chunks, group = (task / chunks) % g.groups, n = task / (chunks * g.groups)
            let c0 = chunk * width, cols = min(g.outPlane, c0 + width) - c0
            let src = x + (n * g.channels + group * g.groupChannels) * g.inPlane + c0
            let dst = out + (n * g.outChannels + group * mg) * g.outPlane + c0
            ck_pw512_direct(w + group * mg * kdim, mg, kdim, src, g.inPlane, cols, b.map { $0 + group * mg },
                            res.map { $0 + (dst - out) }, relu ? 1 : 0, dst, g.outPlane)
            // Another activation: a pass over the chunk while it is in cache.
            if let activation, !relu { epilogue(nil, activation: activation, dst, rows: mg, cols: cols, ldc: g.outPlane) }
        }
    }

    /// The weights of each group transposed to [C/groups, M/groups] (the input gradient's direct kernel reads Wᵀ as
    /// its weights), made once per layer and kept with the packings.
    func transposedWeights(_ g: ConvGeometry) -> UnsafePointer<Float> {
        let mg = g.groupOutChannels, cg = g.groupChannels
        let t = packedWeights.transposed(count: weight.count) { wt in
            let w = UnsafePointer(weight.data)
            for group in 0..<g.groups {
                let src = w + group * mg * cg, dst = wt + group * mg * cg
                for m in 0..<mg { for c in 0..<cg { dst[c * mg + m] = src[m * cg + c] } }
            }
        }
        return UnsafePointer(t.data)
    }
}
