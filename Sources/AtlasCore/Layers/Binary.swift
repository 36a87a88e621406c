import Foundation

/// Broadcasting binary ops (ONNX Add, Sub, Mul, Div, Pow): inputs [A, B] of any rank with numpy broadcasting.
/// Gradients are summed over broadcast dimensions back to each input's shape, in a fixed order.

/// The elementwise rule of a broadcasting binary op and its partial derivatives.
public protocol BinaryRule {
    static var name: String { get }
    static func apply(_ a: Float, _ b: Float) -> Float
    static func apply(_ a: SIMD8<Float>, _ b: SIMD8<Float>) -> SIMD8<Float>
    /// (∂y/∂a, ∂y/∂b) when both are constants (Add, Sub), so gradients need no elementwise pass.
    static var constantPartials: (Float, Float)? { get }
    /// Whether `grad` reads y (when false it gets zeros, and a forward kept for backward need not hold y).
    static var gradientReadsOutput: Bool { get }
    /// g·∂y/∂a (`wrtA`) or g·∂y/∂b, from the output gradient g, the output y and the inputs a, b.
    static func grad(_ wrtA: Bool, _ g: SIMD8<Float>, _ y: SIMD8<Float>, _ a: SIMD8<Float>, _ b: SIMD8<Float>) -> SIMD8<Float>
    static func grad(_ wrtA: Bool, _ g: Float, _ y: Float, _ a: Float, _ b: Float) -> Float
}

extension BinaryRule {
    public static var constantPartials: (Float, Float)? { nil }
    public static var gradientReadsOutput: Bool { true }
    public static func grad(_ wrtA: Bool, _ g: Float, _ y: Float, _ a: Float, _ b: Float) -> Float {
        grad(wrtA, SIMD8(repeating: g), SIMD8(repeating: y), SIMD8(repeating: a), SIMD8(repeating: b))[0]
    }
}

public enum AddRule: BinaryRule {
    public static let name = "Add"
    @inline(__always) public static func apply(_ a: Float, _ b: Float) -> Float { a + b }
    @inline(__always) public static func apply(_ a: SIMD8<Float>, _ b: SIMD8<Float>) -> SIMD8<Float> { a + b }
    public static var constantPartials: (Float, Float)? { (1, 1) }
    @inline(__always) public static func grad(_ wrtA: Bool, _ g: SIMD8<Float>, _ y: SIMD8<Float>, _ a: SIMD8<Float>, _ b: SIMD8<Float>) -> SIMD8<Float> { g }
}

public enum SubRule: BinaryRule {
    public static let name = "Sub"
    @inline(__always) public static func apply(_ a: Float, _ b: Float) -> Float { a - b }
    @inline(__always) public static func apply(_ a: SIMD8<Float>, _ b: SIMD8<Float>) -> SIMD8<Float> { a - b }
    public static var constantPartials: (Float, Float)? { (1, -1) }
    @inline(__always) public static func grad(_ wrtA: Bool, _ g: SIMD8<Float>, _ y: SIMD8<Float>, _ a: SIMD8<Float>, _ b: SIMD8<Float>) -> SIMD8<Float> { wrtA ? g : -g }
}

public enum MulRule: BinaryRule {
    public static let name = "Mul"
    public static var gradientReadsOutput: Bool { false }
    @inline(__always) public static func apply(_ a: Float, _ b: Float) -> Float { a * b }
    @inline(__always) public static func apply(_ a: SIMD8<Float>, _ b: SIMD8<Float>) -> SIMD8<Float> { a * b }
    @inline(__always) public static func grad(_ wrtA: Bool, _ g: SIMD8<Float>, _ y: SIMD8<Float>, _ a: SIMD8<Float>, _ b: SIMD8<Float>) -> SIMD8<Float> {
        wrtA ? g * b : g * a
    }
    @inline(__always) public static func grad(_ wrtA: Bool, _ g: Float, _ y: Float, _ a: Float, _ b: Float) -> Float { wrtA ? g * b : g * a }
}

