/// Everything that can be wrong with a model file or with running it on a given input, as a typed error
/// with a message that names the tensor, node, op and opset involved. Readers and passes never crash on
/// malformed input: they throw one of these.
public enum ModelError: Error, Equatable, CustomStringConvertible, Sendable {
    /// The model file does not exist.
    case notFound(path: String)
    /// The file exists but cannot be read.
    case io(path: String, reason: String)
    /// The bytes end in the middle of a protobuf field.
    case truncated(String)
    /// The bytes are not an ONNX protobuf message (bad wire format, or no graph).
    case notProtobuf(String)
    /// An opset version outside the supported range (7–21 for the default domain).
    case unsupportedOpset(domain: String, version: Int)
    /// An operator Atlas cannot run.
    case unsupportedOp(op: String, node: String, domain: String, opset: Int)
    /// A node input (or graph output) that no node, initializer or graph input provides.
    case missingValue(name: String, node: String)
    /// A node needs a constant input (weights, shapes) that is not an initializer or foldable.
    case missingInitializer(name: String, node: String)
    /// The graph is not a DAG.
    case cycle(nodes: [String])
    /// A dimension that is negative or larger than Atlas accepts.
    case invalidDimension(tensor: String, dims: [Int])
    /// Dimensions whose product overflows `Int` or exceeds the element limit.
    case sizeOverflow(tensor: String, dims: [Int])
    /// A tensor whose data holds a different number of elements (or bytes) than its dims require.
    case dataSizeMismatch(tensor: String, expected: Int, actual: Int)
    /// A tensor element type Atlas does not read (strings, complex, ...).
    case unsupportedDataType(tensor: String, type: Int)
    /// External tensor data that is missing, out of bounds or outside the model directory.
    case externalData(tensor: String, reason: String)
    /// A missing or ill-formed node attribute, or an input that breaks an op's rules.
    case invalidNode(node: String, op: String, reason: String)
    /// Shapes that do not fit together when the graph is run on a given input size.
    case shape(node: String, op: String, reason: String)
    /// A layer or value name that the model does not have.
    case unknownLayer(String)
    /// `NAME::cls` asked of a layer without a class token (a CNN layer, a Swin stage, a ViT without one).
    case noClassToken(layer: String, reason: String)
    /// A graph-level inconsistency (duplicate producers, bad input specification, unknown layer name, ...).
    case invalidGraph(String)

    public var description: String {
        switch self {
        case let .notFound(path): return "model \(path) not found"
        case let .io(path, reason): return "cannot read \(path): \(reason)"
        case let .truncated(what): return "truncated model file: \(what)"
        case let .notProtobuf(what): return "not an ONNX model: \(what)"
        case let .unsupportedOpset(domain, version):
            return "unsupported opset \(version) for domain '\(domain.isEmpty ? "ai.onnx" : domain)' (Atlas reads ai.onnx opsets \(ONNXReader.supportedOpsets.lowerBound)–\(ONNXReader.supportedOpsets.upperBound))"
        case let .unsupportedOp(op, node, domain, opset):
            return "unsupported op \(domain.isEmpty ? "" : domain + ".")\(op) (node '\(node)', opset \(opset))"
        case let .missingValue(name, node): return "node '\(node)' uses value '\(name)', which nothing produces"
        case let .missingInitializer(name, node):
            return "node '\(node)' needs '\(name)' to be a constant (initializer or foldable), but it is computed at run time"
        case let .cycle(nodes): return "the graph has a cycle through nodes \(nodes.prefix(8).joined(separator: ", "))"
        case let .invalidDimension(tensor, dims): return "tensor '\(tensor)' has invalid dimensions \(dims)"
        case let .sizeOverflow(tensor, dims): return "tensor '\(tensor)' with dimensions \(dims) is too large"
        case let .dataSizeMismatch(tensor, expected, actual):
            return "tensor '\(tensor)' holds \(actual) data items but its dimensions need \(expected)"
        case let .unsupportedDataType(tensor, type): return "tensor '\(tensor)' has unsupported element type \(type)"
        case let .externalData(tensor, reason): return "external data of tensor '\(tensor)': \(reason)"
        case let .invalidNode(node, op, reason): return "\(op) node '\(node)': \(reason)"
        case let .shape(node, op, reason): return "\(op) node '\(node)': \(reason)"
        case let .unknownLayer(name): return "the model has no value or layer named '\(name)' (see `atlas inspect`)"
        case let .noClassToken(layer, reason):
            return "'\(layer)' has no class token: \(reason); \(TokenLayout.classSuffix) selects the leading class token of a "
                + "[batch, tokens, channels] layer (ViT, DeiT; `atlas inspect` lists the \(TokenLayout.classSuffix) views)"
        case let .invalidGraph(what): return "invalid graph: \(what)"
        }
    }
}

extension ModelError {
    /// The error as it concerns `name`, the user's name for the value: a class-token refusal names the layer as given.
    public func naming(_ name: String) -> ModelError {
        if case let .noClassToken(_, reason) = self { return .noClassToken(layer: name, reason: reason) }
        return self
    }
}

/// Limits that keep absurd files from allocating absurd memory.
public enum ModelLimits {
    /// Largest accepted dimension.
    public static let maxDimension = 1 << 31
    /// Largest accepted element count of one tensor (16 GiB of Float32).
    public static let maxElements = 1 << 32
    /// Largest accepted rank.
    public static let maxRank = 16

    /// Element count of `dims`, after checking each dimension and the product.
    public static func elementCount(_ dims: [Int], tensor: String) throws -> Int {
        guard dims.count <= maxRank else { throw ModelError.invalidDimension(tensor: tensor, dims: Array(dims.prefix(maxRank + 1))) }
        var n = 1
        for d in dims {
            guard d >= 0, d <= maxDimension else { throw ModelError.invalidDimension(tensor: tensor, dims: dims) }
            let (p, overflow) = n.multipliedReportingOverflow(by: d)
            guard !overflow else { throw ModelError.sizeOverflow(tensor: tensor, dims: dims) }
            n = p
        }
        guard n <= maxElements else { throw ModelError.sizeOverflow(tensor: tensor, dims: dims) }
        return n
    }
}
