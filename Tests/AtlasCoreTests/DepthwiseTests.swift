import AtlasCore
import AtlasTestSupport
import XCTest

/// Depthwise convolution (`Depthwise`, CKernels/depthwise.c): forward and input gradient against double-precision
/// references, the adjoint identity, finite differences, and bit-identity across batches and thread counts.
final class DepthwiseTests: XCTestCase {
    struct Case: CustomStringConvertible {
        var n = 1
        var c: Int
        var h: Int
        var w: Int
        var k: Int
        var stride = 1
        /// [top, left, bottom, right].
        var pads: [Int]
        var multiplier = 1
        var dilation = 1
        var bias = true

        var description: String {
            "n\(n) c\(c)×\(multiplier) \(h)×\(w) k\(k) s\(stride) pads\(pads) d\(dilation)\(bias ? "" : " no bias")"
        }

        func make(seed: UInt64) -> (Conv2D, Tensor) {
            let m = c * multiplier
            let conv = Conv2D(weight: TestData.uniform([m, 1, k, k], seed: seed),
                              bias: bias ? TestData.uniform([m], seed: seed + 1) : nil, stride: [stride, stride],
                              pads: pads, dilation: [dilation, dilation], groups: c)
            return (conv, TestData.uniform([n, c, h, w], seed: seed + 2))
        }
    }

    /// MobileNet / EfficientNet / ConvNeXt-like layers, odd sizes, tiny planes, asymmetric pads, multiplier 2,
    /// channel counts that are not multiples of 8, planes cut into several strips.
    static let cases: [Case] = [
        Case(n: 2, c: 8, h: 13, w: 13, k: 3, pads: [1, 1, 1, 1]),
        Case(c: 5, h: 7, w: 9, k: 3, stride: 2, pads: [1, 1, 1, 1]),
        Case(n: 2, c: 12, h: 13, w: 13, k: 5, pads: [2, 2, 2, 2]),
        Case(c: 9, h: 14, w: 14, k: 5, stride: 2, pads: [1, 1, 2, 2]),          // TF "same": asymmetric
        Case(c: 3, h: 7, w: 9, k: 7, pads: [3, 3, 3, 3]),                       // ConvNeXt
        Case(c: 10, h: 13, w: 11, k: 7, stride: 2, pads: [3, 2, 3, 4]),
        Case(c: 16, h: 1, w: 1, k: 3, pads: [1, 1, 1, 1]),
        Case(c: 16, h: 2, w: 2, k: 3, pads: [1, 1, 1, 1]),
        Case(c: 11, h: 2, w: 2, k: 3, stride: 2, pads: [1, 1, 1, 1]),
        Case(c: 7, h: 1, w: 1, k: 5, pads: [2, 2, 2, 2]),
        Case(c: 17, h: 4, w: 4, k: 3, pads: [0, 1, 2, 1]),
        Case(n: 2, c: 3, h: 8, w: 10, k: 3, stride: 2, pads: [1, 1, 0, 1], multiplier: 2),
        Case(c: 4, h: 9, w: 7, k: 5, pads: [2, 2, 2, 2], multiplier: 2, bias: false),
        Case(c: 6, h: 12, w: 12, k: 3, pads: [2, 2, 2, 2], dilation: 2),
        Case(c: 9, h: 45, w: 37, k: 5, stride: 2, pads: [2, 1, 1, 2]),          // several strips
        Case(c: 2, h: 40, w: 40, k: 3, pads: [1, 1, 1, 1], multiplier: 3),
        Case(c: 3, h: 6, w: 6, k: 3, pads: [4, 0, 0, 4]),                       // pads beyond the kernel
        Case(c: 8, h: 10, w: 9, k: 3, stride: 3, pads: [0, 0, 0, 0], bias: false),
        Case(c: 9, h: 150, w: 7, k: 3, pads: [1, 1, 1, 1]),                      // narrow: blocks span rows and strips
        Case(c: 5, h: 11, w: 3, k: 5, pads: [2, 1, 2, 3], multiplier: 2),
    ]

    func testForwardMatchesDoubleReference() throws {
        for (i, s) in DepthwiseTests.cases.enumerated() {
            let (conv, x) = s.make(seed: UInt64(10 * i + 1))
            let y = conv.forward([x])
            let ref = try ConvReference.forward(conv, x)
            XCTAssertEqual(y.shape, ref.shape, "\(s)")
            XCTAssertLessThan(TestData.maxRelativeError(y, ref), 1e-5, "\(s)")
            let fused = conv.forward([x], relu: true)
            XCTAssertEqual(fused.toArray().map(\.bitPattern), Relu().forward([y]).toArray().map(\.bitPattern), "\(s)")
        }
    }

    func testInputGradientMatchesDoubleReferenceAndAdjoint() throws {
        for (i, var s) in DepthwiseTests.cases.enumerated() {
            s.bias = false
            let (conv, x) = s.make(seed: UInt64(10 * i + 3))
            let y = conv.forward([x])
            let dy = TestData.uniform(y.shape, seed: UInt64(i + 77))
            let dx = conv.backward([x], output: y, gradOutput: dy, needsGrad: [true])[0]!
            XCTAssertEqual(dx.shape, x.shape, "\(s)")
            XCTAssertLessThan(TestData.maxRelativeError(dx, try ConvReference.inputGradient(conv, inputShape: x.shape, dy)),
                              1e-5, "\(s)")
            // ⟨conv(x), dy⟩ = ⟨x, convᵀ(dy)⟩ (no bias).
            var lhs = 0.0, rhs = 0.0, scale = 0.0
            for k in 0..<y.count {
                lhs += Double(y.data[k]) * Double(dy.data[k])
                scale += abs(Double(y.data[k]) * Double(dy.data[k]))
            }
            for k in 0..<x.count { rhs += Double(x.data[k]) * Double(dx.data[k]) }
            XCTAssertLessThan(abs(lhs - rhs), 1e-5 * max(1, scale), "\(s)")
        }
    }

