import AtlasNet
import Foundation
import XCTest

final class ReaderTests: XCTestCase {
    /// A tensor initializer with raw little-endian bytes of the given element type.
    func raw(_ name: String, type: Int32, dims: [Int64], _ bytes: [UInt8]) -> Onnx_TensorProto {
        var t = Onnx_TensorProto()
        t.name = name
        t.dataType = type
        t.dims = dims
        t.rawData = Data(bytes)
        return t
    }

    func le<T: FixedWidthInteger>(_ values: [T]) -> [UInt8] {
        values.flatMap { v in withUnsafeBytes(of: v.littleEndian) { Array($0) } }
    }

    func testElementTypesAreConvertedOnLoad() throws {
        var b = ModelBuilder()
        b.input("x", [1, 2])
        b.node("Identity", ["x"], ["y"])
        b.output("y")
        b.floats("f32", [2], [1.5, -2])
        // float16: 1.0 = 0x3C00, -2.5 = 0xC100, 65504 = 0x7BFF, smallest subnormal 0x0001
        b.initializers.append(raw("f16", type: 10, dims: [4], le([UInt16(0x3C00), 0xC100, 0x7BFF, 0x0001])))
        b.initializers.append(raw("bf16", type: 16, dims: [1], le([UInt16(0x3FC0)])))   // 1.5
        b.initializers.append(raw("f64", type: 11, dims: [2], le([(0.25 as Double).bitPattern, (-1e3 as Double).bitPattern])))
        b.initializers.append(raw("i8", type: 3, dims: [3], [0x7F, 0x80, 0xFF]))
        b.initializers.append(raw("u8", type: 2, dims: [2], [0, 255]))
        b.initializers.append(raw("b", type: 9, dims: [3], [0, 1, 7]))
        b.initializers.append(raw("i32", type: 6, dims: [2], le([Int32(-7), Int32.max])))
        b.initializers.append(raw("i64", type: 7, dims: [1, 2], le([Int64(-5), Int64(1) << 40])))
        var typed = Onnx_TensorProto()
        typed.name = "i32typed"; typed.dataType = 6; typed.dims = [2]; typed.int32Data = [3, -4]
        b.initializers.append(typed)
        var dbl = Onnx_TensorProto()
        dbl.name = "f64typed"; dbl.dataType = 11; dbl.dims = []; dbl.doubleData = [0.5]
        b.initializers.append(dbl)
        var f16typed = Onnx_TensorProto()
        f16typed.name = "f16typed"; f16typed.dataType = 10; f16typed.dims = [1]; f16typed.int32Data = [0x3C00]
        b.initializers.append(f16typed)
        var boolTyped = Onnx_TensorProto()
        boolTyped.name = "btyped"; boolTyped.dataType = 9; boolTyped.dims = [2]; boolTyped.int32Data = [1, 0]
        b.initializers.append(boolTyped)

        let c = try b.read().graph.constants
        XCTAssertEqual(c["f32"]?.floats, [1.5, -2])
        XCTAssertEqual(c["f16"]?.floats, [1, -2.5, 65504, 0x1p-24])
        XCTAssertEqual(c["bf16"]?.floats, [1.5])
        XCTAssertEqual(c["f64"]?.floats, [0.25, -1000])
        XCTAssertEqual(c["i8"]?.ints, [127, -128, -1])
        XCTAssertEqual(c["u8"]?.ints, [0, 255])
        XCTAssertEqual(c["b"]?.ints, [0, 1, 1])
        XCTAssertEqual(c["i32"]?.ints, [-7, Int(Int32.max)])
        XCTAssertEqual(c["i64"]?.ints, [-5, 1 << 40])
        XCTAssertEqual(c["i64"]?.shape, [1, 2])
        XCTAssertEqual(c["i32typed"]?.ints, [3, -4])
        XCTAssertEqual(c["f64typed"]?.floats, [0.5])
        XCTAssertEqual(c["f64typed"]?.shape, [])
        XCTAssertEqual(c["f16typed"]?.floats, [1])
        XCTAssertEqual(c["btyped"]?.ints, [1, 0])
        XCTAssertTrue(c["f16"]!.isFloat)
        XCTAssertFalse(c["b"]!.isFloat)
    }

    func testGraphStructureAndInputsExcludeInitializers() throws {
        var b = ModelBuilder()
        b.input("x", [nil, 3, 8, 8])
        b.input("w", [4, 3, 1, 1])   // IR < 4 style: initializers listed as inputs too
        b.floats("w", [4, 3, 1, 1], [Float](repeating: 0.5, count: 12))
        b.node("Conv", ["x", "w"], ["y"], name: "conv", [ModelBuilder.intsAttr("kernel_shape", [1, 1])])
        b.output("y")
        b.opset = 11
        let m = try b.read()
        XCTAssertEqual(m.opset, 11)
        XCTAssertEqual(m.graph.inputs.map(\.name), ["x"])
        XCTAssertEqual(m.graph.inputs[0].shape, [.symbolic("N"), .fixed(3), .fixed(8), .fixed(8)])
        XCTAssertEqual(m.graph.nodes.count, 1)
        XCTAssertEqual(m.graph.nodes[0].opset, 11)
        XCTAssertEqual(try m.graph.nodes[0].ints("kernel_shape"), [1, 1])
        XCTAssertEqual(m.producer, "atlas-tests")
    }

