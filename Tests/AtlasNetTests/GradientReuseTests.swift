import AtlasCore
import AtlasNet
import AtlasTestSupport
import XCTest

/// Elementwise steps overwrite a gradient sum only when nothing else holds it (`Network.reusesGradientBuffers`):
/// the input gradient must have the bits of the walk that always writes fresh buffers, also where one buffer
/// reaches two steps (Add's backward passes its gradient to both inputs, Reshape passes it on as a view), and the
/// caller's seeds are left as they were.
final class GradientReuseTests: XCTestCase {
    /// x → a = 2·x → t = Relu(a) + Sigmoid(a) → Relu → reshape to [1, 32] → Tanh → reshape back → out = 3·(·);
    /// `hold` also reads Relu(a) (a second reader: its sum is made of two contributions).
    func network() throws -> Network {
        var b = ModelBuilder()
        b.input("x", [1, 2, 4, 4])
        b.floats("two", [], [2])
        b.floats("three", [], [3])
        b.ints("flat", [2], [1, 32])
        b.ints("square", [4], [1, 2, 4, 4])
        b.node("Mul", ["x", "two"], ["a"])
        b.node("Relu", ["a"], ["r"])
        b.node("Sigmoid", ["a"], ["s"])
        b.node("Add", ["r", "s"], ["t"])
        b.node("Relu", ["t"], ["u"])
        b.node("Reshape", ["u", "flat"], ["f"])
        b.node("Tanh", ["f"], ["v"])
        b.node("Reshape", ["v", "square"], ["w"])
        b.node("Mul", ["w", "three"], ["out"])
        b.node("Neg", ["r"], ["hold"])
        b.output("out")
        b.output("hold")
        return try Network(model: try b.read())
    }

    func gradient(_ net: Network, seeds: [String: Tensor], reuse: Bool) throws -> [UInt32] {
        let saved = Network.reusesGradientBuffers
        Network.reusesGradientBuffers = reuse
        defer { Network.reusesGradientBuffers = saved }
        let x = TestData.uniform([1, 2, 4, 4], in: -1...1, seed: 3)
        _ = try net.forward(x, capture: Set(seeds.keys), keepForBackward: true)
        return try net.backward(from: seeds).toArray().map(\.bitPattern)
    }

    func testReusedBuffersGiveTheBitsOfFreshOnes() throws {
        let net = try network()
        let seedSets: [[String: Tensor]] = [
            ["out": TestData.uniform([1, 2, 4, 4], seed: 7)],
            ["out": TestData.uniform([1, 2, 4, 4], seed: 8), "hold": TestData.uniform([1, 2, 4, 4], seed: 9)],
            ["u": TestData.uniform([1, 2, 4, 4], seed: 10)],   // a seed straight into an elementwise step
        ]
        for seeds in seedSets {
            let before = seeds.mapValues { $0.toArray().map(\.bitPattern) }
            let reused = try gradient(net, seeds: seeds, reuse: true), fresh = try gradient(net, seeds: seeds, reuse: false)
            XCTAssertEqual(reused, fresh, "\(seeds.keys.sorted())")
            XCTAssertTrue(fresh.contains { $0 != 0 }, "\(seeds.keys.sorted())")
            for (k, t) in seeds { XCTAssertEqual(t.toArray().map(\.bitPattern), before[k], "seed \(k) changed") }
        }
    }

    /// A squeeze-and-excitation block with a third reader: c = 2·x feeds Tanh, Mul(c, σ(GAP(c))) and the pooling.
    /// Walking back, Tanh's fresh gradient starts c's sum, Mul's is added into it in place and GlobalAveragePool adds
    /// its spread gradient straight into it (`AccumulatesInputGradient`): the bits of fresh sums all the same.
    func testSumsAddedInPlaceGiveTheBitsOfFreshOnes() throws {
        var b = ModelBuilder()
        b.input("x", [2, 3, 5, 5])
        b.floats("two", [], [2])
        b.node("Mul", ["x", "two"], ["c"])
        b.node("GlobalAveragePool", ["c"], ["p"])
        b.node("Sigmoid", ["p"], ["s"])
        b.node("Mul", ["c", "s"], ["m"])
        b.node("Tanh", ["c"], ["t"])
        b.node("Add", ["m", "t"], ["out"])
        b.output("out")
        let net = try Network(model: try b.read())
        func gradient(reuse: Bool) throws -> [UInt32] {
            let saved = Network.reusesGradientBuffers
            Network.reusesGradientBuffers = reuse
            defer { Network.reusesGradientBuffers = saved }
            let x = TestData.uniform([2, 3, 5, 5], in: -1...1, seed: 4)
            _ = try net.forward(x, capture: ["out"], keepForBackward: true)
            return try net.backward(from: ["out": TestData.uniform([2, 3, 5, 5], seed: 5)]).toArray().map(\.bitPattern)
        }
        let reused = try gradient(reuse: true), fresh = try gradient(reuse: false)
        XCTAssertEqual(reused, fresh)
        XCTAssertTrue(fresh.contains { $0 != 0 })
    }
}
