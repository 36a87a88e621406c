import AtlasCore
import AtlasNet

/// Where the tokens of a windowed attention site (Swin's probabilities are [batch × windows, heads, T, T], MaxViT's
/// [batch, windows, heads, T, T]) sit on the image's token grid. Found from the graph, not from the model's name: the
/// queries and keys of the site are projected by one Linear from a value Y ([batch × windows, T, C] or [batch,
/// windows, T, C]) that pure data movement (Reshape, Transpose, Slice, Concat, Pad, Gather by constant indices: window
/// or grid partition, torch.roll's shift, padding) makes from one grid X ([batch, H, W, C], or [batch, C, H, W] when
/// X is not channel-last). That movement is run on a grid whose every entry holds its own position, so Y tells for
/// each window and token the grid cell it came from: windows, shifts (un-rolled), strided grids and padding alike.
public struct AttentionWindows: Sendable, Equatable {
    /// The token grid the windows cover (the grid X, before padding).
    public let gridHeight: Int, gridWidth: Int
    /// Windows per image and tokens per window.
    public let windows: Int, tokens: Int
    /// `position[w * tokens + t]`: the grid cell (row-major) of token t of window w, or -1 for a padding token.
    public let position: [Int]
    /// The node whose output is the token grid X, and the value Y the attention projects.
    public let gridValue: String, windowValue: String

    /// Why a site's windows could not be placed on the grid.
    public struct Unplaced: Error, CustomStringConvertible, Sendable {
        public let reason: String
        public var description: String { reason }
    }

    static let movement: Set<String> = ["Reshape", "Transpose", "Slice", "Concat", "Pad", "Identity", "Dropout", "Squeeze",
                                        "Unsqueeze", "Flatten"]

    /// The windows of `site` in `plan` (planned at a batch of `batch` images). Throws `Unplaced` saying why when the
    /// graph does not show them as above.
    public static func find(_ site: Attention.Site, plan: Plan, batch: Int) throws -> AttentionWindows {
        let g = plan.graph
        var producer: [String: Node] = [:]
        for n in g.nodes { for o in n.outputs where !o.isEmpty { producer[o] = n } }
        guard let softmax = g.nodes.first(where: { $0.name == site.softmaxNode }), let scores = softmax.input(0) else {
            throw Unplaced(reason: "its Softmax node is not in the planned graph")
        }
        // Back from the scores to the projection(s) of queries and keys.
        var projected = Set<String>(), seen = Set<String>(), pending = [scores]
        while let v = pending.popLast() {
            guard seen.insert(v).inserted, g.constants[v] == nil, let n = producer[v] else { continue }
            guard seen.count < 400 else { throw Unplaced(reason: "no Linear projection found near the scores") }
            if TokenLayout.isLinear(n, in: g) || (n.opType == "Gemm" && n.domain.isEmpty) {
                if let x = n.input(0) { projected.insert(x) }
            } else {
                pending += n.inputs.filter { !$0.isEmpty }
            }
        }
        guard projected.count == 1, let y = projected.first else {
            throw Unplaced(reason: projected.isEmpty ? "no Linear projection of queries and keys found"
                                                     : "queries and keys are projected from \(projected.count) different values")
        }
        // Back from Y through data movement to the token grid.
        func movement(stoppingAt stop: String?) -> (nodes: [String: Node], sources: Set<String>, values: [String]) {
            var nodes: [String: Node] = [:], sources = Set<String>(), values: [String] = [], seen = Set<String>(), pending = [y]
            while let v = pending.popLast() {
                guard seen.insert(v).inserted, g.constants[v] == nil else { continue }
                values.append(v)
                guard v != stop, let n = producer[v], isMovement(n, in: g) else { sources.insert(v); continue }
                nodes[n.name] = n
                pending += n.inputs.filter { !$0.isEmpty }
            }
            return (nodes, sources, values)
        }
        var (nodes, sources, chain) = movement(stoppingAt: nil)
        guard sources.count == 1, var x = sources.first, var xs = plan.shapes[x], let ys = plan.shapes[y] else {
            throw Unplaced(reason: "the window tokens are not moved from one token grid (sources: \(sources.sorted().joined(separator: ", ")))")
        }
        guard !nodes.isEmpty else { throw Unplaced(reason: "no data movement between a token grid and the attention's tokens \(x)") }
        let lastAxis = TokenLayout.channelLastValues(g)
        var channelLast = lastAxis.contains(x)
        let rows = ys.dropLast(2).reduce(1, *)
        guard xs.count == 4, xs[0] == batch, ys.count == 3 || ys.count == 4, rows % batch == 0, let c = ys.last else {
            throw Unplaced(reason: "the window tokens \(ys) are not taken from a [batch, H, W, channels] or [batch, channels, H, W] "
                           + "grid (\(x) is \(xs))")
        }
        let (t, windows) = (ys[ys.count - 2], rows / batch)
        if channelLast, xs[1] == windows, xs[2] == t {
            // [batch, windows, T, C]: the tokens of an earlier partition (MaxViT's grid attention reads its window
            // attention's output), not a grid; the grid is the [batch, C, H, W] value the movement passes through.
            guard let grid = chain.first(where: { v in
                plan.shapes[v].map { $0.count == 4 && $0[0] == batch && $0[1] == c } == true && !lastAxis.contains(v)
            }), let gs = plan.shapes[grid] else {
                throw Unplaced(reason: "the window tokens are moved from \(x) \(xs), the tokens of another partition, not from a grid")
            }
            (nodes, sources, chain) = movement(stoppingAt: grid)
            (x, xs, channelLast) = (grid, gs, false)
        }
        let (h, w) = channelLast ? (xs[1], xs[2]) : (xs[2], xs[3])
        guard (channelLast ? xs[3] : xs[1]) == c else { throw Unplaced(reason: "the grid \(x) \(xs) has other features than the tokens \(ys)") }
        let moved = try runMovement(g.nodes.filter { nodes[$0.name] != nil }, from: x, shape: xs, channelLast: channelLast, to: y,
                                    constants: g.constants)
        guard moved.shape == ys else { throw Unplaced(reason: "the moved grid has shape \(moved.shape), not \(ys)") }
        // Decode: code 0 is padding; code k + 1 is cell k of image k / (h·w).
        var position = [Int](repeating: -1, count: windows * t), covered = [Int](repeating: 0, count: h * w)
        for m in 0..<(batch * windows) {
            for token in 0..<t {
                let code = Int(moved.data[(m * t + token) * c])
                let image = code > 0 ? (code - 1) / (h * w) : -1, cell = code > 0 ? (code - 1) % (h * w) : -1
                guard code == 0 || image == m / windows else { throw Unplaced(reason: "window \(m) mixes tokens of several images") }
                let slot = (m % windows) * t + token
                if m < windows {
                    position[slot] = cell
                    if cell >= 0 { covered[cell] += 1 }
                } else if position[slot] != cell {
                    throw Unplaced(reason: "the images of a batch are not windowed alike")
                }
            }
        }
        guard covered.allSatisfy({ $0 == 1 }) else { throw Unplaced(reason: "the windows do not cover the \(h)×\(w) grid once each") }
        return AttentionWindows(gridHeight: h, gridWidth: w, windows: windows, tokens: t, position: position, gridValue: x, windowValue: y)
    }

