import AtlasCore
import AtlasImage
import AtlasNet
import AtlasTestSupport
import AtlasVis
import Foundation
import XCTest

/// MACO: phase-only parameterization with a fixed natural magnitude spectrum, its augmentations, importance map.
final class MacoTests: XCTestCase {
    /// rfft2 by definition, in double precision: `X[ky, kx] = Σ_y Σ_x img[y, x] e^{−2πi (ky y / h + kx x / w)}`.
    func naiveRfft2(_ img: [Double], h: Int, w: Int) -> (re: [Double], im: [Double]) {
        let k = w / 2 + 1
        var re = [Double](repeating: 0, count: h * k), im = re
        for ky in 0..<h {
            for kx in 0..<k {
                var sr = 0.0, si = 0.0
                for y in 0..<h {
                    for x in 0..<w {
                        let a = -2 * Double.pi * (Double(ky * y) / Double(h) + Double(kx * x) / Double(w))
                        sr += img[y * w + x] * cos(a); si += img[y * w + x] * sin(a)
                    }
                }
                re[ky * k + kx] = sr; im[ky * k + kx] = si
            }
        }
        return (re, im)
    }

    func testSpectrumTableIsEmbeddedAndNatural() {
        let b = MacoSpectrum.base
        XCTAssertEqual(b.count, 3 * 128 * 65)
        XCTAssertEqual(b.max(), 1)
        // Natural images: in every channel the magnitude falls with frequency (≈ 1/f).
        for c in 0..<3 {
            let row0 = (0..<65).map { Double(b[c * 128 * 65 + $0]) }
            XCTAssertGreaterThan(row0[1], 5 * row0[16], "channel \(c)")
            XCTAssertGreaterThan(row0[16], row0[64], "channel \(c)")
        }
    }

    /// The magnitude of every coefficient of the image's spectrum is the template's, whatever the phases,
    /// and the linear image has unit RMS (the energy is fixed by the magnitudes).
    func testMagnitudeStaysFixed() throws {
        for (c, h, w) in [(3, 8, 10), (1, 7, 9), (3, 6, 7)] {
            let p = try MacoImageParam(height: h, width: w, channels: c)
            let k = w / 2 + 1, m = p.magnitude
            XCTAssertEqual(p.parameterCount, c * h * k)
            for seed: UInt64 in [1, 2] {
                let params = p.initialParameters(seeds: [seed])
                if seed == 2 { for i in 0..<params.count { params.data[i] += 3 * sinf(Float(i)) } }  // far from the start
                let linear = p.linearImage(params).toArray().map { 4 * Double($0) }
                var sumSq = 0.0
                for ch in 0..<c {
                    let plane = Array(linear[(ch * h * w)..<((ch + 1) * h * w)])
                    sumSq += plane.reduce(0) { $0 + $1 * $1 / 16 }
                    let (re, im) = naiveRfft2(plane, h: h, w: w)
                    for i in 0..<(h * k) {
                        let got = (re[i] * re[i] + im[i] * im[i]).squareRoot()
                        XCTAssertEqual(got, Double(m[ch * h * k + i]), accuracy: 1e-4 * Double(m.max()!), "\(c)x\(h)x\(w) bin \(i)")
                    }
                    // The DC bin (and the real Nyquist bins) are zero: no phase to optimize there.
                    XCTAssertEqual(m[ch * h * k], 0)
                }
                XCTAssertEqual(sumSq / Double(c * h * w), 1, accuracy: 1e-4, "unit RMS \(c)x\(h)x\(w)")
            }
        }
    }

    func testPhaseGradientAgainstFiniteDifferences() throws {
        for (c, h, w) in [(3, 6, 8), (1, 5, 7), (3, 7, 6)] {
            let p = try MacoImageParam(height: h, width: w, channels: c)
            let params = p.initialParameters(seeds: [3, 4])
            let layer = FunctionLayer(forwardFn: { p.image($0) },
                                      backwardFn: { x, y, g in p.backward(x, image: y, gradImage: g) })
            let report = GradientCheck.check(layer, inputs: [params], eps: 1e-2, samples: 300, seed: 5)
            XCTAssertLessThan(report.maxError, 2e-3, "\(c)x\(h)x\(w) \(report)")
        }
    }

    func testInitDependsOnlyOnSeedAndBatchesAreIndependent() throws {
        let p = try MacoImageParam(height: 12, width: 12)
        let both = p.initialParameters(seeds: [7, 8]), alone = p.initialParameters(seeds: [8])
        XCTAssertEqual(Array(both.toArray()[p.parameterCount...]), alone.toArray())
        XCTAssertTrue(both.toArray().allSatisfy { abs($0) <= Float.pi })
        let imgBoth = p.image(both), imgAlone = p.image(alone)
        XCTAssertEqual(Array(bytes(imgBoth)[(3 * 144)...]), bytes(imgAlone))
    }

