import AtlasCore
import AtlasNet
import AtlasTestSupport
import Foundation
import XCTest

final class NetworkTests: XCTestCase {
    /// x → Conv(3×3, pad 1) → Relu → Mul(constant) + Relu → MaxPool → Flatten → Softmax: fan-out (the Relu output
    /// feeds two consumers), a constant operand, and exporter-style module names.
    func smallNet() throws -> Network {
        var b = ModelBuilder()
        b.input("x", [nil, 2, 6, 6])
        b.floats("w", [3, 2, 3, 3], (0..<54).map { Float(($0 * 37) % 17) / 17 - 0.45 })
        b.floats("bias", [3], [0.1, -0.2, 0.05])
        b.floats("k", [1, 3, 1, 1], [1.5, -0.5, 2])
        b.node("Conv", ["x", "w", "bias"], ["/block/conv/Conv_output_0"], name: "/block/conv/Conv",
               [ModelBuilder.intsAttr("pads", [1, 1, 1, 1])])
        b.node("Relu", ["/block/conv/Conv_output_0"], ["/block/relu/Relu_output_0"], name: "/block/relu/Relu")
        b.node("Mul", ["/block/relu/Relu_output_0", "k"], ["/block/Mul_output_0"], name: "/block/Mul")
        b.node("Add", ["/block/Mul_output_0", "/block/relu/Relu_output_0"], ["/block/Add_output_0"], name: "/block/Add")
        b.node("MaxPool", ["/block/Add_output_0"], ["/pool/MaxPool_output_0"], name: "/pool/MaxPool",
               [ModelBuilder.intsAttr("kernel_shape", [2, 2]), ModelBuilder.intsAttr("strides", [2, 2])])
        b.node("Flatten", ["/pool/MaxPool_output_0"], ["flat"])
        b.node("Softmax", ["flat"], ["y"], [ModelBuilder.intAttr("axis", 1)])
        b.output("y")
        return try Network(model: try b.read())
    }

    func testForwardRunsOnlyWhatTheRequestNeeds() throws {
        let net = try smallNet()
        let x = TestData.uniform([2, 2, 6, 6], seed: 1)
        let out = try net.forward(x, capture: ["block.relu"])
        XCTAssertEqual(out["block.relu"]?.shape, [2, 3, 6, 6])
        XCTAssertEqual(Set(net.stats.layers.map(\.op)), ["Conv", "Relu"])
        let all = try net.forward(x)
        XCTAssertEqual(all["y"]?.shape, [2, 27])
        let sums = (0..<2).map { n in (0..<27).map { all["y"]![n, $0] }.reduce(0, +) }
        XCTAssertEqual(sums[0], 1, accuracy: 1e-5)
        XCTAssertEqual(Set(net.stats.layers.map(\.op)), ["Conv", "Relu", "Mul", "Add", "MaxPool", "Flatten", "Softmax"])
        // Aliases and value names give the same tensor.
        let a = try net.forward(x, capture: ["block", "/block/Add_output_0"])
        XCTAssertEqual(a["block"]?.toArray(), a["/block/Add_output_0"]?.toArray())
        XCTAssertThrowsError(try net.forward(x, capture: ["nope"])) { error in
            XCTAssertEqual(error as? ModelError, .unknownLayer("nope"))
        }
    }

    /// Conv → Relu runs fused when only the Relu's value is wanted, and gives the same bits as the unfused pair
    /// (the Conv's own value captured too, which stops the fusion); backward through it stays exact.
    func testConvReluFusionGivesTheSameValues() throws {
        let net = try smallNet()
        let x = TestData.uniform([2, 2, 6, 6], seed: 3)
        let fused = try net.forward(x, capture: ["block.relu"])["block.relu"]!
        XCTAssertEqual(net.stats.layers.map(\.calls), [1, 1])
        let both = try net.forward(x, capture: ["block.relu", "/block/conv/Conv_output_0"])
        XCTAssertEqual(fused.toArray().map(\.bitPattern), both["block.relu"]!.toArray().map(\.bitPattern))
        let conv = both["/block/conv/Conv_output_0"]!
        XCTAssertEqual(fused.toArray(), conv.toArray().map { max($0, 0) })
        XCTAssertTrue(conv.toArray().contains { $0 < 0 }, "the test must exercise the ReLU")
    }

