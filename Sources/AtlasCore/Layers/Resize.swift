/// ONNX Resize restricted to the two spatial axes of NCHW tensors, with sizes given (scale = out / in).

/// Interpolation between input samples.
public enum ResizeMode: Sendable {
    /// Nearest sample: floor for `.asymmetric`, round-half-down (ONNX round_prefer_floor) otherwise.
    case nearest
    /// Bilinear; sample positions are clamped to the input (edge replication).
    case linear
}

/// How an output coordinate maps back to an input coordinate (ONNX coordinate_transformation_mode).
public enum ResizeCoordinates: Sendable {
    /// (x + 0.5) / scale − 0.5
    case halfPixel
    /// As halfPixel, but 0 when the output length is 1.
    case pytorchHalfPixel
    /// x · (in − 1) / (out − 1), 0 when the output length is 1.
    case alignCorners
    /// x / scale
    case asymmetric
}

public struct Resize: Layer {
    /// Full output shape [N, C, H, W]; N and C must match the input.
    public var outputSize: [Int]
    public var mode: ResizeMode
    public var coordinates: ResizeCoordinates

    public init(outputSize: [Int], mode: ResizeMode, coordinates: ResizeCoordinates) {
        self.outputSize = outputSize; self.mode = mode; self.coordinates = coordinates
    }

    public var name: String { "Resize" }

    public func outputShape(_ inputs: [[Int]]) throws -> [Int] {
        try expectInputCount(inputs, 1, name)
        let s = inputs[0]
        guard s.count == 4 else { throw ShapeError("Resize expects a 4-D NCHW input, got shape \(s)") }
        guard outputSize.count == 4, outputSize[2] > 0, outputSize[3] > 0 else {
            throw ShapeError("Resize: output size must be [N, C, H, W] with positive H and W, got \(outputSize)")
        }
        guard outputSize[0] == s[0], outputSize[1] == s[1] else {
            throw ShapeError("Resize: only spatial axes can be resized (input \(s), output \(outputSize))")
        }
        guard s[2] > 0, s[3] > 0 else { throw ShapeError("Resize: empty spatial input \(s)") }
        return outputSize
    }

    public func multiplyAdds(_ inputs: [[Int]]) -> Int { mode == .linear ? Tensor.elementCount(outputSize) * 3 : 0 }

    /// Input coordinate of output index `o` along an axis of `n` inputs and `m` outputs.
    func source(_ o: Int, n: Int, m: Int) -> Double {
        let x = Double(o), scale = Double(m) / Double(n)
        switch coordinates {
        case .halfPixel: return (x + 0.5) / scale - 0.5
        case .pytorchHalfPixel: return m > 1 ? (x + 0.5) / scale - 0.5 : 0
        case .alignCorners: return m == 1 ? 0 : x * Double(n - 1) / Double(m - 1)
        case .asymmetric: return x / scale
        }
    }

    /// Per output index: the two input taps and the weight of the second (nearest: one tap, weight 0).
    func taps(n: Int, m: Int) -> (i0: [Int], i1: [Int], w: [Float]) {
        var i0 = [Int](repeating: 0, count: m), i1 = i0, w = [Float](repeating: 0, count: m)
        for o in 0..<m {
            let x = source(o, n: n, m: m)
            switch mode {
            case .nearest:
                let r = coordinates == .asymmetric ? x.rounded(.down) : (x - 0.5).rounded(.up)
                i0[o] = min(max(Int(r), 0), n - 1); i1[o] = i0[o]
            case .linear:
                let c = min(max(x, 0), Double(n - 1))
                let f = c.rounded(.down)
                i0[o] = Int(f); i1[o] = min(i0[o] + 1, n - 1); w[o] = Float(c - f)
            }
        }
        return (i0, i1, w)
    }

    typealias Taps = (i0: [Int], i1: [Int], w: [Float])

    /// Calls `visit(outputIndex, input taps (4), weights (4))` for one plane, in row-major output order.
    @inline(__always)
    private func scan(_ rows: Taps, _ cols: Taps, inW: Int, _ visit: (Int, SIMD4<Int>, SIMD4<Float>) -> Void) {
        let (h0, h1, hw) = rows, (w0, w1, ww) = cols
        let outW = outputSize[3]
        for oh in 0..<outputSize[2] {
            let a = h0[oh] * inW, b = h1[oh] * inW, wy = hw[oh]
            for ow in 0..<outW {
                let wx = ww[ow]
                visit(oh * outW + ow, SIMD4(a + w0[ow], a + w1[ow], b + w0[ow], b + w1[ow]),
                      SIMD4((1 - wy) * (1 - wx), (1 - wy) * wx, wy * (1 - wx), wy * wx))
            }
        }
    }

    public func forward(_ inputs: [Tensor]) -> Tensor {
        let x = inputs[0]
        let y = Tensor(zeros: outputSize)
        let inH = x.shape[2], inW = x.shape[3], inPlane = inH * inW, outPlane = outputSize[2] * outputSize[3]
        let src = UnsafePointer(x.data), dst = y.data
        let rows = taps(n: inH, m: outputSize[2]), cols = taps(n: inW, m: outputSize[3])
        Parallel.forRanges(x.shape[0] * x.shape[1], grain: max(1, 16_384 / outPlane)) { r in
            for p in r {
                let s = src + p * inPlane, d = dst + p * outPlane
                scan(rows, cols, inW: inW) { o, i, w in
                    d[o] = w[0] * s[i[0]] + w[1] * s[i[1]] + w[2] * s[i[2]] + w[3] * s[i[3]]
                }
            }
        }
        return y
    }

    /// Scatters each output gradient to its taps with the forward weights, plane by plane in output order.
    public func backward(_ inputs: [Tensor], output: Tensor, gradOutput: Tensor, needsGrad: [Bool]) -> [Tensor?] {
        guard needsGrad.first == true else { return [nil] }
        let x = inputs[0]
        let gx = Tensor(zeros: x.shape)
        let inH = x.shape[2], inW = x.shape[3], inPlane = inH * inW, outPlane = outputSize[2] * outputSize[3]
        let g = UnsafePointer(gradOutput.data), dst = gx.data
        let rows = taps(n: inH, m: outputSize[2]), cols = taps(n: inW, m: outputSize[3])
        Parallel.forRanges(x.shape[0] * x.shape[1], grain: max(1, 16_384 / outPlane)) { r in
            for p in r {
                let go = g + p * outPlane, d = dst + p * inPlane
                scan(rows, cols, inW: inW) { o, i, w in
                    let v = go[o]
                    d[i[0]] += w[0] * v; d[i[1]] += w[1] * v; d[i[2]] += w[2] * v; d[i[3]] += w[3] * v
                }
            }
        }
        return [gx]
    }
}
