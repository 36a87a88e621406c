import AtlasCore

/// Reference architectures built in code with seeded random weights, so benchmarks (`atlas bench --arch`, the
/// Benchmarks package) run anywhere with nothing to download. Each matches its PyTorch reference in structure,
/// parameter count and output shape (checked against a committed fixture in the tests).
public enum ZooArchitecture: String, CaseIterable, Sendable, CustomStringConvertible {
    /// torchvision `googlenet(aux_logits=False)`: 1000 logits.
    case googlenet
    /// Lucid's InceptionV1 as Lucent ships it: LRN, `mixed3a` … `mixed5b`, softmax over 1008 classes.
    case inceptionv1
    /// torchvision `resnet50`: 1000 logits.
    case resnet50
    /// torchvision `vgg16`: 1000 logits (224 px input only, see `ZooBuilder.buildVGG16`).
    case vgg16

    public var description: String { rawValue }

    /// The input side the architecture was designed for.
    public var nativeSize: Int { 224 }

    /// A middle layer, the default for feature-visualization benchmarks (`mixed4a` for InceptionV1).
    public var visualizationLayer: String {
        switch self {
        case .googlenet: return "inception4a"
        case .inceptionv1: return "mixed4a"
        case .resnet50: return "layer3"
        case .vgg16: return "features.22"
        }
    }

    /// Name of the graph input (`[N, 3, 224, 224]`, N free).
    public static let inputName = "input"

    /// The architecture with weights drawn from `seed` (see `ZooBuilder` for the initialization).
    public func model(seed: UInt64 = 0) -> Model {
        var b = ZooBuilder(seed: seed)
        let output = build(&b)
        return b.model(input: Self.inputName, size: nativeSize, output: output, producer: "atlas-zoo \(rawValue) seed \(seed)")
    }

    /// A ready network (load-time passes applied, BatchNorm folded).
    public func network(seed: UInt64 = 0) throws -> Network { try Network(model: model(seed: seed)) }

    /// Learnable parameters as PyTorch counts them, without allocating weights.
    public var parameterCount: Int {
        var b = ZooBuilder(seed: 0, materialize: false)
        _ = build(&b)
        return b.parameterCount
    }

    private func build(_ b: inout ZooBuilder) -> String {
        switch self {
        case .googlenet: return b.buildGoogLeNet()
        case .inceptionv1: return b.buildInceptionV1()
        case .resnet50: return b.buildResNet50()
        case .vgg16: return b.buildVGG16()
        }
    }
}

extension ZooArchitecture {
    /// A seeded benchmark input: values uniform in [−1, 1) (stream 0 of `SplitMix64(seed:)`), any shape.
    public static func randomInput(shape: [Int], seed: UInt64 = 0) -> Tensor {
        var rng = SplitMix64(seed: seed, stream: 0)
        return Tensor(shape: shape, values: (0..<Tensor.elementCount(shape)).map { _ in rng.nextUniform() * 2 - 1 })
    }

    /// Floating-point operations of one forward pass of `plan` (2 per multiply-add of Conv, Gemm and MatMul layers,
    /// a MatMul with constant weights included).
    public static func flops(of plan: Plan) -> Int {
        plan.steps.reduce(0) { sum, st in
            guard ["Conv", "Gemm", "MatMul"].contains(st.layer.name) else { return sum }
            let shapes = st.inputs.map { plan.shapes[$0] ?? plan.graph.constants[$0]?.shape ?? [] }
            return sum + 2 * st.layer.multiplyAdds(shapes)
        }
    }
}
