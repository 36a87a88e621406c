/// Receptive fields read off the planned graph: which input pixels can influence one cell of a layer. Spatial
/// ops act on the two axes separately, so a field is kept per axis as a table: for every layer row (column),
/// the first and last input row (column) that a path from the input reaches. Convolutions and pools take the
/// hull of their taps that fall inside their input (padding taps reach nothing), Pad shifts, ops on one grid
/// (pointwise, channel, concat, residual add) take the hull over their inputs, and anything else (global pools,
/// Gemm, Resize, reshapes, a broadcast from a global value) makes the field global: the whole input.

/// The receptive field of a 2-D layer in network-input pixels.
public struct ReceptiveField: Sendable, Equatable, Codable {
    /// Input pixels per layer cell along `[y, x]` (the product of the strides on the way).
    public var stride: [Int]
    /// The largest field of a cell, `[height, width]` in input pixels.
    public var size: [Int]
    /// True when every cell sees the whole input (no spatial structure left).
    public var global: Bool
    /// Per layer row (column) the first and last input row (column) it sees, `[lo, hi]` (inclusive, inside the
    /// input); `[]` for a cell that sees only padding.
    public var rows: [[Int]]
    public var columns: [[Int]]

    public init(stride: [Int], size: [Int], global: Bool, rows: [[Int]], columns: [[Int]]) {
        self.stride = stride; self.size = size; self.global = global; self.rows = rows; self.columns = columns
    }

    /// The field of every pixel of an `height × width` input: itself.
    public static func input(height: Int, width: Int) -> ReceptiveField {
        ReceptiveField(stride: [1, 1], size: [1, 1], global: false, rows: (0..<height).map { [$0, $0] },
                       columns: (0..<width).map { [$0, $0] })
    }

    static let whole = ReceptiveField(stride: [1, 1], size: [0, 0], global: true, rows: [], columns: [])

    /// The box `[x0, y0, x1, y1]` (inclusive) that cell `(x, y)` sees in a `width × height` input: the whole input
    /// for a global field or a cell outside the tables (or one that sees only padding).
    public func box(x: Int, y: Int, width: Int, height: Int) -> [Int] {
        guard !global, rows.indices.contains(y), columns.indices.contains(x), rows[y].count == 2, columns[x].count == 2 else {
            return [0, 0, width - 1, height - 1]
        }
        return [max(0, columns[x][0]), max(0, rows[y][0]), min(width - 1, columns[x][1]), min(height - 1, rows[y][1])]
    }

    /// Hull of two interval tables of one grid, cell by cell.
    static func hull(_ a: [[Int]], _ b: [[Int]]) -> [[Int]] {
        zip(a, b).map { p, q in
            if p.isEmpty { return q }
            if q.isEmpty { return p }
            return [min(p[0], q[0]), max(p[1], q[1])]
        }
    }

    /// The table after a window op on one axis: output cell i reads input cells i·stride − pad + t·dilation.
    static func window(_ table: [[Int]], outputs: Int, kernel: Int, stride: Int, dilation: Int, pad: Int) -> [[Int]] {
        (0..<outputs).map { i in
            var out: [Int] = []
            for t in 0..<kernel {
                let j = i * stride - pad + t * dilation
                guard table.indices.contains(j), table[j].count == 2 else { continue }
                out = out.isEmpty ? table[j] : [min(out[0], table[j][0]), max(out[1], table[j][1])]
            }
            return out
        }
    }

    /// Field size per axis: the widest interval of the table.
    static func widest(_ table: [[Int]]) -> Int { table.map { $0.count == 2 ? $0[1] - $0[0] + 1 : 0 }.max() ?? 0 }

    func with(rows: [[Int]], columns: [[Int]], stride: [Int]) -> ReceptiveField {
        ReceptiveField(stride: stride, size: [Self.widest(rows), Self.widest(columns)], global: false, rows: rows, columns: columns)
    }
}

