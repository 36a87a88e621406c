/// 2-D pooling on NCHW tensors (ONNX MaxPool, AveragePool, GlobalAveragePool, GlobalMaxPool).
/// Work runs in parallel over (n, c) planes; each plane is computed by one thread in a fixed order.

/// Window geometry of a 2-D pooling layer, validated against an input shape.
struct PoolGeometry {
    let kh: Int, kw: Int, sh: Int, sw: Int, dh: Int, dw: Int
    let top: Int, left: Int, bottom: Int, right: Int
    let planes: Int, inH: Int, inW: Int, outH: Int, outW: Int

    /// ONNX output length: floor or ceil of (in + pads − effective kernel) / stride, plus one; in ceil mode a
    /// last window that would start inside the end padding is dropped.
    static func outputLength(_ n: Int, kernel: Int, stride: Int, begin: Int, end: Int, dilation: Int, ceil: Bool) -> Int {
        let span = n + begin + end - ((kernel - 1) * dilation + 1)
        var out = (ceil ? (span + stride - 1) / stride : span / stride) + 1
        if ceil && (out - 1) * stride >= n + begin { out -= 1 }
        return out
    }

    init(op: String, shape: [Int], kernel: [Int], stride: [Int], pads: [Int], dilation: [Int], ceil: Bool) throws {
        guard shape.count == 4 else { throw ShapeError("\(op) expects a 4-D NCHW input, got shape \(shape)") }
        guard kernel.count == 2, kernel.allSatisfy({ $0 > 0 }) else {
            throw ShapeError("\(op): kernel must be two positive sizes, got \(kernel)")
        }
        let s = stride.isEmpty ? [1, 1] : stride, d = dilation.isEmpty ? [1, 1] : dilation
        let p = pads.isEmpty ? [0, 0, 0, 0] : pads
        guard s.count == 2, s.allSatisfy({ $0 > 0 }) else { throw ShapeError("\(op): strides must be two positive values, got \(stride)") }
        guard d.count == 2, d.allSatisfy({ $0 > 0 }) else { throw ShapeError("\(op): dilations must be two positive values, got \(dilation)") }
        guard p.count == 4, p.allSatisfy({ $0 >= 0 }) else {
            throw ShapeError("\(op): pads must be four non-negative values [top, left, bottom, right], got \(pads)")
        }
        kh = kernel[0]; kw = kernel[1]; sh = s[0]; sw = s[1]; dh = d[0]; dw = d[1]
        top = p[0]; left = p[1]; bottom = p[2]; right = p[3]
        planes = shape[0] * shape[1]; inH = shape[2]; inW = shape[3]
        let ekh = (kh - 1) * dh + 1, ekw = (kw - 1) * dw + 1
        guard top < ekh, bottom < ekh, left < ekw, right < ekw else {
            throw ShapeError("\(op): pads \(p) must be smaller than the (dilated) kernel \([ekh, ekw])")
        }
        guard inH + top + bottom >= ekh, inW + left + right >= ekw else {
            throw ShapeError("\(op): kernel \([ekh, ekw]) is larger than the padded input \([inH + top + bottom, inW + left + right])")
        }
        outH = PoolGeometry.outputLength(inH, kernel: kh, stride: sh, begin: top, end: bottom, dilation: dh, ceil: ceil)
        outW = PoolGeometry.outputLength(inW, kernel: kw, stride: sw, begin: left, end: right, dilation: dw, ceil: ceil)
    }

    var outputShape: [Int] { [planes, outH, outW] }

    /// Valid tap range [lo, hi) of a window starting at `start` over `n` inputs (taps start + i·d inside 0..<n).
    @inline(__always) static func taps(start: Int, kernel: Int, dilation: Int, n: Int) -> (Int, Int) {
        let lo = start >= 0 ? 0 : (-start + dilation - 1) / dilation
        let hi = n - start <= 0 ? 0 : Swift.min(kernel, (n - start + dilation - 1) / dilation)
        return (lo, Swift.max(lo, hi))
    }

    /// Runs `body(plane)` in parallel over planes, grouping small planes into one chunk.
    func forPlanes(_ body: (Int) -> Void) {
        let grain = Swift.max(1, 16_384 / Swift.max(1, inH * inW))
        Parallel.forRanges(planes, grain: grain) { r in for p in r { body(p) } }
    }
}

