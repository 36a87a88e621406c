/// 2-D pooling on NCHW tensors (ONNX MaxPool, AveragePool, GlobalAveragePool, GlobalMaxPool).
/// Work runs in parallel over (n, c) planes; each plane is computed by one thread in a fixed order.

/// Window geometry of a 2-D pooling layer, validated against an input shape.
struct PoolGeometry {
    let kh: Int, kw: Int, sh: Int, sw: Int, dh: Int, dw: Int
    let top: Int, left: Int, bottom: Int, right: Int
    let planes: Int, inH: Int, inW: Int, outH: Int, outW: Int
    /// Valid tap ranges [lo, hi) of each output row's and column's window (precomputed: no divisions in loops).
    let rowLo: [Int], rowHi: [Int], colLo: [Int], colHi: [Int]

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
        let rows = (0..<outH).map { PoolGeometry.taps(start: $0 * s[0] - p[0], kernel: kernel[0], dilation: d[0], n: shape[2]) }
        let cols = (0..<outW).map { PoolGeometry.taps(start: $0 * s[1] - p[1], kernel: kernel[1], dilation: d[1], n: shape[3]) }
        rowLo = rows.map(\.0); rowHi = rows.map(\.1); colLo = cols.map(\.0); colHi = cols.map(\.1)
    }

    var outputShape: [Int] { [planes, outH, outW] }

    /// Output columns whose taps (and, for column stride 2, one extra odd element) stay inside the input row: where
    /// the eight-lane max-pool paths may load (used only with unit column dilation and stride 1 or 2).
    var vectorColumns: (start: Int, end: Int) {
        let span = inW - 1 - (kw - 1) + left - (sw == 2 ? 1 : 0)
        return ((left + sw - 1) / sw, span < 0 ? 0 : Swift.min(outW, span / sw + 1))
    }

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
            for ow in 0..<g.outW {
                let (arg, best) = firstMax(g, src, oh, ow)
                visit(oh * g.outW + ow, arg, best)
            }
        }
    }

    /// The window of output (oh, ow) in one plane: the input index of its first maximum in row-major order (−1 when
    /// every tap is NaN or −∞, or there is none) and the maximum.
    @inline(__always)
    static func firstMax(_ g: PoolGeometry, _ src: UnsafePointer<Float>, _ oh: Int, _ ow: Int) -> (Int, Float) {
        let h0 = oh * g.sh - g.top, w0 = ow * g.sw - g.left
        var best = -Float.infinity, arg = -1
        for i in g.rowLo[oh]..<g.rowHi[oh] {
            let rowStart = (h0 + i * g.dh) * g.inW + w0
            for j in g.colLo[ow]..<g.colHi[ow] {
                let v = src[rowStart + j * g.dw]
                if v > best { best = v; arg = rowStart + j * g.dw }
            }
        }
        return (arg, best)
    }

    public func forward(_ inputs: [Tensor]) -> Tensor {
        let x = inputs[0]
        guard let g = try? geometry(x.shape) else { preconditionFailure("MaxPool: unvalidated shape \(x.shape)") }
        let y = Tensor(uninitialized: [x.shape[0], x.shape[1], g.outH, g.outW])   // every output is written
        let src = UnsafePointer(x.data), dst = y.data
        let inPlane = g.inH * g.inW, outPlane = g.outH * g.outW
        let vector = g.dw == 1 && (g.sw == 1 || g.sw == 2)
        // Separable where a window row is read by several output rows (3×3 stride 1: 6 comparisons an output, not 9).
        let separable = vector && g.kh > 1 && g.sh < g.kh * g.dh
        // The pool branch of Inception blocks (3×3, stride 1, padding 1): whole planes as one row, any width.
        let same3 = g.kh == 3 && g.kw == 3 && g.sh == 1 && g.sw == 1 && g.dh == 1 && g.dw == 1 &&
            [g.top, g.left, g.bottom, g.right] == [1, 1, 1, 1]
        let edges = same3 ? MaxPool.planeEdges(g) : []
        g.forPlanes { p in
            let s = src + p * inPlane, d = dst + p * outPlane
            if same3 {
                Scratch.with(.layer, count: 2 * inPlane + 2 * g.inW + 32) {
                    MaxPool.forward3x3Same(g, s, d, edges: edges, scratch: $0)
                }
            } else if separable {
                Scratch.with(.layer, count: g.inH * g.outW) { MaxPool.forwardSeparable(g, s, d, rows: $0) }
            } else if vector {
                MaxPool.forwardPlane(g, s, d)
            } else {
                MaxPool.scan(g, s) { o, _, v in d[o] = v }
            }
        }
        return y
    }

    public func backward(_ inputs: [Tensor], output: Tensor, gradOutput: Tensor, needsGrad: [Bool]) -> [Tensor?] {
        guard needsGrad.first == true else { return [nil] }
        let x = inputs[0]
        guard let g = try? geometry(x.shape) else { preconditionFailure("MaxPool: unvalidated shape \(x.shape)") }
        if MaxPool.searchesFramed(g) { return [backwardSixteenLanes(g, x, output: output, gradOutput: gradOutput)] }
        let gx = Tensor(zeros: x.shape)
        let src = UnsafePointer(x.data), gy = UnsafePointer(gradOutput.data), dst = gx.data
        let inPlane = g.inH * g.inW, outPlane = g.outH * g.outW
        let frame = g.dw == 1 && (g.sw == 1 || g.sw == 2) ? MaxPool.Frame(g, lanes: 8) : nil
        g.forPlanes { p in
            let d = dst + p * inPlane, go = gy + p * outPlane
            if let frame {
                Scratch.with(.layer, count: frame.count) {
                    MaxPool.backwardFramed(g, frame, src + p * inPlane, go, d, scratch: $0)
                }
            } else {
                MaxPool.scan(g, src + p * inPlane) { o, arg, _ in if arg >= 0 { d[arg] += go[o] } }
            }
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

    /// Per output row and column: the divisor factor (the window's padded or valid extent).
    private func extents(_ g: PoolGeometry) -> (rows: [Float], cols: [Float]) {
        let rows = (0..<g.outH).map { oh -> Float in
            let hs = oh * g.sh - g.top
            return Float(countIncludePad ? Swift.min(hs + g.kh, g.inH + g.bottom) - hs : g.rowHi[oh] - g.rowLo[oh])
        }
        let cols = (0..<g.outW).map { ow -> Float in
            let ws = ow * g.sw - g.left
            return Float(countIncludePad ? Swift.min(ws + g.kw, g.inW + g.right) - ws : g.colHi[ow] - g.colLo[ow])
        }
        return (rows.map { Swift.max($0, 1) }, cols.map { Swift.max($0, 1) })
    }

    /// Runs `body(plane, scratch)` over planes in parallel, with an inH × outW scratch buffer per chunk.
    private func withScratch(_ g: PoolGeometry, _ body: (Int, UnsafeMutablePointer<Float>) -> Void) {
        let grain = Swift.max(1, 16_384 / Swift.max(1, g.inH * g.inW))
        Parallel.forRanges(g.planes, grain: grain) { r in
            let scratch = UnsafeMutablePointer<Float>.allocate(capacity: Swift.max(1, g.inH * g.outW))
            defer { scratch.deallocate() }
            for p in r { body(p, scratch) }
        }
    }

    /// Separable: window sums along each input row into scratch[h, ow], then sums of scratch rows (8 lanes
    /// at a time) over each output row's window, divided by rowExtent·colExtent.
    public func forward(_ inputs: [Tensor]) -> Tensor {
        let x = inputs[0]
        guard let g = try? geometry(x.shape) else { preconditionFailure("AveragePool: unvalidated shape \(x.shape)") }
        let y = Tensor(uninitialized: [x.shape[0], x.shape[1], g.outH, g.outW])   // every output is written
        let src = UnsafePointer(x.data), dst = y.data
        let (rowExt, colExt) = extents(g)
        let inW = g.inW, outW = g.outW
        withScratch(g) { p, h in
            let s = src + p * g.inH * inW, d = dst + p * g.outH * outW
            let colLo = g.colLo, colHi = g.colHi
            for r in 0..<g.inH {
                let row = s + r * inW, hr = h + r * outW
                for ow in 0..<outW {
                    let w0 = ow * g.sw - g.left
                    var sum: Float = 0
                    for j in colLo[ow]..<colHi[ow] { sum += row[w0 + j] }
                    hr[ow] = sum
                }
            }
            for oh in 0..<g.outH {
                let h0 = oh * g.sh - g.top, out = d + oh * outW
                let first = h + (h0 + g.rowLo[oh]) * outW, n = g.rowHi[oh] - g.rowLo[oh]
                var ow = 0
                while ow + 8 <= outW {
                    var acc = SIMD8<Float>()
                    for i in 0..<n { acc += load8(first + i * outW + ow) }
                    var den = SIMD8<Float>()
                    for k in 0..<8 { den[k] = colExt[ow + k] }
                    store8(acc / (den * rowExt[oh]), out + ow)
                    ow += 8
                }
                while ow < outW {
                    var acc: Float = 0
                    for i in 0..<n { acc += first[i * outW + ow] }
                    out[ow] = acc / (rowExt[oh] * colExt[ow])
                    ow += 1
                }
            }
        }
        return y
    }

    /// The transpose of the forward: g / extents spread over each output row's window rows into scratch[h, ow]
    /// (in output-row order), then each scratch value spread over its column window.
    public func backward(_ inputs: [Tensor], output: Tensor, gradOutput: Tensor, needsGrad: [Bool]) -> [Tensor?] {
        guard needsGrad.first == true else { return [nil] }
        let x = inputs[0]
        guard let g = try? geometry(x.shape) else { preconditionFailure("AveragePool: unvalidated shape \(x.shape)") }
        let gx = Tensor(zeros: x.shape)
        let gy = UnsafePointer(gradOutput.data), dst = gx.data
        let (rowExt, colExt) = extents(g)
        let inW = g.inW, outW = g.outW
        var invCol = colExt.map { 1 / $0 }
        invCol += [Float](repeating: 0, count: 8)
        withScratch(g) { p, h in
            let go = gy + p * g.outH * outW, d = dst + p * g.inH * inW
            h.update(repeating: 0, count: g.inH * outW)
            for oh in 0..<g.outH {
                let h0 = oh * g.sh - g.top, gr = go + oh * outW
                let first = h + (h0 + g.rowLo[oh]) * outW, n = g.rowHi[oh] - g.rowLo[oh]
                let scale = 1 / rowExt[oh]
                var ow = 0
                while ow + 8 <= outW {
                    var inv = SIMD8<Float>()
                    for k in 0..<8 { inv[k] = invCol[ow + k] }
                    let v = load8(gr + ow) * scale * inv
                    for i in 0..<n { let q = first + i * outW + ow; store8(load8(q) + v, q) }
                    ow += 8
                }
                while ow < outW {
                    let v = gr[ow] * scale * invCol[ow]
                    for i in 0..<n { first[i * outW + ow] += v }
                    ow += 1
                }
            }
            let colLo = g.colLo, colHi = g.colHi
            for r in 0..<g.inH {
                let row = d + r * inW, hr = h + r * outW
                for ow in 0..<outW {
                    let w0 = ow * g.sw - g.left, v = hr[ow]
                    for j in colLo[ow]..<colHi[ow] { row[w0 + j] += v }
                }
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
    /// The gradient spreads g / plane size: backward needs the input's shape only.
    public var backwardReads: BackwardReads { [] }
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
        let gx = Tensor(uninitialized: x.shape)   // every plane is written
        let gy = UnsafePointer(gradOutput.data), dst = gx.data, scale = 1 / Float(size)
        Parallel.forRanges(planes, grain: max(1, 16_384 / size)) { r in
            for p in r { (dst + p * size).update(repeating: gy[p] * scale, count: size) }
        }
        return [gx]
    }
}

extension GlobalAveragePool: AccumulatesInputGradient {
    public func backward(_ inputs: [Tensor], output: Tensor, gradOutput: Tensor, adding sum: Tensor) {
        let planes = sum.shape[0] * sum.shape[1], size = sum.count / max(planes, 1)
        let gy = UnsafePointer(gradOutput.data), dst = sum.data, scale = 1 / Float(size)
        Parallel.forRanges(planes, grain: max(1, 16_384 / size)) { r in
            for p in r {
                let v = SIMD8<Float>(repeating: gy[p] * scale), row = dst + p * size
                var i = 0
                while i + 8 <= size { store8(load8(row + i) + v, row + i); i += 8 }
                while i < size { row[i] += v[0]; i += 1 }
            }
        }
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