extension Plan {
    /// The receptive field of `value` (a `[N, C, H, W]` or `[N, C]` value) on the network's first input, for the
    /// input shape of this plan. Throws `ModelError` when the value is unknown.
    public func receptiveField(of value: String) throws -> ReceptiveField {
        guard let input = graph.inputs.first?.name, let inShape = shapes[input] ?? inputShapes[input], inShape.count == 4 else {
            throw ModelError.invalidGraph("the graph has no [N, C, H, W] input")
        }
        guard shapes[value] != nil || value == input else { throw ModelError.invalidGraph("no value '\(value)' in the planned graph") }
        var fields: [String: ReceptiveField] = [input: .input(height: inShape[2], width: inShape[3])]
        for node in graph.nodes {
            let known = node.inputs.compactMap { fields[$0] }
            guard !known.isEmpty else { continue }
            let out = node.outputs.first.flatMap { shapes[$0] } ?? []
            let x = node.inputs[0], xs = shapes[x] ?? []
            var f = ReceptiveField.whole
            switch node.opType {
            case "Conv", "MaxPool", "AveragePool", "LpPool":
                guard xs.count == 4, out.count == 4, let src = fields[x], !src.global else { break }
                var kernel = ((try? node.ints("kernel_shape")) ?? nil) ?? [1, 1]
                if node.opType == "Conv", let w = node.input(1).flatMap({ graph.constants[$0]?.shape ?? shapes[$0] }), w.count == 4 {
                    kernel = Array(w[2...])
                }
                let strides = ((try? node.ints("strides")) ?? nil) ?? [1, 1]
                let dilations = ((try? node.ints("dilations")) ?? nil) ?? [1, 1]
                guard kernel.count == 2, strides.count == 2, dilations.count == 2 else { break }
                let context = Lowering.Context(node: node, shapes: [xs], constants: graph.constants)
                let pads = try Lowering.spatialPads(context, spatial: Array(xs[2...]), kernel: kernel, strides: strides, dilations: dilations)
                f = src.with(rows: ReceptiveField.window(src.rows, outputs: out[2], kernel: kernel[0], stride: strides[0], dilation: dilations[0], pad: pads[0]),
                             columns: ReceptiveField.window(src.columns, outputs: out[3], kernel: kernel[1], stride: strides[1], dilation: dilations[1], pad: pads[1]),
                             stride: [src.stride[0] * strides[0], src.stride[1] * strides[1]])
            case "Pad":
                guard xs.count == 4, out.count == 4, let src = fields[x], !src.global,
                      let spec = try? Lowering.padSpec(node, rank: 4, constants: graph.constants) else { break }
                // Constant padding reaches nothing; edge and reflect padding read the border cells (hull kept).
                func shifted(_ table: [[Int]], _ n: Int, _ begin: Int) -> [[Int]] {
                    (0..<n).map { i in
                        let j = i - begin
                        if table.indices.contains(j) { return table[j] }
                        if case .constant = spec.mode { return [] }
                        return table.isEmpty ? [] : table[min(max(j, 0), table.count - 1)]
                    }
                }
                f = src.with(rows: shifted(src.rows, out[2], spec.pads[2]), columns: shifted(src.columns, out[3], spec.pads[3]), stride: src.stride)
            default:
                // One grid for the output and every input with a field: a pointwise, channel or concat op.
                let spatial = node.inputs.filter { fields[$0] != nil }
                guard out.count == 4, spatial.allSatisfy({ (shapes[$0] ?? []).count == 4 && Array(shapes[$0]![2...]) == Array(out[2...]) }),
                      known.allSatisfy({ !$0.global }) else { break }
                let rows = known.dropFirst().reduce(known[0].rows) { ReceptiveField.hull($0, $1.rows) }
                let columns = known.dropFirst().reduce(known[0].columns) { ReceptiveField.hull($0, $1.columns) }
                f = known[0].with(rows: rows, columns: columns, stride: known[0].stride)
            }
            for o in node.outputs where !o.isEmpty { fields[o] = f }
        }
        return fields[value] ?? .whole
    }
}
