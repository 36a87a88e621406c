import AtlasCore
import AtlasTestSupport
import XCTest

final class ConvTests: XCTestCase {
    struct Shape {
        var n = 1
        var c: Int
        var h: Int
        var w: Int
        var m: Int
        var kh: Int
        var kw: Int
        var stride = [1, 1]
        var pads = [0, 0, 0, 0]
        var dilation = [1, 1]
        var groups = 1
        var bias = true
    }

    func make(_ s: Shape, seed: UInt64) -> (Conv2D, Tensor) {
        let weight = TestData.uniform([s.m, s.c / s.groups, s.kh, s.kw], seed: seed)
        let bias = s.bias ? TestData.uniform([s.m], seed: seed + 1) : nil
        let conv = Conv2D(weight: weight, bias: bias, stride: s.stride, pads: s.pads, dilation: s.dilation, groups: s.groups)
        return (conv, TestData.uniform([s.n, s.c, s.h, s.w], seed: seed + 2))
    }

    func reference(_ conv: Conv2D, _ x: Tensor) throws -> Tensor { try ConvReference.forward(conv, x) }

    static let shapes: [Shape] = [
        Shape(c: 3, h: 9, w: 11, m: 5, kh: 3, kw: 3, pads: [1, 1, 1, 1]),
        Shape(n: 2, c: 4, h: 13, w: 10, m: 7, kh: 3, kw: 3, stride: [2, 2], pads: [1, 0, 2, 1]),
        Shape(n: 2, c: 3, h: 17, w: 15, m: 6, kh: 7, kw: 7, stride: [2, 2], pads: [3, 3, 3, 3]),
        Shape(c: 5, h: 16, w: 14, m: 4, kh: 3, kw: 2, stride: [3, 3], pads: [0, 2, 1, 0], bias: false),
        Shape(n: 2, c: 6, h: 12, w: 12, m: 8, kh: 3, kw: 3, pads: [2, 2, 2, 2], dilation: [2, 2]),
        Shape(c: 4, h: 9, w: 8, m: 6, kh: 3, kw: 3, pads: [1, 1, 1, 1], groups: 2),
        Shape(n: 2, c: 8, h: 7, w: 9, m: 8, kh: 1, kw: 3, stride: [1, 2], pads: [0, 1, 0, 1], groups: 4),
        Shape(n: 2, c: 6, h: 10, w: 11, m: 6, kh: 3, kw: 3, pads: [1, 1, 1, 1], groups: 6),
        Shape(c: 5, h: 12, w: 9, m: 5, kh: 5, kw: 5, stride: [2, 2], pads: [2, 1, 2, 3], dilation: [1, 2], groups: 5),
        Shape(n: 2, c: 3, h: 8, w: 10, m: 6, kh: 3, kw: 3, stride: [2, 1], pads: [1, 1, 0, 1], groups: 3),  // multiplier 2
        Shape(n: 2, c: 24, h: 11, w: 13, m: 20, kh: 1, kw: 1),
        Shape(c: 8, h: 5, w: 6, m: 6, kh: 1, kw: 1, groups: 2, bias: false),
        Shape(c: 6, h: 9, w: 9, m: 4, kh: 1, kw: 1, stride: [2, 2]),
        Shape(c: 3, h: 4, w: 4, m: 2, kh: 4, kw: 4),
        Shape(n: 2, c: 16, h: 23, w: 37, m: 40, kh: 1, kw: 1),                // expansion: AVX-512 direct kernel
        Shape(c: 8, h: 60, w: 60, m: 13, kh: 1, kw: 1, bias: false),           // …over several column chunks
        Shape(n: 5, c: 70, h: 7, w: 7, m: 36, kh: 1, kw: 1),                  // small planes: images merged
        Shape(n: 3, c: 80, h: 8, w: 7, m: 20, kh: 1, kw: 1, bias: false),
        Shape(n: 3, c: 32, h: 9, w: 11, m: 64, kh: 3, kw: 3, stride: [2, 2], pads: [1, 1, 1, 1]),  // columns packed from x,
        Shape(n: 2, c: 30, h: 40, w: 37, m: 70, kh: 3, kw: 3, stride: [2, 2], pads: [1, 0, 1, 2]), // merged / per image
        Shape(n: 3, c: 260, h: 9, w: 9, m: 64, kh: 1, kw: 1, stride: [2, 2], bias: false),
        Shape(n: 3, c: 40, h: 1, w: 1, m: 12, kh: 1, kw: 1),                  // squeeze-and-excitation FC
        Shape(n: 2, c: 9, h: 1, w: 1, m: 33, kh: 1, kw: 1, bias: false),
        // Strided 1×1 layers run as pointwise ones on their subsample: into the direct kernel, unequal strides,
        // grouped; a bottom/right pad (outputs that read only padding) keeps the im2col path.
        Shape(n: 2, c: 16, h: 23, w: 37, m: 40, kh: 1, kw: 1, stride: [2, 2]),
        Shape(n: 2, c: 12, h: 10, w: 17, m: 9, kh: 1, kw: 1, stride: [1, 3]),
        Shape(n: 3, c: 8, h: 11, w: 7, m: 6, kh: 1, kw: 1, stride: [2, 2], groups: 2, bias: false),
        Shape(n: 2, c: 6, h: 8, w: 8, m: 5, kh: 1, kw: 1, stride: [2, 2], pads: [0, 0, 1, 1]),
        Shape(n: 2, c: 80, h: 17, w: 16, m: 100, kh: 1, kw: 1),               // direct kernel past 64 channels,
        Shape(n: 2, c: 100, h: 17, w: 16, m: 30, kh: 1, kw: 1),               // …reducing
        Shape(n: 2, c: 16, h: 34, w: 34, m: 16, kh: 3, kw: 3, stride: [2, 2], pads: [1, 1, 1, 1]),  // 17² im2col
        Shape(n: 3, c: 80, h: 12, w: 12, m: 90, kh: 1, kw: 1),                // direct expansion on 12²
        // Stems (≤ 4 input channels, ≥ 8 outputs, kernels from 5×5): the direct stem kernel, with partial channel
        // blocks and tiles, strides 1–3, row dilation, widths past and below one 48-column tile.
        Shape(n: 2, c: 3, h: 37, w: 45, m: 20, kh: 7, kw: 7, stride: [2, 2], pads: [3, 3, 3, 3]),
        Shape(c: 1, h: 28, w: 28, m: 16, kh: 5, kw: 5, pads: [2, 2, 2, 2]),
        Shape(n: 2, c: 3, h: 33, w: 230, m: 8, kh: 7, kw: 7, stride: [2, 2], pads: [0, 3, 1, 2], bias: false),
        Shape(c: 2, h: 20, w: 20, m: 9, kh: 5, kw: 5, pads: [4, 2, 4, 2], dilation: [2, 1]),
        Shape(c: 4, h: 30, w: 50, m: 24, kh: 5, kw: 5, stride: [3, 3], pads: [2, 2, 2, 2]),
    ]

