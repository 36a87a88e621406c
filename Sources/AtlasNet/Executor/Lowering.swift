import AtlasCore

/// One executable step: a layer applied to named values (runtime values or constants), producing one value.
public struct Step: @unchecked Sendable {
    public let layer: Layer
    /// ONNX node this step comes from, and its op type.
    public let node: String
    public let op: String
    public let inputs: [String]
    public let output: String
}

/// Maps ONNX nodes onto AtlasCore layers. A node becomes one step, or a few (Split → Slices, old-opset
/// Softmax → Reshape/Softmax/Reshape, 1-D and 3-D pooling via 4-D reshapes); intermediate values get
/// `node::suffix` names. Attribute inputs (shapes, pads, sizes) must be constants by now.
public enum Lowering {
    /// Op types (default domain) that lower to layers; constant-only ops are folded before lowering.
    public static let supportedOps: Set<String> = Set([
        "Conv", "Gemm", "MatMul", "Relu", "LeakyRelu", "Clip", "Sigmoid", "Tanh", "HardSigmoid", "HardSwish", "Elu",
        "Exp", "Sqrt", "Neg", "MaxPool", "AveragePool", "GlobalAveragePool", "GlobalMaxPool", "LRN",
        "BatchNormalization", "Concat", "Add", "Sub", "Mul", "Div", "Pow", "Sum", "Flatten", "Reshape", "Squeeze",
        "Unsqueeze", "Transpose", "Slice", "Split", "Identity", "Dropout", "Cast", "Softmax", "LogSoftmax",
        "ReduceMean", "ReduceSum", "Pad", "Resize", "Upsample",
    ]).union(transformerOps)

    struct Context {
        let node: Node
        let shapes: [[Int]]
        let constants: [String: Constant]

        var op: String { node.opType }
        var x: String { node.inputs[0] }
        var xShape: [Int] { shapes[0] }
        var y: String { node.outputs[0] }

        func constant(_ i: Int) -> Constant? { node.input(i).flatMap { constants[$0] } }
        func requireConstant(_ i: Int) throws -> Constant {
            guard let name = node.input(i) else { throw node.invalid("missing input \(i)") }
            guard let c = constants[name] else { throw ModelError.missingInitializer(name: name, node: node.name) }
            return c
        }
        func step(_ layer: Layer, _ inputs: [String]? = nil, output: String? = nil) -> Step {
            Step(layer: layer, node: node.name, op: op, inputs: inputs ?? [x], output: output ?? y)
        }
        func temp(_ suffix: String) -> String { "\(node.name)::\(suffix)" }
        func axis(_ a: Int, rank: Int, inclusive: Bool = false) throws -> Int {
            let r = a < 0 ? a + rank : a
            guard r >= 0 && (inclusive ? r <= rank : r < rank) else { throw node.invalid("axis \(a) out of range for rank \(rank)") }
            return r
        }
        /// x → Reshape(inShape) → layer → Reshape(outShape) → y.
        func wrapped(_ layer: Layer, inShape: [Int], outShape: [Int]) -> [Step] {
            [step(Reshape(shape: inShape), output: temp("in")),
             step(layer, [temp("in")], output: temp("out")),
             step(Reshape(shape: outShape), [temp("out")])]
        }
    }

