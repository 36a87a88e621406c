import AtlasCore
import Foundation

/// A loaded ONNX network, ready to run on the CPU: forward up to the deepest requested value, capture
/// activations, and backpropagate gradients on captured values to the input (never to the weights).
///
/// Plans are built per input shape on first use and cached. One `Network` runs one forward/backward at a
/// time (the layers themselves use all cores); use one instance per thread for concurrent runs.
public final class Network {
    /// Load-time options.
    public struct Options: Sendable {
        /// Fold BatchNormalization into the preceding Conv (the conv's own output then no longer exists).
        public var foldBatchNorm = true
        /// The optimizer passes each plan runs (`GraphOptimizer`; default: what `ATLAS_PASSES` asks for).
        public var passes: PassSelection
        public init(foldBatchNorm: Bool = true, passes: PassSelection = .environment) {
            self.foldBatchNorm = foldBatchNorm
            self.passes = passes
        }

        /// The file's own graph: no BatchNorm folding, no optimizer passes (`atlas inspect --raw`).
        public static let raw = Options(foldBatchNorm: false, passes: .none)
    }

    public let model: Model
    public let options: Options
    /// The graph after load-time passes (Identity/Dropout removal, shape-independent folding, BN folding).
    public let graph: Graph
    /// Value names and aliases users may request.
    public let names: LayerNames

    var plans: [[String: [Int]]: Plan] = [:]
    var planOrder: [[String: [Int]]] = []
    var trace: Trace?
    var peakBytes = 0

    /// Loads an ONNX file (external data next to it) and runs the load-time passes.
    public convenience init(contentsOf path: String, options: Options = Options()) throws {
        try self.init(model: try ONNXReader.load(path: path), options: options)
    }

    public init(model: Model, options: Options = Options()) throws {
        var g = model.graph
        Passes.removeIdentities(&g)
        try Passes.foldConstants(&g)
        if options.foldBatchNorm { Passes.foldBatchNorm(&g) }
        Passes.eliminateDeadNodes(&g)
        let views = TokenLayout.addViews(&g, for: Set(LayerNames(graph: g).aliases.values))
        self.model = model
        self.options = options
        self.graph = g
        self.names = LayerNames(graph: g, views: views.grids, classViews: views.classes)
    }

    /// The first runtime input (images for CNNs).
    public var input: ValueInfo? { graph.inputs.first }

    /// The input shape for an image batch: the declared shape with free dimensions set to `batch` (first) or
    /// `size`, and the two spatial dimensions set to `size` when given.
    public func inputShape(size: Int? = nil, batch: Int = 1) throws -> [Int] {
        guard let info = input else { throw ModelError.invalidGraph("the model has no runtime input") }
        guard let declared = info.shape else {
            guard let size else { throw ModelError.invalidGraph("input '\(info.name)' declares no shape; give a size") }
            return [batch, 3, size, size]
        }
        var shape = declared.enumerated().map { i, d -> Int in
            if case let .fixed(n) = d, !(i == 0 && n <= 1) { return n }
            return i == 0 ? batch : (size ?? 0)
        }
        if let size, shape.count == 4 { shape[2] = size; shape[3] = size }
        guard !shape.contains(0) else { throw ModelError.invalidGraph("input '\(info.name)' has free dimensions \(declared); give a size") }
        return shape
    }

    /// The plan for these input shapes (built and cached on first use).
    public func plan(for inputShapes: [String: [Int]]) throws -> Plan {
        if let p = plans[inputShapes] { return p }
        let p = try Plan(graph: graph, inputShapes: inputShapes, passes: options.passes)
        plans[inputShapes] = p
        planOrder.append(inputShapes)
        if planOrder.count > 8 { plans[planOrder.removeFirst()] = nil }
        return p
    }

    /// The plan for the primary input's shape.
    public func plan(for inputShape: [Int]) throws -> Plan {
        guard let info = input, graph.inputs.count == 1 else {
            throw ModelError.invalidGraph("the model has \(graph.inputs.count) runtime inputs; name them")
        }
        return try plan(for: [info.name: inputShape])
    }