    func testInputGradientFiniteDifferences() {
        for i in [1, 3, 5, 8, 11, 13, 16] {
            let (conv, x) = DepthwiseTests.cases[i].make(seed: UInt64(500 + i))
            let report = GradientCheck.check(conv, inputs: [x], samples: 80)
            XCTAssertLessThan(report.maxError, 1e-2, "\(DepthwiseTests.cases[i]): \(report)")
        }
    }

    /// Each image of a batch of 3 gets the same bits as alone, forward and backward.
    func testBatchInvariance() {
        for (i, one) in DepthwiseTests.cases.enumerated() where [0, 3, 6, 9, 11, 14].contains(i) {
            var s = one
            s.n = 3
            let (conv, x) = s.make(seed: UInt64(900 + i))
            let y = conv.forward([x])
            let dy = TestData.uniform(y.shape, seed: 5)
            let dx = conv.backward([x], output: y, gradOutput: dy, needsGrad: [true])[0]!
            let xs = x.count / 3, ys = y.count / 3
            for b in 0..<3 {
                let xb = Tensor(shape: [1] + x.shape.dropFirst(), values: Array(x.toArray()[b * xs ..< (b + 1) * xs]))
                let dyb = Tensor(shape: [1] + y.shape.dropFirst(), values: Array(dy.toArray()[b * ys ..< (b + 1) * ys]))
                let yb = conv.forward([xb])
                let dxb = conv.backward([xb], output: yb, gradOutput: dyb, needsGrad: [true])[0]!
                XCTAssertEqual(yb.toArray().map(\.bitPattern), y.toArray()[b * ys ..< (b + 1) * ys].map(\.bitPattern), "\(s) image \(b)")
                XCTAssertEqual(dxb.toArray().map(\.bitPattern), dx.toArray()[b * xs ..< (b + 1) * xs].map(\.bitPattern),
                               "\(s) image \(b)")
            }
        }
    }

    /// The 16-lane AVX-512 kernels (`ck_dw512_*`) give the 8-lane kernels' bits, forward (with and without a fused
    /// Relu) and input gradient: every case above, and channel counts that fill one, several or part of 16 lanes.
    func testSixteenLaneKernelsGiveTheEightLaneBits() throws {
        guard GEMMKernel.avx512.isAvailable else { throw XCTSkip("no AVX-512") }
        let wide = [Case(n: 2, c: 24, h: 15, w: 15, k: 3, stride: 2, pads: [1, 1, 1, 1]),
                    Case(c: 40, h: 9, w: 11, k: 5, pads: [2, 2, 2, 2]),
                    Case(c: 33, h: 20, w: 6, k: 3, pads: [1, 1, 1, 1], multiplier: 2),
                    Case(n: 2, c: 48, h: 7, w: 7, k: 3, stride: 2, pads: [0, 1, 1, 0], dilation: 2)]
        for (i, s) in (DepthwiseTests.cases + wide).enumerated() {
            let (conv, x) = s.make(seed: UInt64(1300 + i))
            let dy = TestData.uniform(try conv.outputShape([x.shape]), seed: UInt64(1400 + i))
            func run(_ k: GEMMKernel) -> [[UInt32]] {
                GEMM.withKernel(k) {
                    let y = conv.forward([x]), relu = conv.forward([x], activation: Relu())
                    let dx = conv.backward([x], output: y, gradOutput: dy, needsGrad: [true])[0]!
                    return [y, relu, dx].map { $0.toArray().map(\.bitPattern) }
                }
            }
            let (eight, sixteen) = (run(.avx2), run(.avx512))
            XCTAssertEqual(eight[0], sixteen[0], "forward \(s)")
            XCTAssertEqual(eight[1], sixteen[1], "forward + Relu \(s)")
            XCTAssertEqual(eight[2], sixteen[2], "input gradient \(s)")
        }
    }

    func testBitIdenticalAcrossThreadCounts() {
        let cases = [
            Case(n: 2, c: 32, h: 56, w: 56, k: 3, stride: 2, pads: [1, 1, 1, 1]),
            Case(n: 3, c: 40, h: 7, w: 7, k: 5, pads: [2, 2, 2, 2]),
            Case(n: 1, c: 20, h: 30, w: 30, k: 7, pads: [3, 3, 3, 3], multiplier: 2),
        ]
        for (i, s) in cases.enumerated() {
            let (conv, x) = s.make(seed: UInt64(700 + i))
            let dy = TestData.uniform(try! conv.outputShape([x.shape]), seed: 11)
            var results = [[UInt32]]()
            for threads in [1, 2, 3, 7] {
                Parallel.withThreads(threads) {
                    let y = conv.forward([x])
                    let dx = conv.backward([x], output: y, gradOutput: dy, needsGrad: [true])[0]!
                    results.append(y.toArray().map(\.bitPattern) + dx.toArray().map(\.bitPattern))
                }
            }
            for r in results.dropFirst() { XCTAssertEqual(r, results[0], "\(s)") }
        }
    }
}
