import AtlasCore
import AtlasExplain
import AtlasNet
import AtlasTestSupport
import Foundation
import XCTest

final class DiagramTests: XCTestCase {
    /// Two parallel branches joined by an Add, then a Concat with the input: a residual block in miniature.
    func branchy() throws -> Network {
        let w1 = TestData.uniform([2, 2, 3, 3], seed: 1), w2 = TestData.uniform([2, 2, 1, 1], seed: 2)
        let g = Graph(nodes: [TinyNets.conv("x", "w1", "b1", "a", pad: 1), TinyNets.node("Relu", ["a"], "ra"),
                              TinyNets.conv("x", "w2", "b2", "b", pad: 0), TinyNets.node("Add", ["ra", "b"], "s"),
                              TinyNets.node("Concat", ["s", "x"], "cat", ["axis": .int(1)]), TinyNets.node("GlobalAveragePool", ["cat"], "y")],
                      inputs: [TinyNets.input(2, 6, 6)], outputs: [ValueInfo(name: "y")],
                      constants: ["w1": Constant(w1), "b1": Constant(Tensor(zeros: [2])), "w2": Constant(w2), "b2": Constant(Tensor(zeros: [2]))])
        return try Network(model: Model(graph: g))
    }

    func testDiagramHasEveryNodeAndEdge() throws {
        let net = try branchy()
        let d = try NetworkDiagram(network: net, inputShape: [1, 2, 6, 6], title: "test")
        XCTAssertEqual(d.nodes.map(\.op), ["Input", "Conv", "Relu", "Conv", "Add", "Concat", "GlobalAveragePool", "Output"])
        XCTAssertEqual(d.nodes.first { $0.value == "a" }?.parameters, 2 * 2 * 9 + 2)
        XCTAssertEqual(d.nodes.first { $0.value == "cat" }?.shape, [1, 4, 6, 6])
        let edges = Set(d.edges.map { "\($0.from)->\($0.to)" })
        XCTAssertEqual(edges, ["in0->n0", "n0->n1", "in0->n2", "n1->n3", "n2->n3", "n3->n4", "in0->n4", "n4->n5", "n5->out0"])

        let dot = d.dot(links: ["s": "gallery/index.html"])
        for n in d.nodes { XCTAssertTrue(dot.contains("  \(n.id) ["), n.id) }
        for e in d.edges { XCTAssertTrue(dot.contains("  \(e.from) -> \(e.to) ["), "\(e.from)->\(e.to)") }
        try checkSVG(LayeredLayout.svg(d, links: ["s": "gallery/index.html"]), d, edges, layout: "built-in")
        guard let dotPath = Graphviz.dotPath() else {
            throw XCTSkip("Graphviz 'dot' is not installed (apt-get install -y graphviz); its layout is not checked")
        }
        try checkSVG(try Graphviz.svg(fromDOT: dot, dot: dotPath), d, edges, layout: "dot")
        XCTAssertThrowsError(try Graphviz.svg(fromDOT: "digraph {", dot: dotPath)) { XCTAssertFalse(($0 as? DiagramError)?.isMissingTool ?? true) }
        XCTAssertThrowsError(try Graphviz.svg(fromDOT: dot, dot: nil)) { XCTAssertEqual($0 as? DiagramError, .dotMissing) }
    }

    /// Both layouts write each node and edge as a `<g>` whose `<title>` is its id or "from->to" (escaped).
    func checkSVG(_ svg: String, _ d: NetworkDiagram, _ edges: Set<String>, layout: String) throws {
        let titles = Set(svg.components(separatedBy: "<title>").dropFirst().compactMap { $0.components(separatedBy: "</title>").first }
            .map { $0.replacingOccurrences(of: "&#45;", with: "-").replacingOccurrences(of: "&gt;", with: ">") })
        for n in d.nodes { XCTAssertTrue(titles.contains(n.id), "\(layout): node \(n.id) in the SVG") }
        for e in edges { XCTAssertTrue(titles.contains(e), "\(layout): edge \(e) in the SVG") }
        XCTAssertEqual(svg.components(separatedBy: "class=\"node\"").count - 1, d.nodes.count, layout)
        XCTAssertTrue(svg.contains("xlink:href=\"gallery/index.html\""), "\(layout): the linked layer")
        XCTAssertTrue(svg.contains(">1×4×6×6<"), "\(layout): the Concat's output shape")
    }
}
