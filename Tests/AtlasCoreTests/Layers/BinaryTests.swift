import XCTest
import Foundation
import AtlasCore
import AtlasTestSupport

final class BinaryTests: XCTestCase {
    let shapePairs: [([Int], [Int])] = [
        ([2, 3, 4, 5], [2, 3, 4, 5]),
        ([2, 3, 4, 5], [1, 3, 1, 1]),
        ([1, 3, 1, 1], [2, 3, 4, 5]),
        ([2, 3, 4, 5], [5]),
        ([3, 1, 5], [2, 1, 4, 1]),
        ([], [2, 3]),
        ([2, 3, 17], [1]),
        ([4, 1], [1, 9]),
        ([2, 1, 3, 1, 2, 1], [1, 2, 1, 3, 1, 2]),
        ([2, 3, 1, 11], [3, 7, 1]),
    ]

    let ops: [(Layer, (Double, Double) -> Double)] = [
        (Add(), { $0 + $1 }), (Sub(), { $0 - $1 }), (Mul(), { $0 * $1 }), (Div(), { $0 / $1 }),
        (Pow(), { Foundation.pow($0, $1) }),
    ]

    /// Naive broadcast: each output multi-index read through right-aligned, size-1-clamped input indices.
    func reference(_ a: Tensor, _ b: Tensor, _ f: (Double, Double) -> Double) -> (shape: [Int], values: [Float]) {
        let r = max(a.rank, b.rank)
        let pa = [Int](repeating: 1, count: r - a.rank) + a.shape, pb = [Int](repeating: 1, count: r - b.rank) + b.shape
        let out = zip(pa, pb).map { max($0, $1) }
        let values = LT.indices(out).map { idx -> Float in
            let ia = zip(idx, pa).map { $1 == 1 ? 0 : $0 }, ib = zip(idx, pb).map { $1 == 1 ? 0 : $0 }
            return Float(f(Double(a.data[LT.flat(ia, pa)]), Double(b.data[LT.flat(ib, pb)])))
        }
        return (out, values)
    }

    func inputs(_ sa: [Int], _ sb: [Int], seed: UInt64) -> [Tensor] {
        // Positive, away-from-zero operands keep Div and Pow well conditioned.
        [TestData.uniform(sa, in: 0.5...2, seed: seed), TestData.uniform(sb, in: 0.5...2, seed: seed + 1)]
    }

    func testForwardMatchesNaiveBroadcast() throws {
        for (layer, f) in ops {
            for (k, (sa, sb)) in shapePairs.enumerated() {
                let x = inputs(sa, sb, seed: UInt64(k * 10))
                let y = try LT.run(layer, x)
                let (shape, values) = reference(x[0], x[1], f)
                XCTAssertEqual(y.shape, shape)
                LT.assertClose(y, values, tol: 2e-6, "\(layer.name) \(sa) \(sb)")
            }
        }
    }

    func testBackwardMatchesFiniteDifferencesForBothInputs() {
        for (layer, _) in ops {
            for (k, (sa, sb)) in shapePairs.enumerated() {
                let x = inputs(sa, sb, seed: UInt64(k * 10 + 3))
                LT.assertGradient(layer, x, wrt: 0, "\(sa) \(sb) wrt A")
                LT.assertGradient(layer, x, wrt: 1, "\(sa) \(sb) wrt B")
            }
        }
    }

    func testGradientsOnlyForRequestedInputs() {
        let x = inputs([2, 3], [3], seed: 1)
        let y = Mul().forward(x)
        let g = Mul().backward(x, output: y, gradOutput: y, needsGrad: [false, true])
        XCTAssertNil(g[0])
        XCTAssertEqual(g[1]?.shape, [3])
    }

    func testLargeBiasGradientSumsPerChannel() {
        // [4, 64, 33, 31] + [1, 64, 1, 1]: the bias gradient is the per-channel sum of g.
        let a = Tensor(zeros: [4, 64, 33, 31]), b = Tensor(zeros: [1, 64, 1, 1])
        let g = TestData.uniform(a.shape, seed: 4)
        let gb = Add().backward([a, b], output: g, gradOutput: g, needsGrad: [false, true])[1]!
        for c in [0, 17, 63] {
            var s = 0.0
            for n in 0..<4 { for i in 0..<(33 * 31) { s += Double(g.data[(n * 64 + c) * 33 * 31 + i]) } }
            XCTAssertEqual(Double(gb.data[c]), s, accuracy: 1e-3)
        }
        let ga = Sub().backward([b, a], output: g, gradOutput: g, needsGrad: [false, true])[1]!
        XCTAssertEqual(ga.data[12345], -g.data[12345])
    }

