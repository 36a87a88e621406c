import AtlasCore
import AtlasNet
import AtlasTestSupport
import Foundation
import XCTest

/// The `attention-strides` pass: attention's MatMuls read and write through strides instead of between Transposes;
/// forward and input gradient must have the bits of the graph without the pass.
final class AttentionStridesTests: XCTestCase {
    static let without = PassSelection(disabled: ["attention-strides"])

    /// torch's scaled_dot_product_attention export on x [2, 5, 12] with 3 heads of 4: per-head Reshape → Transpose →
    /// Reshape, Kᵀ as a Transpose, √scale Muls on q and Kᵀ, and the heads merged by Transpose → Reshape.
    func attention() throws -> ModelBuilder {
        let (b, l, e, h, d) = (2, 5, 12, 3, 4)
        var m = ModelBuilder()
        m.input("x", [Int64(b), Int64(l), Int64(e)])
        m.node("Transpose", ["x"], ["xt"], [ModelBuilder.intsAttr("perm", [1, 0, 2])])
        m.floats("s", [], [0.70710677])
        m.ints("heads", [3], [Int64(l), Int64(b * h), Int64(d)])
        m.ints("split", [4], [Int64(b), Int64(h), Int64(l), Int64(d)])
        m.ints("merged", [2], [Int64(l * b), Int64(e)])
        for (k, name) in ["q", "k", "v"].enumerated() {
            m.floats("w\(name)", [Int64(e), Int64(e)], (0..<(e * e)).map { Float(($0 * (7 + k) + 3 * k) % 23) / 23 - 0.5 })
            m.node("MatMul", ["xt", "w\(name)"], ["\(name)0"])
            m.node("Reshape", ["\(name)0", "heads"], ["\(name)1"])
            m.node("Transpose", ["\(name)1"], ["\(name)2"], [ModelBuilder.intsAttr("perm", [1, 0, 2])])
            m.node("Reshape", ["\(name)2", "split"], ["\(name)3"])
        }
        m.node("Mul", ["q3", "s"], ["qs"])
        m.node("Transpose", ["k3"], ["kt"], [ModelBuilder.intsAttr("perm", [0, 1, 3, 2])])
        m.node("Mul", ["kt", "s"], ["ks"])
        m.node("MatMul", ["qs", "ks"], ["scores"])
        m.node("Softmax", ["scores"], ["p"], [ModelBuilder.intAttr("axis", -1)])
        m.node("MatMul", ["p", "v3"], ["o"])
        m.node("Transpose", ["o"], ["ot"], [ModelBuilder.intsAttr("perm", [2, 0, 1, 3])])
        m.node("Reshape", ["ot", "merged"], ["y"])
        m.output("y")
        return m
    }

    func run(_ net: Network, _ x: Tensor, output: String) throws -> (y: [UInt32], g: [UInt32]) {
        let y = try net.forward(x, capture: [output], keepForBackward: true)[output]!
        let g = try net.backward(from: [output: TestData.uniform(y.shape, seed: 41)])
        return (y.toArray().map(\.bitPattern), g.toArray().map(\.bitPattern))
    }

    func testAttentionMatMulsReadThroughStridesBitForBit() throws {
        let model = try attention().read()
        let fused = try Network(model: model), plain = try Network(model: model, options: .init(passes: Self.without))
        let x = TestData.uniform([2, 5, 12], seed: 40)
        let a = try run(fused, x, output: "y"), b = try run(plain, x, output: "y")
        XCTAssertEqual(a.y, b.y)
        XCTAssertEqual(a.g, b.g)
        XCTAssertTrue(a.g.contains { Float(bitPattern: $0) != 0 }, "a gradient that reaches the input")
        let plan = try fused.plan(for: x.shape)
        XCTAssertEqual(plan.optimization.rewrites.first { $0.pass == "attention-strides" }?.count, 2)
        // Only x's Transpose stays (its MatMuls multiply by constant weights).
        XCTAssertEqual(plan.steps.filter { $0.op == "Transpose" }.count, 1)
        XCTAssertEqual(try plain.plan(for: x.shape).steps.filter { $0.op == "Transpose" }.count, 6)
        // The √scale Muls are read into the products as the operands' scales.
        XCTAssertEqual(plan.steps.filter { $0.op == "Mul" }.count, 0)
        XCTAssertEqual(try plain.plan(for: x.shape).steps.filter { $0.op == "Mul" }.count, 2)
        // Against a naive reference of the first head's scores at batch item 0: the values, not just agreement.
        let scores = try fused.forward(x, capture: ["p"])["p"]!
        XCTAssertEqual(scores.shape, [2, 3, 5, 5])
        let row = (0..<5).map { scores[0, 0, 0, $0] }
        XCTAssertEqual(row.reduce(0, +), 1, accuracy: 1e-5)
    }

    func testViewStridesOfReshapes() {
        // [6, 4] viewed transposed ([4, 6], strides [1, 4]): splitting 6 = 2·3 is a view, merging [4, 6] is not.
        XCTAssertEqual(Passes.viewStrides([4, 6], [1, 4], reshapedTo: [4, 2, 3]), [1, 12, 4])
        XCTAssertNil(Passes.viewStrides([4, 6], [1, 4], reshapedTo: [24]))
        XCTAssertEqual(Passes.viewStrides([5, 6, 4], [24, 4, 1], reshapedTo: [5, 1, 24]), [24, 1, 1])
        XCTAssertTrue(Passes.isOneToOne([4, 2, 3], [1, 12, 4]))
        XCTAssertFalse(Passes.isOneToOne([4, 3], [1, 2]))
    }

    /// The small ViT fixture (torch's attention export): the pass fires in every block, the same bits.
    func testViTFixtureBitForBit() throws {
        let e = try XCTUnwrap(try FixtureTests.manifest(TransformerTests.dir).first { $0.name == "vit" })
        let x = try NPY.read(path: e.path("input")!)
        let output = e.json["output_name"] as? String ?? "output"
        let fused = try Network(contentsOf: e.path("model")!)
        let plain = try Network(contentsOf: e.path("model")!, options: .init(passes: Self.without))
        let a = try run(fused, x, output: output), b = try run(plain, x, output: output)
        XCTAssertEqual(a.y, b.y)
        XCTAssertEqual(a.g, b.g)
        let plan = try fused.plan(for: x.shape)
        XCTAssertGreaterThan(plan.optimization.rewrites.first { $0.pass == "attention-strides" }?.count ?? 0, 0)
        XCTAssertLessThan(plan.steps.filter { $0.op == "Transpose" }.count,
                          try plain.plan(for: x.shape).steps.filter { $0.op == "Transpose" }.count)
    }
}
