/// ReduceSum and ReduceMean over a set of axes (empty axes: all of them), with or without kept dimensions.
/// Sums run in a fixed order per output element (see `Broadcast.reduce`), so they are thread-count independent.

/// Reduced axes of `shape`, the shape with those axes set to 1, and the output shape.
private func reduction(_ op: String, _ shape: [Int], axes: [Int], keepDims: Bool) throws -> (kept: [Int], out: [Int]) {
    var reduced = Set<Int>()
    for a in axes {
        let n = try normalizedAxis(a, rank: shape.count, op: op)
        guard reduced.insert(n).inserted else { throw ShapeError("\(op): axis \(a) repeated in \(axes)") }
    }
    if axes.isEmpty { reduced = Set(0..<shape.count) }
    let kept = shape.enumerated().map { reduced.contains($0.offset) ? 1 : $0.element }
    let out = keepDims ? kept : shape.enumerated().filter { !reduced.contains($0.offset) }.map(\.element)
    return (kept, out)
}

/// Shared forward and backward of the two reductions; `mean` divides by the number of reduced elements.
private struct Reduction {
    let op: String, axes: [Int], keepDims: Bool, mean: Bool

    func outputShape(_ inputs: [[Int]]) throws -> [Int] {
        try expectInputCount(inputs, 1, op)
        return try reduction(op, inputs[0], axes: axes, keepDims: keepDims).out
    }

    func forward(_ x: Tensor) -> Tensor {
        guard let (kept, out) = try? reduction(op, x.shape, axes: axes, keepDims: keepDims) else {
            preconditionFailure("\(op): unvalidated shape \(x.shape)")
        }
        let r = Broadcast.reduce(x, to: kept)
        if mean && r.count > 0 { scaleInPlace(r, Float(r.count) / Float(x.count)) }
        return r.reshaped(out)
    }

    func backward(_ x: Tensor, _ g: Tensor, _ needsGrad: [Bool]) -> [Tensor?] {
        guard needsGrad.first == true, let (kept, _) = try? reduction(op, x.shape, axes: axes, keepDims: keepDims) else { return [nil] }
        let gx = Broadcast.expand(g.reshaped(kept), to: x.shape)
        if mean && x.count > 0 { scaleInPlace(gx, Float(Tensor.elementCount(kept)) / Float(x.count)) }
        return [gx]
    }
}

/// Sum over `axes` (all axes when empty); `keepDims` keeps them as size-1 dimensions.
public struct ReduceSum: Layer {
    public var axes: [Int], keepDims: Bool
    public init(axes: [Int], keepDims: Bool = true) { self.axes = axes; self.keepDims = keepDims }
    public var name: String { "ReduceSum" }
    private var impl: Reduction { Reduction(op: name, axes: axes, keepDims: keepDims, mean: false) }
    public func outputShape(_ inputs: [[Int]]) throws -> [Int] { try impl.outputShape(inputs) }
    public func forward(_ inputs: [Tensor]) -> Tensor { impl.forward(inputs[0]) }
    public func backward(_ inputs: [Tensor], output: Tensor, gradOutput: Tensor, needsGrad: [Bool]) -> [Tensor?] {
        impl.backward(inputs[0], gradOutput, needsGrad)
    }
}

/// Mean over `axes` (all axes when empty); `keepDims` keeps them as size-1 dimensions.
public struct ReduceMean: Layer {
    public var axes: [Int], keepDims: Bool
    public init(axes: [Int], keepDims: Bool = true) { self.axes = axes; self.keepDims = keepDims }
    public var name: String { "ReduceMean" }
    private var impl: Reduction { Reduction(op: name, axes: axes, keepDims: keepDims, mean: true) }
    public func outputShape(_ inputs: [[Int]]) throws -> [Int] { try impl.outputShape(inputs) }
    public func forward(_ inputs: [Tensor]) -> Tensor { impl.forward(inputs[0]) }
    public func backward(_ inputs: [Tensor], output: Tensor, gradOutput: Tensor, needsGrad: [Bool]) -> [Tensor?] {
        impl.backward(inputs[0], gradOutput, needsGrad)
    }
}
