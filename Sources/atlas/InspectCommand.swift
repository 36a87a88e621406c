import ArgumentParser
import AtlasCore
import AtlasNet
import Foundation

/// `atlas inspect MODEL.onnx`: inputs, outputs and every layer with its alias, shape, channels, parameters and
/// multiply-adds at a given input size.
struct Inspect: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "List a model's inputs, outputs and layers (names, aliases, shapes, parameters, multiply-adds).",
        discussion: """
        Layer names printed here (the ONNX value names and the short aliases from the exporter's module path) \
        are the names other commands accept with --layer. A transformer's token layers are listed with their \
        layout ([batch, tokens, channels]); their aliases name a [batch, channels, h, w] view over the patch grid, \
        and where a layer has a class token (ViT) a second row NAME::cls names that token alone as \
        [batch, channels, 1, 1].

        The listing is the graph every command runs: after the load-time optimizer (constant Pads folded into \
        convolutions and pools, Clip(0, inf) as Relu, SiLU and HardSwish patterns as one step, torch's LRN \
        decomposition as LRN, reshape chains merged, Transpose pairs cancelled) and BatchNorm folding. The line \
        line "optimized" says what each pass rewrote. --raw lists the file's own graph; ATLAS_PASSES=-NAME[,-NAME] \
        (or none) switches passes off in any command, for diagnosis.
        """
    )

    @Argument(help: "The ONNX model file.")
    var model: String

    @Option(help: "Input height and width in pixels (default: the model's declared size, model.json's, or 224).")
    var size: Int?

    @Flag(help: "Write JSON instead of a table.")
    var json = false

    @Flag(help: "Keep BatchNormalization separate instead of folding it into the preceding Conv.")
    var noFoldBatchNorm = false

    @Flag(help: "List the file's own graph: no optimizer passes and no BatchNorm folding.")
    var raw = false

    func run() throws {
        if let size, !(1...16384).contains(size) { throw ValidationError("--size must be between 1 and 16384") }
        let options: Network.Options = raw ? .raw : .init(foldBatchNorm: !noFoldBatchNorm)
        let net = try ModelSetup.loadNetwork(model, options: options)
        let shape = try ModelSetup.plannedInputShape(net, modelPath: model, size: size)
        let plan = try net.plan(for: shape)
        let rows = plan.layers(names: net.names)
        let report = InspectReport(model: model, net: net, inputShape: shape, plan: plan, rows: rows)
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
            print(String(decoding: try encoder.encode(report), as: UTF8.self))
        } else {
            print(report.text)
        }
    }
}

/// What `inspect` reports, as JSON or text.
struct InspectReport: Encodable {
    struct Value: Encodable {
        let name: String
        let shape: [String]
    }
    struct Row: Encodable {
        let alias: String?
        let value: String
        let op: String
        let node: String
        let shape: [Int]?
        let channels: Int?
        /// Token (channel-last) layouts only: "batch, tokens, channels", "batch, H, W, channels".
        let axes: String?
        let parameters: Int
        let multiplyAdds: Int
        let error: String?
    }
    let model: String
    let producer: String
    let irVersion: Int
    let opset: Int
    let inputShape: [Int]
    let inputs: [Value]
    let outputs: [Value]
    let layers: [Row]
    let totalParameters: Int
    let totalMultiplyAdds: Int
    /// Rewrites per optimizer pass (those that rewrote something).
    let passes: [String: Int]

    init(model: String, net: Network, inputShape: [Int], plan: Plan, rows: [LayerInfo]) {
        self.model = model
        producer = net.model.producer
        irVersion = net.model.irVersion
        opset = net.model.opset
        self.inputShape = inputShape
        inputs = net.graph.inputs.map { Value(name: $0.name, shape: ($0.shape ?? []).map(\.description)) }
        outputs = net.graph.outputs.map { o in
            Value(name: o.name, shape: (plan.shapes[o.name] ?? []).map(String.init))
        }
        layers = rows.map {
            Row(alias: $0.alias, value: $0.value, op: $0.op, node: $0.node, shape: $0.shape, channels: $0.channels,
                axes: $0.axes, parameters: $0.parameters, multiplyAdds: $0.multiplyAdds, error: $0.error)
        }
        // Each weight once, even when several nodes share it.
        var read = Set<String>()
        for n in plan.graph.nodes { read.formUnion(n.inputs) }
        totalParameters = plan.graph.constants.filter { read.contains($0.key) && $0.value.isFloat }.map(\.value.count).reduce(0, +)
        totalMultiplyAdds = rows.map(\.multiplyAdds).reduce(0, +)
        passes = Dictionary(uniqueKeysWithValues: plan.optimization.rewrites.filter { $0.count > 0 }.map { ($0.pass, $0.count) })
    }

    var text: String {
        var lines: [String] = []
        lines.append("model     \(model)  (producer \(producer.isEmpty ? "?" : producer), IR \(irVersion), opset \(opset))")
        for i in inputs { lines.append("input     \(i.name)  [\(i.shape.joined(separator: ", "))]  planned as \(inputShape)") }
        for o in outputs { lines.append("output    \(o.name)  [\(o.shape.joined(separator: ", "))]") }
        let rewrites = GraphOptimizer.passes.compactMap { p in passes[p.name].map { "\(p.name) \($0)" } }
        lines.append("optimized \(rewrites.isEmpty ? "nothing to rewrite" : rewrites.joined(separator: ", "))")
        lines.append("")
        let header = ["alias", "value", "op", "shape", "channels", "params", "mult-adds"]
        var table = [header]
        for r in layers {
            let shape = r.shape.map { $0.map(String.init).joined(separator: "×") + (r.axes.map { " [\($0)]" } ?? "") }
            table.append([r.alias ?? "-", r.value, r.op, shape ?? "error",
                          r.channels.map(String.init) ?? "-", String(r.parameters), InspectReport.compact(r.multiplyAdds)])
        }
        let widths = header.indices.map { c in table.map { $0[c].count }.max() ?? 0 }
        for row in table {
            lines.append(row.enumerated().map { c, cell in
                c >= 4 ? String(repeating: " ", count: widths[c] - cell.count) + cell
                       : cell + String(repeating: " ", count: widths[c] - cell.count)
            }.joined(separator: "  "))
        }
        lines.append("")
        lines.append("\(layers.count) values, \(totalParameters) parameters, \(InspectReport.compact(totalMultiplyAdds)) multiply-adds per forward pass")
        var reported = Set<String>()
        for r in layers {   // each root cause once (errors propagate to everything computed from a failed node)
            guard let e = r.error, reported.insert(e).inserted else { continue }
            lines.append("cannot compute \(r.value) and what depends on it: \(e)")
        }
        return lines.joined(separator: "\n")
    }

    /// 1234567 → "1.23M".
    static func compact(_ n: Int) -> String {
        let v = Double(n)
        if v >= 1e9 { return String(format: "%.2fG", v / 1e9) }
        if v >= 1e6 { return String(format: "%.2fM", v / 1e6) }
        if v >= 1e3 { return String(format: "%.1fK", v / 1e3) }
        return String(n)
    }
}