    /// The steps computing `node`'s outputs, given the shapes of all its (present) inputs.
    public static func lower(_ node: Node, inputShapes: [[Int]?], constants: [String: Constant]) throws -> [Step] {
        if node.domain == Passes.atlasDomain, node.opType == TokenLayout.viewOp {
            return try lowerTokenGrid(node, inputShape: inputShapes.first ?? nil)
        }
        if node.domain == Passes.atlasDomain, node.opType == TokenLayout.classOp {
            return try lowerTokenClass(node, inputShape: inputShapes.first ?? nil)
        }
        if node.domain == Passes.atlasDomain, node.opType == Passes.matMulBiasOp, node.inputs.count == 3,
           let bias = constants[node.inputs[2]], let y = node.outputs.first {
            return [Step(layer: MatMul(bias: bias.tensor.reshaped([bias.count])), node: node.name, op: node.opType,
                         inputs: Array(node.inputs.prefix(2)), output: y)]
        }
        if node.domain == Passes.atlasDomain, node.opType == Passes.stridedMatMulOp, node.inputs.count == 2,
           let y = node.outputs.first {
            func ints(_ key: String) throws -> [Int] {
                guard let v = try node.ints(key) else { throw node.invalid("missing attribute \(key)") }
                return v
            }
            func scale(_ key: String) throws -> Float? { node.attributes[key] == nil ? nil : try node.float(key, default: 1) }
            let layer = StridedMatMul(a: .init(shape: try ints("a_shape"), strides: try ints("a_strides")),
                                      b: .init(shape: try ints("b_shape"), strides: try ints("b_strides")),
                                      aScale: try scale("a_scale"), bScale: try scale("b_scale"),
                                      productStrides: try ints("y_strides"), outputShape: try ints("y_shape"))
            return [Step(layer: layer, node: node.name, op: "MatMul", inputs: node.inputs, output: y)]
        }
        if node.domain == Passes.atlasDomain, let layer = Passes.atlasLayer(node.opType), let x = node.input(0),
           let y = node.outputs.first {
            return [Step(layer: layer, node: node.name, op: node.opType, inputs: [x], output: y)]
        }
        guard node.domain.isEmpty, supportedOps.contains(node.opType) else {
            throw ModelError.unsupportedOp(op: node.opType, node: node.name, domain: node.domain, opset: node.opset)
        }
        guard let first = node.inputs.first, !first.isEmpty, let y = node.outputs.first, !y.isEmpty else {
            throw node.invalid("missing input or output")
        }
        var shapes: [[Int]] = []
        for (i, s) in inputShapes.enumerated() {
            if node.inputs[i].isEmpty { shapes.append([]); continue }
            guard let s else { throw ModelError.shape(node: node.name, op: node.opType, reason: "shape of input '\(node.inputs[i])' is unknown") }
            shapes.append(s)
        }
        let c = Context(node: node, shapes: shapes, constants: constants)
        switch node.opType {
        case "Conv": return try lowerConv(c)
        case "MaxPool", "AveragePool": return try lowerPool(c)
        case "GlobalAveragePool", "GlobalMaxPool":
            let layer: Layer = node.opType == "GlobalAveragePool" ? GlobalAveragePool() : GlobalMaxPool()
            let s = c.xShape
            if s.count == 4 { return [c.step(layer)] }
            guard s.count >= 3 else { throw node.invalid("expects an input of rank ≥ 3, got \(s)") }
            return c.wrapped(layer, inShape: [s[0], s[1], s[2...].reduce(1, *), 1], outShape: [s[0], s[1]] + [Int](repeating: 1, count: s.count - 2))
        case "Pad": return try lowerPad(c)
        case "Resize", "Upsample": return try lowerResize(c)
        case "Gemm":
            guard node.input(1) != nil else { throw node.invalid("missing B") }
            let b = try c.requireConstant(1)
            let bias = node.input(2) == nil ? nil : try c.requireConstant(2)
            return [c.step(Gemm(b: b.tensor, c: bias?.tensor, alpha: try node.float("alpha", default: 1),
                                beta: try node.float("beta", default: 1), transA: try node.int("transA", default: 0) != 0,
                                transB: try node.int("transB", default: 0) != 0))]
        case "MatMul": return [c.step(MatMul(), [node.inputs[0], try input(c, 1)])]
        case "Relu": return [c.step(Relu())]
        case "LeakyRelu": return [c.step(LeakyRelu(alpha: try node.float("alpha", default: 0.01)))]
        case "Sigmoid": return [c.step(Sigmoid())]
        case "Tanh": return [c.step(Tanh())]
        case "HardSigmoid":
            return [c.step(HardSigmoid(alpha: try node.float("alpha", default: 0.2), beta: try node.float("beta", default: 0.5)))]
        case "HardSwish": return [c.step(HardSwish())]
        case "Elu": return [c.step(Elu(alpha: try node.float("alpha", default: 1)))]
        case "Exp": return [c.step(Exp())]
        case "Sqrt": return [c.step(Sqrt())]
        case "Neg": return [c.step(Neg())]
        case "Clip":
            let (lo, hi) = try clipBounds(node, constants: constants)
            return [c.step(Clip(min: lo, max: hi))]
        case "LRN":
            return [c.step(LRN(size: try node.int("size"), alpha: try node.float("alpha", default: 1e-4),
                               beta: try node.float("beta", default: 0.75), bias: try node.float("bias", default: 1)))]
        case "BatchNormalization":
            guard node.inputs.count >= 5 else { throw node.invalid("needs scale, bias, mean and variance") }
            if try node.int("training_mode", default: 0) != 0 {
                throw node.invalid("training mode is not supported")
            }
            return [c.step(BatchNorm(scale: try c.requireConstant(1).tensor, bias: try c.requireConstant(2).tensor,
                                     mean: try c.requireConstant(3).tensor, variance: try c.requireConstant(4).tensor,
                                     epsilon: try node.float("epsilon", default: 1e-5)))]
        case "Concat":
            return [c.step(Concat(axis: try node.int("axis")), node.inputs.filter { !$0.isEmpty })]
        case "Add", "Sub", "Mul", "Div", "Pow":
            let layer: Layer
            switch node.opType {
            case "Add": layer = Add()
            case "Sub": layer = Sub()
            case "Mul": layer = Mul()
            case "Div": layer = Div()
            default: layer = Pow()
            }
            return [c.step(layer, [node.inputs[0], try input(c, 1)])]
        case "Sum":
            let terms = node.inputs.filter { !$0.isEmpty }
            if terms.count == 1 { return [c.step(Identity())] }
            var steps: [Step] = []
            var acc = terms[0]
            for (k, t) in terms.dropFirst().enumerated() {
                let out = k == terms.count - 2 ? c.y : c.temp("sum\(k)")
                steps.append(c.step(Add(), [acc, t], output: out))
                acc = out
            }
            return steps
        case "Identity", "Dropout":
            if node.opType == "Dropout" {
                if node.outputs.count > 1, !node.outputs[1].isEmpty { throw node.invalid("the mask output is not supported") }
                if node.input(2) != nil, (try c.requireConstant(2).ints.first ?? 0) != 0 {
                    throw node.invalid("training mode is not supported")
                }
            }
            return [c.step(Identity())]
        case "Cast":
            guard [1, 10, 11, 16].contains(try node.int("to")) else {
                throw node.invalid("casting a runtime value to a non-float type is not supported")
            }
            return [c.step(Identity())]
        default: return try lowerTransformerOp(c) ?? lowerShapeOp(c)
        }
    }

