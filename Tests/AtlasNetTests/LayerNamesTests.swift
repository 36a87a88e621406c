import AtlasNet
import XCTest

final class LayerNamesTests: XCTestCase {
    func testModulePaths() {
        XCTAssertEqual(LayerNames.modulePath("/inception4a/Concat_output_0"), "inception4a")
        XCTAssertEqual(LayerNames.modulePath("/features/features.10/MaxPool_output_0"), "features.10")
        XCTAssertEqual(LayerNames.modulePath("/layer1/layer1.0/relu_1/Relu_output_0"), "layer1.0.relu_1")
        XCTAssertEqual(LayerNames.modulePath("/inception4a/branch1/conv/Conv_output_0"), "inception4a.branch1.conv")
        XCTAssertNil(LayerNames.modulePath("/Relu_output_0"))
        XCTAssertNil(LayerNames.modulePath("mixed4a"))
        XCTAssertNil(LayerNames.modulePath("input.1"))
    }

    func testAliasesPickTheLastNodeOfEachModuleAndDropCollisions() throws {
        var b = ModelBuilder()
        b.input("x", [1, 4])
        b.node("Relu", ["x"], ["/layer1/layer1.0/relu/Relu_output_0"])
        b.node("Neg", ["/layer1/layer1.0/relu/Relu_output_0"], ["/layer1/layer1.0/Neg_output_0"])
        b.node("Relu", ["/layer1/layer1.0/Neg_output_0"], ["/layer1/layer1.0/relu_1/Relu_output_0"])
        b.node("Relu", ["/layer1/layer1.0/relu_1/Relu_output_0"], ["/layer1/layer1.1/relu/Relu_output_0"])
        // Two different scopes that qualify to the same module name: ambiguous, so no alias.
        b.node("Neg", ["x"], ["/head/fc/Neg_output_0"])
        b.node("Neg", ["x"], ["/head.fc/Neg_output_0"])
        // An alias equal to an existing value name is dropped (the value name wins).
        b.node("Neg", ["x"], ["/tail/Neg_output_0"])
        b.node("Neg", ["x"], ["tail"])
        b.node("Sum", ["/layer1/layer1.1/relu/Relu_output_0", "/head/fc/Neg_output_0", "/head.fc/Neg_output_0",
                       "/tail/Neg_output_0", "tail"], ["out"])
        b.output("out")
        let names = LayerNames(graph: try b.read().graph)
        XCTAssertEqual(names.aliases["layer1.0.relu"], "/layer1/layer1.0/relu/Relu_output_0")
        XCTAssertEqual(names.aliases["layer1.0.relu_1"], "/layer1/layer1.0/relu_1/Relu_output_0")
        XCTAssertEqual(names.aliases["layer1.0"], "/layer1/layer1.0/relu_1/Relu_output_0")
        XCTAssertEqual(names.aliases["layer1"], "/layer1/layer1.1/relu/Relu_output_0")
        XCTAssertEqual(names.aliases["head"], "/head/fc/Neg_output_0")
        XCTAssertNil(names.aliases["head.fc"])
        XCTAssertNil(names.aliases["tail"])
        XCTAssertEqual(names.resolve("tail"), "tail")
        XCTAssertEqual(names.resolve("layer1.0"), "/layer1/layer1.0/relu_1/Relu_output_0")
        XCTAssertEqual(names.resolve("/layer1/layer1.0/Neg_output_0"), "/layer1/layer1.0/Neg_output_0")
        XCTAssertNil(names.resolve("layer9"))
        // The listing shows the innermost alias of a value.
        XCTAssertEqual(names.aliasOf["/layer1/layer1.0/relu_1/Relu_output_0"], "layer1.0.relu_1")
        XCTAssertEqual(names.aliasOf["/layer1/layer1.1/relu/Relu_output_0"], "layer1.1.relu")
    }
}
