import AtlasCore
import AtlasNet
import Foundation
import XCTest

/// The Swift model zoo against PyTorch (scripts/fixtures/make_zoo_fixture.py): parameter counts and output shapes of
/// torchvision's / Lucent's modules, and onnxruntime's output on the zoo's own seeded weights.
final class ZooTests: XCTestCase {
    struct Reference {
        let parameters: Int
        let outputShape: [Int]
        /// Conv and Linear multiply-adds of one 224 px image (PyTorch forward hooks).
        let multiplyAdds: Int
        let seed: UInt64?
        let input: Tensor?
        let output: Tensor?
        /// Op counts of torch.onnx.export's graph of the reference module.
        let onnxOps: [String: Int]
    }

    static func reference(_ arch: ZooArchitecture) throws -> Reference {
        let dir = FixtureTests.fixtures.appendingPathComponent("zoo")
        let root = try JSONSerialization.jsonObject(with: Data(contentsOf: dir.appendingPathComponent("zoo.json"))) as? [String: Any]
        let models = root?["models"] as? [[String: Any]] ?? []
        guard let m = models.first(where: { $0["name"] as? String == arch.rawValue }) else {
            throw XCTSkip("no reference for \(arch)")
        }
        func npy(_ key: String) throws -> Tensor? {
            guard let f = m[key] as? String else { return nil }
            return try NPY.read(path: dir.appendingPathComponent(f).path)
        }
        return Reference(parameters: m["parameters"] as? Int ?? -1, outputShape: m["output_shape_224"] as? [Int] ?? [],
                         multiplyAdds: m["multiply_adds_224"] as? Int ?? -1,
                         seed: (m["seed"] as? Int).map(UInt64.init), input: try npy("input"), output: try npy("output"),
                         onnxOps: m["onnx_nodes"] as? [String: Int] ?? [:])
    }

    func testParameterCountsMatchPyTorch() throws {
        for arch in ZooArchitecture.allCases {
            XCTAssertEqual(arch.parameterCount, try Self.reference(arch).parameters, "\(arch)")
        }
    }

    /// Output shape at 224 px from the plan (no forward run), and the benchmark layer resolves.
    func testOutputShapesAndLayerNames() throws {
        for arch in ZooArchitecture.allCases where arch != .vgg16 {
            let net = try arch.network(seed: 1)
            let plan = try net.plan(for: [1, 3, 224, 224])
            let out = try XCTUnwrap(net.graph.outputs.first?.name)
            XCTAssertEqual(plan.shapes[out], try Self.reference(arch).outputShape, "\(arch)")
            XCTAssertNotNil(plan.shapes[try net.resolve(arch.visualizationLayer)], "\(arch)")
            XCTAssertEqual(ZooArchitecture.flops(of: plan), 2 * (try Self.reference(arch).multiplyAdds), "\(arch) FLOPs")
        }
        let v1 = try ZooArchitecture.inceptionv1.network(seed: 1)
        for layer in ["mixed3a", "mixed3b", "mixed4a", "mixed4b", "mixed4c", "mixed4d", "mixed4e", "mixed5a", "mixed5b"] {
            XCTAssertNoThrow(try v1.resolve(layer))
        }
    }

    /// VGG16's 138 M weights are allocated once: its plan at 224 px gives torchvision's output shape.
    func testVGG16OutputShape() throws {
        let net = try ZooArchitecture.vgg16.network(seed: 1)
        let plan = try net.plan(for: [1, 3, 224, 224])
        XCTAssertEqual(plan.shapes[try XCTUnwrap(net.graph.outputs.first?.name)], try Self.reference(.vgg16).outputShape)
        XCTAssertEqual(ZooArchitecture.flops(of: plan), 2 * (try Self.reference(.vgg16).multiplyAdds))
    }

    /// Same seeded weights in PyTorch (NumPy replica of the initialization), exported to ONNX and run by onnxruntime.
    func testOutputsMatchOnnxruntime() throws {
        for arch in [ZooArchitecture.googlenet, .resnet50, .inceptionv1] {
            let ref = try Self.reference(arch)
            let seed = try XCTUnwrap(ref.seed), x = try XCTUnwrap(ref.input), expected = try XCTUnwrap(ref.output)
            let net = try arch.network(seed: seed)
            let y = try XCTUnwrap(try net.forward(x).values.first)
            XCTAssertEqual(y.shape, expected.shape, "\(arch)")
            guard y.shape == expected.shape else { continue }
            var scale: Float = 0, err: Float = 0
            for i in 0..<y.count {
                scale = max(scale, abs(expected.data[i]))
                err = max(err, abs(y.data[i] - expected.data[i]))
            }
            XCTAssertGreaterThan(scale, 0, "\(arch)")
            XCTAssertLessThanOrEqual(err, 1e-4 * scale, "\(arch): max error \(err), scale \(scale)")
        }
    }

    /// Node-for-node where the exporter keeps the module structure: the zoo graph (BatchNorm folded) has as many Conv,
    /// MaxPool, Relu and Gemm nodes as the exported reference, and for torchvision's also Concat, Add and global pools.
    /// (Lucent's export spells LRN and padding with shape subgraphs, so those are not counted.)
    func testGraphStructureMatchesExport() throws {
        for arch in [ZooArchitecture.googlenet, .resnet50, .inceptionv1] {
            let ref = try Self.reference(arch)
            let net = try Network(model: arch.model(seed: 0))
            var ops: [String: Int] = [:]
            for n in net.graph.nodes { ops[n.opType, default: 0] += 1 }
            var compared = ["Conv", "MaxPool", "Relu", "Gemm"]
            if arch != .inceptionv1 { compared += ["Concat", "Add", "GlobalAveragePool"] }
            for op in compared { XCTAssertEqual(ops[op] ?? 0, ref.onnxOps[op] ?? 0, "\(arch) \(op)") }
            XCTAssertNil(ops["BatchNormalization"], "\(arch): BatchNorm not folded")
        }
    }

    func testSeedsChangeWeightsDeterministically() throws {
        func first(_ seed: UInt64) -> [Float] {
            let m = ZooArchitecture.googlenet.model(seed: seed)
            return Array(m.graph.constants["fc.weight"]!.tensor.toArray().prefix(16))
        }
        XCTAssertEqual(first(3), first(3))
        XCTAssertNotEqual(first(3), first(4))
    }
}
