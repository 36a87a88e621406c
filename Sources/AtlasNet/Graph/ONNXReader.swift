import AtlasCore
import Foundation
import SwiftProtobuf

/// A model read from an ONNX file: the graph IR plus what the file says about itself.
public struct Model: @unchecked Sendable {
    public var graph: Graph
    public var irVersion: Int
    public var producer: String
    /// Opset of the default ONNX domain.
    public var opset: Int

    /// A model around a graph built in code (tests, generated networks).
    public init(graph: Graph, irVersion: Int = 8, producer: String = "atlas", opset: Int = 13) {
        self.graph = graph; self.irVersion = irVersion; self.producer = producer; self.opset = opset
    }
}

/// Reads ONNX protobuf files into the graph IR. Every failure is a `ModelError`.
public enum ONNXReader {
    /// Default-domain opsets Atlas accepts.
    public static let supportedOpsets = 7...21

    /// Reads a model file; external tensor data is looked up next to it.
    public static func load(path: String) throws -> Model {
        let data: Data
        do {
            data = try Data(contentsOf: URL(fileURLWithPath: path), options: .mappedIfSafe)
        } catch {
            if !FileManager.default.fileExists(atPath: path) { throw ModelError.notFound(path: path) }
            throw ModelError.io(path: path, reason: "\(error)")
        }
        let dir = (path as NSString).deletingLastPathComponent
        return try read(data, baseDirectory: dir.isEmpty ? "." : dir)
    }

    /// Reads a model from serialized bytes. `baseDirectory` locates external data (nil: external data is an error).
    public static func read(_ bytes: Data, baseDirectory: String? = nil) throws -> Model {
        let proto = try decodeModel(bytes)
        return try convert(proto, baseDirectory: baseDirectory)
    }

    /// Decodes the protobuf, mapping swift-protobuf's errors to `ModelError`.
    public static func decodeModel(_ bytes: Data) throws -> Onnx_ModelProto {
        guard !bytes.isEmpty else { throw ModelError.notProtobuf("the file is empty") }
        var options = BinaryDecodingOptions()
        options.discardUnknownFields = true
        let proto: Onnx_ModelProto
        do {
            proto = try Onnx_ModelProto(serializedBytes: bytes, options: options)
        } catch let error as BinaryDecodingError {
            switch error {
            case .truncated: throw ModelError.truncated("the data ends inside a protobuf field")
            default: throw ModelError.notProtobuf("protobuf decoding failed (\(error))")
            }
        } catch {
            throw ModelError.notProtobuf("protobuf decoding failed (\(error))")
        }
        guard proto.hasGraph else { throw ModelError.notProtobuf("no graph in the message") }
        return proto
    }

    /// Converts a decoded model to the graph IR and checks that every value it uses is defined.
    public static func convert(_ proto: Onnx_ModelProto, baseDirectory: String?) throws -> Model {
        var opsets: [String: Int] = [:]
        for o in proto.opsetImport {
            let domain = o.domain == "ai.onnx" ? "" : o.domain
            opsets[domain] = Int(clamping: o.version)
        }
        if opsets[""] == nil && proto.opsetImport.isEmpty { opsets[""] = 1 }   // IR < 3 meant opset 1
        if let v = opsets[""], !supportedOpsets.contains(v) { throw ModelError.unsupportedOpset(domain: "", version: v) }
        var graph = try convertGraph(proto.graph, opsets: opsets, baseDirectory: baseDirectory, depth: 0)
        try validateReferences(graph)
        try Passes.sortTopologically(&graph)
        return Model(graph: graph, irVersion: Int(proto.irVersion), producer: proto.producerName, opset: opsets[""] ?? 0)
    }

