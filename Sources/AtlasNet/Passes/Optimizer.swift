import AtlasCore
import Foundation

/// One rewrite of the load-time optimizer: a name (for `ATLAS_PASSES` and `atlas inspect`), what it does, and the
/// rewrite itself, which returns how many patterns it replaced.
public struct GraphPass: Sendable {
    public let name: String
    public let summary: String
    let rewrite: @Sendable (inout Graph, inout PassState) throws -> Int
}

/// What the passes share while they run: the shape of every value (known after shape-dependent folding), the values
/// they removed (each with the pass that removed it) and the removed values that equal another (no-op reshapes).
public struct PassState {
    public var shapes: [String: [Int]]
    public var removed: [String: String] = [:]
    public var aliases: [String: String] = [:]
}

/// Which passes run. `ATLAS_PASSES` switches passes off for diagnosis: `-name[,-name…]` turns those off, `none`
/// (or `-all`) every pass.
public struct PassSelection: Sendable, Hashable {
    public var disabled: Set<String>
    public init(disabled: Set<String> = []) { self.disabled = disabled }

    public static let all = PassSelection()
    public static let none = PassSelection(disabled: Set(GraphOptimizer.passes.map(\.name)))

    /// Parses an `ATLAS_PASSES` value; the unknown names are returned so the caller can report them.
    public static func parse(_ text: String) -> (selection: PassSelection, unknown: [String]) {
        var selection = PassSelection()
        var unknown: [String] = []
        let known = Set(GraphOptimizer.passes.map(\.name))
        for item in text.split(separator: ",").map({ $0.trimmingCharacters(in: .whitespaces) }) where !item.isEmpty {
            if item == "none" || item == "-all" { selection = .none; continue }
            if item == "all" { continue }
            let name = item.hasPrefix("-") ? String(item.dropFirst()) : item
            if known.contains(name) {
                if item.hasPrefix("-") { selection.disabled.insert(name) }
            } else {
                unknown.append(item)
            }
        }
        return (selection, unknown)
    }

    /// The selection `ATLAS_PASSES` asks for (all passes when unset); unknown names are reported once on stderr.
    public static let environment: PassSelection = {
        guard let text = ProcessInfo.processInfo.environment["ATLAS_PASSES"] else { return .all }
        let (selection, unknown) = parse(text)
        if !unknown.isEmpty {
            let names = GraphOptimizer.passes.map(\.name).joined(separator: ", ")
            FileHandle.standardError.write(Data("atlas: ATLAS_PASSES: ignoring \(unknown.joined(separator: ", ")) (passes: \(names))\n".utf8))
        }
        return selection
    }()
}

/// What the optimizer did to one plan's graph.
public struct OptimizationReport: Sendable {
    /// Patterns replaced, per pass, in the order the passes ran (passes that found nothing are listed with 0).
    public var rewrites: [(pass: String, count: Int)] = []
    /// Values that no longer exist, each with the pass that removed it.
    public var removed: [String: String] = [:]
    /// Removed values that hold another value's data under the same shape (value → that value).
    public var aliases: [String: String] = [:]
}

/// The load-time graph optimizer: small named rewrites of the patterns exporters write, run on each plan's graph after
/// its shape-dependent folding (so every shape and constant is known). Each pass gives the unoptimized graph's values
/// bit for bit or within float32 rounding, forward and input gradient; `Tests/AtlasNetTests/OptimizerTests` compares
/// each one's before and after on the patterns as torch 2.x exports them.
public enum GraphOptimizer {
    /// Every pass, in the order they run.
    public static let passes: [GraphPass] = [
        GraphPass(name: "fold-pads", summary: "constant Pad folded into the next Conv / MaxPool / AveragePool's pads",
                  rewrite: Passes.foldPads),
        GraphPass(name: "clip-relu", summary: "Clip(0, +inf) as Relu (ReLU6 stays a Clip, fused into its conv)",
                  rewrite: Passes.clipToRelu),
        GraphPass(name: "swish", summary: "x * Sigmoid(x) as SiLU, x * HardSigmoid(x) as HardSwish",
                  rewrite: Passes.fuseSwish),
        GraphPass(name: "gelu", summary: "torch's and tf2onnx's GELU decompositions (erf and tanh forms) as one Gelu",
                  rewrite: Passes.fuseGelu),
        GraphPass(name: "matmul-bias", summary: "MatMul + Add of a constant [N] (a Linear on tokens) as one MatMul with its bias",
                  rewrite: Passes.fuseMatMulBias),
        GraphPass(name: "lrn", summary: "torch's local_response_norm decomposition as one LRN",
                  rewrite: Passes.recognizeLRN),
        GraphPass(name: "shape-chains", summary: "Reshape/Squeeze/Unsqueeze/Flatten/Identity chains merged, no-ops removed",
                  rewrite: Passes.collapseShapeChains),
        GraphPass(name: "transpose-pairs", summary: "Transpose pairs composed, cancelled when they undo each other",
                  rewrite: Passes.composeTransposes),
        GraphPass(name: "attention-strides", summary: "batched MatMul between Transposes / Reshapes (attention's heads, Kᵀ) reading and writing through strides",
                  rewrite: Passes.strideAttention),
    ]

    /// Runs the selected passes on `graph`, whose values have the given shapes.
    public static func run(_ graph: inout Graph, shapes: [String: [Int]], selection: PassSelection) throws -> OptimizationReport {
        var state = PassState(shapes: shapes)
        var report = OptimizationReport()
        for pass in passes where !selection.disabled.contains(pass.name) {
            report.rewrites.append((pass.name, try pass.rewrite(&graph, &state)))
        }
        report.removed = state.removed
        // An alias of an alias names the value that remains.
        for (a, var b) in state.aliases {
            while let next = state.aliases[b] { b = next }
            report.aliases[a] = b
        }
        return report
    }
}

extension Passes {
    /// The operator domain of the layers the passes introduce (SiLU); lowered like default-domain ops.
    public static let atlasDomain = "ai.atlas"

    /// The layer of an `ai.atlas` op, nil for an unknown one.
    static func atlasLayer(_ op: String) -> Layer? {
        switch op {
        case "SiLU": return SiLU()
        default: return nil
        }
    }
}

/// Who produces and reads each value of a graph, for the passes' pattern matching.
struct GraphIndex {
    let producers: [String: Int]
    let uses: [String: Int]
    let outputs: Set<String>

    init(_ graph: Graph) {
        producers = graph.producers
        uses = graph.useCounts
        outputs = Set(graph.outputs.map(\.name))
    }

    /// The index of the node producing `value` when that node's output is read once and is not a graph output, so the
    /// pattern may absorb it.
    func soleProducer(of value: String) -> Int? {
        guard uses[value] == 1, !outputs.contains(value) else { return nil }
        return producers[value]
    }
}

extension Graph {
    /// Removes the nodes at `indices` (keeping the order of the rest).
    mutating func removeNodes(_ indices: Set<Int>) {
        guard !indices.isEmpty else { return }
        nodes = nodes.indices.filter { !indices.contains($0) }.map { nodes[$0] }
    }

    /// A scalar float constant named by a node input, nil otherwise.
    func scalar(_ value: String) -> Float? {
        guard let c = constants[value], c.count == 1 else { return nil }
        return c.floats[0]
    }
}

extension Node {
    /// The default-domain op `op`.
    func isOp(_ op: String) -> Bool { opType == op && domain.isEmpty }
}