public enum DivRule: BinaryRule {
    public static let name = "Div"
    @inline(__always) public static func apply(_ a: Float, _ b: Float) -> Float { a / b }
    @inline(__always) public static func apply(_ a: SIMD8<Float>, _ b: SIMD8<Float>) -> SIMD8<Float> { a / b }
    @inline(__always) public static func grad(_ wrtA: Bool, _ g: SIMD8<Float>, _ y: SIMD8<Float>, _ a: SIMD8<Float>, _ b: SIMD8<Float>) -> SIMD8<Float> {
        wrtA ? g / b : -(g * a) / (b * b)
    }
    @inline(__always) public static func grad(_ wrtA: Bool, _ g: Float, _ y: Float, _ a: Float, _ b: Float) -> Float {
        wrtA ? g / b : -(g * a) / (b * b)
    }
}

public enum PowRule: BinaryRule {
    public static let name = "Pow"
    @inline(__always) public static func apply(_ a: Float, _ b: Float) -> Float { Foundation.pow(a, b) }
    @inline(__always) public static func apply(_ a: SIMD8<Float>, _ b: SIMD8<Float>) -> SIMD8<Float> {
        var r = SIMD8<Float>()
        for i in 0..<8 { r[i] = Foundation.pow(a[i], b[i]) }
        return r
    }
    public static func grad(_ wrtA: Bool, _ g: SIMD8<Float>, _ y: SIMD8<Float>, _ a: SIMD8<Float>, _ b: SIMD8<Float>) -> SIMD8<Float> {
        var r = SIMD8<Float>()
        for i in 0..<8 { r[i] = grad(wrtA, g[i], y[i], a[i], b[i]) }
        return r
    }
    /// ∂/∂a = b·a^(b−1); ∂/∂b = y·ln a (0 where a = 0, as PyTorch does).
    public static func grad(_ wrtA: Bool, _ g: Float, _ y: Float, _ a: Float, _ b: Float) -> Float {
        if wrtA { return b == 0 ? 0 : g * b * Foundation.pow(a, b - 1) }
        return a == 0 ? 0 : g * y * Foundation.log(a)
    }
}

/// Shape checks, forward and backward shared by all broadcasting binary layers.
public enum BinaryKernel<R: BinaryRule> {
    public static func outputShape(_ inputs: [[Int]]) throws -> [Int] {
        try expectInputCount(inputs, 2, R.name)
        guard inputs[0].count <= 6, inputs[1].count <= 6 else {
            throw ShapeError("\(R.name): rank above 6 is not supported (\(inputs[0]) and \(inputs[1]))")
        }
        do { return try Broadcast.shape(inputs[0], inputs[1]) } catch let e as ShapeError {
            throw ShapeError("\(R.name): \(e.message)")
        }
    }

    public static func forward(_ a: Tensor, _ b: Tensor) -> Tensor {
        guard let shape = try? Broadcast.shape(a.shape, b.shape) else {
            preconditionFailure("\(R.name): unvalidated shapes \(a.shape), \(b.shape)")
        }
        let out = Tensor(uninitialized: shape)   // the plan visits every output element
        let pa = UnsafePointer(a.data), pb = UnsafePointer(b.data), py = out.data
        Broadcast.Plan(out: shape, a: a.shape, b: b.shape).run { o, oa, ob, n, sa, sb in
            let y = py + o, x = pa + oa, z = pb + ob
            var i = 0
            if sa == 1 && sb == 1 {
                while i + 8 <= n { store8(R.apply(load8(x + i), load8(z + i)), y + i); i += 8 }
                while i < n { y[i] = R.apply(x[i], z[i]); i += 1 }
            } else if sa == 1 {
                let s = z[0], v = SIMD8<Float>(repeating: s)
                while i + 8 <= n { store8(R.apply(load8(x + i), v), y + i); i += 8 }
                while i < n { y[i] = R.apply(x[i], s); i += 1 }
            } else if sb == 1 {
                let s = x[0], v = SIMD8<Float>(repeating: s)
                while i + 8 <= n { store8(R.apply(v, load8(z + i)), y + i); i += 8 }
                while i < n { y[i] = R.apply(s, z[i]); i += 1 }
            } else {
                y.update(repeating: R.apply(x[0], z[0]), count: n)
            }
        }
        return out
    }