    func testForwardMatchesNaive() throws {
        for (i, s) in ConvTests.shapes.enumerated() {
            let (conv, x) = make(s, seed: UInt64(10 * i + 1))
            let y = conv.forward([x])
            let ref = try reference(conv, x)
            XCTAssertEqual(y.shape, ref.shape, "\(s)")
            XCTAssertLessThan(TestData.maxRelativeError(y, ref), 1e-5, "\(s)")
            XCTAssertEqual(conv.multiplyAdds([x.shape]),
                           ref.count * (s.c / s.groups) * s.kh * s.kw, "\(s)")
        }
    }

    /// Packed weights live with the weights' storage: a second layer over the same constant (another plan's, at
    /// another batch) reuses them and gets the same bits; a layer over a copy packs its own.
    func testPackedWeightsSharedByLayersOverOneConstant() {
        let s = Shape(n: 2, c: 30, h: 40, w: 37, m: 70, kh: 3, kw: 3, stride: [2, 2], pads: [1, 0, 1, 2])
        let (first, x) = make(s, seed: 97)
        let y = first.forward([x])
        let window = PackedWeights.Window(offset: first.weight.offset, shape: first.weight.shape, groups: 1)
        var made = false
        _ = first.weight.storage.packedWeights(window).packs(for: GEMM.kernel) { made = true; return [] }
        XCTAssertFalse(made, "the first forward packed the weights")
        let second = Conv2D(weight: first.weight, bias: first.bias, stride: s.stride, pads: s.pads, dilation: s.dilation, groups: 1)
        XCTAssertEqual(second.forward([x.slice(batch: 1..<2).copy()]).toArray(), y.slice(batch: 1..<2).copy().toArray())
        let copy = first.weight.copy()
        _ = copy.storage.packedWeights(window).packs(for: GEMM.kernel) { made = true; return [] }
        XCTAssertTrue(made, "a copy of the weights has packings of its own")
    }

