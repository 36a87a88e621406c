/// Attention maps of vision transformers: per block and head, how much one query token attends to each patch,
/// on the patch grid, and attention rollout (Abnar & Zuidema 2020) through the blocks. The probabilities come from
/// the graph (`Attention.sites`: the Softmax feeding each block's product with the values).
import AtlasCore
import AtlasNet

/// Whose attention a map shows: one row of the [tokens, tokens] probabilities, or the mean of the patch rows.
public enum AttentionQuery: Sendable, Equatable, CustomStringConvertible {
    /// The class token (the leading token that the patch grid leaves out).
    case classToken
    /// Patch `p` of the grid, row-major from the top left, counted without the class token.
    case patch(Int)
    /// The mean over every patch query: how much attention each patch receives on average.
    case mean

    /// `class`, `mean` or a patch index.
    public init?(_ text: String) {
        switch text {
        case "class", "cls": self = .classToken
        case "mean": self = .mean
        default:
            guard let p = Int(text), p >= 0 else { return nil }
            self = .patch(p)
        }
    }

    public var description: String {
        switch self {
        case .classToken: return "class"
        case .mean: return "mean"
        case let .patch(p): return "patch \(p)"
        }
    }
}

/// One attention site the maps are made from, with its probabilities' shape at the planned input.
public struct AttentionLayer: Sendable {
    /// The site's number among all attention sites of the graph (graph order, from 0).
    public let index: Int
    public let site: Attention.Site
    public let heads: Int
    /// The token grid its maps are on (the patch grid; for windowed attention the grid its windows cover).
    public let gridHeight: Int, gridWidth: Int
    /// Windowed attention (Swin): where each window's tokens sit on the grid; nil for global attention.
    public let windows: AttentionWindows?
}

/// An attention site that is not mapped onto the image, and why.
public struct UnmappedAttention: Sendable {
    public let site: Attention.Site
    /// Its probabilities' shape at the planned input.
    public let shape: [Int]
    public let reason: String
}

/// The maps of one batch.
public struct AttentionBatch: @unchecked Sendable {
    /// Per layer (keyed by `AttentionLayer.index`): `[N, heads, h, w]`, the query's attention over the layer's grid.
    public var maps: [Int: Tensor]
    /// `[N, h, w]`: the query's row of the rollout through the deepest layer asked for; nil when not asked.
    public var rollout: Tensor?
    /// `[N, classes]`: the model's output, for the contact sheet's best classes.
    public var scores: Tensor
}

/// Finds the attention sites of a network at an input shape and makes maps of batches.
public final class AttentionMapper {
    public let network: Network
    /// The mapped sites, graph order: global attention over the image's tokens ([batch, heads, T, T]) and windowed
    /// attention ([batch × windows, heads, T, T]) whose windows the graph places on a token grid (`AttentionWindows`).
    public let layers: [AttentionLayer]
    /// Sites left out, with the reason: windows that cannot be placed, or another token count than the global sites'.
    public let unmapped: [UnmappedAttention]
    /// Tokens per image, leading (class) tokens left out of the grid, and the patch grid, of the global sites (of the
    /// first mapped site when none is global).
    public let tokens: Int, classTokens: Int, gridHeight: Int, gridWidth: Int
    public let query: AttentionQuery
    /// The value read as class scores (`Attributor.logitsValue`).
    public let logits: String