    /// Conv → Add → Relu (a residual block's end) runs as one fused pass, bit-identical to the separate steps, and
    /// stays fused in runs kept for backward (Conv's and Add's backward read no values) with the same input gradient.
    func testAddReluFusionGivesTheSameValuesAndGradient() throws {
        var b = ModelBuilder()
        b.input("x", [nil, 2, 4, 4])
        b.floats("w", [2, 2, 1, 1], [0.6, -0.9, 0.3, 0.4])
        b.node("Conv", ["x", "w"], ["c"])
        b.node("Add", ["c", "x"], ["s"])
        b.node("Relu", ["s"], ["y"])
        b.output("y")
        let net = try Network(model: try b.read())
        let x = TestData.uniform([2, 2, 4, 4], seed: 21)
        let fused = try net.forward(x, capture: ["y"])["y"]!
        let both = try net.forward(x, capture: ["y", "s"])
        XCTAssertEqual(fused.toArray().map(\.bitPattern), both["y"]!.toArray().map(\.bitPattern))
        XCTAssertEqual(fused.toArray(), both["s"]!.toArray().map { max($0, 0) })
        XCTAssertTrue(both["s"]!.toArray().contains { $0 < 0 }, "the test must exercise the ReLU")
        // The Conv adds the residual and applies the Relu itself (Add and Relu did no work of their own), with the bits
        // of three separate steps (the Conv's value captured, which turns every fusion off).
        func seconds(_ capture: Set<String>) throws -> (y: Tensor, byOp: [String: Double]) {
            net.resetStats()
            let y = try net.forward(x, capture: capture)["y"]!
            return (y, Dictionary(uniqueKeysWithValues: net.stats.layers.map { ($0.op, $0.forwardSeconds) }))
        }
        let fusedRun = try seconds(["y"]), sumRun = try seconds(["y", "s"]), separate = try seconds(["y", "c"])
        XCTAssertEqual(fusedRun.byOp["Add"], 0)
        XCTAssertEqual(fusedRun.byOp["Relu"], 0)
        XCTAssertEqual(sumRun.byOp["Add"], 0, "with the sum captured, the Conv still adds the residual…")
        XCTAssertGreaterThan(sumRun.byOp["Relu"] ?? 0, 0, "…and the Relu runs on its own")
        XCTAssertGreaterThan(separate.byOp["Add"] ?? 0, 0)
        XCTAssertEqual(fused.toArray().map(\.bitPattern), separate.y.toArray().map(\.bitPattern))
        let seed = TestData.uniform(fused.shape, seed: 22)
        _ = try net.forward(x, capture: ["y"], keepForBackward: true)
        XCTAssertThrowsError(try net.backward(from: ["y": seed], at: ["s"], keepForward: true), "the Add output is never kept")
        let g1 = try net.backward(from: ["y": seed])
        _ = try net.forward(x, capture: ["y", "s"], keepForBackward: true)
        let g2 = try net.backward(from: ["y": seed])
        XCTAssertEqual(g1.toArray().map(\.bitPattern), g2.toArray().map(\.bitPattern))
    }