    /// Resolves a user-given value name or alias (`LayerNames.value(_:)`).
    public func resolve(_ name: String) throws -> String { try names.value(name) }

    /// Runs the network on the primary input. Only the steps needed for `capture` (and `until`) run; with both
    /// empty, the graph outputs are computed. Returns the captured values (and the outputs when none are
    /// captured), keyed by the names given. Buffers are freed as soon as no remaining step reads them, except
    /// captured values and, with `keepForBackward`, what `backward` needs.
    ///
    /// `channels` may say which channels of a captured value the caller reads (feature-vis objectives): when that
    /// value is a channel Concat that no other step reads, inputs holding none of those channels are not computed
    /// (nor back-propagated) and their channels read as zeros. The channels named are bit-identical either way.
    public func forward(_ input: Tensor, capture: Set<String> = [], until: String? = nil,
                        keepForBackward: Bool = false, channels: [String: Set<Int>] = [:]) throws -> [String: Tensor] {
        guard let info = self.input, graph.inputs.count == 1 else {
            throw ModelError.invalidGraph("the model has \(graph.inputs.count) runtime inputs; use forward(inputs:)")
        }
        return try forward(inputs: [info.name: input], capture: capture, until: until, keepForBackward: keepForBackward,
                           channels: channels)
    }

    /// Runs the network on named inputs (see `forward(_:capture:until:keepForBackward:channels:)`).
    public func forward(inputs: [String: Tensor], capture: Set<String> = [], until: String? = nil,
                        keepForBackward: Bool = false, channels: [String: Set<Int>] = [:]) throws -> [String: Tensor] {
        trace = nil
        let plan = try self.plan(for: inputs.mapValues(\.shape))
        var requested: [(name: String, slot: Int)] = []
        var folded: [String: Tensor] = [:]
        var targets = capture.sorted()
        if let until, !capture.contains(until) { targets.append(until) }
        if targets.isEmpty { targets = graph.outputs.map(\.name) }
        for name in targets {
            let value = try resolve(name)
            if let e = plan.errors[value] { throw e.naming(name) }
            if let s = plan.slotOf[value] {
                requested.append((name, s))
            } else if let c = plan.graph.constants[value] {
                folded[name] = c.tensor   // a value that folded to a constant for this input shape
            } else if let pass = plan.optimization.removed[value] {
                throw ModelError.invalidGraph("'\(name)' is computed inside a pattern that the load-time pass '\(pass)' "
                                              + "replaced; run with ATLAS_PASSES=-\(pass) to keep it")
            } else {
                throw ModelError.unknownLayer(name)
            }
        }
        var channelNeeds: [Int: Set<Int>] = [:]
        for (name, set) in channels {
            if let s = plan.slotOf[try resolve(name)] { channelNeeds[s, default: []].formUnion(set) }
        }
        let result = try execute(plan, inputs: inputs, targets: requested.map(\.slot), keepForBackward: keepForBackward,
                                 channels: channelNeeds)
        var out = folded
        for (name, s) in requested { out[name] = result[s] }
        return out
    }

    /// Gradient with respect to the primary input (or input `wrt`) of Σ⟨grad, value⟩ over the given values,
    /// which must have been captured by the last `forward(…, keepForBackward: true)`. Consumes that forward.
    public func backward(from grads: [String: Tensor], wrt: String? = nil) throws -> Tensor {
        guard let trace else { throw ModelError.invalidGraph("backward needs a forward run with keepForBackward: true") }
        self.trace = nil
        guard let inputName = wrt ?? input?.name, let inputSlot = trace.plan.inputSlots[inputName] else {
            throw ModelError.unknownLayer(wrt ?? "input")
        }
        let seeds = try seedSlots(grads, trace)
        return runBackward(trace, seeds: seeds, inputSlot: inputSlot)
    }

