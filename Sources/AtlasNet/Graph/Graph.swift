import AtlasCore

/// A constant tensor in the graph IR: weights (Float32, held as a `Tensor` so layers share them without
/// copies) or integer data (shapes, indices, booleans as 0/1).
public struct Constant: CustomStringConvertible, @unchecked Sendable {
    public enum Storage {
        case float(Tensor)
        case int([Int])
    }
    public let shape: [Int]
    public let storage: Storage

    /// A float constant (the tensor's shape is the constant's shape).
    public init(_ tensor: Tensor) {
        shape = tensor.shape
        storage = .float(tensor)
    }

    /// A float constant from values; `values.count` must equal the shape's element count.
    public init(shape: [Int], floats values: [Float]) {
        self.init(Tensor(shape: shape, values: values))
    }

    /// An integer constant; `values.count` must equal the shape's element count.
    public init(shape: [Int], ints values: [Int]) {
        precondition(values.count == Tensor.elementCount(shape), "Constant: \(values.count) ints for \(shape)")
        self.shape = shape
        storage = .int(values)
    }

    /// A rank-1 integer constant.
    public init(ints values: [Int]) { self.init(shape: [values.count], ints: values) }

    public var count: Int { Tensor.elementCount(shape) }
    public var isFloat: Bool { if case .float = storage { return true } else { return false } }

    /// Values as Float (integers converted).
    public var floats: [Float] {
        switch storage {
        case let .float(t): return t.toArray()
        case let .int(v): return v.map { Float($0) }
        }
    }

    /// Values as Int (floats truncated toward zero; NaN and out-of-range values become 0).
    public var ints: [Int] {
        switch storage {
        case let .int(v): return v
        case let .float(t): return t.toArray().map { $0.isFinite && abs($0) < 9.2e18 ? Int($0) : 0 }
        }
    }

    /// Values as a Float32 tensor (shared storage for float constants).
    public var tensor: Tensor {
        switch storage {
        case let .float(t): return t
        case let .int(v): return Tensor(shape: shape, values: v.map { Float($0) })
        }
    }

    public var description: String {
        let head = floats.prefix(8).map { isFloat ? String($0) : String(Int($0)) }.joined(separator: ", ")
        return "Constant\(shape)[\(head)\(count > 8 ? ", …" : "")]"
    }
}

/// One dimension of a declared value shape.
public enum Dimension: Equatable, Sendable, CustomStringConvertible {
    case fixed(Int)
    /// A named, free dimension (`batch`, `N`) or an unknown one (empty name).
    case symbolic(String)

    public var description: String {
        switch self {
        case let .fixed(n): return String(n)
        case let .symbolic(s): return s.isEmpty ? "?" : s
        }
    }
}

/// A graph input or output as declared in the file.
public struct ValueInfo: Sendable {
    public var name: String
    /// ONNX element type code (1 = float, 7 = int64, ...), 0 when not declared.
    public var elementType: Int
    /// Declared shape, nil when the file declares none.
    public var shape: [Dimension]?

    public init(name: String, elementType: Int = 1, shape: [Dimension]? = nil) {
        self.name = name
        self.elementType = elementType
        self.shape = shape
    }
}

/// A node attribute value.
public indirect enum Attribute: @unchecked Sendable {
    case float(Float)
    case int(Int)
    case string(String)
    case floats([Float])
    case ints([Int])
    case strings([String])
    case tensor(Constant)
    case graph(Graph)
}

/// One operator application.
public struct Node: @unchecked Sendable {
    /// Node name from the file (made unique and non-empty by the reader).
    public var name: String
    public var opType: String
    /// Operator domain; "" is the default ONNX domain.
    public var domain: String
    /// Input value names; "" marks an omitted optional input.
    public var inputs: [String]
    public var outputs: [String]
    public var attributes: [String: Attribute]
    /// Opset version of the node's domain in force for this model.
    public var opset: Int

    public init(name: String, opType: String, domain: String = "", inputs: [String], outputs: [String],
                attributes: [String: Attribute] = [:], opset: Int) {
        self.name = name
        self.opType = opType
        self.domain = domain
        self.inputs = inputs
        self.outputs = outputs
        self.attributes = attributes
        self.opset = opset
    }

    /// Input `i`, or nil when it is absent or omitted.
    public func input(_ i: Int) -> String? { i < inputs.count && !inputs[i].isEmpty ? inputs[i] : nil }
}

/// The graph IR: nodes (topologically ordered after `Passes.sortTopologically`), runtime inputs,
/// requested outputs and constants (initializers and folded values), by value name.
public struct Graph: @unchecked Sendable {
    public var nodes: [Node]
    /// Runtime inputs (graph inputs that are not initializers).
    public var inputs: [ValueInfo]
    public var outputs: [ValueInfo]
    public var constants: [String: Constant]
    /// Opset version by domain ("" = default ONNX domain).
    public var opsets: [String: Int]

    public init(nodes: [Node] = [], inputs: [ValueInfo] = [], outputs: [ValueInfo] = [],
                constants: [String: Constant] = [:], opsets: [String: Int] = ["": 13]) {
        self.nodes = nodes
        self.inputs = inputs
        self.outputs = outputs
        self.constants = constants
        self.opsets = opsets
    }

    /// Index of the node producing each value.
    public var producers: [String: Int] {
        var map: [String: Int] = [:]
        for (i, n) in nodes.enumerated() { for o in n.outputs where !o.isEmpty { map[o] = i } }
        return map
    }

    /// Number of node inputs and graph outputs that read each value (subgraph reads included).
    public var useCounts: [String: Int] {
        var counts: [String: Int] = [:]
        for n in nodes { for v in n.allReads where !v.isEmpty { counts[v, default: 0] += 1 } }
        for o in outputs { counts[o.name, default: 0] += 1 }
        return counts
    }

    /// Names of values read inside this graph but defined outside it (for subgraphs of If/Loop).
    public var outerReads: Set<String> {
        var defined = Set(constants.keys).union(inputs.map(\.name))
        for n in nodes { defined.formUnion(n.outputs) }
        var reads = Set<String>()
        for n in nodes { for v in n.allReads where !v.isEmpty && !defined.contains(v) { reads.insert(v) } }
        for o in outputs where !defined.contains(o.name) { reads.insert(o.name) }
        return reads
    }
}

extension Node {
    /// Inputs plus values that subgraph attributes read from the enclosing scope.
    public var allReads: [String] {
        var reads = inputs
        for a in attributes.values { if case let .graph(g) = a { reads.append(contentsOf: g.outerReads.sorted()) } }
        return reads
    }
}
