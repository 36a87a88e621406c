import Foundation

/// Per-channel normalizations on NCHW tensors: LRN (across channels) and inference BatchNormalization.

/// s^−β for eight values, with exact square-root paths for the common β = 0.75, 0.5 and 1.
@inline(__always) func negativePower(_ s: SIMD8<Float>, _ beta: Float) -> SIMD8<Float> {
    switch beta {
    case 0.75:
        let r = s.squareRoot()
        return 1 / (r * r.squareRoot())
    case 0.5: return 1 / s.squareRoot()
    case 1: return 1 / s
    default:
        var out = SIMD8<Float>()
        for i in 0..<8 { out[i] = Foundation.pow(s[i], -beta) }
        return out
    }
}

/// Local response normalization across channels (ONNX LRN):
/// y = x / (bias + alpha/size · Σ x²)^beta, the sum over channels [c − ⌊(size−1)/2⌋, c + ⌈(size−1)/2⌉].
public struct LRN: Layer {
    public var size: Int, alpha: Float, beta: Float, bias: Float

    public init(size: Int, alpha: Float = 1e-4, beta: Float = 0.75, bias: Float = 1) {
        self.size = size; self.alpha = alpha; self.beta = beta; self.bias = bias
    }

    public var name: String { "LRN" }

    /// Channels below and above c in the window.
    var reach: (below: Int, above: Int) { ((size - 1) / 2, size / 2) }

    public func outputShape(_ inputs: [[Int]]) throws -> [Int] {
        try expectInputCount(inputs, 1, name)
        guard size > 0 else { throw ShapeError("LRN: size must be positive, got \(size)") }
        guard inputs[0].count >= 3 else { throw ShapeError("LRN expects an input of rank ≥ 3 (N, C, spatial…), got shape \(inputs[0])") }
        return inputs[0]
    }

    public func multiplyAdds(_ inputs: [[Int]]) -> Int { (inputs.first.map(Tensor.elementCount) ?? 0) * (size + 2) }

    /// Column blocks across all channels: `body(image, spatial offset, lanes, vectors, scratch)` for blocks of up to
    /// 8 × 16 contiguous spatial positions (one partial 16-lane vector when a plane is smaller than 16). The last
    /// block of a plane overlaps the previous one when the plane size is not a multiple of the block; overlapping
    /// positions compute the same values again. Each task gets a scratch of `buffers` × C × vectors 16-lane vectors,
    /// so a block's channels are read from memory once (contiguous runs the prefetcher follows), then swept in cache.
    private func forColumns(_ shape: [Int], buffers: Int,
                            _ body: (Int, Int, Int, Int, UnsafeMutablePointer<SIMD16<Float>>) -> Void) {
        let n = shape[0], c = shape[1], hw = Tensor.elementCount(Array(shape[2...]))
        guard n > 0, c > 0, hw > 0 else { return }
        let lanes = Swift.min(16, hw), vectors = Swift.max(1, Swift.min(8, hw / 16)), width = lanes * vectors
        let blocks = (hw + width - 1) / width
        let grain = Swift.max(1, 65_536 / Swift.max(1, c * width))   // about 64K floats of input per task
        Parallel.forRanges(n * blocks, grain: grain) { r in
            Scratch.with(.layer, count: buffers * c * vectors * 16) { floats in
                floats.withMemoryRebound(to: SIMD16<Float>.self, capacity: buffers * c * vectors) { scratch in
                    for task in r {
                        let image = task / blocks, o = Swift.min((task % blocks) * width, hw - width)
                        body(image, o, lanes, vectors, scratch)
                    }
                }
            }
        }
    }

    /// 16 floats at `p` (the first `lanes`, the rest zero when a plane is narrower than 16).
    @inline(__always) private static func load(_ p: UnsafePointer<Float>, _ lanes: Int) -> SIMD16<Float> {
        if lanes == 16 { return load16(p) }
        var v = SIMD16<Float>()
        for i in 0..<lanes { v[i] = p[i] }
        return v
    }

    @inline(__always) private static func store(_ v: SIMD16<Float>, _ p: UnsafeMutablePointer<Float>, _ lanes: Int) {
        if lanes == 16 { UnsafeMutableRawPointer(p).storeBytes(of: v, as: SIMD16<Float>.self); return }
        for i in 0..<lanes { p[i] = v[i] }
    }

