import CKernels

/// 2-D convolution (ONNX Conv on NCHW) with its input gradient.
///
/// 3×3 stride-1 ungrouped convolutions use Winograd F(4×4, 3×3) or F(2×2, 3×3) where `Conv2D.winogradTile` finds it
/// pays (`WinogradConv`, forward and input gradient; `Conv2D.algorithm`, `ATLAS_CONV=direct` turns it off). Other
/// convolutions use one of these kernels:
/// - 1×1 stride-1 unpadded: a plain GEMM on the input planes (one GEMM for the whole batch when the planes are 1×1,
///   as in squeeze-and-excitation blocks; planes under `columnsPlane` pixels merged across images, `forwardColumns`);
/// - one input channel per group: a direct depthwise kernel vectorized across channels (`Depthwise`);
/// - deep and tall enough (`forwardColumns`): GEMM whose columns are packed straight from x (`ConvGeometry.packPanel`),
///   several small images to a product;
/// - else im2col + GEMM on chunks of output rows whose columns stay under `columnBudget` floats per worker.
/// Work is parallel over products with problem-defined boundaries; the bias, a residual (`ResidualFusable`: a
/// residual block's Conv → Add) and a fused activation are applied per finished block of the output.
/// The input gradient runs the same multiply-adds transposed, dX = col2im(Wᵀ·dY), with Wᵀ packed once per layer and
/// small planes merged across whole images (`gradientColumns`).
public struct Conv2D: Layer, ActivationFusable, ResidualFusable {
    /// [M, C/groups, kH, kW].
    public let weight: Tensor
    /// [M], or nil.
    public let bias: Tensor?
    /// [strideH, strideW].
    public let stride: [Int]
    /// [top, left, bottom, right].
    public let pads: [Int]
    /// [dilationH, dilationW].
    public let dilation: [Int]
    public let groups: Int
    /// The weights packed for the SGEMM kernel, made on first use and kept with the weights' storage: shared by
    /// copies of this layer and by every layer (in every plan) built over the same constant.
    var packedWeights: PackedWeights {
        weight.storage.packedWeights(.init(offset: weight.offset, shape: weight.shape, groups: groups))
    }

    /// This convolution with unit strides and no padding (what a `subsampledPointwise` one runs on its subsample);
    /// it shares the packed weights.
    var unitStride: Conv2D {
        Conv2D(weight: weight, bias: bias, stride: [1, 1], pads: [0, 0, 0, 0], dilation: [1, 1], groups: groups)
    }

    /// im2col floats per worker and chunk (512 KiB).
    public static let columnBudget = 1 << 17

    public init(weight: Tensor, bias: Tensor?, stride: [Int], pads: [Int], dilation: [Int], groups: Int) {
        self.weight = weight
        self.bias = bias
        self.stride = stride
        self.pads = pads
        self.dilation = dilation
        self.groups = groups
    }

    public var name: String { "Conv" }
    /// The input gradient is Wᵀ·dY: backward needs the input's shape only.
    public var backwardReads: BackwardReads { [] }

    public func outputShape(_ inputs: [[Int]]) throws -> [Int] {
        let g = try geometry(inputs)
        return [g.batch, g.outChannels, g.outH, g.outW]
    }

    public func multiplyAdds(_ inputs: [[Int]]) -> Int {
        guard let g = try? geometry(inputs) else { return 0 }
        return g.batch * g.outChannels * g.outPlane * g.columnRows
    }