    func testCropAndNoiseAdjointAndDeterminism() throws {
        let p = TransformPipeline.maco
        XCTAssertEqual(try TransformPipeline.parse("maco"), p)
        XCTAssertEqual(try TransformPipeline.parse("crop:0.6-1.0,noise:0.02"), p)
        XCTAssertEqual(p.description, "maco")
        XCTAssertThrowsError(try TransformPipeline.parse("crop:0.5-1.5"))
        XCTAssertThrowsError(try TransformPipeline.parse("noise:-1"))
        let x = TestData.uniform([2, 3, 16, 15], seed: 1)
        let seeds: [UInt64] = [5, 6]
        for step in 0..<3 {
            let (y, rec) = try p.forward(x, seeds: seeds, step: step)
            XCTAssertEqual(y.shape, x.shape)
            let (y0, _) = try p.forward(Tensor(zeros: x.shape), seeds: seeds, step: step)   // the noise alone
            let r = TestData.uniform(y.shape, seed: 50 + UInt64(step))
            XCTAssertEqual(dot(y, r) - dot(y0, r), dot(x, p.backward(r, record: rec)), accuracy: 1e-4)
            let again = try p.forward(x, seeds: seeds, step: step).output
            XCTAssertEqual(bytes(again), bytes(y))
        }
        // A crop of half the side centred on the image zooms ×2 about the centre (edge-clamped bilinear).
        let crop = try TransformPipeline([.crop(0.5, 0.5)]).forward(x, seeds: [1, 2], step: 0)
        if case let .crop(side, _, _) = crop.record.draws[0][0] { XCTAssertEqual(side, 0.5) } else { XCTFail("no crop draw") }
        // Noise differs between channels and icons, and has the requested spread.
        let noise = try TransformPipeline([.noise(0.1)]).forward(Tensor(zeros: [2, 3, 32, 32]), seeds: [1, 2], step: 0).output.toArray()
        XCTAssertNotEqual(Array(noise[0..<1024]), Array(noise[1024..<2048]))
        let sd = (noise.map { Double($0 * $0) }.reduce(0, +) / Double(noise.count)).squareRoot()
        XCTAssertEqual(sd, 0.1 * (1 + 1.0 / 12).squareRoot(), accuracy: 0.005)
    }

    func testImportanceMapImage() throws {
        let sum = Tensor(shape: [1, 2, 5], values: [0, 1, 2, 3, 4, 5, 6, 7, 8, 9])
        let image = try ImportanceMap.image(sum, index: 0)
        // 80th percentile of 0…9 (index 7) is 7: values clip there and divide by it.
        XCTAssertEqual(image.pixels, [0, 1, 2, 3, 4, 5, 6, 7, 7, 7].map { Float($0) / 7 })
        XCTAssertEqual(ImportanceMap.path(besideIcon: "out/icons/c0001.png"), "out/icons/c0001.importance.png")
        XCTAssertEqual(ImportanceMap.path(besideIcon: "a.b/icon"), "a.b/icon.importance.png")
    }

    // MARK: rendering on the Fashion-MNIST model (grayscale: the luminance spectrum)

    func renderer() throws -> Renderer {
        guard let r = RenderTests.shared else { throw XCTSkip("cannot load \(RenderTests.modelPath)") }
        return r
    }

    func options(steps: Int) -> RenderOptions {
        RenderOptions(param: .maco, size: 32, steps: steps, learningRate: 0.1, transforms: .maco, preprocess: RenderTests.fashion)
    }

    func testObjectiveRises() throws {
        let r = try renderer()
        let objective = [Objective.channel(RenderTests.midLayer, 1)]
        let opts = options(steps: 24)
        let param = try r.makeParam(opts)
        XCTAssertTrue(param is MacoImageParam)
        let before = try r.evaluate(objective, images: param.image(param.initialParameters(seeds: [1])), options: opts)[0]
        let result = try r.render(objective, seeds: [1], options: opts)
        XCTAssertGreaterThan(result.scores[0], before + 0.1, "channel mean \(before) → \(result.scores[0])")
        XCTAssertEqual(result.scores[0], try r.evaluate(objective, images: result.tensor, options: opts)[0])
        XCTAssertEqual(result.importance.shape, [1, 32, 32])
        XCTAssertGreaterThan(result.importance.toArray().reduce(0, +), 0)
    }

    /// The best natural value of each objective is the largest of its per-image scores.
    func testBestNaturalValuesArePerImageMaxima() throws {
        let r = try renderer()
        let opts = options(steps: 1)
        let images = TestData.uniform([5, 1, 32, 32], in: 0...1, seed: 8)
        let objectives = [Objective.channel(RenderTests.midLayer, 1), .classLogit(3), .neuron(RenderTests.midLayer, 2)]
        let best = try r.bestNaturalValues(objectives, images: images, options: opts, batch: 2)
        for (k, o) in objectives.enumerated() {
            let each = try (0..<5).map { try r.evaluate([o], images: images.slice(batch: $0..<($0 + 1)).copy(), options: opts)[0] }
            XCTAssertEqual(best[k], each.max()!, accuracy: 1e-9 + 1e-6 * abs(best[k]), "\(o)")
        }
    }

    func testSameBytesAtOneAndTwoThreadsAndInAnyBatch() throws {
        let r = try renderer()
        let opts = options(steps: 5)
        let objectives = [Objective.channel(RenderTests.midLayer, 1), .classLogit(2)]
        let seeds: [UInt64] = [21, 22]
        let one = try Parallel.withThreads(1) { try r.render(objectives, seeds: seeds, options: opts) }
        let two = try Parallel.withThreads(2) { try r.render(objectives, seeds: seeds, options: opts) }
        XCTAssertEqual(bytes(one.tensor), bytes(two.tensor))
        XCTAssertEqual(bytes(one.importance), bytes(two.importance))
        XCTAssertEqual(one.scores, two.scores)
        let alone = try r.render([objectives[1]], seeds: [seeds[1]], options: opts)
        XCTAssertEqual(bytes(alone.tensor), bytes(one.tensor.slice(batch: 1..<2)))
        XCTAssertEqual(try ImageCodec.encodePNG(one.images[0]), try ImageCodec.encodePNG(two.images[0]))
    }
}