    /// s^−β on 16 lanes (two 8-lane halves).
    @inline(__always) private static func power(_ s: SIMD16<Float>, _ beta: Float) -> SIMD16<Float> {
        SIMD16(lowHalf: negativePower(s.lowHalf, beta), highHalf: negativePower(s.highHalf, beta))
    }

    /// Copies one block (`vectors` vectors of every channel) from `src` into `xs[ch · vectors + j]`.
    @inline(__always) private static func gather(_ src: UnsafePointer<Float>, _ xs: UnsafeMutablePointer<SIMD16<Float>>,
                                                 c: Int, hw: Int, lanes: Int, vectors: Int) {
        for ch in 0..<c { for j in 0..<vectors { xs[ch * vectors + j] = load(src + ch * hw + j * 16, lanes) } }
    }

    /// s = bias + α/size·Σx² over the channel window [q0, q1] of vector `j` of a gathered block, summed in channel
    /// order (the same bits in forward and backward).
    @inline(__always) private func windowSum(_ xs: UnsafeMutablePointer<SIMD16<Float>>, _ q0: Int, _ q1: Int, _ j: Int,
                                             _ vectors: Int) -> SIMD16<Float> {
        var acc = SIMD16<Float>()
        for q in q0...q1 { let v = xs[q * vectors + j]; acc.addProduct(v, v) }
        return acc * (alpha / Float(size)) + bias
    }

    public func forward(_ inputs: [Tensor]) -> Tensor {
        let x = inputs[0]
        let y = Tensor(uninitialized: x.shape)   // every element is written
        let c = x.shape[1], hw = x.count / Swift.max(x.shape[0] * c, 1)
        let src = UnsafePointer(x.data), dst = y.data, beta = beta
        let (below, above) = reach
        forColumns(x.shape, buffers: 1) { image, o, lanes, vectors, xs in
            let base = image * c * hw + o
            LRN.gather(src + base, xs, c: c, hw: hw, lanes: lanes, vectors: vectors)
            for ch in 0..<c {
                let q0 = Swift.max(0, ch - below), q1 = Swift.min(c - 1, ch + above)
                for j in 0..<vectors {
                    let f = LRN.power(windowSum(xs, q0, q1, j, vectors), beta)
                    LRN.store(xs[ch * vectors + j] * f, dst + base + ch * hw + j * 16, lanes)
                }
            }
        }
        return y
    }

    /// ∂L/∂x_j = g_j·s_j^−β − (2αβ/size)·x_j·Σ_{c: j in window(c)} g_c·x_c·s_c^(−β−1), one channel sweep per block.
    public func backward(_ inputs: [Tensor], output: Tensor, gradOutput: Tensor, needsGrad: [Bool]) -> [Tensor?] {
        guard needsGrad.first == true else { return [nil] }
        let x = inputs[0]
        let c = x.shape[1], hw = x.count / Swift.max(x.shape[0] * c, 1)
        let gx = Tensor(uninitialized: x.shape)   // every element is written
        let src = UnsafePointer(x.data), gy = UnsafePointer(gradOutput.data), dst = gx.data
        let (below, above) = reach
        let beta = beta, k2 = 2 * alpha * beta / Float(size)
        forColumns(x.shape, buffers: 3) { image, o, lanes, vectors, scratch in
            let xs = scratch, fs = scratch + c * vectors, ts = scratch + 2 * c * vectors
            let base = image * c * hw + o
            LRN.gather(src + base, xs, c: c, hw: hw, lanes: lanes, vectors: vectors)
            for ch in 0..<c {
                let q0 = Swift.max(0, ch - below), q1 = Swift.min(c - 1, ch + above)
                for j in 0..<vectors {
                    let s = windowSum(xs, q0, q1, j, vectors), f = LRN.power(s, beta), i = ch * vectors + j
                    fs[i] = f
                    ts[i] = LRN.load(gy + base + ch * hw + j * 16, lanes) * xs[i] * f / s
                }
            }
            for ch in 0..<c {
                // Channels whose window contains ch: [ch − above, ch + below].
                let q0 = Swift.max(0, ch - above), q1 = Swift.min(c - 1, ch + below)
                for j in 0..<vectors {
                    var acc = SIMD16<Float>()
                    for q in q0...q1 { acc += ts[q * vectors + j] }
                    let i = ch * vectors + j, at = base + ch * hw + j * 16
                    LRN.store(LRN.load(gy + at, lanes) * fs[i] - k2 * xs[i] * acc, dst + at, lanes)
                }
            }
        }
        return [gx]
    }
}

