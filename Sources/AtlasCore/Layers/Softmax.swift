import Foundation

/// Softmax and LogSoftmax along one axis (ONNX opset ≥ 13 semantics), with `FastMath.exp`, computed with the row maximum
/// subtracted so large inputs do not overflow.

/// Splits a shape around `axis` into (outer, length, inner).
private func around(_ shape: [Int], _ axis: Int) -> (Int, Int, Int) {
    let a = axis < 0 ? axis + shape.count : axis
    return (Tensor.elementCount(Array(shape[..<a])), shape[a], Tensor.elementCount(Array(shape[(a + 1)...])))
}

/// Runs `body(base, stride, length)` for every line along the axis, in parallel over fixed chunks of lines.
private func forLines(_ shape: [Int], _ axis: Int, _ body: (Int, Int, Int) -> Void) {
    let (outer, len, inner) = around(shape, axis)
    Parallel.forRanges(outer * inner, grain: max(1, 8192 / max(len, 1))) { r in
        for line in r { body((line / inner) * len * inner + line % inner, inner, len) }
    }
}

private func axisShape(_ op: String, _ inputs: [[Int]], _ axis: Int) throws -> [Int] {
    try expectInputCount(inputs, 1, op)
    guard !inputs[0].isEmpty else { throw ShapeError("\(op) needs an input of rank ≥ 1") }
    _ = try normalizedAxis(axis, rank: inputs[0].count, op: op)
    return inputs[0]
}

/// The maximum of one line (8 lanes at a time on contiguous lines: a maximum does not depend on the order).
@inline(__always) private func lineMax(_ x: UnsafePointer<Float>, _ stride: Int, _ n: Int) -> Float {
    var m = -Float.infinity
    var j = 0
    if stride == 1 && n >= 8 {
        var v = load8(x)
        j = 8
        while j + 8 <= n { v = pointwiseMax(v, load8(x + j)); j += 8 }
        m = v.max()
    }
    while j < n { m = Swift.max(m, x[j * stride]); j += 1 }
    return m
}

/// x[j] *= s along one line (8 at a time on contiguous lines; the same product per element either way).
@inline(__always) private func scaleLine(_ x: UnsafeMutablePointer<Float>, _ stride: Int, _ n: Int, by s: Float) {
    var j = 0
    if stride == 1 {
        let v = SIMD8<Float>(repeating: s)
        while j + 8 <= n { store8(load8(x + j) * v, x + j); j += 8 }
    }
    while j < n { x[j * stride] *= s; j += 1 }
}

/// e[j] = exp(x[j] − m) for one line (`FastMath.exp`, 8 at a time on contiguous lines), and Σ e in a fixed order
/// that depends only on the line's length.
@inline(__always) private func expAndSum(_ x: UnsafePointer<Float>, _ stride: Int, _ n: Int, minus m: Float,
                                         into e: UnsafeMutablePointer<Float>) -> Float {
    var j = 0
    var s: Float = 0
    if stride == 1 {
        var acc = SIMD8<Float>()
        let vm = SIMD8<Float>(repeating: m)
        while j + 8 <= n {
            let v = FastMath.exp(load8(x + j) - vm)
            store8(v, e + j)
            acc += v
            j += 8
        }
        s = acc.sum()
    }
    while j < n {
        let v = FastMath.exp(x[j * stride] - m)
        e[j * stride] = v
        s += v
        j += 1
    }
    return s
}

/// y = exp(x − max) / Σ exp(x − max) along `axis`.
public struct Softmax: Layer {
    public var axis: Int
    public init(axis: Int = -1) { self.axis = axis }
    public var name: String { "Softmax" }
    public func outputShape(_ inputs: [[Int]]) throws -> [Int] { try axisShape(name, inputs, axis) }

    public func forward(_ inputs: [Tensor]) -> Tensor {
        let x = inputs[0], y = Tensor(uninitialized: x.shape)   // every line is written
        let src = UnsafePointer(x.data), dst = y.data
        let (outer, len, inner) = around(x.shape, axis)
        if inner == 1 && RowKernels.isAvailable {
            RowKernels.softmax(src, dst, rows: outer, n: len)
            return y
        }
        forLines(x.shape, axis) { base, stride, n in
            let s = expAndSum(src + base, stride, n, minus: lineMax(src + base, stride, n), into: dst + base)
            scaleLine(dst + base, stride, n, by: 1 / s)
        }
        return y
    }

    /// ∂L/∂x = y·(g − Σ g·y).
    public func backward(_ inputs: [Tensor], output: Tensor, gradOutput: Tensor, needsGrad: [Bool]) -> [Tensor?] {
        guard needsGrad.first == true else { return [nil] }
        let gx = Tensor(zeros: output.shape)
        let y = UnsafePointer(output.data), g = UnsafePointer(gradOutput.data), dst = gx.data
        let (outer, len, inner) = around(output.shape, axis)
        if inner == 1 && RowKernels.isAvailable {
            RowKernels.softmaxBackward(y, g, dst, rows: outer, n: len)
            return [gx]
        }
        forLines(output.shape, axis) { base, stride, n in
            var dot: Float = 0
            for j in 0..<n { dot += g[base + j * stride] * y[base + j * stride] }
            for j in 0..<n { let i = base + j * stride; dst[i] = y[i] * (g[i] - dot) }
        }
        return [gx]
    }
}

/// y = x − max − log Σ exp(x − max) along `axis`.
public struct LogSoftmax: Layer {
    public var axis: Int
    public init(axis: Int = -1) { self.axis = axis }
    public var name: String { "LogSoftmax" }
    public func outputShape(_ inputs: [[Int]]) throws -> [Int] { try axisShape(name, inputs, axis) }

    public func forward(_ inputs: [Tensor]) -> Tensor {
        let x = inputs[0], y = Tensor(zeros: x.shape)
        let src = UnsafePointer(x.data), dst = y.data
        forLines(x.shape, axis) { base, stride, n in
            // The exponentials go through the output line, which the next loop overwrites.
            let m = lineMax(src + base, stride, n)
            let shift = m + Foundation.log(expAndSum(src + base, stride, n, minus: m, into: dst + base))
            for j in 0..<n { dst[base + j * stride] = src[base + j * stride] - shift }
        }
        return y
    }

    /// ∂L/∂x = g − softmax(x)·Σ g.
    public func backward(_ inputs: [Tensor], output: Tensor, gradOutput: Tensor, needsGrad: [Bool]) -> [Tensor?] {
        guard needsGrad.first == true else { return [nil] }
        let gx = Tensor(zeros: output.shape)
        let y = UnsafePointer(output.data), g = UnsafePointer(gradOutput.data), dst = gx.data
        forLines(output.shape, axis) { base, stride, n in
            var sum: Float = 0
            for j in 0..<n { sum += g[base + j * stride] }
            for j in 0..<n { let i = base + j * stride; dst[i] = g[i] - FastMath.exp(y[i]) * sum }
        }
        return [gx]
    }
}