    /// Whether `n` only moves entries of its first input (shapes, pads and indices constant), or keeps every token
    /// where it is (a LayerNormalization over the features, as MaxViT applies after partitioning).
    static func isMovement(_ n: Node, in g: Graph) -> Bool {
        guard n.domain.isEmpty else { return false }
        if TokenLayout.normalizesLast(n) { return true }
        if n.opType == "Gather" { return n.input(1).map { g.constants[$0] != nil } ?? false }
        if n.opType == "Pad" { return n.inputs.dropFirst().allSatisfy { $0.isEmpty || g.constants[$0] != nil } }
        return movement.contains(n.opType)
    }

    /// Runs `nodes` on the position code of a grid of `shape`: entry [b, i, j, ·] (or [b, ·, i, j]) = b·H·W + i·W + j + 1.
    static func runMovement(_ nodes: [Node], from x: String, shape: [Int], channelLast: Bool, to y: String,
                            constants: [String: Constant]) throws -> Tensor {
        // Token-wise nodes pass the code through unchanged.
        let nodes = nodes.map { n in
            TokenLayout.normalizesLast(n) ? Node(name: n.name, opType: "Identity", inputs: [n.inputs[0]], outputs: [n.outputs[0]], opset: n.opset) : n
        }
        var used: [String: Constant] = [:]
        for n in nodes { for i in n.inputs where !i.isEmpty { if let k = constants[i] { used[i] = k } } }
        let graph = Graph(nodes: nodes, inputs: [ValueInfo(name: x, shape: shape.map { .fixed($0) })], outputs: [ValueInfo(name: y)],
                          constants: used)
        let net = try Network(model: Model(graph: graph), options: .raw)
        let (h, w, c) = channelLast ? (shape[1], shape[2], shape[3]) : (shape[2], shape[3], shape[1])
        let code = Tensor(zeros: shape)
        for b in 0..<shape[0] { for i in 0..<h { for j in 0..<w {
            let value = Float(b * h * w + i * w + j + 1)
            for k in 0..<c { code.data[channelLast ? ((b * h + i) * w + j) * c + k : ((b * c + k) * h + i) * w + j] = value }
        } } }
        guard let out = try net.forward(code, capture: [y])[y] else { throw Unplaced(reason: "the window partition did not run") }
        return out
    }

    /// `"4 windows of 4×4"` (of T tokens when T is not a square).
    public var summary: String {
        let side = TokenLayout.grid(tokens: tokens).flatMap { $0.skip == 0 ? "\($0.h)×\($0.w)" : nil } ?? "\(tokens) tokens"
        return "\(windows) window\(windows == 1 ? "" : "s") of \(side) on the \(gridHeight)×\(gridWidth) token grid"
    }
}