    /// A forward kept for backward holds only what backward reads: Relu's backward reads its output and Conv's
    /// none, so Conv → Relu stays fused, the pre-ReLU value is never kept, and the gradient equals an unfused run's
    /// (the Conv output captured, which turns the fusion off) bit for bit.
    func testConvReluStaysFusedInRunsKeptForBackward() throws {
        let net = try smallNet()
        let x = TestData.uniform([2, 2, 6, 6], seed: 9)
        let fusedOut = try net.forward(x, capture: ["pool"], keepForBackward: true)
        let seed = TestData.uniform(fusedOut["pool"]!.shape, seed: 10)
        XCTAssertThrowsError(try net.backward(from: ["pool": seed], at: ["/block/conv/Conv_output_0"], keepForward: true))
        let fused = try net.backward(from: ["pool": seed])
        _ = try net.forward(x, capture: ["pool", "/block/conv/Conv_output_0"], keepForBackward: true)
        let unfused = try net.backward(from: ["pool": seed])
        XCTAssertEqual(fused.toArray().map(\.bitPattern), unfused.toArray().map(\.bitPattern))
        XCTAssertTrue(fused.toArray().contains { $0 != 0 })
    }

    /// Two conv branches joined by a channel Concat ("cat": channels 0–2 from branch a, 3–4 from b), then a Relu.
    func branchNet() throws -> Network {
        var b = ModelBuilder()
        b.input("x", [nil, 2, 5, 5])
        b.floats("wa", [3, 2, 3, 3], (0..<54).map { Float(($0 * 29) % 13) / 13 - 0.5 })
        b.floats("wb", [2, 2, 1, 1], [0.7, -0.3, 0.2, 0.9])
        b.node("Conv", ["x", "wa"], ["a"], [ModelBuilder.intsAttr("pads", [1, 1, 1, 1])])
        b.node("Conv", ["x", "wb"], ["b"])
        b.node("Concat", ["a", "b"], ["cat"], [ModelBuilder.intAttr("axis", 1)])
        b.node("Relu", ["cat"], ["y"])
        b.output("y")
        return try Network(model: try b.read())
    }

    /// Channels the caller reads of a Concat prune the branches that produce none of them: branch b never runs,
    /// its channels read as zeros, and the read channels and the input gradient equal the unpruned run's bit for bit.
    func testConcatBranchesNobodyReadsAreSkipped() throws {
        let net = try branchNet()
        let x = TestData.uniform([2, 2, 5, 5], seed: 11)
        let full = try net.forward(x, capture: ["cat"], keepForBackward: true)["cat"]!
        let seed = Tensor(zeros: full.shape)
        for n in 0..<2 { for i in 0..<25 { seed.data[(n * 5 + 1) * 25 + i] = Float(i % 7) - 3 } }   // channel 1 only
        let fullGrad = try net.backward(from: ["cat": seed])
        net.resetStats()
        let pruned = try net.forward(x, capture: ["cat"], keepForBackward: true, channels: ["cat": [1]])["cat"]!
        XCTAssertEqual(net.stats.layers.filter { $0.op == "Conv" }.count, 1, "branch b must not run")
        let prunedGrad = try net.backward(from: ["cat": seed])
        for n in 0..<2 {
            for c in 0..<5 {
                for i in 0..<25 {
                    let at = (n * 5 + c) * 25 + i
                    XCTAssertEqual(pruned.data[at].bitPattern, c < 3 ? full.data[at].bitPattern : 0)
                }
            }
        }
        XCTAssertEqual(prunedGrad.toArray().map(\.bitPattern), fullGrad.toArray().map(\.bitPattern))
        XCTAssertTrue(prunedGrad.toArray().contains { $0 != 0 })
        // When a later step reads the Concat (here the Relu, captured too), nothing is pruned.
        net.resetStats()
        let both = try net.forward(x, capture: ["cat", "y"], channels: ["cat": [1]])
        XCTAssertEqual(net.stats.layers.filter { $0.op == "Conv" }.count, 2)
        XCTAssertEqual(both["cat"]!.toArray(), full.toArray())
    }