    /// Validates the input shape against the weights and attributes and derives the output size.
    func geometry(_ inputs: [[Int]]) throws -> ConvGeometry {
        guard inputs.count == 1 else { throw ShapeError("Conv expects 1 runtime input, got \(inputs.count)") }
        let x = inputs[0]
        guard x.count == 4 else { throw ShapeError("Conv expects a 4-D NCHW input, got \(x)") }
        let w = weight.shape
        guard w.count == 4, w.allSatisfy({ $0 > 0 }) else { throw ShapeError("Conv weight must be 4-D [M, C/g, kH, kW], got \(w)") }
        guard stride.count == 2, pads.count == 4, dilation.count == 2 else {
            throw ShapeError("Conv needs 2 strides, 4 pads and 2 dilations (got \(stride), \(pads), \(dilation))")
        }
        guard stride.allSatisfy({ $0 > 0 }), dilation.allSatisfy({ $0 > 0 }), pads.allSatisfy({ $0 >= 0 }) else {
            throw ShapeError("Conv: strides and dilations must be positive, pads non-negative")
        }
        guard groups > 0, w[0] % groups == 0, x[1] == w[1] * groups else {
            throw ShapeError("Conv: input has \(x[1]) channels, weight \(w) with \(groups) group(s) expects \(w[1] * max(groups, 1))")
        }
        if let bias, bias.count != w[0] { throw ShapeError("Conv bias has \(bias.count) values for \(w[0]) output channels") }
        let spanH = dilation[0] * (w[2] - 1) + 1, spanW = dilation[1] * (w[3] - 1) + 1
        let paddedH = x[2] + pads[0] + pads[2], paddedW = x[3] + pads[1] + pads[3]
        guard paddedH >= spanH, paddedW >= spanW else {
            throw ShapeError("Conv: kernel \(spanH)×\(spanW) larger than padded input \(paddedH)×\(paddedW)")
        }
        return ConvGeometry(batch: x[0], channels: x[1], height: x[2], width: x[3], outChannels: w[0],
                            kernelH: w[2], kernelW: w[3], strideH: stride[0], strideW: stride[1],
                            padTop: pads[0], padLeft: pads[1], dilationH: dilation[0], dilationW: dilation[1],
                            groups: groups, outH: (paddedH - spanH) / stride[0] + 1,
                            outW: (paddedW - spanW) / stride[1] + 1)
    }

    /// The geometry of an input shape that `outputShape` accepted (the `Layer` contract); anything else is a caller bug.
    func validated(_ shape: [Int]) -> ConvGeometry {
        do { return try geometry([shape]) } catch { fatalError("Conv called on an unvalidated input: \(error)") }
    }

    /// Column chunks of a 1×1 convolution's planes for `products` (image, group) products of m rows and depth k:
    /// about 1024 columns each, cut further (to 32 columns at the least) while there are fewer chunks than threads.
    /// `rowInvariant` is what every chunk's `sgemm` must pass so that a cut chunk keeps the path, and so the bits,
    /// of an uncut one (`GEMM.isPacked`); products too small for the packed path are not cut.
    static func pointwiseChunks(_ plane: Int, products: Int, m: Int, k: Int, direct: Bool = false)
        -> (count: Int, width: Int, rowInvariant: Bool) {
        let base = max(1, (plane + 1023) / 1024)
        let packed = GEMM.isPacked(m: m, n: (plane + base - 1) / base, k: k)
        var count = base
        if packed || direct {
            count = min(max(base, (plane + 31) / 32), base * GEMM.piecesPerProduct(products * base))
        }
        return (count, (plane + count - 1) / count, packed)
    }

    public func forward(_ inputs: [Tensor]) -> Tensor { forward(inputs, activation: nil) }

    /// Forward followed by `activation` (e.g. max(0, conv(x) + bias)), bit-identical to a separate step after it,
    /// applied to each chunk while it is still in cache (the executor fuses Conv → Relu/Clip/SiLU… this way).
    public func forward(_ inputs: [Tensor], activation: (any ElementwiseLayer)?) -> Tensor {
        forward(inputs, residual: nil, activation: activation)
    }