    /// The steps of `node` and the shape of every value they produce (the node's outputs and its temporaries).
    public static func lowerWithShapes(_ node: Node, inputShapes: [[Int]?], constants: [String: Constant]) throws
        -> (steps: [Step], shapes: [String: [Int]]) {
        let lowered = try lower(node, inputShapes: inputShapes, constants: constants)
        var local: [String: [Int]] = [:]
        for st in lowered {
            let ins = try st.inputs.map { name -> [Int] in
                if let s = local[name] { return s }
                if let i = node.inputs.firstIndex(of: name), i < inputShapes.count, let s = inputShapes[i] { return s }
                if let c = constants[name] { return c.shape }
                throw ModelError.shape(node: node.name, op: node.opType, reason: "shape of '\(name)' is unknown")
            }
            do {
                local[st.output] = try st.layer.outputShape(ins)
            } catch let e as ModelError {
                throw e
            } catch {
                throw ModelError.shape(node: node.name, op: node.opType, reason: "\(error) (input shapes \(ins))")
            }
        }
        return (lowered, local)
    }

    /// A Clip node's bounds (±greatest finite where absent), from attributes (opset < 11) or constant inputs.
    public static func clipBounds(_ node: Node, constants: [String: Constant]) throws -> (min: Float, max: Float) {
        var lo = -Float.greatestFiniteMagnitude, hi = Float.greatestFiniteMagnitude
        if node.opset < 11 {
            return (try node.float("min", default: lo), try node.float("max", default: hi))
        }
        let c = Context(node: node, shapes: [], constants: constants)
        if node.input(1) != nil { lo = try scalar(c, 1) }
        if node.input(2) != nil { hi = try scalar(c, 2) }
        return (lo, hi)
    }

    /// Input `i` (must be present).
    static func input(_ c: Context, _ i: Int) throws -> String {
        guard let name = c.node.input(i) else { throw c.node.invalid("missing input \(i)") }
        return name
    }

    /// A constant scalar input.
    static func scalar(_ c: Context, _ i: Int) throws -> Float {
        let v = try c.requireConstant(i)
        guard v.count == 1 else { throw c.node.invalid("input \(i) must be a scalar") }
        return v.floats[0]
    }
}