    func testLargeLayerChunksAndBatches() throws {
        // Two im2col chunks per image (Cg·kH·kW·OW·OH is above the column budget), two images (im2col forced:
        // this 3×3 layer would otherwise take the Winograd path, tested in WinogradTests).
        let s = Shape(n: 2, c: 32, h: 60, w: 60, m: 24, kh: 3, kw: 3, pads: [1, 1, 1, 1])
        let (conv, x) = make(s, seed: 5)
        XCTAssertGreaterThan(32 * 9 * 60 * 60, Conv2D.columnBudget)
        let y = Conv2D.withAlgorithm(.direct) { conv.forward([x]) }
        XCTAssertLessThan(TestData.maxRelativeError(y, try reference(conv, x)), 1e-5)
    }

    /// The fused Conv + ReLU equals a separate Relu after the Conv, bit for bit, on every forward path
    /// (im2col, pointwise, depthwise, no bias) and under every GEMM kernel.
    func testFusedReluMatchesSeparateRelu() {
        let cases = [
            Shape(n: 2, c: 5, h: 11, w: 13, m: 7, kh: 3, kw: 3, pads: [1, 1, 1, 1]),
            Shape(n: 2, c: 16, h: 9, w: 9, m: 20, kh: 1, kw: 1),
            Shape(n: 1, c: 6, h: 10, w: 10, m: 6, kh: 3, kw: 3, pads: [1, 1, 1, 1], groups: 6),
            Shape(n: 1, c: 3, h: 20, w: 20, m: 13, kh: 7, kw: 7, stride: [2, 2], pads: [3, 3, 3, 3], bias: false),
        ]
        for kernel in GEMMKernel.allCases where kernel.isAvailable {
            GEMM.withKernel(kernel) {
                for (i, s) in cases.enumerated() {
                    let (conv, x) = make(s, seed: UInt64(300 + i))
                    let separate = Relu().forward([conv.forward([x])])
                    let fused = conv.forward([x], relu: true)
                    XCTAssertEqual(fused.shape, separate.shape)
                    XCTAssertEqual(fused.toArray().map(\.bitPattern), separate.toArray().map(\.bitPattern), "\(kernel) \(s)")
                    XCTAssertTrue(fused.toArray().contains(0) && fused.toArray().contains { $0 > 0 }, "\(s)")
                }
            }
        }
    }

    /// 1×1 planes run as one product for the whole batch, and small planes (≤ 64 pixels) as products over several
    /// images: each image gets the bits it gets alone, forward (with a fused SiLU, as EfficientNet has) and backward.
    func testMergedPointwiseGivesEachImageItsBitsAlone() {
        for (h, batch) in [(1, 5), (7, 13)] {
            let (conv, x) = make(Shape(n: batch, c: 70, h: h, w: h, m: 36, kh: 1, kw: 1), seed: 41)
            let xs = 70 * h * h, ys = 36 * h * h
            let dy = TestData.uniform([batch, 36, h, h], seed: 42)
            let y = conv.forward([x], activation: SiLU())
            XCTAssertEqual(y.toArray().map(\.bitPattern), SiLU().forward([conv.forward([x])]).toArray().map(\.bitPattern))
            let dx = conv.backward([x], output: y, gradOutput: dy, needsGrad: [true])[0]!
            for n in 0..<batch {
                let xn = Tensor(shape: [1, 70, h, h], values: Array(x.toArray()[n * xs ..< (n + 1) * xs]))
                let dyn = Tensor(shape: [1, 36, h, h], values: Array(dy.toArray()[n * ys ..< (n + 1) * ys]))
                let yn = conv.forward([xn], activation: SiLU())
                let dxn = conv.backward([xn], output: yn, gradOutput: dyn, needsGrad: [true])[0]!
                XCTAssertEqual(yn.toArray().map(\.bitPattern), Array(y.toArray()[n * ys ..< (n + 1) * ys]).map(\.bitPattern), "\(h) \(n)")
                XCTAssertEqual(dxn.toArray().map(\.bitPattern), Array(dx.toArray()[n * xs ..< (n + 1) * xs]).map(\.bitPattern), "\(h) \(n)")
            }
        }
    }