    /// Gradient of Σ R·value for two captured values at once, against central differences in double.
    func testBackwardMatchesFiniteDifferences() throws {
        let net = try smallNet()
        let x = TestData.uniform([2, 2, 6, 6], seed: 2)
        let names = ["block", "pool"]
        let values = try net.forward(x, capture: Set(names), keepForBackward: true)
        let seeds = Dictionary(uniqueKeysWithValues: names.enumerated().map { k, n in
            (n, TestData.uniform(values[n]!.shape, seed: 10 + UInt64(k)))
        })
        let grad = try net.backward(from: seeds)
        XCTAssertEqual(grad.shape, x.shape)
        func loss(_ input: Tensor) throws -> Double {
            let v = try net.forward(input, capture: Set(names))
            var s = 0.0
            for n in names { for i in 0..<v[n]!.count { s += Double(v[n]!.data[i]) * Double(seeds[n]!.data[i]) } }
            return s
        }
        func numeric(_ i: Int, _ eps: Float) throws -> Double {
            let p = x.copy(), m = x.copy()
            p.data[i] += eps
            m.data[i] -= eps
            return (try loss(p) - loss(m)) / Double(2 * eps)
        }
        var worst = 0.0, scale = 0.0, checked = 0
        for i in stride(from: 0, to: x.count, by: 3) {
            let coarse = try numeric(i, 4e-3), fine = try numeric(i, 2e-3)
            scale = max(scale, abs(fine))
            // Differences that change with the step straddle a ReLU kink or a max-pool switch: not comparable.
            guard abs(coarse - fine) <= 1e-3 * max(abs(fine), 1) else { continue }
            worst = max(worst, abs(fine - Double(grad.data[i])))
            checked += 1
        }
        XCTAssertGreaterThan(checked, x.count / 6)
        XCTAssertLessThan(worst, 2e-3 * max(scale, 1e-3), "max |analytic − numeric| \(worst), scale \(scale)")
        // backward consumes the forward; a forward without keepForBackward leaves nothing to go back through.
        XCTAssertThrowsError(try net.backward(from: seeds))
        _ = try net.forward(x, capture: Set(names))
        XCTAssertThrowsError(try net.backward(from: seeds))
    }

    /// Gradient at an intermediate value, by the chain rule: seeding `block` with the gradient that reached it from
    /// `pool` gives the same input gradient as seeding `pool` (every path from x to pool passes through block).
    func testBackwardToIntermediateValueChainsToInputGradient() throws {
        let net = try smallNet()
        let x = TestData.uniform([2, 2, 6, 6], seed: 3)
        let pool = try net.forward(x, capture: ["pool", "block"], keepForBackward: true)
        let seed = TestData.uniform(pool["pool"]!.shape, seed: 4)
        let at = try net.backward(from: ["pool": seed], at: ["block", "x"])
        XCTAssertEqual(at["block"]?.shape, pool["block"]!.shape)
        _ = try net.forward(x, capture: ["block"], keepForBackward: true)
        let viaBlock = try net.backward(from: ["block": at["block"]!])
        _ = try net.forward(x, capture: ["pool"], keepForBackward: true)
        let direct = try net.backward(from: ["pool": seed])
        for (a, b) in zip(viaBlock.toArray(), direct.toArray()) { XCTAssertEqual(a, b, accuracy: 1e-5) }
        for (a, b) in zip(at["x"]!.toArray(), direct.toArray()) { XCTAssertEqual(a, b, accuracy: 1e-5) }
        // Max-pool passes gradient to one position per window: a quarter of block's gradient is non-zero at most.
        XCTAssertLessThanOrEqual(at["block"]!.toArray().filter { $0 != 0 }.count, at["block"]!.count / 4)
    }

