import AtlasCore

/// Emits graph IR for the model zoo: one node per call, value names chosen by the caller (so layers are
/// addressable as `mixed4a` or `layer3`), weights drawn from seeded streams.
///
/// Initialization follows PyTorch's shapes and bounds, made deterministic: every randomized tensor (conv and
/// linear weights and biases, in the order the reference module registers them) gets its own `SplitMix64` stream
/// `k` under the seed. Weights are Kaiming-uniform, U(−√(6/fan_in), √(6/fan_in)); biases U(−1/√fan_in, 1/√fan_in);
/// each value is `(2u − 1) · bound` in Float32 with `u = nextUniform()`, so a NumPy replica gives the same bits
/// (Tests/AtlasNetTests/Fixtures/zoo_fixture.py). BatchNorm starts at PyTorch's defaults (γ 1, β 0, mean 0, var 1).
struct ZooBuilder {
    let seed: UInt64
    /// False: count parameters and emit nodes without allocating weights (for parameter counts).
    let materialize: Bool
    private(set) var nodes: [Node] = []
    private(set) var constants: [String: Constant] = [:]
    /// Learnable parameters as PyTorch counts them (BatchNorm γ and β included, running statistics not).
    private(set) var parameterCount = 0
    private var stream: UInt64 = 0

    init(seed: UInt64, materialize: Bool = true) {
        self.seed = seed
        self.materialize = materialize
    }

    // MARK: Parameters

    /// A randomized tensor: `bound`-scaled uniform values from the next stream.
    private mutating func uniform(_ name: String, _ shape: [Int], bound: Float) -> String {
        let s = stream
        stream += 1
        parameterCount += Tensor.elementCount(shape)
        if materialize {
            var rng = SplitMix64(seed: seed, stream: s)
            let values = (0..<Tensor.elementCount(shape)).map { _ in (rng.nextUniform() * 2 - 1) * bound }
            constants[name] = Constant(shape: shape, floats: values)
        }
        return name
    }

    private mutating func weight(_ name: String, _ shape: [Int], fanIn: Int) -> String {
        uniform(name, shape, bound: Float((6.0 / Double(fanIn)).squareRoot()))
    }

    private mutating func bias(_ name: String, _ count: Int, fanIn: Int) -> String {
        uniform(name, [count], bound: Float((1.0 / Double(fanIn)).squareRoot()))
    }

    /// A constant filled with one value; counted as parameters when `learnable`.
    private mutating func filled(_ name: String, _ count: Int, _ value: Float, learnable: Bool) -> String {
        if learnable { parameterCount += count }
        if materialize { constants[name] = Constant(shape: [count], floats: [Float](repeating: value, count: count)) }
        return name
    }

    // MARK: Nodes

    @discardableResult
    mutating func node(_ op: String, _ inputs: [String], _ output: String, _ attributes: [String: Attribute] = [:]) -> String {
        nodes.append(Node(name: output, opType: op, inputs: inputs, outputs: [output], attributes: attributes, opset: 13))
        return output
    }

    /// Conv with square kernel `k`; `pads` in ONNX order [top, left, bottom, right], by default (k − 1) / 2 all round.
    mutating func conv(_ x: String, _ name: String, _ inC: Int, _ outC: Int, k: Int, stride: Int = 1,
                       pads: [Int]? = nil, bias hasBias: Bool = true) -> String {
        let fanIn = inC * k * k
        var inputs = [x, weight(name + ".weight", [outC, inC, k, k], fanIn: fanIn)]
        if hasBias { inputs.append(bias(name + ".bias", outC, fanIn: fanIn)) }
        let p = pads ?? [Int](repeating: (k - 1) / 2, count: 4)
        return node("Conv", inputs, name, ["kernel_shape": .ints([k, k]), "strides": .ints([stride, stride]),
                                           "pads": .ints(p), "dilations": .ints([1, 1]), "group": .int(1)])
    }

    mutating func batchNorm(_ x: String, _ name: String, _ channels: Int, epsilon: Float) -> String {
        let inputs = [x, filled(name + ".weight", channels, 1, learnable: true), filled(name + ".bias", channels, 0, learnable: true),
                      filled(name + ".running_mean", channels, 0, learnable: false),
                      filled(name + ".running_var", channels, 1, learnable: false)]
        return node("BatchNormalization", inputs, name, ["epsilon": .float(epsilon)])
    }

    mutating func relu(_ x: String, _ name: String) -> String { node("Relu", [x], name) }

    mutating func maxPool(_ x: String, _ name: String, k: Int, stride: Int, pads: [Int] = [0, 0, 0, 0], ceil: Bool = false) -> String {
        node("MaxPool", [x], name, ["kernel_shape": .ints([k, k]), "strides": .ints([stride, stride]), "pads": .ints(pads),
                                   "ceil_mode": .int(ceil ? 1 : 0)])
    }

    mutating func averagePool(_ x: String, _ name: String, k: Int) -> String {
        node("AveragePool", [x], name, ["kernel_shape": .ints([k, k]), "strides": .ints([1, 1]), "count_include_pad": .int(0)])
    }

    mutating func globalAveragePool(_ x: String, _ name: String) -> String { node("GlobalAveragePool", [x], name) }
    mutating func concat(_ xs: [String], _ name: String) -> String { node("Concat", xs, name, ["axis": .int(1)]) }
    mutating func add(_ a: String, _ b: String, _ name: String) -> String { node("Add", [a, b], name) }
    mutating func flatten(_ x: String, _ name: String) -> String { node("Flatten", [x], name, ["axis": .int(1)]) }

    /// Local response normalization across channels (ONNX LRN = PyTorch `local_response_norm` for odd sizes).
    mutating func lrn(_ x: String, _ name: String, size: Int, alpha: Float, beta: Float, bias: Float) -> String {
        node("LRN", [x], name, ["size": .int(size), "alpha": .float(alpha), "beta": .float(beta), "bias": .float(bias)])
    }

    /// PyTorch `Linear`: y = x Wᵀ + b with W `[out, in]`.
    mutating func linear(_ x: String, _ name: String, _ inF: Int, _ outF: Int) -> String {
        let w = weight(name + ".weight", [outF, inF], fanIn: inF)
        let b = bias(name + ".bias", outF, fanIn: inF)
        return node("Gemm", [x, w, b], name, ["transB": .int(1)])
    }

    /// The finished model: input `input` `[N, 3, size, size]` (N free), output `output`.
    func model(input: String, size: Int, output: String, producer: String) -> Model {
        let graph = Graph(nodes: nodes,
                          inputs: [ValueInfo(name: input, elementType: 1, shape: [.symbolic("N"), .fixed(3), .fixed(size), .fixed(size)])],
                          outputs: [ValueInfo(name: output, elementType: 1)],
                          constants: constants, opsets: ["": 13])
        return Model(graph: graph, irVersion: 8, producer: producer, opset: 13)
    }
}
