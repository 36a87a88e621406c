import AtlasCore
import AtlasNet
import AtlasTestSupport
import Foundation
import XCTest

/// The backward walk keeps a contiguous Gather's gradient as its run (`Network.keepsGradientRuns`): the results must
/// have the bits of the plain sum of zero-padded gradients, signed zeros included.
final class GradientRunTests: XCTestCase {
    /// x [1, 3, 2, 5] → m = 2·x → Gather(axis 1) of `indices` (one output per index), plus `dense` extra outputs that
    /// read m whole (Neg), so runs meet full-size gradients.
    func split(_ indices: [Int], dense: Bool = false) throws -> Network {
        var b = ModelBuilder()
        b.input("x", [1, 3, 2, 5])
        b.floats("two", [], [2])
        b.node("Mul", ["x", "two"], ["m"])
        for (k, i) in indices.enumerated() {
            b.ints("i\(k)", [], [Int64(i)])
            b.node("Gather", ["m", "i\(k)"], ["g\(k)"], [ModelBuilder.intAttr("axis", 1)])
            b.output("g\(k)")
        }
        if dense {
            b.node("Neg", ["m"], ["n"])
            b.output("n")
        }
        return try Network(model: try b.read())
    }

    /// A seed with negative zeros, positive zeros and ordinary values.
    func seed(_ shape: [Int], _ salt: Int) -> Tensor {
        let values = (0..<Tensor.elementCount(shape)).map { i -> Float in
            switch (i + salt) % 4 {
            case 0: return -0.0
            case 1: return 0
            default: return Float((i * 7 + salt * 3) % 11) / 11 - 0.5
            }
        }
        return Tensor(shape: shape, values: values)
    }

    func gradient(_ net: Network, seeds: [String: Tensor], runs: Bool) throws -> [UInt32] {
        let saved = Network.keepsGradientRuns
        Network.keepsGradientRuns = runs
        defer { Network.keepsGradientRuns = saved }
        let x = TestData.uniform([1, 3, 2, 5], seed: 5)
        _ = try net.forward(x, capture: Set(seeds.keys), keepForBackward: true)
        return try net.backward(from: seeds).toArray().map(\.bitPattern)
    }

    func testRunsGiveTheBitsOfTheZeroPaddedSum() throws {
        let cases: [(indices: [Int], dense: Bool, used: [Int])] = [
            ([0, 1, 2], false, [0, 1, 2]),   // the q, k, v split: disjoint runs covering the value
            ([2, 0], false, [0, 1]),         // a gap left as zeros
            ([1, 0, 2], false, [1]),         // one run reaches the value: copied, −0 kept
            ([1, 1, 0], false, [0, 1, 2]),   // overlapping runs: summed densely
            ([0, 2], true, [0, 1]),          // runs and a full-size gradient
        ]
        for c in cases {
            let net = try split(c.indices, dense: c.dense)
            var seeds: [String: Tensor] = [:]
            for k in c.used { seeds["g\(k)"] = seed([1, 2, 5], k) }
            if c.dense { seeds["n"] = seed([1, 3, 2, 5], 7) }
            let kept = try gradient(net, seeds: seeds, runs: true), plain = try gradient(net, seeds: seeds, runs: false)
            XCTAssertEqual(kept, plain, "\(c)")
            // Against the sum written out: the zero-padded contributions to m in arrival order (backward walks the
            // steps in reverse: Neg's first, then the last Gather's), added one by one, then Mul's factor 2.
            var contributions: [[Float]] = []
            if let n = seeds["n"]?.toArray() { contributions.append(n.map { -$0 }) }
            for k in c.used.reversed() {
                var padded = [Float](repeating: 0, count: 30)
                let s = seeds["g\(k)"]!.toArray()
                for e in 0..<10 { padded[c.indices[k] * 10 + e] = s[e] }
                contributions.append(padded)
            }
            let expected = contributions.dropFirst().reduce(contributions[0]) { acc, r in zip(acc, r).map { $0 + $1 } }
                .map { 2 * $0 }
            let reached = (0..<30).map { e in c.used.contains { (c.indices[$0] * 10..<c.indices[$0] * 10 + 10).contains(e) } }
            XCTAssertEqual(kept, expected.map(\.bitPattern), "\(c)")
            if c.used.count == 1 {
                XCTAssertTrue(zip(kept, reached).contains { $0 == (-0.0 as Float).bitPattern && $1 }, "a kept −0")
            } else if !c.dense {
                XCTAssertFalse(kept.contains((-0.0 as Float).bitPattern), "\(c): sums turn −0 into +0")
            }
        }
    }

    /// The small ViT fixture (its q, k, v split is three Gathers of one tensor): the same input gradient bit for bit.
    func testViTGradientIsThePlainSum() throws {
        let e = try XCTUnwrap(try FixtureTests.manifest(TransformerTests.dir).first { $0.name == "vit" })
        let net = try Network(contentsOf: e.path("model")!)
        let input = try NPY.read(path: e.path("input")!)
        let act = try XCTUnwrap((e.json["activation"] as? [String: Any])?["onnx_value"] as? String)
        func run(_ runs: Bool) throws -> [UInt32] {
            let saved = Network.keepsGradientRuns
            Network.keepsGradientRuns = runs
            defer { Network.keepsGradientRuns = saved }
            let v = try net.forward(input, capture: [act], keepForBackward: true)[act]!
            return try net.backward(from: [act: TransformerTests.channelSeed(like: v, axis: 1, channel: 0)])
                .toArray().map(\.bitPattern)
        }
        XCTAssertEqual(try run(true), try run(false))
        XCTAssertTrue(net.stats.layers.contains { $0.op == "Gather" }, "the fixture must have Gathers")
    }
}