    /// Convolutions whose columns are packed straight from the input (`forwardColumns`), merged across images or cut
    /// inside one, and input gradients merged across images (`gradientColumns`): each image gets the bits it gets
    /// alone, forward and backward.
    func testColumnProductsGiveEachImageItsBitsAlone() {
        let cases = [
            Shape(n: 7, c: 32, h: 9, w: 11, m: 64, kh: 3, kw: 3, stride: [2, 2], pads: [1, 1, 1, 1]),
            Shape(n: 5, c: 260, h: 9, w: 9, m: 64, kh: 1, kw: 1, stride: [2, 2]),
            Shape(n: 3, c: 30, h: 40, w: 37, m: 70, kh: 3, kw: 3, stride: [2, 2], pads: [1, 0, 1, 2]),
            Shape(n: 6, c: 100, h: 13, w: 13, m: 80, kh: 1, kw: 1),
            Shape(n: 5, c: 6, h: 9, w: 8, m: 10, kh: 3, kw: 3, stride: [2, 2], pads: [1, 1, 1, 1], groups: 2),
            Shape(n: 4, c: 8, h: 12, w: 12, m: 12, kh: 5, kw: 5, pads: [2, 2, 2, 2]),
        ]
        for (i, s) in cases.enumerated() {
            let (conv, x) = make(s, seed: UInt64(700 + i))
            let y = conv.forward([x], relu: true)
            let dy = TestData.uniform(y.shape, seed: UInt64(750 + i))
            let dx = conv.backward([x], output: y, gradOutput: dy, needsGrad: [true])[0]!
            let xs = x.count / s.n, ys = y.count / s.n
            for n in 0..<s.n {
                var one = x.shape, oneY = y.shape
                one[0] = 1
                oneY[0] = 1
                let xn = Tensor(shape: one, values: Array(x.toArray()[n * xs ..< (n + 1) * xs]))
                let yn = conv.forward([xn], relu: true)
                XCTAssertEqual(yn.toArray().map(\.bitPattern), Array(y.toArray()[n * ys ..< (n + 1) * ys]).map(\.bitPattern),
                               "\(s) image \(n)")
                let dyn = Tensor(shape: oneY, values: Array(dy.toArray()[n * ys ..< (n + 1) * ys]))
                let dxn = conv.backward([xn], output: yn, gradOutput: dyn, needsGrad: [true])[0]!
                XCTAssertEqual(dxn.toArray().map(\.bitPattern), Array(dx.toArray()[n * xs ..< (n + 1) * xs]).map(\.bitPattern),
                               "\(s) image \(n) input gradient")
            }
        }
    }