    func testPlaneScaleGradientsHaveTheBitsOfTheGeneralPath() {
        // Mul's one-pass gradients for a per-plane scale (squeeze-and-excitation) against the broadcasting path,
        // either operand order, a partial request, and a whole-tensor scalar; finite differences for the values.
        let bits = { (t: Tensor?) in t?.toArray().map(\.bitPattern) ?? [] }
        for (sx, ss, need) in [([3, 20, 7, 9], [3, 20, 1, 1], [true, true]), ([2, 5, 33], [2, 5, 1], [false, true]),
                               ([2, 6, 4, 4], [1, 1, 1, 1], [true, true]), ([4, 3, 5, 5], [4, 3, 5, 1], [true, false])] {
            for swap in [false, true] {
                let x = TestData.uniform(sx, in: -2...2, seed: 5), s = TestData.uniform(ss, in: -2...2, seed: 6)
                let ins = swap ? [s, x] : [x, s], needs = swap ? need.reversed() : need
                XCTAssertNotNil(Mul.planeScale(ins), "\(sx) \(ss)")
                let y = Mul().forward(ins), g = TestData.uniform(y.shape, seed: 7)
                let fast = Mul().backward(ins, output: y, gradOutput: g, needsGrad: needs)
                let general = BinaryKernel<MulRule>.backward(ins, output: y, gradOutput: g, needsGrad: needs)
                XCTAssertEqual(bits(fast[0]), bits(general[0]), "\(sx) \(ss) swap \(swap)")
                XCTAssertEqual(bits(fast[1]), bits(general[1]), "\(sx) \(ss) swap \(swap)")
                for k in 0..<2 where needs[k] { LT.assertGradient(Mul(), ins, wrt: k, "\(sx) \(ss) wrt \(k)") }
            }
        }
        // Mul's gradients read its inputs only: a traced run hands it a shape-only stand-in for the product.
        let ab = [TestData.uniform([3, 4, 9], seed: 8), TestData.uniform([4, 1], seed: 9)]
        let y = Mul().forward(ab), g = TestData.uniform(y.shape, seed: 10)
        XCTAssertEqual(Mul().backwardReads, .inputs)
        let stand = Mul().backward(ab, output: Tensor(placeholder: y.shape), gradOutput: g, needsGrad: [true, true])
        let real = Mul().backward(ab, output: y, gradOutput: g, needsGrad: [true, true])
        for k in 0..<2 { XCTAssertEqual(bits(stand[k]), bits(real[k])) }
        // Not plane scales: a broadcast leading dimension, and a scale along the last axis.
        XCTAssertNil(Mul.planeScale([Tensor(zeros: [2, 3, 4]), Tensor(zeros: [1, 3, 1])]))
        XCTAssertNil(Mul.planeScale([Tensor(zeros: [2, 3, 4]), Tensor(zeros: [1, 1, 4])]))
        XCTAssertNil(Mul.planeScale([Tensor(zeros: [2, 3, 4]), Tensor(zeros: [2, 3, 4])]))
    }

    func testShapeErrors() {
        LT.assertThrows(Add(), [[2, 3], [4]], "not broadcastable")
        LT.assertThrows(Mul(), [[2, 3, 4], [2, 2, 1]], "not broadcastable")
        LT.assertThrows(Add(), [[2, 3]], "expects 2 inputs")
        LT.assertThrows(Div(), [[1, 1, 1, 1, 1, 1, 2], [2]], "rank above 6")
    }

    func testBroadcastHelpers() throws {
        XCTAssertEqual(try Broadcast.shape([8, 1, 6, 1], [7, 1, 5]), [8, 7, 6, 5])
        let t = LT.arange([2, 3])
        XCTAssertEqual(Broadcast.reduce(t, to: [3]).toArray(), [5, 7, 9])
        XCTAssertEqual(Broadcast.reduce(t, to: [2, 1]).toArray(), [6, 15])
        XCTAssertEqual(Broadcast.reduce(t, to: []).toArray(), [21])
        XCTAssertEqual(Broadcast.expand(Tensor(shape: [2, 1], values: [1, 2]), to: [2, 3]).toArray(), [1, 1, 1, 2, 2, 2])
    }
}
