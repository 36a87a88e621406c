import AtlasCore

/// A network specialized to fixed input shapes: shape-dependent subgraphs folded, every remaining node
/// lowered to steps, every value's shape known, values numbered into slots for the executor.
///
/// Nodes that cannot be lowered (unsupported op, shapes that do not fit) do not fail the plan: their outputs,
/// and everything computed from them, carry the error, which is thrown only when such a value is requested.
/// So a model with an exotic classifier head still runs up to its convolutional layers.
public final class Plan: @unchecked Sendable {
    public let inputShapes: [String: [Int]]
    /// Steps in execution order.
    public let steps: [Step]
    /// Shape of every known value (runtime values, temporaries and constants), by name.
    public let shapes: [String: [Int]]
    /// The graph after shape-dependent folding (for listings).
    public let graph: Graph
    /// Why a value cannot be computed, by value name.
    public let errors: [String: ModelError]

    /// Time spent per step (same order as `steps`).
    public internal(set) var timings: [LayerTiming]

    let slotOf: [String: Int]
    let slotNames: [String]
    let stepInputs: [[Int]]
    let stepOutput: [Int]
    /// Step producing each slot (nil for inputs and constants).
    let producer: [Int?]
    /// Constant tensors by slot.
    let constantSlots: [Int: Tensor]
    let inputSlots: [String: Int]

    /// What the load-time optimizer rewrote (pass → count) and the values it removed (value → pass).
    public let optimization: OptimizationReport

    /// Folds `graph` for the given runtime input shapes, runs the selected optimizer passes and lowers the result.
    public init(graph source: Graph, inputShapes: [String: [Int]], passes: PassSelection = .all) throws {
        for info in source.inputs {
            guard let s = inputShapes[info.name] else { throw ModelError.invalidGraph("no shape given for input '\(info.name)'") }
            _ = try ModelLimits.elementCount(s, tensor: info.name)
            if let declared = info.shape, declared.count != s.count {
                throw ModelError.invalidGraph("input '\(info.name)' has rank \(declared.count), got shape \(s)")
            }
        }
        var g = source
        // Shape-dependent folding first (shapes from lowering each node that stays), then the optimizer on the
        // folded graph, whose shapes and constants are all known by then.
        let folded = try Passes.foldConstants(&g, inputShapes: inputShapes) { node, inShapes, constants in
            (try? Lowering.lowerWithShapes(node, inputShapes: inShapes, constants: constants).shapes) ?? [:]
        }
        let optimization = try GraphOptimizer.run(&g, shapes: folded, selection: passes)
        var steps: [Step] = []
        var errors: [String: ModelError] = [:]
        var stepShapes: [String: [Int]] = [:]
        let shapes = try Passes.foldConstants(&g, inputShapes: inputShapes) { node, inShapes, constants in
            // An input that carries an error passes it on.
            if let bad = node.inputs.first(where: { errors[$0] != nil }), let e = errors[bad] {
                for o in node.outputs where !o.isEmpty { errors[o] = e }
                return [:]
            }
            do {
                let (lowered, local) = try Lowering.lowerWithShapes(node, inputShapes: inShapes, constants: constants)
                steps.append(contentsOf: lowered)
                for (k, v) in local { stepShapes[k] = v }
                return local
            } catch let e as ModelError {
                for o in node.outputs where !o.isEmpty { errors[o] = e }
                return [:]
            }
        }
        var allShapes = shapes
        for (k, v) in stepShapes { allShapes[k] = v }

        // Number the values: inputs, then constants read by steps or requested as outputs, then step outputs.
        var slotOf: [String: Int] = [:]
        var names: [String] = []
        func slot(_ name: String) -> Int {
            if let s = slotOf[name] { return s }
            slotOf[name] = names.count
            names.append(name)
            return names.count - 1
        }
        var inputSlots: [String: Int] = [:]
        for info in source.inputs { inputSlots[info.name] = slot(info.name) }
        var constantSlots: [Int: Tensor] = [:]
        let constantReads = Set(steps.flatMap(\.inputs)).union(g.outputs.map(\.name))
        for name in constantReads.sorted() where inputSlots[name] == nil {
            if let c = g.constants[name] { constantSlots[slot(name)] = c.tensor }
        }
        var stepInputs: [[Int]] = []
        var stepOutput: [Int] = []
        for st in steps {
            stepInputs.append(st.inputs.map { slot($0) })
            stepOutput.append(slot(st.output))
        }
        // A value a pass found to equal another (a no-op reshape) reads that value's slot.
        for (alias, value) in optimization.aliases where slotOf[alias] == nil {
            if let s = slotOf[value] { slotOf[alias] = s; allShapes[alias] = allShapes[value] }
        }
        var producer = [Int?](repeating: nil, count: names.count)
        for (i, o) in stepOutput.enumerated() { producer[o] = i }
        for o in g.outputs where slotOf[o.name] == nil && errors[o.name] == nil {
            errors[o.name] = .missingValue(name: o.name, node: "graph output")
        }

        self.inputShapes = inputShapes
        self.optimization = optimization
        self.steps = steps
        self.shapes = allShapes
        self.graph = g
        self.errors = errors
        self.slotOf = slotOf
        self.slotNames = names
        self.stepInputs = stepInputs
        self.stepOutput = stepOutput
        self.producer = producer
        self.constantSlots = constantSlots
        self.inputSlots = inputSlots
        self.timings = steps.map { LayerTiming(node: $0.node, op: $0.op, output: $0.output) }
    }

    /// Steps (indices, in order) needed to compute the given slots, not counting the producers of `skipping`.
    func stepsNeeded(for targets: [Int], skipping: Set<Int> = []) -> [Int] {
        var needed = [Bool](repeating: false, count: steps.count)
        var stack = targets
        var seen = Set<Int>()
        while let s = stack.popLast() {
            guard !skipping.contains(s), seen.insert(s).inserted, let p = producer[s], !needed[p] else { continue }
            needed[p] = true
            stack.append(contentsOf: stepInputs[p])
        }
        return steps.indices.filter { needed[$0] }
    }
}