/// Max pooling with padding (−∞), strides, dilation and ceil mode. The gradient goes to the first maximum
/// of each window in row-major scan order.
public struct MaxPool: Layer {
    public var kernel: [Int], stride: [Int], pads: [Int], dilation: [Int], ceilMode: Bool

    public init(kernel: [Int], stride: [Int], pads: [Int], dilation: [Int], ceilMode: Bool) {
        self.kernel = kernel; self.stride = stride; self.pads = pads; self.dilation = dilation; self.ceilMode = ceilMode
    }

    public var name: String { "MaxPool" }

    func geometry(_ shape: [Int]) throws -> PoolGeometry {
        try PoolGeometry(op: name, shape: shape, kernel: kernel, stride: stride, pads: pads, dilation: dilation, ceil: ceilMode)
    }

    public func outputShape(_ inputs: [[Int]]) throws -> [Int] {
        try expectInputCount(inputs, 1, name)
        let g = try geometry(inputs[0])
        return [inputs[0][0], inputs[0][1], g.outH, g.outW]
    }

    public func multiplyAdds(_ inputs: [[Int]]) -> Int {
        guard let g = try? geometry(inputs[0]) else { return 0 }
        return g.planes * g.outH * g.outW * g.kh * g.kw
    }

    /// Calls `visit(outputIndex, inputIndex of the first max or −1, max)` for every output of one plane.
    @inline(__always)
    static func scan(_ g: PoolGeometry, _ src: UnsafePointer<Float>, _ visit: (Int, Int, Float) -> Void) {
        for oh in 0..<g.outH {
            let h0 = oh * g.sh - g.top
            let (i0, i1) = PoolGeometry.taps(start: h0, kernel: g.kh, dilation: g.dh, n: g.inH)
            for ow in 0..<g.outW {
                let w0 = ow * g.sw - g.left
                let (j0, j1) = PoolGeometry.taps(start: w0, kernel: g.kw, dilation: g.dw, n: g.inW)
                var best = -Float.infinity, arg = -1
                for i in i0..<i1 {
                    let rowStart = (h0 + i * g.dh) * g.inW + w0
                    for j in j0..<j1 {
                        let v = src[rowStart + j * g.dw]
                        if v > best { best = v; arg = rowStart + j * g.dw }
                    }
                }
                visit(oh * g.outW + ow, arg, best)
            }
        }
    }

    public func forward(_ inputs: [Tensor]) -> Tensor {
        let x = inputs[0]
        guard let g = try? geometry(x.shape) else { preconditionFailure("MaxPool: unvalidated shape \(x.shape)") }
        let y = Tensor(zeros: [x.shape[0], x.shape[1], g.outH, g.outW])
        let src = UnsafePointer(x.data), dst = y.data
        let inPlane = g.inH * g.inW, outPlane = g.outH * g.outW
        g.forPlanes { p in
            let s = src + p * inPlane, d = dst + p * outPlane
            if g.dh == 1 && g.dw == 1 && g.kh * g.kw <= 16 {
                MaxPool.scanDense(g, s) { o, v in d[o] = v }
            } else {
                MaxPool.scan(g, s) { o, _, v in d[o] = v }
            }
        }
        return y
    }

    /// Undilated forward: interior windows run without bounds checks.
    @inline(__always)
    static func scanDense(_ g: PoolGeometry, _ src: UnsafePointer<Float>, _ write: (Int, Float) -> Void) {
        for oh in 0..<g.outH {
            let h0 = oh * g.sh - g.top
            let (i0, i1) = PoolGeometry.taps(start: h0, kernel: g.kh, dilation: 1, n: g.inH)
            for ow in 0..<g.outW {
                let w0 = ow * g.sw - g.left
                let (j0, j1) = PoolGeometry.taps(start: w0, kernel: g.kw, dilation: 1, n: g.inW)
                var best = -Float.infinity
                var row = src + (h0 + i0) * g.inW + w0
                for _ in i0..<i1 {
                    for j in j0..<j1 { best = Swift.max(best, row[j]) }
                    row += g.inW
                }
                write(oh * g.outW + ow, best)
            }
        }
    }

    public func backward(_ inputs: [Tensor], output: Tensor, gradOutput: Tensor, needsGrad: [Bool]) -> [Tensor?] {
        guard needsGrad.first == true else { return [nil] }
        let x = inputs[0]
        guard let g = try? geometry(x.shape) else { preconditionFailure("MaxPool: unvalidated shape \(x.shape)") }
        let gx = Tensor(zeros: x.shape)
        let src = UnsafePointer(x.data), gy = UnsafePointer(gradOutput.data), dst = gx.data
        let inPlane = g.inH * g.inW, outPlane = g.outH * g.outW
        g.forPlanes { p in
            let d = dst + p * inPlane, go = gy + p * outPlane
            MaxPool.scan(g, src + p * inPlane) { o, arg, _ in if arg >= 0 { d[arg] += go[o] } }
        }
        return [gx]
    }
}