    /// A residual added in the Conv (and the activation after it) equals separate Conv, Add and activation steps bit
    /// for bit on every forward path: Winograd, depthwise, direct and GEMM pointwise, merged small planes, 1×1
    /// planes, columns packed from x (merged and per image), im2col.
    func testResidualMatchesSeparateAddAndActivation() {
        let cases = [
            Shape(n: 2, c: 16, h: 14, w: 14, m: 16, kh: 3, kw: 3, pads: [1, 1, 1, 1]),
            Shape(n: 2, c: 12, h: 9, w: 7, m: 12, kh: 3, kw: 3, pads: [1, 1, 1, 1], groups: 12),
            Shape(n: 2, c: 16, h: 15, w: 15, m: 40, kh: 1, kw: 1),
            Shape(n: 2, c: 64, h: 30, w: 30, m: 32, kh: 1, kw: 1),
            Shape(n: 3, c: 70, h: 7, w: 7, m: 36, kh: 1, kw: 1),
            Shape(n: 3, c: 24, h: 1, w: 1, m: 10, kh: 1, kw: 1),
            Shape(n: 3, c: 32, h: 9, w: 11, m: 64, kh: 3, kw: 3, stride: [2, 2], pads: [1, 1, 1, 1]),
            Shape(n: 2, c: 30, h: 40, w: 37, m: 70, kh: 3, kw: 3, stride: [2, 2], pads: [1, 0, 1, 2]),
            Shape(n: 2, c: 3, h: 20, w: 20, m: 13, kh: 7, kw: 7, stride: [2, 2], pads: [3, 3, 3, 3]),
            // The direct pointwise kernel past 64 input channels (a last block overlapping the one before) and
            // below 12 output channels (its zero-padded block).
            Shape(n: 2, c: 80, h: 17, w: 16, m: 100, kh: 1, kw: 1),
            Shape(n: 2, c: 6, h: 16, w: 17, m: 9, kh: 1, kw: 1),
            Shape(n: 2, c: 100, h: 17, w: 16, m: 30, kh: 1, kw: 1),   // a reduction
            Shape(n: 3, c: 80, h: 12, w: 12, m: 90, kh: 1, kw: 1),    // an expansion on a 12² plane
        ]
        let activations: [(any ElementwiseLayer)?] = [nil, Relu(), SiLU()]
        for (i, s) in cases.enumerated() {
            let (conv, x) = make(s, seed: UInt64(800 + i))
            let plain = conv.forward([x])
            let r = TestData.uniform(plain.shape, seed: UInt64(850 + i))
            for a in activations {
                let sum = Add().forward([plain, r])
                let separate = a.map { $0.forward([sum]) } ?? sum
                let fused = conv.forward([x], residual: r, activation: a)
                XCTAssertEqual(fused.toArray().map(\.bitPattern), separate.toArray().map(\.bitPattern),
                               "\(a?.name ?? "none") \(s)")
            }
        }
    }

    /// Clip(0, 6) and SiLU fused into the depthwise, direct pointwise, single-pixel and im2col paths equal the separate
    /// activation bit for bit.
    func testFusedActivationsMatchSeparateSteps() {
        let cases = [
            Shape(n: 2, c: 12, h: 9, w: 7, m: 12, kh: 3, kw: 3, pads: [1, 1, 1, 1], groups: 12),
            Shape(n: 2, c: 16, h: 15, w: 15, m: 40, kh: 1, kw: 1),
            Shape(n: 3, c: 24, h: 1, w: 1, m: 10, kh: 1, kw: 1),
            Shape(n: 1, c: 3, h: 12, w: 12, m: 5, kh: 3, kw: 3, stride: [2, 2], pads: [1, 1, 1, 1]),
            Shape(n: 2, c: 80, h: 17, w: 16, m: 100, kh: 1, kw: 1),
        ]
        let activations: [any ElementwiseLayer] = [Clip(min: 0, max: 6), SiLU()]
        for (i, s) in cases.enumerated() {
            let (conv, x) = make(s, seed: UInt64(900 + i))
            for a in activations {
                let separate = a.forward([conv.forward([x])])
                let fused = conv.forward([x], activation: a)
                XCTAssertEqual(fused.toArray().map(\.bitPattern), separate.toArray().map(\.bitPattern), "\(a.name) \(s)")
            }
        }
    }

    func testRejectsBadShapes() {
        let conv = Conv2D(weight: Tensor(zeros: [4, 2, 3, 3]), bias: nil, stride: [1, 1], pads: [0, 0, 0, 0],
                          dilation: [1, 1], groups: 2)
        XCTAssertThrowsError(try conv.outputShape([[1, 3, 8, 8]]))   // channels
        XCTAssertThrowsError(try conv.outputShape([[1, 4, 2, 8]]))   // kernel larger than input
        XCTAssertThrowsError(try conv.outputShape([[4, 8, 8]]))      // rank
        XCTAssertEqual(try conv.outputShape([[2, 4, 8, 9]]), [2, 4, 6, 7])
        let bad = Conv2D(weight: Tensor(zeros: [4, 2, 3, 3]), bias: nil, stride: [0, 1], pads: [0, 0, 0, 0],
                         dilation: [1, 1], groups: 1)
        XCTAssertThrowsError(try bad.outputShape([[1, 2, 8, 8]]))
    }

