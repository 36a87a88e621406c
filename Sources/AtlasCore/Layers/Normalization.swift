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

    /// Calls `body(plane, channel, spatial offset, s)` for 8-lane blocks of every plane, s = bias + α/size·Σx².
    /// The last block of a plane overlaps the previous one when the plane size is not a multiple of 8.
    private func forBlocks(_ x: Tensor, _ body: (Int, Int, Int, SIMD8<Float>) -> Void) {
        let n = x.shape[0], c = x.shape[1], hw = x.count / max(n * c, 1)
        let src = UnsafePointer(x.data)
        let (below, above) = reach
        let k = alpha / Float(size), b = bias
        Parallel.forRanges(n * c, grain: max(1, 16_384 / max(hw, 1))) { r in
            for p in r {
                let ch = p % c
                let first = p - ch + max(0, ch - below), last = p - ch + min(c - 1, ch + above)
                if hw >= 8 {
                    var i = 0
                    while i < hw {
                        let o = min(i, hw - 8)
                        var acc = SIMD8<Float>()
                        for q in first...last { let v = load8(src + q * hw + o); acc.addProduct(v, v) }
                        body(p, ch, o, acc * k + b)
                        i += 8
                    }
                } else {
                    for o in 0..<hw {
                        var acc: Float = 0
                        for q in first...last { let v = src[q * hw + o]; acc += v * v }
                        body(p, ch, o, SIMD8(repeating: acc * k + b))
                    }
                }
            }
        }
    }

    public func forward(_ inputs: [Tensor]) -> Tensor {
        let x = inputs[0]
        let y = Tensor(zeros: x.shape)
        let hw = x.count / max(x.shape[0] * x.shape[1], 1)
        let src = UnsafePointer(x.data), dst = y.data, beta = beta
        forBlocks(x) { p, _, o, s in
            let f = negativePower(s, beta)
            if hw >= 8 { store8(load8(src + p * hw + o) * f, dst + p * hw + o) } else { dst[p * hw + o] = src[p * hw + o] * f[0] }
        }
        return y
    }

    /// ∂L/∂x_j = g_j·s_j^−β − (2αβ/size)·x_j·Σ_{c: j in window(c)} g_c·x_c·s_c^(−β−1).
    public func backward(_ inputs: [Tensor], output: Tensor, gradOutput: Tensor, needsGrad: [Bool]) -> [Tensor?] {
        guard needsGrad.first == true else { return [nil] }
        let x = inputs[0]
        let n = x.shape[0], c = x.shape[1], hw = x.count / max(n * c, 1)
        let f = Tensor(zeros: x.shape), t = Tensor(zeros: x.shape)
        let src = UnsafePointer(x.data), gy = UnsafePointer(gradOutput.data)
        let pf = f.data, pt = t.data, beta = beta
        forBlocks(x) { p, _, o, s in
            let i = p * hw + o
            let fv = negativePower(s, beta)
            if hw >= 8 {
                store8(fv, pf + i)
                store8(load8(gy + i) * load8(src + i) * fv / s, pt + i)
            } else {
                pf[i] = fv[0]; pt[i] = gy[i] * src[i] * fv[0] / s[0]
            }
        }
        let gx = Tensor(zeros: x.shape)
        let dst = gx.data, ct = UnsafePointer(t.data), cf = UnsafePointer(f.data)
        let (below, above) = reach
        let k = 2 * alpha * beta / Float(size)
        Parallel.forRanges(n * c, grain: max(1, 16_384 / max(hw, 1))) { r in
            for p in r {
                let ch = p % c
                // Channels whose window contains ch: [ch − above, ch + below].
                let first = p - ch + max(0, ch - above), last = p - ch + min(c - 1, ch + below)
                var i = 0
                while i + 8 <= hw {
                    var acc = SIMD8<Float>()
                    for q in first...last { acc += load8(ct + q * hw + i) }
                    let j = p * hw + i
                    store8(load8(gy + j) * load8(cf + j) - k * load8(src + j) * acc, dst + j)
                    i += 8
                }
                while i < hw {
                    var acc: Float = 0
                    for q in first...last { acc += ct[q * hw + i] }
                    let j = p * hw + i
                    dst[j] = gy[j] * cf[j] - k * src[j] * acc
                    i += 1
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
        let x = inputs[0], y = Tensor(zeros: x.shape)
        let (a, b) = coefficients()
        BatchNorm.affine(x, into: y, a: a, b: b)
        return y
    }

    public func backward(_ inputs: [Tensor], output: Tensor, gradOutput: Tensor, needsGrad: [Bool]) -> [Tensor?] {
        guard needsGrad.first == true else { return [nil] }
        let gx = Tensor(zeros: inputs[0].shape)
        let a = coefficients().a
        BatchNorm.affine(gradOutput, into: gx, a: a, b: [Float](repeating: 0, count: a.count))
        return [gx]
    }
}