    /// Plans `network` at `inputShape` ([N, C, H, W]) and checks `query` against its tokens; nil `query` means the
    /// class token when there is one, else `.mean`. A site is global when its probabilities are [N, heads, T, T]
    /// with T tokens on a patch grid; windowed attention has N × windows rows (one window over the whole grid is
    /// global).
    public init(network: Network, inputShape: [Int], query: AttentionQuery?) throws {
        guard inputShape.count == 4 else { throw AttributionError.model("attention maps need an image input [N, C, H, W], got \(inputShape)") }
        let sites = Attention.sites(network.graph)
        guard !sites.isEmpty else {
            throw AttributionError.model("the model has no attention (no Softmax whose output is the first operand of a MatMul or Einsum)")
        }
        self.network = network
        self.logits = try Attributor.logitsValue(network)
        let batch = inputShape[0]
        let plan = try network.plan(for: inputShape)
        if let e = plan.errors[logits] { throw e }
        var kept: [AttentionLayer] = [], unmapped: [UnmappedAttention] = []
        var tokens: Int?
        for (i, site) in sites.enumerated() {
            if let e = plan.errors[site.probabilities] { throw e }
            let s = plan.shapes[site.probabilities] ?? []
            func leave(_ reason: String) { unmapped.append(UnmappedAttention(site: site, shape: s, reason: reason)) }
            // [rows, heads, T, T] with rows = batch × windows, or [batch, windows, heads, T, T].
            let r = s.count
            guard r == 4 || r == 5, s[r - 1] == s[r - 2], s.dropLast(3).reduce(1, *) % max(batch, 1) == 0 else {
                leave("probabilities \(s) are not [batch, heads, T, T]"); continue
            }
            let (heads, t, count) = (s[r - 3], s[r - 1], s.dropLast(3).reduce(1, *) / max(batch, 1))
            if count == 1, let grid = TokenLayout.grid(tokens: t) {
                guard tokens == nil || tokens == t else { leave("\(t) tokens, the other global sites \(tokens ?? 0)"); continue }
                tokens = t
                kept.append(AttentionLayer(index: i, site: site, heads: heads, gridHeight: grid.h, gridWidth: grid.w, windows: nil))
                continue
            }
            let side = TokenLayout.grid(tokens: t).flatMap { $0.skip == 0 ? "\($0.h)×\($0.w)" : nil } ?? "\(t) tokens"
            do {
                let w = try AttentionWindows.find(site, plan: plan, batch: batch)
                guard w.windows == count, w.tokens == t else {
                    leave("windowed, \(count) windows of \(side), but the graph moves \(w.windows) windows of \(w.tokens) tokens"); continue
                }
                kept.append(AttentionLayer(index: i, site: site, heads: heads, gridHeight: w.gridHeight, gridWidth: w.gridWidth, windows: w))
            } catch let u as AttentionWindows.Unplaced {
                leave("windowed, \(count) windows of \(side): \(u.reason)")
            }
        }
        guard let first = kept.first else {
            let list = unmapped.map { "\($0.site.softmaxNode) \($0.shape) (\($0.reason))" }.joined(separator: "; ")
            throw AttributionError.invalidOption("no attention site can be mapped onto the image: \(list)")
        }
        self.layers = kept
        self.unmapped = unmapped
        let grid = tokens.flatMap(TokenLayout.grid(tokens:)) ?? (0, first.gridHeight, first.gridWidth)
        self.tokens = tokens ?? first.gridHeight * first.gridWidth
        self.classTokens = grid.skip
        self.gridHeight = grid.h
        self.gridWidth = grid.w
        let q = query ?? (grid.skip > 0 ? .classToken : .mean)
        let largest = kept.max { $0.gridHeight * $0.gridWidth < $1.gridHeight * $1.gridWidth } ?? first
        let cells = largest.gridHeight * largest.gridWidth
        switch q {
        case .classToken where grid.skip == 0:
            throw AttributionError.invalidOption("the model has no class token (\(self.tokens) tokens = a \(grid.h)×\(grid.w) patch grid); use --query PATCH or --query mean")
        case let .patch(p) where p >= cells:
            throw AttributionError.invalidOption("--query \(p) is out of range: the patch grid is \(largest.gridHeight)×\(largest.gridWidth) (0…\(cells - 1))")
        default: break
        }
        self.query = q
    }

    /// Checks the query against each of `chosen`: a class token only on global sites, a patch on each site's grid.
    public func check(_ chosen: [AttentionLayer]) throws {
        for l in chosen {
            if query == .classToken, l.windows != nil {
                throw AttributionError.invalidOption("layer \(l.index) (\(l.site.softmaxNode)) is windowed attention without a class token; "
                                                     + "use --query PATCH or --query mean, or choose another --layer")
            }
            if case let .patch(p) = query, p >= l.gridHeight * l.gridWidth {
                throw AttributionError.invalidOption("--query \(p) is out of range for layer \(l.index): its grid is \(l.gridHeight)×\(l.gridWidth) "
                                                     + "(0…\(l.gridHeight * l.gridWidth - 1)); choose its layers with --layer")
            }
        }
    }

    /// The layers a rollout through the deepest of `selected` multiplies: every global layer up to it (windowed layers
    /// mix tokens only within windows and are left out). Throws when there is none.
    public func rolloutLayers(through selected: [Int]) throws -> [AttentionLayer] {
        let deepest = selected.max() ?? layers.last!.index
        let rolled = layers.filter { $0.windows == nil && $0.index <= deepest }
        guard !rolled.isEmpty else {
            throw AttributionError.invalidOption("attention rollout needs global attention up to layer \(deepest); the layers there are windowed")
        }
        return rolled
    }