    /// The seed gradients by value slot (summed where two names resolve to one value), checked against the trace.
    private func seedSlots(_ grads: [String: Tensor], _ trace: Trace) throws -> [Int: Tensor] {
        var seeds: [Int: Tensor] = [:]
        for (name, g) in grads {
            let value = try resolve(name)
            guard let s = trace.plan.slotOf[value], let v = trace.values[s] else {
                throw ModelError.invalidGraph("'\(name)' was not captured by the forward run")
            }
            guard g.shape == v.shape else {
                throw ModelError.invalidGraph("gradient for '\(name)' has shape \(g.shape), the value \(v.shape)")
            }
            seeds[s] = seeds[s].map { Add().forward([$0, g]) } ?? g
        }
        return seeds
    }

    /// Gradients of Σ⟨grad, value⟩ over the seeded values with respect to intermediate values `at` (layer names or
    /// value names, e.g. for Grad-CAM or attribution at a layer), from the last `forward(…, keepForBackward: true)`,
    /// which it consumes unless `keepForward` is true (then another backward from other seeds can follow, e.g. one
    /// per class, at the cost of holding every kept value until the last). Values upstream of every seed get a zero
    /// gradient; keys are the names given. A token view (`TokenLayout`: grid or class token) reads its value and feeds
    /// nothing, so its gradient is the view of the gradient at the value it shows (the view only moves entries).
    public func backward(from grads: [String: Tensor], at names: [String], keepForward: Bool = false) throws -> [String: Tensor] {
        guard let trace else { throw ModelError.invalidGraph("backward needs a forward run with keepForBackward: true") }
        if !keepForward { self.trace = nil }
        let seeds = try seedSlots(grads, trace)
        var slots: [String: Int] = [:], views: [String: Node] = [:]
        for name in names {
            let value = try resolve(name)
            guard let s = trace.plan.slotOf[value], trace.values[s] != nil else {
                throw ModelError.invalidGraph("'\(name)' was not kept by the forward run; capture it")
            }
            if let view = graph.nodes.first(where: { TokenLayout.isView($0) && $0.outputs.first == value }),
               let raw = view.input(0), let r = trace.plan.slotOf[raw] {
                views[name] = view
                slots[name] = r
            } else {
                slots[name] = s
            }
        }
        let found = runBackward(trace, seeds: seeds, targets: Set(slots.values), release: !keepForward)
        var out: [String: Tensor] = [:]
        for (name, s) in slots {
            let g = found[s] ?? Tensor(zeros: trace.plan.shapes[trace.plan.slotNames[s]] ?? [])
            if let view = views[name] {
                out[name] = trace.plan.steps.filter { $0.node == view.name }.reduce(g) { x, step in step.layer.forward([x]) }
            } else {
                out[name] = g
            }
        }
        return out
    }

    /// Per-layer timings and peak memory of the runs so far (plans of all input shapes together).
    public var stats: NetworkStats {
        var layers: [LayerTiming] = []
        for key in planOrder { if let p = plans[key] { layers.append(contentsOf: p.timings.filter { $0.calls > 0 }) } }
        return NetworkStats(layers: layers, peakBytes: peakBytes)
    }

    public func resetStats() {
        for p in plans.values { p.timings = p.timings.map { LayerTiming(node: $0.node, op: $0.op, output: $0.output) } }
        peakBytes = 0
    }
}

/// Time spent in one step.
public struct LayerTiming: Sendable {
    public let node: String
    public let op: String
    public let output: String
    public var forwardSeconds: Double = 0
    public var backwardSeconds: Double = 0
    public var calls = 0
}

/// Timings per step and the peak of tensor memory (AtlasCore `MemoryStats`) during runs.
public struct NetworkStats: Sendable {
    public let layers: [LayerTiming]
    public let peakBytes: Int
    public var forwardSeconds: Double { layers.map(\.forwardSeconds).reduce(0, +) }
    public var backwardSeconds: Double { layers.map(\.backwardSeconds).reduce(0, +) }
}