    /// act(conv(x) + b + residual) for a residual block's last convolution (`ResidualFusable`): the sum is formed
    /// while each chunk is in cache, in the order of separate Conv, Add and activation steps, so the bits are theirs.
    public func forward(_ inputs: [Tensor], residual: Tensor?, activation: (any ElementwiseLayer)?) -> Tensor {
        let g = validated(inputs[0].shape)
        if let residual { precondition(residual.shape == [g.batch, g.outChannels, g.outH, g.outW], "Conv residual shape") }
        if let sub = g.subsampledPointwise {
            // The subsample costs a pass over the pixels read; the pointwise path then packs its panels as row copies
            // instead of strided gathers (ResNet-50's stride-2 shortcuts at batch 16, 2 threads: 11–15% faster each).
            let xs = Tensor(uninitialized: [sub.batch, sub.channels, sub.height, sub.width])
            g.subsample(inputs[0].data, xs.data)
            return unitStride.forward([xs], residual: residual, activation: activation)
        }
        let res = residual.map { UnsafePointer($0.data) }
        // Every path below writes every output element.
        let y = Tensor(uninitialized: [g.batch, g.outChannels, g.outH, g.outW])
        let x = UnsafePointer(inputs[0].data), w = UnsafePointer(weight.data), out = y.data
        let b = bias.map { UnsafePointer($0.data) }
        if g.batch == 0 || g.outPlane == 0 { return y }
        if g.isDepthwise {
            Depthwise.forward(g, x: x, weight: w, bias: b, activation: res == nil ? activation : nil, y: out)
            Conv2D.addResidual(res, activation: activation, out, count: y.count)
            return y
        }
        let kernel = GEMM.kernel
        if let tile = Conv2D.winogradTile(g) {
            let packs = packedWeights.packs(for: kernel, use: .winograd(tile, transposed: false)) {
                Winograd.packWeights(tile: tile, weight: w, outChannels: g.outChannels, channels: g.channels,
                                     transposed: false, kernel: kernel)
            }
            WinogradConv(tile: tile, batch: g.batch, channels: g.channels, height: g.height, width: g.width,
                         outChannels: g.outChannels, outH: g.outH, outW: g.outW, top: -g.padTop, left: -g.padLeft)
                .run(x: x, packs: packs, bias: b, relu: res == nil && activation is Relu, y: out)
            if res != nil {
                Conv2D.addResidual(res, activation: activation, out, count: y.count)
            } else if !(activation is Relu) {
                Conv2D.activate(activation, out, count: y.count)
            }
            return y
        }
        if g.isSinglePixel {
            // [B, C, 1, 1] is a [B, C] matrix (squeeze-and-excitation's FC convs): one product for the batch,
            // Y = X·Wᵀ, instead of B matrix-vector products. Row-invariant: an image's row has the bits it has alone.
            let m = g.outChannels
            GEMM.sgemm(transA: false, transB: true, m: g.batch, n: m, k: g.channels, alpha: 1, a: x, lda: g.channels,
                       b: w, ldb: g.channels, beta: 0, c: out, ldc: m, rowInvariant: true)
            if let b { for n in 0..<g.batch { Vector.add(b, into: out + n * m, count: m) } }
            if res != nil {
                Conv2D.addResidual(res, activation: activation, out, count: y.count)
            } else {
                Conv2D.activate(activation, out, count: y.count)
            }
            return y
        }
        if Conv2D.runsDirect(g, kernel: kernel) {
            Conv2D.forwardDirect(g, x: x, weight: w, bias: b, residual: res, activation: activation, y: out)
            return y
        }
        if Conv2D.runsStem(g, kernel: kernel) {
            forwardStem(g, x: x, bias: b, activation: res == nil ? activation : nil, y: out)
            Conv2D.addResidual(res, activation: activation, out, count: y.count)
            return y
        }
        let mg = g.groupOutChannels, kdim = g.columnRows
        let packs = packedWeights.packs(for: kernel) {
            (0..<g.groups).map { PackedA(kernel: kernel, transA: false, m: mg, k: kdim, a: w + $0 * mg * kdim, lda: kdim) }
        }
        if g.isPointwise && g.outPlane < Conv2D.columnsPlane {
            forwardColumns(g, x: x, bias: b, residual: res, activation: activation, packs: packs, y: out)
            return y
        }
        if g.isPointwise {
            let (chunks, width, rowInvariant) = Conv2D.pointwiseChunks(g.outPlane, products: g.batch * g.groups, m: mg,
                                                                      k: kdim)
            GEMM.forEachProduct(g.batch * g.groups * chunks) { task in
                let chunk = task % chunks, group = (task / chunks) % g.groups, n = task / (chunks * g.groups)
                let c0 = chunk * width, cols = min(g.outPlane, c0 + width) - c0
                let src = x + (n * g.channels + group * g.groupChannels) * g.inPlane + c0
                let dst = out + (n * g.outChannels + group * mg) * g.outPlane + c0
                GEMM.sgemm(transA: false, transB: false, m: mg, n: cols, k: kdim, alpha: 1, a: w + group * mg * kdim,
                           lda: kdim, b: src, ldb: g.inPlane, beta: 0, c: dst, ldc: g.outPlane, packedA: packs[group],
                           rowInvariant: rowInvariant,
                           epilogue: Conv2D.blockEpilogue(b.map { $0 + group * mg }, residual: res, activation: activation,
                                                          dst, output: out, ldc: g.outPlane))
            }
            return y
        }
        // Packing the columns straight from x pays where the weights are tall and deep enough (measured on one Zen 5
        // core: ResNet's stride-2 3×3 layers 1.03–1.12× im2col; 64-row 7×7 stem and GoogLeNet's 32-row 5×5 slower).
        if mg >= 64 && kdim >= 256 {
            forwardColumns(g, x: x, bias: b, residual: res, activation: activation, packs: packs, y: out)
            return y
        }
        let (rows, rowInvariant) = g.forwardRows(budget: Conv2D.columnBudget)
        let chunks = (g.outH + rows - 1) / rows
        GEMM.forEachProduct(g.batch * g.groups * chunks) { task in
            let chunk = task % chunks, group = (task / chunks) % g.groups, n = task / (chunks * g.groups)
            let r0 = chunk * rows, r1 = min(g.outH, r0 + rows)
            let cols = (r1 - r0) * g.outW
            let src = x + (n * g.channels + group * g.groupChannels) * g.inPlane
            let dst = out + (n * g.outChannels + group * mg) * g.outPlane + r0 * g.outW
            Scratch.with(.columns, count: kdim * cols) { col in
                g.im2col(src, rows: r0..<r1, into: col)
                GEMM.sgemm(transA: false, transB: false, m: mg, n: cols, k: kdim, alpha: 1, a: w + group * mg * kdim,
                           lda: kdim, b: col, ldb: cols, beta: 0, c: dst, ldc: g.outPlane, packedA: packs[group],
                           rowInvariant: rowInvariant,
                           epilogue: Conv2D.blockEpilogue(b.map { $0 + group * mg }, residual: res, activation: activation,
                                                          dst, output: out, ldc: g.outPlane))
            }
        }
        return y
    }