    /// `keepForward: true` leaves the forward in place: a second backward from other seeds equals a fresh run's.
    func testBackwardKeepingForwardMatchesFreshForward() throws {
        let net = try smallNet()
        let x = TestData.uniform([2, 2, 6, 6], seed: 5)
        let shape = try net.forward(x, capture: ["pool"])["pool"]!.shape
        let seedA = TestData.uniform(shape, seed: 6), seedB = TestData.uniform(shape, seed: 7)
        _ = try net.forward(x, capture: ["pool", "block"], keepForBackward: true)
        let a1 = try net.backward(from: ["pool": seedA], at: ["block"], keepForward: true)["block"]!
        let b1 = try net.backward(from: ["pool": seedB], at: ["block"])["block"]!
        XCTAssertThrowsError(try net.backward(from: ["pool": seedB], at: ["block"]))   // the last one consumed it
        _ = try net.forward(x, capture: ["pool", "block"], keepForBackward: true)
        let b2 = try net.backward(from: ["pool": seedB], at: ["block"])["block"]!
        XCTAssertEqual(b1.toArray(), b2.toArray())
        XCTAssertNotEqual(a1.toArray(), b1.toArray())
    }

    func testDeadBuffersAreFreedDuringForward() throws {
        var b = ModelBuilder()
        b.input("x", [1, 1 << 20])
        var last = "x"
        for i in 0..<12 {
            b.node(i % 2 == 0 ? "Neg" : "Relu", [last], ["v\(i)"])
            last = "v\(i)"
        }
        b.output(last)
        let net = try Network(model: try b.read())
        let x = Tensor(shape: [1, 1 << 20], repeating: 1)
        let live = MemoryStats.liveBytes
        let out = try net.forward(x)
        let perTensor = 4 << 20
        // Freed as it goes: at most input + two intermediates at any time (12 would be held without freeing).
        XCTAssertLessThanOrEqual(net.stats.peakBytes - live, 3 * perTensor)
        XCTAssertEqual(out[last]?[0, 5], 0)   // Neg then Relu: everything is 0 from v1 on
        // Capturing an early value keeps it alive without holding the rest.
        net.resetStats()
        let both = try net.forward(x, capture: ["v0", last])
        XCTAssertEqual(both["v0"]?[0, 0], -1)
        XCTAssertLessThanOrEqual(net.stats.peakBytes - live, 4 * perTensor)
    }

    func testUnsupportedOpIsReportedOnlyWhenNeeded() throws {
        var b = ModelBuilder()
        b.opset = 17
        b.input("x", [1, 4])
        b.node("Relu", ["x"], ["a"], name: "relu")
        b.node("Softplus", ["a"], ["b"], name: "head/softplus")
        b.node("Neg", ["b"], ["y"], name: "neg")
        b.output("y")
        let net = try Network(model: try b.read())
        let x = Tensor(shape: [1, 4], values: [-1, 0, 1, 2])
        XCTAssertEqual(try net.forward(x, capture: ["a"])["a"]?.toArray(), [0, 0, 1, 2])
        let expected = ModelError.unsupportedOp(op: "Softplus", node: "head/softplus", domain: "", opset: 17)
        XCTAssertThrowsError(try net.forward(x)) { XCTAssertEqual($0 as? ModelError, expected) }
        XCTAssertTrue(expected.description.contains("Softplus") && expected.description.contains("head/softplus")
                      && expected.description.contains("17"))
        let rows = try net.plan(for: [1, 4]).layers(names: net.names)
        XCTAssertEqual(rows.map(\.error), [nil, expected.description, expected.description])
    }

    func testShapeErrorsNameTheNode() throws {
        var b = ModelBuilder()
        b.input("x", [1, 3, 4, 4])
        b.ints("shape", [2], [5, -1])
        b.node("Reshape", ["x", "shape"], ["y"], name: "bad_reshape")
        b.output("y")
        let net = try Network(model: try b.read())
        XCTAssertThrowsError(try net.forward(Tensor(zeros: [1, 3, 4, 4]))) { error in
            guard case let .invalidNode(node, op, _) = error as? ModelError else { return XCTFail("\(error)") }
            XCTAssertEqual([node, op], ["bad_reshape", "Reshape"])
        }
        var c = ModelBuilder()
        c.input("x", [1, 3, 4, 4])
        c.floats("w", [2, 5, 1, 1], [Float](repeating: 1, count: 10))
        c.node("Conv", ["x", "w"], ["y"], name: "bad_conv")
        c.output("y")
        XCTAssertThrowsError(try Network(model: try c.read()).forward(Tensor(zeros: [1, 3, 4, 4]))) { error in
            guard case let .shape(node, op, _) = error as? ModelError else { return XCTFail("\(error)") }
            XCTAssertEqual([node, op], ["bad_conv", "Conv"])
        }
    }

