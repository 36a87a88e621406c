import AtlasCore
import AtlasNet
import Foundation
import XCTest

/// ONNX's own backend node tests (Debian package libonnx-testdata): one model per op with inputs and expected
/// outputs. Each listed test runs through the executor (first input at run time, the others as constants)
/// and, for ops the constant evaluator knows, once more with every input constant (the folding path).
/// Set ATLAS_CONFORMANCE_DISCOVER=1 to run every test of a supported op and print which pass.
final class ConformanceTests: XCTestCase {
    static let root = "/usr/include/onnx/backend/test/data/node"

    /// Tests that pass, by directory name. Left out on purpose: cubic/tf_crop_and_resize Resize modes and
    /// non-integral resize scales, nearest modes other than the contract's, bfloat16 tests (stored as uint16), 3-D pooling
    /// with a full window, MaxPool's Indices output, Dropout's mask, training-mode BatchNormalization, string casts and
    /// optional/sequence types.
    static let passing: [String] = ConformanceList.names

    func testNodeTests() throws {
        guard FileManager.default.fileExists(atPath: ConformanceTests.root) else {
            print("ConformanceTests: skipped, \(ConformanceTests.root) is absent (install libonnx-testdata)")
            throw XCTSkip("libonnx-testdata is not installed")
        }
        let discover = ProcessInfo.processInfo.environment["ATLAS_CONFORMANCE_DISCOVER"] == "1"
        let names = discover ? try candidates() : ConformanceTests.passing
        var failures: [String] = []
        var checked = 0
        for name in names {
            do {
                checked += try run(name)
            } catch {
                failures.append("\(name): \(error)")
            }
        }
        if discover {
            let passed = Set(names).subtracting(failures.map { String($0.prefix { $0 != ":" }) })
            print("conformance discovery: \(passed.count) of \(names.count) pass")
            print(passed.sorted().map { "\"\($0)\"," }.joined(separator: "\n"))
            print(failures.joined(separator: "\n"))
        } else {
            XCTAssertEqual(failures, [], "\(failures.count) of \(names.count) node tests failed")
            XCTAssertGreaterThan(checked, names.count)
        }
    }

    /// Single-node tests whose op Atlas lowers or folds.
    func candidates() throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: ConformanceTests.root).sorted().filter { name in
            guard name.hasPrefix("test_"), !name.contains("expanded"),
                  let model = try? ONNXReader.load(path: "\(ConformanceTests.root)/\(name)/model.onnx"),
                  model.graph.nodes.count == 1 else { return false }
            let op = model.graph.nodes[0].opType
            return Lowering.supportedOps.contains(op) || ConstantEvaluator.supportedOps.contains(op)
        }
    }

    func tensor(_ path: String) throws -> Constant {
        let proto = try Onnx_TensorProto(serializedBytes: try Data(contentsOf: URL(fileURLWithPath: path)))
        return try TensorDecoder.decode(proto, baseDirectory: nil)
    }

    /// Runs one test directory in the applicable modes; returns the number of outputs compared.
    func run(_ name: String) throws -> Int {
        let dir = "\(ConformanceTests.root)/\(name)"
        let model = try ONNXReader.load(path: "\(dir)/model.onnx")
        let set = "\(dir)/test_data_set_0"
        let inputs = try model.graph.inputs.indices.map { try tensor("\(set)/input_\($0).pb") }
        let expected = try model.graph.outputs.indices.map { try tensor("\(set)/output_\($0).pb") }
        let op = model.graph.nodes.first?.opType ?? ""
        var modes: [Bool] = []   // true: first input at run time
        // Integer data runs through the float executor only for ops that move or select values (exact in float).
        let exactInFloat: Set<String> = ["Pad", "Concat", "Reshape", "Transpose", "Slice", "Split", "Squeeze", "Unsqueeze",
                                         "Flatten", "Identity", "MaxPool", "Clip"]
        if Lowering.supportedOps.contains(op), inputs.first?.isFloat == true || exactInFloat.contains(op) { modes.append(true) }
        if ConstantEvaluator.supportedOps.contains(op) { modes.append(false) }
        guard !modes.isEmpty else { throw ModelError.unsupportedOp(op: op, node: name, domain: "", opset: model.opset) }
        var compared = 0
        for runtime in modes {
            var m = model
            var feed: [String: Tensor] = [:]
            for (k, info) in model.graph.inputs.enumerated() {
                if runtime && k == 0 { feed[info.name] = inputs[k].tensor } else { m.graph.constants[info.name] = inputs[k] }
            }
            m.graph.inputs = runtime ? [model.graph.inputs[0]] : []
            let net = try Network(model: m)
            let names = Set(m.graph.outputs.map(\.name))
            let out = try net.forward(inputs: feed, capture: names)
            for (k, info) in m.graph.outputs.enumerated() {
                guard let got = out[info.name] else { throw ModelError.unknownLayer(info.name) }
                try compare(got, expected[k], what: "\(runtime ? "run" : "fold") \(info.name)")
                compared += 1
            }
        }
        return compared
    }

    struct Mismatch: Error, CustomStringConvertible {
        let description: String
    }

    /// |got − expected| ≤ 1e-4 + 1e-3·|expected| everywhere, with equal shapes.
    func compare(_ got: Tensor, _ expected: Constant, what: String) throws {
        guard got.shape == expected.shape else { throw Mismatch(description: "\(what): shape \(got.shape), expected \(expected.shape)") }
        let e = expected.floats
        for i in 0..<got.count {
            let a = got.data[i], b = e[i]
            if a == b || (a.isNaN && b.isNaN) { continue }
            guard abs(a - b) <= 1e-4 + 1e-3 * abs(b) else {
                throw Mismatch(description: "\(what): element \(i) is \(a), expected \(b)")
            }
        }
    }
}