    public static func backward(_ inputs: [Tensor], output: Tensor, gradOutput: Tensor, needsGrad: [Bool]) -> [Tensor?] {
        let a = inputs[0], b = inputs[1]
        var result: [Tensor?] = [nil, nil]
        for k in 0..<2 where needsGrad.count > k && needsGrad[k] {
            let target = inputs[k].shape
            if let partials = R.constantPartials {
                let scale = k == 0 ? partials.0 : partials.1
                if target == gradOutput.shape && scale == 1 {
                    // Gradients are never written in place: the input shares the output's (a residual Add's two).
                    result[k] = gradOutput
                    continue
                }
                let g = Broadcast.reduce(gradOutput, to: target)
                if scale != 1 { scaleInPlace(g, scale) }
                result[k] = g
            } else {
                result[k] = Broadcast.reduce(elementGrad(wrtA: k == 0, a, b, output, gradOutput), to: target)
            }
        }
        return result
    }

    /// g·∂y/∂a or g·∂y/∂b at every output element.
    static func elementGrad(wrtA: Bool, _ a: Tensor, _ b: Tensor, _ y: Tensor, _ g: Tensor) -> Tensor {
        let t = Tensor(uninitialized: y.shape)
        let pa = UnsafePointer(a.data), pb = UnsafePointer(b.data)
        let py = UnsafePointer(y.data), pg = UnsafePointer(g.data), pt = t.data
        Broadcast.Plan(out: y.shape, a: a.shape, b: b.shape).run { o, oa, ob, n, sa, sb in
            let x = pa + oa, z = pb + ob, yy = py + o, gg = pg + o, tt = pt + o
            var i = 0
            while i + 8 <= n {
                let av = sa == 1 ? load8(x + i) : SIMD8(repeating: x[0])
                let bv = sb == 1 ? load8(z + i) : SIMD8(repeating: z[0])
                store8(R.grad(wrtA, load8(gg + i), R.gradientReadsOutput ? load8(yy + i) : SIMD8(), av, bv), tt + i)
                i += 8
            }
            while i < n { tt[i] = R.grad(wrtA, gg[i], R.gradientReadsOutput ? yy[i] : 0, x[i * sa], z[i * sb]); i += 1 }
        }
        return t
    }
}

/// Multiplies every element by `s`, in parallel chunks.
func scaleInPlace(_ t: Tensor, _ s: Float) {
    let p = t.data
    Parallel.forRanges(t.count, grain: Broadcast.grain) { r in
        var i = r.lowerBound
        let v = SIMD8<Float>(repeating: s)
        while i + 8 <= r.upperBound { store8(load8(p + i) * v, p + i); i += 8 }
        while i < r.upperBound { p[i] *= s; i += 1 }
    }
}

/// A layer that can apply a following elementwise activation (Relu, Clip, SiLU, …) to its own output while it is
/// still in cache, bit-identical to a separate step (`ElementwiseLayer.applyInPlace` is the step's own per-element
/// function). The executor fuses `ActivationFusable → ElementwiseLayer` where nothing else reads the layer's output.
public protocol ActivationFusable: Layer {
    func forward(_ inputs: [Tensor], activation: (any ElementwiseLayer)?) -> Tensor
}

extension ActivationFusable {
    /// Forward followed by a fused Relu (`relu: true`) or by nothing.
    public func forward(_ inputs: [Tensor], relu: Bool) -> Tensor { forward(inputs, activation: relu ? Relu() : nil) }
}

/// A layer that can add a residual (a tensor of its output's shape) and then apply a following activation to its
/// own output while it is still in cache, bit-identical to separate Add and activation steps (a residual block's last
/// convolution). The executor fuses `ResidualFusable → Add(·, residual) [→ ElementwiseLayer]` where nothing else
/// reads the layer's output.
public protocol ResidualFusable: Layer {
    func forward(_ inputs: [Tensor], residual: Tensor?, activation: (any ElementwiseLayer)?) -> Tensor
}

