import AtlasCore
import AtlasNet

/// Where the tokens of a windowed attention site (Swin's probabilities are [batch × windows, heads, T, T], MaxViT's
/// [batch, windows, heads, T, T]) sit on the image's token grid. Found from the graph, not from the model's name: the
/// queries and keys of the site are projected by one Linear from a value Y ([batch × windows, T, C] or [batch,
/// windows, T, C]) that data movement (Reshape, Transpose, Slice, Concat, Pad, Gather by constant indices: window or
/// grid partition, torch.roll's shift, padding) makes from one grid X ([batch, H, W, C], or [batch, C, H, W] when X is
/// not channel-last), through steps that keep each token where it is (a LayerNormalization over the features, a
/// residual sum). That movement is run on a grid whose every entry holds its own position, so Y tells for each window
/// and token the grid cell it came from: windows, shifts (un-rolled), strided grids and padding alike.
public struct AttentionWindows: Sendable, Equatable {
    /// The token grid the windows cover (the grid X, before padding).
    public let gridHeight: Int, gridWidth: Int
    /// Windows per image and tokens per window.
    public let windows: Int, tokens: Int
    /// `position[w * tokens + t]`: the grid cell (row-major) of token t of window w, or -1 for a padding token.
    public let position: [Int]
    /// The grid X and the tokens Y that the attention projects (value names).
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
        guard let ys = plan.shapes[y], ys.count == 3 || ys.count == 4, let c = ys.last,
              ys.dropLast(2).reduce(1, *) % batch == 0, let image = plan.inputShapes.values.first, image.count == 4 else {
            throw Unplaced(reason: "the attention's tokens \(plan.shapes[y] ?? []) are not [batch × windows, T, channels]")
        }
        let (t, windows) = (ys[ys.count - 2], ys.dropLast(2).reduce(1, *) / batch)
        let lastAxis = TokenLayout.channelLastValues(g)
        // A grid: [batch, C, H, W], or a channel-last [batch, H, W, C] that is not the [batch, windows, T, C] tokens of
        // a partition, with the image's aspect ratio and the tokens' features.
        func isGrid(_ v: String) -> Bool {
            guard let s = plan.shapes[v], s.count == 4, s[0] == batch else { return false }
            let last = lastAxis.contains(v)
            let (h, w, features) = last ? (s[1], s[2], s[3]) : (s[2], s[3], s[1])
            return features == c && h * image[3] == w * image[2] && !(last && h == windows && w == t)
        }
        // Back from Y to the grid through data movement, token-wise norms, and residual sums (an Add of two values of
        // its shape keeps every token where it is), following the one input of a sum that reaches a grid.
        var traced: [String: String?] = [:], steps: [String: Node] = [:]
        func trace(_ v: String, depth: Int) -> String? {
            if let known = traced[v] { return known }
            guard depth < 400, g.constants[v] == nil else { return nil }
            var grid: String?
            if let n = producer[v], isMovement(n, in: g) {
                let found = Set(n.inputs.filter { !$0.isEmpty && g.constants[$0] == nil }.map { trace($0, depth: depth + 1) })
                if found.count == 1, let only = found.first, let reached = only { grid = reached; steps[n.name] = n }
            } else if isGrid(v) {
                grid = v
            } else if let n = producer[v], n.opType == "Add", n.domain.isEmpty, n.inputs.count == 2,
                      n.inputs.allSatisfy({ g.constants[$0] == nil && plan.shapes[$0] == plan.shapes[v] }) {
                let found = n.inputs.compactMap { i in trace(i, depth: depth + 1).map { (input: i, grid: $0) } }
                if found.count == 1, let only = found.first {
                    grid = only.grid
                    steps[n.name] = Node(name: n.name, opType: "Identity", inputs: [only.input], outputs: [v], opset: n.opset)
                }
            }
            traced[v] = grid
            return grid
        }
        guard let x = trace(y, depth: 0), let xs = plan.shapes[x] else {
            throw Unplaced(reason: "the attention's tokens are not moved from one [batch, H, W, channels] or [batch, channels, H, W] grid")
        }
        guard !steps.isEmpty else { throw Unplaced(reason: "no data movement between a token grid and the attention's tokens \(x)") }
        let channelLast = lastAxis.contains(x)
        let (h, w) = channelLast ? (xs[1], xs[2]) : (xs[2], xs[3])
        guard batch * h * w < 1 << 24 else { throw Unplaced(reason: "the grid \(xs) has more cells than float32 position codes hold") }
        let moved = try runMovement(g.nodes.compactMap { steps[$0.name] }, from: x, shape: xs, channelLast: channelLast, to: y,
                                    constants: g.constants)
        guard moved.shape == ys else { throw Unplaced(reason: "the moved grid has shape \(moved.shape), not \(ys)") }
        // Decode: code 0 is padding; code k + 1 is cell k of image k / (h·w).
        var position = [Int](repeating: -1, count: windows * t), covered = [Int](repeating: 0, count: h * w)
        for m in 0..<(batch * windows) {
            for token in 0..<t {
                let code = Int(moved.data[(m * t + token) * c])
                let owner = code > 0 ? (code - 1) / (h * w) : -1, cell = code > 0 ? (code - 1) % (h * w) : -1
                guard code == 0 || owner == m / windows else { throw Unplaced(reason: "window \(m) mixes tokens of several images") }
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