    /// Pointwise planes below this many pixels go through `forwardColumns`, merged across images: 7² and 14² planes
    /// fill 77% and 88% of their 32-column panels alone (measured 1.02–1.07× on one Zen 5 core).
    static let columnsPlane = 256

    /// Adds the bias of each row (output channel), then the residual (laid out as C, row stride `ldc`), and applies
    /// the fused activation, if any, to one chunk of C.
    static func epilogue(_ b: UnsafePointer<Float>?, residual: UnsafePointer<Float>? = nil,
                         activation: (any ElementwiseLayer)?, _ c: UnsafeMutablePointer<Float>, rows: Int, cols: Int,
                         ldc: Int) {
        for r in 0..<rows {
            if let b { Vector.addScalar(b[r], into: c + r * ldc, count: cols) }
            if let residual { Vector.add(residual + r * ldc, into: c + r * ldc, count: cols) }
            activation?.applyInPlace(c + r * ldc, count: cols)
        }
    }

    /// `epilogue` as a GEMM epilogue for the product written at `c` (row stride `ldc`) inside the output `output`:
    /// each finished block gets its bias, residual (at the same place in `residual` as the block in `output`) and
    /// activation while it is still in cache.
    static func blockEpilogue(_ b: UnsafePointer<Float>?, residual: UnsafePointer<Float>?,
                              activation: (any ElementwiseLayer)?, _ c: UnsafeMutablePointer<Float>,
                              output: UnsafeMutablePointer<Float>, ldc: Int) -> GEMM.Epilogue? {
        if b == nil && residual == nil && activation == nil { return nil }
        return { rows, cols in
            let block = c + rows.lowerBound * ldc + cols.lowerBound
            epilogue(b.map { $0 + rows.lowerBound }, residual: residual.map { $0 + (block - output) },
                     activation: activation, block, rows: rows.count, cols: cols.count, ldc: ldc)
        }
    }

