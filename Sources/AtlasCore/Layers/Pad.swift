/// ONNX Pad on any rank: constant, reflect (mirror without repeating the edge) or edge (replicate) modes;
/// negative pads crop.

/// How padded cells are filled.
public enum PadMode: Equatable, Sendable {
    case constant(Float)
    case reflect
    case edge
}

public struct Pad: Layer {
    /// ONNX order: all begins, then all ends (2·rank values); negative values crop.
    public var pads: [Int]
    public var mode: PadMode

    public init(pads: [Int], mode: PadMode = .constant(0)) { self.pads = pads; self.mode = mode }

    public var name: String { "Pad" }

    public func outputShape(_ inputs: [[Int]]) throws -> [Int] {
        try expectInputCount(inputs, 1, name)
        let s = inputs[0], r = s.count
        guard pads.count == 2 * r else { throw ShapeError("Pad: \(pads.count) pads for rank \(r) (need \(2 * r))") }
        var out = s
        for d in 0..<r {
            out[d] = s[d] + pads[d] + pads[r + d]
            guard out[d] >= 0 else { throw ShapeError("Pad: pads \(pads) crop dimension \(d) of \(s) below zero") }
            if case .constant = mode { continue }
            guard s[d] > 0 || out[d] == 0 else { throw ShapeError("Pad: cannot \(mode)-pad the empty dimension \(d) of \(s)") }
        }
        return out
    }

    /// Source index along one dimension for each output index (−1: the constant value).
    static func indexMap(_ n: Int, begin: Int, count: Int, mode: PadMode) -> [Int] {
        (0..<count).map { o in
            let i = o - begin
            if i >= 0 && i < n { return i }
            switch mode {
            case .constant: return -1
            case .edge: return i < 0 ? 0 : n - 1
            case .reflect:
                if n == 1 { return 0 }
                let period = 2 * (n - 1)
                let m = ((i % period) + period) % period
                return m < n ? m : period - m
            }
        }
    }

    /// Per-dimension maps flattened, their offsets, and output row geometry.
    private struct Plan {
        let maps: [Int], starts: [Int], outShape: [Int], inStrides: [Int], rows: Int, inner: Int

        /// Input offset of an output row (all indices but the last), or nil when the row is constant padding.
        @inline(__always) func rowSource(_ row: Int) -> Int? {
            var rest = row, off = 0
            var d = outShape.count - 2
            while d >= 0 {
                let m = maps[starts[d] + rest % outShape[d]]
                if m < 0 { return nil }
                off += m * inStrides[d]
                rest /= outShape[d]
                d -= 1
            }
            return off
        }
    }

    private func plan(_ shape: [Int]) -> Plan {
        guard let out = try? outputShape([shape]) else { preconditionFailure("Pad: unvalidated shape \(shape)") }
        let r = shape.count
        var maps = [Int](), starts = [Int]()
        for d in 0..<r {
            starts.append(maps.count)
            maps += Pad.indexMap(shape[d], begin: pads[d], count: out[d], mode: mode)
        }
        let inner = out.last ?? 1
        return Plan(maps: maps, starts: starts, outShape: out, inStrides: contiguousStrides(shape),
                    rows: Tensor.elementCount(out) / max(inner, 1), inner: inner)
    }

    public func forward(_ inputs: [Tensor]) -> Tensor {
        let x = inputs[0]
        if x.rank == 0 { return x.copy() }
        let p = plan(x.shape)
        let y = Tensor(zeros: p.outShape)
        let src = UnsafePointer(x.data), dst = y.data
        let value: Float
        if case .constant(let v) = mode { value = v } else { value = 0 }
        let lastMap = p.starts[x.rank - 1], inner = p.inner
        p.maps.withUnsafeBufferPointer { mp in
            let last = mp.baseAddress! + lastMap
            Parallel.forRanges(p.rows, grain: max(1, Broadcast.grain / max(inner, 1))) { range in
                for row in range {
                    let out = dst + row * inner
                    guard let base = p.rowSource(row) else { out.update(repeating: value, count: inner); continue }
                    let s = src + base
                    for o in 0..<inner { let m = last[o]; out[o] = m < 0 ? value : s[m] }
                }
            }
        }
        return y
    }

    /// Each output gradient is added to the input cell it was read from; padding cells of constant mode
    /// receive nothing. Rows are accumulated in output order within groups of independent leading dimensions.
    public func backward(_ inputs: [Tensor], output: Tensor, gradOutput: Tensor, needsGrad: [Bool]) -> [Tensor?] {
        guard needsGrad.first == true else { return [nil] }
        let x = inputs[0]
        if x.rank == 0 { return [gradOutput.copy()] }
        let p = plan(x.shape)
        let gx = Tensor(zeros: x.shape)
        let g = UnsafePointer(gradOutput.data), dst = gx.data
        let r = x.rank, inner = p.inner
        // Leading dimensions without padding map rows one to one, so groups over them are independent.
        var lead = 0
        while lead < r - 1 && pads[lead] == 0 && pads[r + lead] == 0 { lead += 1 }
        let groups = Tensor.elementCount(Array(x.shape[..<lead]))
        let rowsPerGroup = p.rows / max(groups, 1)
        let lastMap = p.starts[r - 1]
        p.maps.withUnsafeBufferPointer { mp in
            let last = mp.baseAddress! + lastMap
            Parallel.forEach(groups) { grp in
                for row in grp * rowsPerGroup ..< (grp + 1) * rowsPerGroup {
                    guard let base = p.rowSource(row) else { continue }
                    let go = g + row * inner, d = dst + base
                    for o in 0..<inner { let m = last[o]; if m >= 0 { d[m] += go[o] } }
                }
            }
        }
        return [gx]
    }
}
