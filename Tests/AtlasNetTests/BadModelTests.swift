import AtlasCore
import AtlasNet
import Foundation
import XCTest

/// Every class of malformed model must end in a typed `ModelError`, never a crash or a huge allocation.
final class BadModelTests: XCTestCase {
    func expect(_ expected: (ModelError) -> Bool, file: StaticString = #filePath, line: UInt = #line,
                _ body: () throws -> Void) {
        XCTAssertThrowsError(try body(), file: file, line: line) { error in
            guard let e = error as? ModelError else { return XCTFail("not a ModelError: \(error)", file: file, line: line) }
            XCTAssertTrue(expected(e), "unexpected error: \(e)", file: file, line: line)
            XCTAssertFalse(e.description.isEmpty)
        }
    }

    var small: ModelBuilder {
        var b = ModelBuilder()
        b.input("x", [1, 3, 4, 4])
        b.floats("w", [2, 3, 3, 3], (0..<54).map { Float($0) / 54 })
        b.node("Conv", ["x", "w"], ["y"], name: "conv0", [ModelBuilder.intsAttr("pads", [1, 1, 1, 1])])
        b.node("Relu", ["y"], ["z"], name: "relu0")
        b.output("z")
        return b
    }

    func testTruncatedFiles() throws {
        let bytes = try small.bytes()
        XCTAssertNoThrow(try ONNXReader.read(bytes))
        var truncatedSeen = 0
        // Every cut inside the message must fail cleanly (most as `truncated`).
        for cut in stride(from: 1, to: bytes.count, by: 7) {
            do {
                _ = try ONNXReader.read(bytes.prefix(cut))
                XCTFail("cut at \(cut) of \(bytes.count) was accepted")
            } catch let e as ModelError {
                if case .truncated = e { truncatedSeen += 1 }
            }
        }
        XCTAssertGreaterThan(truncatedSeen, 0)
        expect({ if case .truncated = $0 { true } else { false } }) { _ = try ONNXReader.read(bytes.prefix(bytes.count - 3)) }
    }

    func testNotProtobuf() {
        let isNot: (ModelError) -> Bool = { if case .notProtobuf = $0 { true } else { false } }
        expect(isNot) { _ = try ONNXReader.read(Data()) }
        expect(isNot) { _ = try ONNXReader.read(Data([0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01])) }
        expect(isNot) { _ = try ONNXReader.read(Data([0x0F, 0x00, 0x00])) }   // wire type 7 does not exist
        // A valid protobuf without a graph is not a model either.
        var m = Onnx_ModelProto()
        m.producerName = "nothing"
        expect(isNot) { _ = try ONNXReader.read(try m.serializedBytes()) }
        // Random bytes: never a crash.
        var rng = SplitMix64(seed: 42)
        for _ in 0..<200 {
            let junk = Data((0..<64).map { _ in UInt8(truncatingIfNeeded: rng.next()) })
            XCTAssertThrowsError(try ONNXReader.read(junk))
        }
    }

    func testUnsupportedOpset() {
        var b = small
        b.opset = 5
        expect({ $0 == .unsupportedOpset(domain: "", version: 5) }) { _ = try b.read() }
        b.opset = 99
        expect({ $0 == .unsupportedOpset(domain: "", version: 99) }) { _ = try b.read() }
    }

    func testMissingInputAndDuplicateDefinitions() {
        var b = small
        b.node("Add", ["z", "nowhere"], ["q"], name: "add0")
        b.output("q")
        expect({ $0 == .missingValue(name: "nowhere", node: "add0") }) { _ = try b.read() }
        var c = small
        c.output("ghost")
        expect({ $0 == .missingValue(name: "ghost", node: "graph output") }) { _ = try c.read() }
        var d = small
        d.node("Relu", ["x"], ["z"], name: "again")
        expect({ if case .invalidGraph = $0 { true } else { false } }) { _ = try d.read() }
    }