    func testExternalDataIsReadWithOffsetAndLength() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("atlas-ext-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir.appendingPathComponent("weights"), withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let values: [Float] = [9, 1, 2, 3, 4]
        try values.withUnsafeBufferPointer { Data(buffer: $0) }.write(to: dir.appendingPathComponent("weights/w.bin"))

        func external(_ location: String, offset: Int, length: Int?) -> ModelBuilder {
            var b = ModelBuilder()
            b.input("x", [1])
            b.node("Identity", ["x"], ["y"])
            b.output("y")
            var t = Onnx_TensorProto()
            t.name = "w"; t.dataType = 1; t.dims = [2, 2]; t.dataLocation = .external
            var entries = [("location", location), ("offset", String(offset))]
            if let length { entries.append(("length", String(length))) }
            t.externalData = entries.map { k, v in
                var e = Onnx_StringStringEntryProto()
                e.key = k; e.value = v
                return e
            }
            b.initializers.append(t)
            return b
        }
        let base = dir.path
        let ok = try external("weights/w.bin", offset: 4, length: 16).read(baseDirectory: base)
        XCTAssertEqual(ok.graph.constants["w"]?.floats, [1, 2, 3, 4])
        XCTAssertEqual(try external("weights/w.bin", offset: 4, length: nil).read(baseDirectory: base).graph.constants["w"]?.floats,
                       [1, 2, 3, 4])
        // Out of bounds, wrong length, escape, absolute path, missing file, no base directory.
        func expectExternalError(_ b: ModelBuilder, base: String?, file: StaticString = #filePath, line: UInt = #line) {
            XCTAssertThrowsError(try b.read(baseDirectory: base), file: file, line: line) { error in
                guard case .externalData = error as? ModelError else {
                    return XCTFail("expected externalData, got \(error)", file: file, line: line)
                }
            }
        }
        expectExternalError(external("weights/w.bin", offset: 8, length: nil), base: base)
        expectExternalError(external("weights/w.bin", offset: Int.max - 4, length: nil), base: base)
        expectExternalError(external("../w.bin", offset: 0, length: nil), base: base)
        expectExternalError(external("weights/../../w.bin", offset: 0, length: nil), base: base)
        expectExternalError(external("/etc/passwd", offset: 0, length: nil), base: base)
        expectExternalError(external("weights/missing.bin", offset: 0, length: nil), base: base)
        expectExternalError(external("weights/w.bin", offset: 0, length: nil), base: nil)
        XCTAssertThrowsError(try external("weights/w.bin", offset: 0, length: 12).read(baseDirectory: base)) { error in
            XCTAssertEqual(error as? ModelError, .dataSizeMismatch(tensor: "w", expected: 16, actual: 12))
        }
        // A symbolic link that leads out of the model directory is refused too.
        let outside = dir.deletingLastPathComponent().appendingPathComponent("atlas-outside-\(UUID().uuidString).bin")
        try Data(count: 64).write(to: outside)
        defer { try? FileManager.default.removeItem(at: outside) }
        try FileManager.default.createSymbolicLink(atPath: dir.appendingPathComponent("weights/link.bin").path,
                                                   withDestinationPath: outside.path)
        expectExternalError(external("weights/link.bin", offset: 0, length: nil), base: base)
    }

    func testLoadFromFileAndMissingFile() throws {
        var b = ModelBuilder()
        b.input("x", [1, 2])
        b.node("Relu", ["x"], ["y"])
        b.output("y")
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("atlas-\(UUID().uuidString).onnx")
        try b.bytes().write(to: url)
        defer { try? FileManager.default.removeItem(at: url) }
        XCTAssertEqual(try ONNXReader.load(path: url.path).graph.nodes.map(\.opType), ["Relu"])
        XCTAssertThrowsError(try ONNXReader.load(path: url.path + ".missing")) { error in
            guard case .notFound = error as? ModelError else { return XCTFail("\(error)") }
        }
    }

    func testTopologicalSortRestoresOrderAndKeepsSortedGraphs() throws {
        var b = ModelBuilder()
        b.input("x", [1, 4])
        b.node("Relu", ["b"], ["c"], name: "third")
        b.node("Relu", ["x"], ["a"], name: "first")
        b.node("Neg", ["a"], ["b"], name: "second")
        b.node("Add", ["a", "c"], ["d"], name: "fourth")
        b.output("d")
        XCTAssertEqual(try b.read().graph.nodes.map(\.name), ["first", "second", "third", "fourth"])
    }
}