/// y = a + b with numpy broadcasting.
public struct Add: Layer, ActivationFusable {
    public init() {}
    public var name: String { "Add" }
    /// The partial derivatives are constants: backward needs the inputs' shapes only.
    public var backwardReads: BackwardReads { [] }
    public func outputShape(_ inputs: [[Int]]) throws -> [Int] { try BinaryKernel<AddRule>.outputShape(inputs) }
    public func forward(_ inputs: [Tensor]) -> Tensor { BinaryKernel<AddRule>.forward(inputs[0], inputs[1]) }
    /// f(a + b): one pass over each chunk when the shapes are equal (residual blocks), else the add then f.
    public func forward(_ inputs: [Tensor], activation: (any ElementwiseLayer)?) -> Tensor {
        let a = inputs[0], b = inputs[1]
        guard let activation else { return forward(inputs) }
        guard a.shape == b.shape else {
            let y = forward(inputs)
            let p = y.data
            Parallel.forRanges(y.count, grain: Broadcast.grain) { r in activation.applyInPlace(p + r.lowerBound, count: r.count) }
            return y
        }
        let y = Tensor(uninitialized: a.shape)   // every element is written
        let pa = UnsafePointer(a.data), pb = UnsafePointer(b.data), py = y.data
        Parallel.forRanges(y.count, grain: Broadcast.grain) { r in
            var i = r.lowerBound
            while i + 8 <= r.upperBound { store8(load8(pa + i) + load8(pb + i), py + i); i += 8 }
            while i < r.upperBound { py[i] = pa[i] + pb[i]; i += 1 }
            activation.applyInPlace(py + r.lowerBound, count: r.count)
        }
        return y
    }
    public func backward(_ inputs: [Tensor], output: Tensor, gradOutput: Tensor, needsGrad: [Bool]) -> [Tensor?] {
        BinaryKernel<AddRule>.backward(inputs, output: output, gradOutput: gradOutput, needsGrad: needsGrad)
    }

    /// `sum += r` in place for tensors of one shape (a gradient sum nothing else holds): the bits of
    /// `forward([sum, r])` without a fresh buffer.
    public static func accumulate(_ r: Tensor, into sum: Tensor) {
        precondition(r.shape == sum.shape, "accumulate: shapes \(r.shape) and \(sum.shape)")
        let pr = UnsafePointer(r.data), ps = sum.data
        Parallel.forRanges(sum.count, grain: Broadcast.grain) { range in
            Vector.add(pr + range.lowerBound, into: ps + range.lowerBound, count: range.count)
        }
    }
}

/// y = a − b with numpy broadcasting.
public struct Sub: Layer {
    public init() {}
    public var name: String { "Sub" }
    /// The partial derivatives are constants: backward needs the inputs' shapes only.
    public var backwardReads: BackwardReads { [] }
    public func outputShape(_ inputs: [[Int]]) throws -> [Int] { try BinaryKernel<SubRule>.outputShape(inputs) }
    public func forward(_ inputs: [Tensor]) -> Tensor { BinaryKernel<SubRule>.forward(inputs[0], inputs[1]) }
    public func backward(_ inputs: [Tensor], output: Tensor, gradOutput: Tensor, needsGrad: [Bool]) -> [Tensor?] {
        BinaryKernel<SubRule>.backward(inputs, output: output, gradOutput: gradOutput, needsGrad: needsGrad)
    }
}

/// y = a · b with numpy broadcasting.
public struct Mul: Layer {
    public init() {}
    public var name: String { "Mul" }
    /// ∂(a·b) needs a and b, not the product.
    public var backwardReads: BackwardReads { .inputs }
    public func outputShape(_ inputs: [[Int]]) throws -> [Int] { try BinaryKernel<MulRule>.outputShape(inputs) }
    public func forward(_ inputs: [Tensor]) -> Tensor { BinaryKernel<MulRule>.forward(inputs[0], inputs[1]) }
    public func backward(_ inputs: [Tensor], output: Tensor, gradOutput: Tensor, needsGrad: [Bool]) -> [Tensor?] {
        if let planes = Mul.planeScale(inputs) {
            return Mul.planeScaleBackward(inputs, planes: planes, gradOutput: gradOutput, needsGrad: needsGrad)
        }
        return BinaryKernel<MulRule>.backward(inputs, output: output, gradOutput: gradOutput, needsGrad: needsGrad)
    }