/// Inference batch normalization along axis 1: y = (x − mean)/√(variance + ε)·scale + bias, applied as one
/// per-channel multiply-add.
public struct BatchNorm: Layer {
    public var scale: Tensor, bias: Tensor, mean: Tensor, variance: Tensor, epsilon: Float

    public init(scale: Tensor, bias: Tensor, mean: Tensor, variance: Tensor, epsilon: Float = 1e-5) {
        self.scale = scale; self.bias = bias; self.mean = mean; self.variance = variance; self.epsilon = epsilon
    }

    public var name: String { "BatchNormalization" }

    public func outputShape(_ inputs: [[Int]]) throws -> [Int] {
        try expectInputCount(inputs, 1, name)
        let s = inputs[0]
        guard s.count >= 2 else { throw ShapeError("BatchNormalization expects an input of rank ≥ 2 (N, C, …), got shape \(s)") }
        for (label, t) in [("scale", scale), ("bias", bias), ("mean", mean), ("variance", variance)] where t.count != s[1] {
            throw ShapeError("BatchNormalization: \(label) has \(t.count) values for \(s[1]) channels")
        }
        return s
    }

    public func multiplyAdds(_ inputs: [[Int]]) -> Int { inputs.first.map(Tensor.elementCount) ?? 0 }

    /// Per-channel multiplier a and offset b with y = a·x + b.
    public func coefficients() -> (a: [Float], b: [Float]) {
        var a = [Float](repeating: 0, count: scale.count), b = a
        for c in 0..<scale.count {
            let inv = 1 / (Double(variance.data[c]) + Double(epsilon)).squareRoot()
            a[c] = Float(Double(scale.data[c]) * inv)
            b[c] = Float(Double(bias.data[c]) - Double(mean.data[c]) * Double(scale.data[c]) * inv)
        }
        return (a, b)
    }

    /// out = a[c]·src + b[c] per plane, in parallel over planes.
    private static func affine(_ src: Tensor, into out: Tensor, a: [Float], b: [Float]) {
        let channels = src.shape[1], planes = src.shape[0] * channels, size = src.count / max(planes, 1)
        let s = UnsafePointer(src.data), d = out.data
        a.withUnsafeBufferPointer { pa in
            b.withUnsafeBufferPointer { pb in
                let ma = pa.baseAddress!, mb = pb.baseAddress!
                Parallel.forRanges(planes, grain: max(1, Broadcast.grain / max(size, 1))) { r in
                    for p in r {
                        let ch = p % channels, av = SIMD8<Float>(repeating: ma[ch]), bv = SIMD8<Float>(repeating: mb[ch])
                        let x = s + p * size, y = d + p * size
                        var i = 0
                        while i + 8 <= size { var v = bv; v.addProduct(load8(x + i), av); store8(v, y + i); i += 8 }
                        while i < size { y[i] = ma[ch] * x[i] + mb[ch]; i += 1 }
                    }
                }
            }
        }
    }

    public func forward(_ inputs: [Tensor]) -> Tensor {
        let x = inputs[0], y = Tensor(uninitialized: x.shape)
        let (a, b) = coefficients()
        BatchNorm.affine(x, into: y, a: a, b: b)
        return y
    }

    public func backward(_ inputs: [Tensor], output: Tensor, gradOutput: Tensor, needsGrad: [Bool]) -> [Tensor?] {
        guard needsGrad.first == true else { return [nil] }
        let gx = Tensor(uninitialized: inputs[0].shape)
        let a = coefficients().a
        BatchNorm.affine(gradOutput, into: gx, a: a, b: [Float](repeating: 0, count: a.count))
        return [gx]
    }
}