    /// Maps of `x` ([N, C, H, W], preprocessed) at the layers numbered `selected` (`AttentionLayer.index`), and
    /// with `rollout` the rollout through the deepest of them (every global layer from the first one up to it; windowed
    /// layers are left out of the rollout).
    public func maps(_ x: Tensor, layers selected: [Int], rollout: Bool) throws -> AttentionBatch {
        let rolled = rollout ? try rolloutLayers(through: selected) : []
        let chosen = layers.filter { selected.contains($0.index) }
        try check(chosen)
        let rolledIndices = Set(rolled.map(\.index))
        let used = layers.filter { selected.contains($0.index) || rolledIndices.contains($0.index) }
        let values = try network.forward(x, capture: Set(used.map(\.site.probabilities) + [logits]))
        guard let y = values[logits] else { throw AttributionError.model("no output") }
        let n = x.shape[0]
        var maps: [Int: Tensor] = [:]
        for l in chosen {
            guard let p = values[l.site.probabilities] else { throw AttributionError.model("no value \(l.site.probabilities)") }
            maps[l.index] = l.windows.map { windowRows(p, $0, heads: l.heads, images: n) } ?? patchRows(p, heads: l.heads, images: n)
        }
        var rollMap: Tensor?
        if rollout {
            let r = try Attention.rollout(rolled.map { values[$0.site.probabilities]! })
            rollMap = patchRows(r, heads: 1, images: n).reshaped([n, gridHeight, gridWidth])
        }
        return AttentionBatch(maps: maps, rollout: rollMap, scores: y.reshaped([n, y.count / max(1, n)]))
    }

    /// `[N, heads, T, T]` (or `[N, T, T]` with `heads` 1) → `[N, heads, h, w]`: the query's row (or the mean of the
    /// patch rows), class-token columns dropped, on the patch grid.
    func patchRows(_ p: Tensor, heads: Int, images n: Int) -> Tensor {
        let (t, skip, cells) = (tokens, classTokens, gridHeight * gridWidth)
        let out = Tensor(zeros: [n, heads, gridHeight, gridWidth])
        let rows: [Int]
        switch query {
        case .classToken: rows = [0]
        case let .patch(q): rows = [skip + q]
        case .mean: rows = Array(skip..<t)
        }
        for m in 0..<(n * heads) {
            let base = p.data + m * t * t, o = out.data + m * cells
            for j in 0..<cells {
                var s = 0.0
                for r in rows { s += Double(base[r * t + skip + j]) }
                o[j] = Float(s / Double(rows.count))
            }
        }
        return out
    }

    /// `[N × windows, heads, T, T]` → `[N, heads, H, W]` on the grid the windows cover (`AttentionWindows`): a patch
    /// query's row of its own window, placed where the window's tokens sit (zero outside that window); the mean query
    /// averages every patch's row over all H·W patches (a patch attends only within its window), so it sums to 1.
    func windowRows(_ p: Tensor, _ w: AttentionWindows, heads: Int, images n: Int) -> Tensor {
        let (t, cells) = (w.tokens, w.gridHeight * w.gridWidth)
        let out = Tensor(zeros: [n, heads, w.gridHeight, w.gridWidth])
        var queries: [(window: Int, token: Int)] = []
        if case let .patch(q) = query, let slot = w.position.firstIndex(of: q) {
            queries = [(slot / t, slot % t)]
        } else if query == .mean {
            queries = w.position.indices.filter { w.position[$0] >= 0 }.map { ($0 / t, $0 % t) }
        }
        let scale = query == .mean ? 1 / Double(cells) : 1
        for image in 0..<n {
            for h in 0..<heads {
                var acc = [Double](repeating: 0, count: cells)
                for (window, token) in queries {
                    let row = p.data + (((image * w.windows + window) * heads + h) * t + token) * t
                    for j in 0..<t {
                        let cell = w.position[window * t + j]
                        if cell >= 0 { acc[cell] += Double(row[j]) }
                    }
                }
                let o = out.data + (image * heads + h) * cells
                for c in 0..<cells { o[c] = Float(acc[c] * scale) }
            }
        }
        return out
    }
}

extension AttentionBatch {
    /// `[N, heads, h, w]` → `[N, h, w]`: the mean over heads (summed in double precision, head order).
    public static func meanOverHeads(_ maps: Tensor) -> Tensor {
        let (n, heads, cells) = (maps.shape[0], maps.shape[1], maps.shape[2] * maps.shape[3])
        let out = Tensor(zeros: [n, maps.shape[2], maps.shape[3]])
        for i in 0..<n {
            for j in 0..<cells {
                var s = 0.0
                for h in 0..<heads { s += Double(maps.data[(i * heads + h) * cells + j]) }
                out.data[i * cells + j] = Float(s / Double(heads))
            }
        }
        return out
    }
}