/// Average pooling with padding, strides and ceil mode. With `countIncludePad` the divisor counts padding
/// cells (but not window parts beyond the end padding, as in PyTorch); otherwise only input cells.
public struct AveragePool: Layer {
    public var kernel: [Int], stride: [Int], pads: [Int], ceilMode: Bool, countIncludePad: Bool

    public init(kernel: [Int], stride: [Int], pads: [Int], ceilMode: Bool, countIncludePad: Bool) {
        self.kernel = kernel; self.stride = stride; self.pads = pads; self.ceilMode = ceilMode
        self.countIncludePad = countIncludePad
    }

    public var name: String { "AveragePool" }

    func geometry(_ shape: [Int]) throws -> PoolGeometry {
        try PoolGeometry(op: name, shape: shape, kernel: kernel, stride: stride, pads: pads, dilation: [1, 1], ceil: ceilMode)
    }

    public func outputShape(_ inputs: [[Int]]) throws -> [Int] {
        try expectInputCount(inputs, 1, name)
        let g = try geometry(inputs[0])
        return [inputs[0][0], inputs[0][1], g.outH, g.outW]
    }

    public func multiplyAdds(_ inputs: [[Int]]) -> Int {
        guard let g = try? geometry(inputs[0]) else { return 0 }
        return g.planes * g.outH * g.outW * g.kh * g.kw
    }

    /// Calls `visit(outputIndex, rows, cols, divisor)` with the window's valid input rows and columns.
    @inline(__always)
    static func windows(_ g: PoolGeometry, includePad: Bool, _ visit: (Int, Range<Int>, Range<Int>, Float) -> Void) {
        for oh in 0..<g.outH {
            let hs = oh * g.sh - g.top, he = Swift.min(hs + g.kh, g.inH + g.bottom)
            let rows = Swift.max(hs, 0) ..< Swift.max(Swift.max(hs, 0), Swift.min(he, g.inH))
            for ow in 0..<g.outW {
                let ws = ow * g.sw - g.left, we = Swift.min(ws + g.kw, g.inW + g.right)
                let cols = Swift.max(ws, 0) ..< Swift.max(Swift.max(ws, 0), Swift.min(we, g.inW))
                let count = includePad ? (he - hs) * (we - ws) : rows.count * cols.count
                visit(oh * g.outW + ow, rows, cols, Float(Swift.max(count, 1)))
            }
        }
    }

    public func forward(_ inputs: [Tensor]) -> Tensor {
        let x = inputs[0]
        guard let g = try? geometry(x.shape) else { preconditionFailure("AveragePool: unvalidated shape \(x.shape)") }
        let y = Tensor(zeros: [x.shape[0], x.shape[1], g.outH, g.outW])
        let src = UnsafePointer(x.data), dst = y.data
        let inPlane = g.inH * g.inW, outPlane = g.outH * g.outW, include = countIncludePad
        g.forPlanes { p in
            let s = src + p * inPlane, d = dst + p * outPlane
            AveragePool.windows(g, includePad: include) { o, rows, cols, divisor in
                var sum: Float = 0
                for h in rows { for w in cols { sum += s[h * g.inW + w] } }
                d[o] = sum / divisor
            }
        }
        return y
    }

    public func backward(_ inputs: [Tensor], output: Tensor, gradOutput: Tensor, needsGrad: [Bool]) -> [Tensor?] {
        guard needsGrad.first == true else { return [nil] }
        let x = inputs[0]
        guard let g = try? geometry(x.shape) else { preconditionFailure("AveragePool: unvalidated shape \(x.shape)") }
        let gx = Tensor(zeros: x.shape)
        let gy = UnsafePointer(gradOutput.data), dst = gx.data
        let inPlane = g.inH * g.inW, outPlane = g.outH * g.outW, include = countIncludePad
        g.forPlanes { p in
            let d = dst + p * inPlane, go = gy + p * outPlane
            AveragePool.windows(g, includePad: include) { o, rows, cols, divisor in
                let v = go[o] / divisor
                for h in rows { for w in cols { d[h * g.inW + w] += v } }
            }
        }
        return [gx]
    }
}

