import AtlasNet
import Foundation

/// Builds ONNX protobuf models in Swift for tests (good and deliberately broken ones).
struct ModelBuilder {
    var nodes: [Onnx_NodeProto] = []
    var initializers: [Onnx_TensorProto] = []
    var inputs: [Onnx_ValueInfoProto] = []
    var outputs: [Onnx_ValueInfoProto] = []
    var opset: Int64 = 13

    mutating func input(_ name: String, _ dims: [Int64?], type: Int32 = 1) {
        inputs.append(ModelBuilder.valueInfo(name, dims, type: type))
    }

    mutating func output(_ name: String, _ dims: [Int64?]? = nil) {
        var v = Onnx_ValueInfoProto()
        v.name = name
        if let dims { v = ModelBuilder.valueInfo(name, dims, type: 1) }
        outputs.append(v)
    }

    static func valueInfo(_ name: String, _ dims: [Int64?], type: Int32) -> Onnx_ValueInfoProto {
        var v = Onnx_ValueInfoProto()
        v.name = name
        v.type.tensorType.elemType = type
        v.type.tensorType.shape.dim = dims.map { d in
            var dim = Onnx_TensorShapeProto.Dimension()
            if let d { dim.dimValue = d } else { dim.dimParam = "N" }
            return dim
        }
        return v
    }

    mutating func node(_ op: String, _ inputs: [String], _ outputs: [String], name: String? = nil,
                       _ attributes: [Onnx_AttributeProto] = []) {
        var n = Onnx_NodeProto()
        n.opType = op
        n.input = inputs
        n.output = outputs
        n.name = name ?? "\(op)_\(nodes.count)"
        n.attribute = attributes
        nodes.append(n)
    }

    mutating func floats(_ name: String, _ dims: [Int64], _ values: [Float]) {
        initializers.append(ModelBuilder.floatTensor(name, dims, values))
    }

    mutating func ints(_ name: String, _ dims: [Int64], _ values: [Int64]) {
        var t = Onnx_TensorProto()
        t.name = name
        t.dims = dims
        t.dataType = 7
        t.int64Data = values
        initializers.append(t)
    }

    static func floatTensor(_ name: String, _ dims: [Int64], _ values: [Float]) -> Onnx_TensorProto {
        var t = Onnx_TensorProto()
        t.name = name
        t.dims = dims
        t.dataType = 1
        t.rawData = values.withUnsafeBufferPointer { Data(buffer: $0) }
        return t
    }

    static func intsAttr(_ name: String, _ v: [Int64]) -> Onnx_AttributeProto {
        var a = Onnx_AttributeProto()
        a.name = name
        a.type = .ints
        a.ints = v
        return a
    }

    static func intAttr(_ name: String, _ v: Int64) -> Onnx_AttributeProto {
        var a = Onnx_AttributeProto()
        a.name = name
        a.type = .int
        a.i = v
        return a
    }

    static func floatAttr(_ name: String, _ v: Float) -> Onnx_AttributeProto {
        var a = Onnx_AttributeProto()
        a.name = name
        a.type = .float
        a.f = v
        return a
    }

    static func stringAttr(_ name: String, _ v: String) -> Onnx_AttributeProto {
        var a = Onnx_AttributeProto()
        a.name = name
        a.type = .string
        a.s = Data(v.utf8)
        return a
    }

    static func tensorAttr(_ name: String, _ t: Onnx_TensorProto) -> Onnx_AttributeProto {
        var a = Onnx_AttributeProto()
        a.name = name
        a.type = .tensor
        a.t = t
        return a
    }

    static func graphAttr(_ name: String, _ g: Onnx_GraphProto) -> Onnx_AttributeProto {
        var a = Onnx_AttributeProto()
        a.name = name
        a.type = .graph
        a.g = g
        return a
    }

    var graph: Onnx_GraphProto {
        var g = Onnx_GraphProto()
        g.name = "test"
        g.node = nodes
        g.initializer = initializers
        g.input = inputs
        g.output = outputs
        return g
    }

    var model: Onnx_ModelProto {
        var m = Onnx_ModelProto()
        m.irVersion = 8
        m.producerName = "atlas-tests"
        var o = Onnx_OperatorSetIdProto()
        o.domain = ""
        o.version = opset
        m.opsetImport = [o]
        m.graph = graph
        return m
    }

    func bytes() throws -> Data { try model.serializedBytes() }

    func read(baseDirectory: String? = nil) throws -> Model { try ONNXReader.read(try bytes(), baseDirectory: baseDirectory) }
}
