import XCTest
import Foundation
import AtlasCore
import AtlasTestSupport

final class ActivationTests: XCTestCase {
    /// (layer, double-precision reference, kinks to keep inputs away from, input range).
    let cases: [(Layer, (Double) -> Double, [Float], ClosedRange<Float>)] = [
        (Relu(), { max($0, 0) }, [0], -2...2),
        (LeakyRelu(alpha: 0.1), { $0 < 0 ? 0.1 * $0 : $0 }, [0], -2...2),
        (Clip(min: -0.5, max: 0.75), { min(max($0, -0.5), 0.75) }, [-0.5, 0.75], -2...2),
        (Sigmoid(), { 1 / (1 + Foundation.exp(-$0)) }, [], -6...6),
        (SiLU(), { $0 / (1 + Foundation.exp(-$0)) }, [], -6...6),
        (Tanh(), { Foundation.tanh($0) }, [], -3...3),
        (HardSigmoid(alpha: 0.2, beta: 0.5), { min(1, max(0, 0.2 * $0 + 0.5)) }, [-2.5, 2.5], -4...4),
        (HardSwish(), { $0 * min(1, max(0, $0 / 6 + 0.5)) }, [-3, 3], -5...5),
        (Elu(alpha: 1.3), { $0 >= 0 ? $0 : 1.3 * (Foundation.exp($0) - 1) }, [0], -3...2),
        (Exp(), { Foundation.exp($0) }, [], -3...3),
        (Sqrt(), { $0.squareRoot() }, [], 0.3...4),
        (Neg(), { -$0 }, [], -2...2),
    ]

    func testForwardMatchesScalarReference() throws {
        for (k, (layer, ref, kinks, range)) in cases.enumerated() {
            // 3·5·69 = 1035 elements: full vectors plus a tail, across several chunks of one range.
            let x = LT.away([3, 5, 69], in: range, seed: UInt64(k), kinks: kinks)
            let y = try LT.run(layer, [x])
            let expected = x.toArray().map { Float(ref(Double($0))) }
            LT.assertClose(y, expected, tol: 2e-6, layer.name)
        }
    }

    func testBackwardMatchesFiniteDifferences() {
        for (k, (layer, _, kinks, range)) in cases.enumerated() {
            let x = LT.away([2, 3, 5, 7], in: range, seed: UInt64(100 + k), kinks: kinks)
            LT.assertGradient(layer, [x])
        }
    }

    func testBackwardReadsOnlyWhatItDeclares() {
        // A value an activation says its gradient does not read may be absent in a traced run: give NaN there
        // instead and the gradient must keep its bits. SiLU is here too (its load-time pass makes it).
        let layers: [any ElementwiseLayer] = cases.compactMap { $0.0 as? any ElementwiseLayer } + [SiLU()]
        for layer in layers {
            let x = TestData.uniform([3, 5, 69], in: 0.2...2, seed: 3), y = layer.forward([x])
            let g = TestData.uniform(y.shape, seed: 4)
            let nan = Tensor(shape: x.shape, repeating: .nan)
            let full = layer.backward([x], output: y, gradOutput: g, needsGrad: [true])[0]!
            let partial = layer.backward([layer.backwardReads.contains(.inputs) ? x : nan],
                                         output: layer.backwardReads.contains(.output) ? y : nan,
                                         gradOutput: g, needsGrad: [true])[0]!
            XCTAssertEqual(partial.toArray().map(\.bitPattern), full.toArray().map(\.bitPattern), layer.name)
        }
        XCTAssertEqual(SiLU().backwardReads, .inputs)
        XCTAssertEqual(Sigmoid().backwardReads, .output)
    }

    /// SiLU's 16-lane C kernels (where the CPU has AVX-512) give the portable 8-lane path's bits: forward, in place and
    /// input gradient, over a tail and the exponential's clamps, infinities, zeros of both signs and NaN (a NaN is
    /// compared as NaN: which operand's NaN an instruction passes on, and so its sign, is not part of the result).
    func testSiLUKernelsMatchPortablePath() throws {
        guard GEMMKernel.avx512.isAvailable else { throw XCTSkip("no AVX-512") }
        let edges: [Float] = [-100, 100, 0, -0.0, .infinity, -.infinity, .nan, 88.5, -88.5, 87.4, -87.4, 1e-30, -1e-30]
        let x = Tensor(shape: [1035 + edges.count], values: TestData.uniform([1035], in: -9...9, seed: 11).toArray() + edges)
        let g = TestData.uniform(x.shape, seed: 12)
        func run(_ k: GEMMKernel) -> ([UInt32], [UInt32], [UInt32]) {
            GEMM.withKernel(k) {
                let y = SiLU().forward([x]), inPlace = x.copy()
                SiLU().applyInPlace(inPlace.data, count: inPlace.count)
                let gx = SiLU().backward([x], output: y, gradOutput: g, needsGrad: [true])[0]!
                func bits(_ t: Tensor) -> [UInt32] { t.toArray().map { $0.isNaN ? Float.nan.bitPattern : $0.bitPattern } }
                return (bits(y), bits(inPlace), bits(gx))
            }
        }
        let (portable, avx512) = (run(.avx2), run(.avx512))
        XCTAssertEqual(portable.0, avx512.0)
        XCTAssertEqual(portable.1, avx512.1)
        XCTAssertEqual(portable.0, portable.1)
        XCTAssertEqual(portable.2, avx512.2)
    }

    func testLargeTensorUsesEveryChunk() throws {
        // 100_003 elements spans several parallel chunks with an odd tail.
        let x = TestData.uniform([100_003], in: -3...3, seed: 9)
        let y = try LT.run(Relu(), [x])
        for i in stride(from: 0, to: x.count, by: 997) { XCTAssertEqual(y.data[i], max(x.data[i], 0)) }
        XCTAssertEqual(y.data[x.count - 1], max(x.data[x.count - 1], 0))
        let g = TestData.uniform([100_003], seed: 10)
        let gx = Sigmoid().backward([x], output: Sigmoid().forward([x]), gradOutput: g, needsGrad: [true])[0]!
        let i = x.count - 3
        let s = 1 / (1 + Foundation.exp(-Double(x.data[i])))
        XCTAssertEqual(Double(gx.data[i]), Double(g.data[i]) * s * (1 - s), accuracy: 1e-6)
    }

    func testEdgeValues() {
        let x = Tensor(shape: [6], values: [-100, 100, 0, -0.0, Float.infinity, -Float.infinity])
        XCTAssertEqual(Sigmoid().forward([x]).toArray(), [0, 1, 0.5, 0.5, 1, 0])
        XCTAssertEqual(Tanh().forward([x]).toArray(), [-1, 1, 0, 0, 1, -1])
        XCTAssertEqual(Relu().forward([x]).toArray(), [0, 100, 0, 0, .infinity, 0])
        XCTAssertEqual(Clip(min: -1, max: 2).forward([x]).toArray(), [-1, 2, 0, 0, 2, -1])
    }

    func testNoGradientWhenNotRequested() {
        let x = TestData.uniform([4], seed: 1)
        XCTAssertNil(Relu().backward([x], output: x, gradOutput: x, needsGrad: [false])[0])
    }

    func testWrongInputCountIsAShapeError() {
        LT.assertThrows(Relu(), [[2], [2]], "expects 1 input")
        LT.assertThrows(Sigmoid(), [], "expects 1 input")
    }
}