    func testInputGradient() {
        // One representative of each kernel path: im2col (strided, padded, dilated, grouped), 1×1, depthwise.
        let picks = [1, 2, 4, 6, 7, 8, 9, 10, 11, 12, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30]
        for i in picks {
            var s = ConvTests.shapes[i]
            s.n = 1
            let (conv, x) = make(s, seed: UInt64(100 + i))
            let report = GradientCheck.check(conv, inputs: [x], samples: 60)
            XCTAssertLessThan(report.maxError, 1e-2, "\(s): \(report)")
        }
    }

    /// A deep layer (4608 columns per output pixel) whose input gradient takes whole 7² planes per product, not
    /// the column budget's single rows.
    func testDeepLayerInputGradient() {
        let (conv, x) = make(Shape(n: 1, c: 512, h: 13, w: 13, m: 8, kh: 3, kw: 3, stride: [2, 2], pads: [1, 1, 1, 1]),
                             seed: 77)
        let report = GradientCheck.check(conv, inputs: [x], samples: 60)
        XCTAssertLessThan(report.maxError, 1e-2, "\(report)")
    }

    func testBitIdenticalAcrossThreadCounts() {
        let cases = [
            Shape(n: 3, c: 16, h: 40, w: 40, m: 24, kh: 3, kw: 3, pads: [1, 1, 1, 1]),
            Shape(n: 1, c: 32, h: 30, w: 30, m: 40, kh: 1, kw: 1),
            Shape(n: 2, c: 12, h: 20, w: 20, m: 24, kh: 3, kw: 3, stride: [2, 2], pads: [1, 1, 1, 1], groups: 12),
            Shape(n: 1, c: 8, h: 70, w: 70, m: 16, kh: 5, kw: 5, stride: [2, 2], pads: [2, 2, 2, 2]),
            // Fewer products than threads, so chunks, rows and channel blocks are cut by the thread count:
            // a stem (3 input channels, 7×7 stride 2), 1×1 planes of one and two images, a small 1×1 expansion.
            Shape(n: 2, c: 3, h: 33, w: 31, m: 16, kh: 7, kw: 7, stride: [2, 2], pads: [3, 3, 3, 3]),
            Shape(n: 1, c: 48, h: 16, w: 16, m: 72, kh: 1, kw: 1),
            Shape(n: 2, c: 96, h: 9, w: 9, m: 40, kh: 1, kw: 1),
            Shape(n: 1, c: 16, h: 20, w: 20, m: 96, kh: 1, kw: 1),
            Shape(n: 1, c: 24, h: 12, w: 12, m: 32, kh: 5, kw: 5, pads: [2, 2, 2, 2]),
            // Columns packed from x: merged across images, and cut inside one image.
            Shape(n: 5, c: 32, h: 9, w: 11, m: 64, kh: 3, kw: 3, stride: [2, 2], pads: [1, 1, 1, 1]),
            Shape(n: 1, c: 30, h: 40, w: 37, m: 70, kh: 3, kw: 3, stride: [2, 2], pads: [1, 0, 1, 2]),
            Shape(n: 1, c: 512, h: 13, w: 13, m: 8, kh: 3, kw: 3, stride: [2, 2], pads: [1, 1, 1, 1]),
            // A strided 1×1 shortcut (its subsample's pointwise product).
            Shape(n: 2, c: 64, h: 28, w: 28, m: 128, kh: 1, kw: 1, stride: [2, 2]),
            Shape(n: 1, c: 80, h: 17, w: 16, m: 100, kh: 1, kw: 1),
        ]
        for (i, s) in cases.enumerated() {
            let (conv, x) = make(s, seed: UInt64(200 + i))
            let dy = TestData.uniform(try! conv.outputShape([x.shape]), seed: 9)
            var forward = [[UInt32]](), backward = [[UInt32]]()
            for threads in [1, 2, 7, 16, 37] {
                Parallel.withThreads(threads) {
                    let y = conv.forward([x])
                    forward.append(y.toArray().map(\.bitPattern))
                    let dx = conv.backward([x], output: y, gradOutput: dy, needsGrad: [true])[0]!
                    backward.append(dx.toArray().map(\.bitPattern))
                }
            }
            for t in 1..<forward.count {
                XCTAssertEqual(forward[0], forward[t], "\(s) forward, thread count #\(t)")
                XCTAssertEqual(backward[0], backward[t], "\(s) backward, thread count #\(t)")
            }
        }
    }
}