    func testPlansFollowTheInputShapeAndListLayers() throws {
        let net = try smallNet()
        XCTAssertEqual(try net.inputShape(size: 8, batch: 3), [3, 2, 8, 8])
        let rows = try net.plan(for: [1, 2, 8, 8]).layers(names: net.names)
        let conv = try XCTUnwrap(rows.first { $0.op == "Conv" })
        XCTAssertEqual(conv.alias, "block.conv")
        XCTAssertEqual(conv.shape, [1, 3, 8, 8])
        XCTAssertEqual(conv.channels, 3)
        XCTAssertEqual(conv.parameters, 54 + 3)
        XCTAssertEqual(conv.multiplyAdds, 3 * 64 * 18)
        XCTAssertEqual(rows.last?.shape, [1, 48])
        XCTAssertEqual(try net.forward(Tensor(zeros: [3, 2, 10, 10]))["y"]?.shape, [3, 75])
    }

    func testMeanObjectiveSeeds() throws {
        var b = ModelBuilder()
        b.input("x", [1, 2])
        b.node("Relu", ["x"], ["data:0"])
        b.node("Neg", ["data:0"], ["y"])
        b.output("y")
        let names = LayerNames(graph: try b.read().graph)
        let whole = try MeanObjective(parsing: "data:0", names: names)
        XCTAssertEqual(whole.value, "data:0")
        XCTAssertNil(whole.channel)
        let one = try MeanObjective(parsing: "y:1", names: names)
        XCTAssertEqual(one.value, "y")
        XCTAssertEqual(one.channel, 1)
        XCTAssertThrowsError(try MeanObjective(parsing: "z:1", names: names))
        let seed = try MeanObjective(parsing: "y:1", names: names).seed(like: Tensor(zeros: [2, 3, 2, 2]))
        XCTAssertEqual(seed[1, 1, 0, 1], 1.0 / 8)
        XCTAssertEqual(seed[1, 0, 0, 1], 0)
        XCTAssertEqual(seed.toArray().reduce(0, +), 1, accuracy: 1e-6)
        XCTAssertThrowsError(try one.seed(like: Tensor(zeros: [2, 1])))
    }

    func testNPYRoundTripAndBadFiles() throws {
        let t = TestData.uniform([2, 3, 4], seed: 3)
        let back = try NPY.decode(NPY.encode(t))
        XCTAssertEqual(back.shape, [2, 3, 4])
        XCTAssertEqual(back.toArray(), t.toArray())
        XCTAssertEqual(NPY.encode(t).prefix(10).count, 10)
        XCTAssertEqual((NPY.encode(t).count - 4 * 24) % 64, 0, "header padded to 64 bytes")
        XCTAssertEqual(try NPY.decode(NPY.encode(Tensor(shape: [5], values: [1, 2, 3, 4, 5]))).shape, [5])
        XCTAssertThrowsError(try NPY.decode(Data("not numpy".utf8)))
        XCTAssertThrowsError(try NPY.decode(NPY.encode(t).dropLast(4)))
        var fortran = NPY.encode(t)
        let r = try XCTUnwrap(fortran.range(of: Data("False".utf8)))
        fortran.replaceSubrange(r, with: Data("True ".utf8))
        XCTAssertThrowsError(try NPY.decode(fortran))
    }
}