    /// For x·s where s scales whole trailing planes of x (s is [P…, 1…] against x's [P…, Q…], as the excitation
    /// of a squeeze-and-excitation block): which input is x, the planes' count and size.
    public static func planeScale(_ inputs: [Tensor]) -> (x: Int, count: Int, size: Int)? {
        guard inputs.count == 2 else { return nil }
        for x in 0..<2 {
            let big = inputs[x].shape, small = inputs[1 - x].shape
            let lead = (small.lastIndex(where: { $0 != 1 }) ?? -1) + 1
            guard small.count == big.count, lead < big.count, Array(small[..<lead]) == Array(big[..<lead]),
                  big[lead...].contains(where: { $0 != 1 }) else { continue }
            let size = big[lead...].reduce(1, *)
            return (x, inputs[1 - x].count, size)
        }
        return nil
    }

    /// Both gradients of a plane scale in one pass over the planes: g·s for x, and for s each plane's Σ g·x summed
    /// as `Broadcast.reduce` sums it, so the bits are those of the general broadcasting path.
    static func planeScaleBackward(_ inputs: [Tensor], planes: (x: Int, count: Int, size: Int), gradOutput: Tensor,
                                   needsGrad: [Bool]) -> [Tensor?] {
        let wantX = needsGrad.count > planes.x && needsGrad[planes.x]
        let wantS = needsGrad.count > 1 - planes.x && needsGrad[1 - planes.x]
        let x = inputs[planes.x], s = inputs[1 - planes.x]
        let gx = wantX ? Tensor(uninitialized: x.shape) : nil, gs = wantS ? Tensor(uninitialized: s.shape) : nil
        let px = UnsafePointer(x.data), ps = UnsafePointer(s.data), pg = UnsafePointer(gradOutput.data)
        // Raw pointers only inside the loop: touching the optional tensors there retains and releases their
        // storage once per plane (about 5% of an EfficientNet-B0 vis step).
        let pgx = gx?.data, pgs = gs?.data
        let size = planes.size
        Parallel.forRanges(planes.count, grain: max(1, Broadcast.grain / max(size, 1))) { range in
            Scratch.with(.layer, count: wantS ? size : 0) { products in
                for p in range {
                    let g = pg + p * size, xp = px + p * size, scale = ps[p]
                    if let pgx {
                        let out = pgx + p * size, v = SIMD8<Float>(repeating: scale)
                        var i = 0
                        while i + 8 <= size { store8(load8(g + i) * v, out + i); i += 8 }
                        while i < size { out[i] = g[i] * scale; i += 1 }
                    }
                    if let pgs {
                        var i = 0
                        while i + 8 <= size { store8(load8(g + i) * load8(xp + i), products + i); i += 8 }
                        while i < size { products[i] = g[i] * xp[i]; i += 1 }
                        var sum: Float = 0
                        sum += Broadcast.rowSum(products, size)
                        pgs[p] = sum
                    }
                }
            }
        }
        var result: [Tensor?] = [nil, nil]
        result[planes.x] = gx
        result[1 - planes.x] = gs
        return result
    }
}

/// y = a / b with numpy broadcasting (IEEE division: x/0 is ±inf or NaN).
public struct Div: Layer {
    public init() {}
    public var name: String { "Div" }
    public func outputShape(_ inputs: [[Int]]) throws -> [Int] { try BinaryKernel<DivRule>.outputShape(inputs) }
    public func forward(_ inputs: [Tensor]) -> Tensor { BinaryKernel<DivRule>.forward(inputs[0], inputs[1]) }
    public func backward(_ inputs: [Tensor], output: Tensor, gradOutput: Tensor, needsGrad: [Bool]) -> [Tensor?] {
        BinaryKernel<DivRule>.backward(inputs, output: output, gradOutput: gradOutput, needsGrad: needsGrad)
    }
}

/// y = a ^ b with numpy broadcasting (C `powf` semantics).
public struct Pow: Layer {
    public init() {}
    public var name: String { "Pow" }
    public func outputShape(_ inputs: [[Int]]) throws -> [Int] { try BinaryKernel<PowRule>.outputShape(inputs) }
    public func forward(_ inputs: [Tensor]) -> Tensor { BinaryKernel<PowRule>.forward(inputs[0], inputs[1]) }
    public func backward(_ inputs: [Tensor], output: Tensor, gradOutput: Tensor, needsGrad: [Bool]) -> [Tensor?] {
        BinaryKernel<PowRule>.backward(inputs, output: output, gradOutput: gradOutput, needsGrad: needsGrad)
    }
}