    static func convertGraph(_ g: Onnx_GraphProto, opsets: [String: Int], baseDirectory: String?, depth: Int) throws -> Graph {
        guard depth < 16 else { throw ModelError.invalidGraph("subgraphs nested more than 16 deep") }
        var constants: [String: Constant] = [:]
        for t in g.initializer {
            constants[t.name] = try TensorDecoder.decode(t, baseDirectory: baseDirectory)
        }
        let inputs = try g.input.filter { constants[$0.name] == nil }.map(valueInfo)
        let outputs = try g.output.map(valueInfo)
        var nodes: [Node] = []
        nodes.reserveCapacity(g.node.count)
        var usedNames = Set<String>()
        for (index, n) in g.node.enumerated() {
            let domain = n.domain == "ai.onnx" ? "" : n.domain
            var name = n.name.isEmpty ? "\(n.opType)_\(index)" : n.name
            if usedNames.contains(name) { name += "#\(index)" }
            usedNames.insert(name)
            var attributes: [String: Attribute] = [:]
            for a in n.attribute {
                attributes[a.name] = try attribute(a, node: name, op: n.opType, opsets: opsets,
                                                   baseDirectory: baseDirectory, depth: depth)
            }
            nodes.append(Node(name: name, opType: n.opType, domain: domain, inputs: n.input, outputs: n.output,
                              attributes: attributes, opset: opsets[domain] ?? (domain.isEmpty ? 0 : 1)))
        }
        return Graph(nodes: nodes, inputs: inputs, outputs: outputs, constants: constants, opsets: opsets)
    }

    static func valueInfo(_ v: Onnx_ValueInfoProto) throws -> ValueInfo {
        guard v.type.tensorType.hasShape else { return ValueInfo(name: v.name, elementType: Int(v.type.tensorType.elemType)) }
        let dims: [Dimension] = try v.type.tensorType.shape.dim.map { d in
            switch d.value {
            case let .dimValue(n)?:
                guard n >= 0, n <= ModelLimits.maxDimension else {
                    throw ModelError.invalidDimension(tensor: v.name, dims: v.type.tensorType.shape.dim.map { Int($0.dimValue) })
                }
                return .fixed(Int(n))
            case let .dimParam(s)?: return .symbolic(s)
            case nil: return .symbolic("")
            }
        }
        guard dims.count <= ModelLimits.maxRank else { throw ModelError.invalidDimension(tensor: v.name, dims: dims.map { _ in -1 }) }
        return ValueInfo(name: v.name, elementType: Int(v.type.tensorType.elemType), shape: dims)
    }

    static func attribute(_ a: Onnx_AttributeProto, node: String, op: String, opsets: [String: Int],
                          baseDirectory: String?, depth: Int) throws -> Attribute {
        var type = a.type
        if type == .undefined {   // IR < 3 files leave the type out: infer it from the field that is set
            if a.hasF { type = .float } else if a.hasI { type = .int } else if a.hasS { type = .string }
            else if a.hasT { type = .tensor } else if a.hasG { type = .graph } else if !a.floats.isEmpty { type = .floats }
            else if !a.ints.isEmpty { type = .ints } else if !a.strings.isEmpty { type = .strings }
        }
        switch type {
        case .float: return .float(a.f)
        case .int: return .int(Int(a.i))
        case .string: return .string(String(decoding: a.s, as: UTF8.self))
        case .floats: return .floats(a.floats)
        case .ints: return .ints(a.ints.map { Int($0) })
        case .strings: return .strings(a.strings.map { String(decoding: $0, as: UTF8.self) })
        case .tensor:
            var t = a.t
            if t.name.isEmpty { t.name = "\(node).\(a.name)" }
            return .tensor(try TensorDecoder.decode(t, baseDirectory: baseDirectory))
        case .graph:
            return .graph(try convertGraph(a.g, opsets: opsets, baseDirectory: baseDirectory, depth: depth + 1))
        default:
            throw ModelError.invalidNode(node: node, op: op, reason: "attribute '\(a.name)' has unsupported type \(type.rawValue)")
        }
    }

    /// Every node input and graph output must be defined exactly once (subgraphs may read the outer scope).
    static func validateReferences(_ graph: Graph, outer: Set<String> = []) throws {
        var defined = outer.union(graph.constants.keys).union(graph.inputs.map(\.name))
        for n in graph.nodes {
            for o in n.outputs where !o.isEmpty {
                guard !defined.contains(o) || outer.contains(o) else {
                    throw ModelError.invalidGraph("value '\(o)' is defined twice (again by node '\(n.name)')")
                }
                defined.insert(o)
            }
        }
        for n in graph.nodes {
            for i in n.inputs where !i.isEmpty && !defined.contains(i) {
                throw ModelError.missingValue(name: i, node: n.name)
            }
            for a in n.attributes.values { if case let .graph(sub) = a { try validateReferences(sub, outer: defined) } }
        }
        for o in graph.outputs where !defined.contains(o.name) {
            throw ModelError.missingValue(name: o.name, node: "graph output")
        }
    }
}