/// Planes and plane size of a global pooling input (rank ≥ 3: N, C, spatial…).
private func globalPoolShape(_ op: String, _ inputs: [[Int]]) throws -> [Int] {
    try expectInputCount(inputs, 1, op)
    let s = inputs[0]
    guard s.count >= 3 else { throw ShapeError("\(op) expects an input of rank ≥ 3 (N, C, spatial…), got shape \(s)") }
    guard s[2...].allSatisfy({ $0 > 0 }) else { throw ShapeError("\(op): empty spatial dimensions in \(s)") }
    return [s[0], s[1]] + [Int](repeating: 1, count: s.count - 2)
}

/// Mean over all spatial positions of each (n, c) plane; output [N, C, 1, 1].
public struct GlobalAveragePool: Layer {
    public init() {}
    public var name: String { "GlobalAveragePool" }
    public func outputShape(_ inputs: [[Int]]) throws -> [Int] { try globalPoolShape(name, inputs) }
    public func multiplyAdds(_ inputs: [[Int]]) -> Int { inputs.first.map(Tensor.elementCount) ?? 0 }

    public func forward(_ inputs: [Tensor]) -> Tensor {
        let x = inputs[0]
        let planes = x.shape[0] * x.shape[1], size = x.count / max(planes, 1)
        let y = Tensor(zeros: [x.shape[0], x.shape[1]] + [Int](repeating: 1, count: x.rank - 2))
        let src = UnsafePointer(x.data), dst = y.data, scale = 1 / Float(size)
        Parallel.forRanges(planes, grain: max(1, 16_384 / size)) { r in
            for p in r { dst[p] = Broadcast.rowSum(src + p * size, size) * scale }
        }
        return y
    }

    public func backward(_ inputs: [Tensor], output: Tensor, gradOutput: Tensor, needsGrad: [Bool]) -> [Tensor?] {
        guard needsGrad.first == true else { return [nil] }
        let x = inputs[0]
        let planes = x.shape[0] * x.shape[1], size = x.count / max(planes, 1)
        let gx = Tensor(zeros: x.shape)
        let gy = UnsafePointer(gradOutput.data), dst = gx.data, scale = 1 / Float(size)
        Parallel.forRanges(planes, grain: max(1, 16_384 / size)) { r in
            for p in r { (dst + p * size).update(repeating: gy[p] * scale, count: size) }
        }
        return [gx]
    }
}

/// Maximum over all spatial positions of each (n, c) plane; the gradient goes to the first maximum.
public struct GlobalMaxPool: Layer {
    public init() {}
    public var name: String { "GlobalMaxPool" }
    public func outputShape(_ inputs: [[Int]]) throws -> [Int] { try globalPoolShape(name, inputs) }

    /// Index of the first maximum of `n` floats (−1 when all are NaN or −∞).
    @inline(__always) static func argmax(_ p: UnsafePointer<Float>, _ n: Int) -> (Int, Float) {
        var best = -Float.infinity, arg = -1
        for i in 0..<n where p[i] > best { best = p[i]; arg = i }
        return (arg, best)
    }

    public func forward(_ inputs: [Tensor]) -> Tensor {
        let x = inputs[0]
        let planes = x.shape[0] * x.shape[1], size = x.count / max(planes, 1)
        let y = Tensor(zeros: [x.shape[0], x.shape[1]] + [Int](repeating: 1, count: x.rank - 2))
        let src = UnsafePointer(x.data), dst = y.data
        Parallel.forRanges(planes, grain: max(1, 16_384 / size)) { r in
            for p in r { dst[p] = GlobalMaxPool.argmax(src + p * size, size).1 }
        }
        return y
    }

    public func backward(_ inputs: [Tensor], output: Tensor, gradOutput: Tensor, needsGrad: [Bool]) -> [Tensor?] {
        guard needsGrad.first == true else { return [nil] }
        let x = inputs[0]
        let planes = x.shape[0] * x.shape[1], size = x.count / max(planes, 1)
        let gx = Tensor(zeros: x.shape)
        let src = UnsafePointer(x.data), gy = UnsafePointer(gradOutput.data), dst = gx.data
        Parallel.forRanges(planes, grain: max(1, 16_384 / size)) { r in
            for p in r {
                let arg = GlobalMaxPool.argmax(src + p * size, size).0
                if arg >= 0 { dst[p * size + arg] = gy[p] }
            }
        }
        return [gx]
    }
}