    func testCycle() {
        var b = ModelBuilder()
        b.input("x", [1, 4])
        b.node("Add", ["x", "c"], ["a"], name: "n1")
        b.node("Relu", ["a"], ["b"], name: "n2")
        b.node("Neg", ["b"], ["c"], name: "n3")
        b.output("b")
        expect({ if case let .cycle(nodes) = $0 { Set(nodes) == ["n1", "n2", "n3"] } else { false } }) { _ = try b.read() }
    }

    func testNegativeAbsurdAndOverflowingDims() {
        func withTensor(_ dims: [Int64], raw: Int = 0) -> ModelBuilder {
            var b = small
            var t = Onnx_TensorProto()
            t.name = "bad"; t.dataType = 1; t.dims = dims
            if raw > 0 { t.rawData = Data(count: raw) }
            b.initializers.append(t)
            return b
        }
        expect({ $0 == .invalidDimension(tensor: "bad", dims: [2, -3]) }) { _ = try withTensor([2, -3]).read() }
        expect({ $0 == .invalidDimension(tensor: "bad", dims: [Int(Int64.max)]) }) { _ = try withTensor([Int64.max]).read() }
        // Each dimension is plausible, the product overflows Int: caught before any allocation.
        let big: [Int64] = [1 << 31, 1 << 31, 1 << 31]
        expect({ $0 == .sizeOverflow(tensor: "bad", dims: big.map { Int($0) }) }) { _ = try withTensor(big).read() }
        // Under Int.max but above the element limit.
        expect({ if case .sizeOverflow = $0 { true } else { false } }) { _ = try withTensor([1 << 20, 1 << 20, 64]).read() }
        // Declared value shapes are checked too.
        var b = small
        b.outputs = [ModelBuilder.valueInfo("z", [1, -2], type: 1)]
        expect({ if case .invalidDimension = $0 { true } else { false } }) { _ = try b.read() }
    }

    func testDataSizeMismatch() {
        var raw = small
        var t = ModelBuilder.floatTensor("bad", [2, 2], [1, 2, 3])
        raw.initializers.append(t)
        expect({ $0 == .dataSizeMismatch(tensor: "bad", expected: 16, actual: 12) }) { _ = try raw.read() }
        var typed = small
        t = Onnx_TensorProto()
        t.name = "bad"; t.dataType = 1; t.dims = [3]; t.floatData = [1, 2]
        typed.initializers.append(t)
        expect({ $0 == .dataSizeMismatch(tensor: "bad", expected: 3, actual: 2) }) { _ = try typed.read() }
        // Huge dims with a tiny payload: reported, nothing of the declared size is allocated.
        var huge = small
        t = Onnx_TensorProto()
        t.name = "bad"; t.dataType = 7; t.dims = [1 << 30, 4]; t.int64Data = [1]
        huge.initializers.append(t)
        expect({ $0 == .dataSizeMismatch(tensor: "bad", expected: 1 << 32, actual: 1) }) { _ = try huge.read() }
        // Wrong byte count for float16.
        var half = small
        t = Onnx_TensorProto()
        t.name = "bad"; t.dataType = 10; t.dims = [3]; t.rawData = Data(count: 4)
        half.initializers.append(t)
        expect({ $0 == .dataSizeMismatch(tensor: "bad", expected: 6, actual: 4) }) { _ = try half.read() }
    }

    func testUnsupportedElementType() {
        var b = small
        var t = Onnx_TensorProto()
        t.name = "s"; t.dataType = 8; t.dims = [1]; t.stringData = [Data("hi".utf8)]
        b.initializers.append(t)
        expect({ $0 == .unsupportedDataType(tensor: "s", type: 8) }) { _ = try b.read() }
    }

    func testBadAttributesInFolding() throws {
        var b = ModelBuilder()
        b.input("x", [1, 4])
        b.ints("idx", [1], [7])
        b.ints("data", [3], [1, 2, 3])
        b.node("Gather", ["data", "idx"], ["g"], name: "gather")
        b.node("Reshape", ["x", "g"], ["y"], name: "reshape")
        b.output("y")
        var g = try b.read().graph
        expect({ if case let .invalidNode(node, op, _) = $0 { node == "gather" && op == "Gather" } else { false } }) {
            try Passes.foldConstants(&g)
        }
    }
}
