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
}

/// The maps of one batch.
public struct AttentionBatch: @unchecked Sendable {
    /// Per layer (keyed by `AttentionLayer.index`): `[N, heads, h, w]`, the query's attention over the patches.
    public var maps: [Int: Tensor]
    /// `[N, h, w]`: the query's row of the rollout through the deepest layer asked for; nil when not asked.
    public var rollout: Tensor?
    /// `[N, classes]`: the model's output, for the contact sheet's best classes.
    public var scores: Tensor
}

/// Finds the attention sites of a network at an input shape and makes maps of batches.
public final class AttentionMapper {
    public let network: Network
    /// The sites with global attention over the image's tokens ([batch, heads, T, T]), graph order.
    public let layers: [AttentionLayer]
    /// Sites left out: windowed attention (Swin, MaxViT: the batch axis holds windows) or another token count.
    public let unmapped: [(site: Attention.Site, shape: [Int])]
    /// Tokens per image, leading (class) tokens left out of the grid, and the patch grid.
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
        var kept: [AttentionLayer] = [], unmapped: [(Attention.Site, [Int])] = []
        var tokens: Int?
        for (i, site) in sites.enumerated() {
            if let e = plan.errors[site.probabilities] { throw e }
            let s = plan.shapes[site.probabilities] ?? []
            let global = s.count == 4 && s[0] == batch && s[2] == s[3] && TokenLayout.grid(tokens: s[2]) != nil
            if global, tokens == nil || tokens == s[2] {
                tokens = s[2]
                kept.append(AttentionLayer(index: i, site: site, heads: s[1]))
            } else {
                unmapped.append((site, s))
            }
        }
        guard let t = tokens, let grid = TokenLayout.grid(tokens: t) else {
            let shapes = unmapped.map { "\($0.0.softmaxNode) \($0.1)" }.joined(separator: ", ")
            throw AttributionError.model("no attention site is global over a patch grid (windowed attention is not mapped onto the image): \(shapes)")
        }
        self.layers = kept
        self.unmapped = unmapped
        self.tokens = t
        self.classTokens = grid.skip
        self.gridHeight = grid.h
        self.gridWidth = grid.w
        let q = query ?? (grid.skip > 0 ? .classToken : .mean)
        switch q {
        case .classToken where grid.skip == 0:
            throw AttributionError.invalidOption("the model has no class token (\(t) tokens = a \(grid.h)×\(grid.w) patch grid); use --query PATCH or --query mean")
        case let .patch(p) where p >= grid.h * grid.w:
            throw AttributionError.invalidOption("--query \(p) is out of range: the patch grid is \(grid.h)×\(grid.w) (0…\(grid.h * grid.w - 1))")
        default: break
        }
        self.query = q
    }

    /// Maps of `x` ([N, C, H, W], preprocessed) at the layers numbered `selected` (`AttentionLayer.index`), and
    /// with `rollout` the rollout through the deepest of them (every mapped layer from the first one up to it).
    public func maps(_ x: Tensor, layers selected: [Int], rollout: Bool) throws -> AttentionBatch {
        let deepest = selected.max() ?? layers.last!.index
        let used = layers.filter { selected.contains($0.index) || (rollout && $0.index <= deepest) }
        let values = try network.forward(x, capture: Set(used.map(\.site.probabilities) + [logits]))
        guard let y = values[logits] else { throw AttributionError.model("no output") }
        let n = x.shape[0]
        var maps: [Int: Tensor] = [:]
        for l in used where selected.contains(l.index) {
            guard let p = values[l.site.probabilities] else { throw AttributionError.model("no value \(l.site.probabilities)") }
            maps[l.index] = patchRows(p, heads: l.heads, images: n)
        }
        var rolled: Tensor?
        if rollout {
            let r = try Attention.rollout(used.map { values[$0.site.probabilities]! })
            rolled = patchRows(r, heads: 1, images: n).reshaped([n, gridHeight, gridWidth])
        }
        return AttentionBatch(maps: maps, rollout: rolled, scores: y.reshaped([n, y.count / max(1, n)]))
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