    /// y = act(y + residual) over a whole output in parallel chunks (paths without a per-chunk epilogue); nothing
    /// without a residual.
    static func addResidual(_ residual: UnsafePointer<Float>?, activation: (any ElementwiseLayer)?,
                            _ y: UnsafeMutablePointer<Float>, count: Int) {
        guard let residual else { return }
        Parallel.forRanges(count, grain: 1 << 16) { r in
            Vector.add(residual + r.lowerBound, into: y + r.lowerBound, count: r.count)
            activation?.applyInPlace(y + r.lowerBound, count: r.count)
        }
    }

    /// Applies the fused activation, if any, to a whole output in parallel chunks (paths without a per-chunk epilogue).
    static func activate(_ activation: (any ElementwiseLayer)?, _ y: UnsafeMutablePointer<Float>, count: Int) {
        guard let activation else { return }
        Parallel.forRanges(count, grain: 1 << 16) { r in activation.applyInPlace(y + r.lowerBound, count: r.count) }
    }

    public func backward(_ inputs: [Tensor], output: Tensor, gradOutput: Tensor, needsGrad: [Bool]) -> [Tensor?] {
        guard needsGrad.first == true else { return [nil] }
        let g = validated(inputs[0].shape)
        if let sub = g.subsampledPointwise {
            // The pointwise gradient, scattered to the pixels the forward read (zero elsewhere).
            let shape = [sub.batch, sub.channels, sub.height, sub.width]
            guard let ds = unitStride.backward([Tensor(placeholder: shape)], output: output, gradOutput: gradOutput,
                                               needsGrad: [true])[0] else { return [nil] }
            let dx = Tensor(zeros: inputs[0].shape)
            g.subsample(dx.data, ds.data, scatter: true)
            return [dx]
        }
        let dy = UnsafePointer(gradOutput.data), w = UnsafePointer(weight.data)
        if g.outPlane > 0, let tile = Conv2D.winogradTile(g) {
            // dX is the stride-1 3×3 correlation of dY (padded by 2 − pad) with the kernel rotated 180°, C ↔ M.
            let dx = Tensor(uninitialized: inputs[0].shape)
            let kernel = GEMM.kernel
            let packs = packedWeights.packs(for: kernel, use: .winograd(tile, transposed: true)) {
                Winograd.packWeights(tile: tile, weight: w, outChannels: g.outChannels, channels: g.channels,
                                     transposed: true, kernel: kernel)
            }
            WinogradConv(tile: tile, batch: g.batch, channels: g.outChannels, height: g.outH, width: g.outW,
                         outChannels: g.channels, outH: g.height, outW: g.width, top: g.padTop - 2,
                         left: g.padLeft - 2)
                .run(x: dy, packs: packs, bias: nil, relu: false, y: dx.data)
            return [dx]
        }
        // The pointwise and depthwise paths write every element; the others accumulate into zeros.
        let writesAll = g.outPlane > 0 && (g.isPointwise && g.groups == 1 || g.isDepthwise)
        let dx = writesAll ? Tensor(uninitialized: inputs[0].shape) : Tensor(zeros: inputs[0].shape)
        let out = dx.data
        if g.batch == 0 || g.outPlane == 0 { return [dx] }
        if g.isDepthwise {
            Depthwise.backward(g, gradOutput: dy, weight: w, dx: out)
            return [dx]
        }
        if g.isSinglePixel {
            // dX[B, C] = dY[B, M] · W[M, C], one row-invariant product as in forward.
            GEMM.sgemm(transA: false, transB: false, m: g.batch, n: g.channels, k: g.outChannels, alpha: 1, a: dy,
                       lda: g.outChannels, b: w, ldb: g.channels, beta: 0, c: out, ldc: g.channels, rowInvariant: true)
            return [dx]
        }
        let mg = g.groupOutChannels, kdim = g.columnRows
        let kernel = GEMM.kernel
        // Wᵀ of each group, packed once per layer (for products of all its rows).
        let transposed = { [packedWeights] in
            packedWeights.packs(for: kernel, use: .transposed) {
                (0..<g.groups).map { PackedA(kernel: kernel, transA: true, m: kdim, k: mg, a: w + $0 * mg * kdim, lda: kdim) }
            }
        }
        if g.isPointwise && Conv2D.runsDirect(g.transposedPointwise, kernel: kernel) {
            // dX = Wᵀ ⊛ dY, a pointwise convolution from M to C channels, by the forward's direct kernel.
            Conv2D.forwardDirect(g.transposedPointwise, x: dy, weight: transposedWeights(g), bias: nil, residual: nil,
                                 activation: nil, y: out)
            return [dx]
        }
        if g.isPointwise && g.outPlane < Conv2D.columnsPlane {
            // dX = Wᵀ ⊛ dY, a pointwise convolution from M to C channels: merged across images as in forward.
            let packs = transposed()
            forwardColumns(g.transposedPointwise, x: dy, bias: nil, residual: nil, activation: nil, packs: packs, y: out)
            return [dx]
        }
        if g.isPointwise {
            // dX_g[Cg, cols] = W_gᵀ · dY_g[Mg, cols]: column chunks do not overlap.
            let (chunks, width, rowInvariant) = Conv2D.pointwiseChunks(g.outPlane, products: g.batch * g.groups,
                                                                      m: kdim, k: mg)
            let packs = transposed()
            GEMM.forEachProduct(g.batch * g.groups * chunks) { task in
                let chunk = task % chunks, group = (task / chunks) % g.groups, n = task / (chunks * g.groups)
                let c0 = chunk * width, cols = min(g.outPlane, c0 + width) - c0
                let src = dy + (n * g.outChannels + group * mg) * g.outPlane + c0
                let dst = out + (n * g.channels + group * g.groupChannels) * g.inPlane + c0
                GEMM.sgemm(transA: true, transB: false, m: kdim, n: cols, k: mg, alpha: 1, a: w + group * mg * kdim,
                           lda: kdim, b: src, ldb: g.outPlane, beta: 0, c: dst, ldc: g.inPlane, packedA: packs[group],
                           rowInvariant: rowInvariant)
            }
            return [dx]
        }
        if g.outPlane < Conv2D.columnsPlane {
            gradientColumns(g, gradOutput: dy, packs: transposed(), dx: out)
            return [dx]
        }
        // Chunks of one (image, group) overlap in the input, so they run in order inside one task; while there are
        // fewer tasks than threads, each also takes only a block of input channels (rows of Wᵀ, planes of dX), whose
        // products have the bits of the whole (`GEMM.isPacked`).
        // At least 128 columns a product: deep layers (1024 channels × 3×3 on 7² planes) otherwise got chunks of one
        // output row, 7-column products on the slow unpacked path (1.1 s for 2048 channels, 31 ms forward).
        let rows = g.rowsPerChunk(budget: Conv2D.columnBudget, minColumns: 128), taps = g.kernelH * g.kernelW
        let pieces = GEMM.piecesPerProduct(g.batch * g.groups)
        let perBlock = (g.groupChannels + pieces - 1) / pieces
        let blocks = (g.groupChannels + perBlock - 1) / perBlock
        let packs = blocks == 1 ? transposed() : nil
        GEMM.forEachProduct(g.batch * g.groups * blocks) { task in
            let block = task % blocks, group = (task / blocks) % g.groups, n = task / (blocks * g.groups)
            let channels = block * perBlock ..< min(g.groupChannels, (block + 1) * perBlock)
            let src = dy + (n * g.outChannels + group * mg) * g.outPlane
            let dst = out + (n * g.channels + group * g.groupChannels) * g.inPlane
            var r0 = 0
            while r0 < g.outH {
                let r1 = min(g.outH, r0 + rows)
                let cols = (r1 - r0) * g.outW
                Scratch.with(.columns, count: channels.count * taps * cols) { col in
                    GEMM.sgemm(transA: true, transB: false, m: channels.count * taps, n: cols, k: mg, alpha: 1,
                               a: w + group * mg * kdim + channels.lowerBound * taps, lda: kdim, b: src + r0 * g.outW,
                               ldb: g.outPlane, beta: 0, c: col, ldc: cols, packedA: packs?[group],
                               rowInvariant: GEMM.isPacked(m: kdim, n: cols, k: mg))
                    g.col2im(col, rows: r0..<r1, channels: channels, into: dst)
                }
                r0 = r1
            }
        }
        return [dx]
    }
}
