import AtlasCore

/// ONNX Gather of a runtime tensor with constant indices along one axis (what `qkv[0]`, `x[:, 0]` export as):
/// out[o, i…, r] = data[o, indices[i…], r]. Input gradient: each output slice is added back to the slice it came
/// from, in index order within one outer block, so repeated indices accumulate the same way at any thread count.
/// Consecutive indices on the outermost non-unit block (`qkv[0]` of the attention's q, k, v split) select one
/// contiguous run: the output is then a view of it (no copy), and the gradient a copy into zeros (which the executor
/// keeps as that run, see `gradientRun`).
public struct GatherLayer: Layer {
    public let axis: Int
    /// Non-negative indices, row-major over `indexShape`.
    public let indices: [Int]
    public let indexShape: [Int]

    public init(axis: Int, indices: [Int], indexShape: [Int]) {
        self.axis = axis
        self.indices = indices
        self.indexShape = indexShape
    }

    public var name: String { "Gather" }
    public var backwardReads: BackwardReads { [] }

    public func outputShape(_ inputs: [[Int]]) throws -> [Int] {
        guard inputs.count == 1 else { throw ShapeError("Gather expects 1 runtime input, got \(inputs.count)") }
        let s = inputs[0]
        guard axis >= 0, axis < s.count else { throw ShapeError("Gather: axis \(axis) out of range for rank \(s.count)") }
        if let bad = indices.first(where: { $0 < 0 || $0 >= s[axis] }) {
            throw ShapeError("Gather: index \(bad) out of range for dimension \(s[axis]) of \(s)")
        }
        return Array(s[..<axis]) + indexShape + Array(s[(axis + 1)...])
    }

    /// (outer blocks, axis length, inner run) of the data shape.
    func dims(_ shape: [Int]) -> (Int, Int, Int) {
        (Tensor.elementCount(Array(shape[..<axis])), shape[axis], Tensor.elementCount(Array(shape[(axis + 1)...])))
    }

    /// The first index when the indices select one contiguous run of the data (one outer block, consecutive indices).
    func contiguousStart(_ shape: [Int]) -> Int? {
        guard let first = indices.first, dims(shape).0 == 1 else { return nil }
        return indices.enumerated().allSatisfy { $0.element == first + $0.offset } ? first : nil
    }

    /// Where the output's elements lie in the data when they are one contiguous run of it (its first element's offset):
    /// the input gradient is then the output gradient from there on and zero elsewhere.
    func gradientRun(_ shape: [Int]) -> Int? {
        contiguousStart(shape).map { $0 * dims(shape).2 }
    }

    public func forward(_ inputs: [Tensor]) -> Tensor {
        let x = inputs[0]
        guard let shape = try? outputShape([x.shape]) else { fatalError("Gather called on an unvalidated input \(x.shape)") }
        if let first = contiguousStart(x.shape) {
            return Tensor(shape: shape, storage: x.storage, offset: x.offset + first * dims(x.shape).2)
        }
        let y = Tensor(uninitialized: shape)
        let (outer, len, inner) = dims(x.shape), k = indices.count
        let src = UnsafePointer(x.data), dst = y.data
        indices.withUnsafeBufferPointer { idx in
            Parallel.forRanges(outer * k, grain: max(1, 16_384 / max(inner, 1))) { r in
                for t in r {
                    let o = t / k, j = t % k
                    (dst + t * inner).update(from: src + (o * len + idx[j]) * inner, count: inner)
                }
            }
        }
        return y
    }

    public func backward(_ inputs: [Tensor], output: Tensor, gradOutput: Tensor, needsGrad: [Bool]) -> [Tensor?] {
        guard needsGrad.first == true else { return [nil] }
        let shape = inputs[0].shape
        let gx = Tensor(zeros: shape)
        let (outer, len, inner) = dims(shape), k = indices.count
        let g = UnsafePointer(gradOutput.data), dst = gx.data
        if let first = contiguousStart(shape) {
            (dst + first * inner).update(from: g, count: k * inner)
            return [gx]
        }
        indices.withUnsafeBufferPointer { idx in
            Parallel.forRanges(outer, grain: max(1, 16_384 / max(k * inner, 1))) { r in
                for o in r {
                    for j in 0..<k {
                        let to = dst + (o * len + idx[j]) * inner, from = g + (o * k + j) * inner
                        for e in 0..<inner { to[e] += from[e] }
                    }
                }
            }
        }
        return [gx]
    }
}
