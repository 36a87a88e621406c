import AtlasCore
import AtlasImage
import AtlasNet
import AtlasTestSupport
import AtlasVis
import Foundation
import XCTest

/// The renderer on the default Fashion-MNIST model (1 channel, fully convolutional up to a global pool).
final class RenderTests: XCTestCase {
    static let repo = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static let modelPath = repo.appendingPathComponent("Assets/fashion-mnist/fashion_cnn.onnx").path
    static let fashion = Preprocess.meanStd([0.286], [0.353])
    /// A mid layer of the Fashion model and two of its channels.
    static let midLayer = "features.conv3"

    static let shared: Renderer? = try? Renderer(network: Network(contentsOf: modelPath))

    func renderer() throws -> Renderer {
        guard let r = RenderTests.shared else { throw XCTSkip("cannot load \(RenderTests.modelPath)") }
        return r
    }

    func options(size: Int = 32, steps: Int = 8, transforms: TransformPipeline = .standard) -> RenderOptions {
        RenderOptions(size: size, steps: steps, transforms: transforms, preprocess: RenderTests.fashion)
    }

    func testModelIsGrayscaleAndLayersResolve() throws {
        let r = try renderer()
        XCTAssertEqual(r.inputChannels, 1)
        XCTAssertEqual(try r.makeParam(options()).channels, 1)
        XCTAssertNotEqual(try r.valueName(Objective.networkOutput), "")
        XCTAssertNoThrow(try r.valueName(RenderTests.midLayer))
    }

    /// d(objective)/d(params) through param → transforms (fixed draws) → upsample → preprocess → network → objective,
    /// against central finite differences along random directions.
    func testChainGradientMatchesFiniteDifferences() throws {
        let r = try renderer()
        let layers = Objective.channel(RenderTests.midLayer, 1) + Objective.neuron("features.conv4", 1)
        for kind in [ParamKind.fft, .pixel] {
            // TV is not differentiable where neighbours are equal, which a smooth FFT image nearly is everywhere.
            let objective = kind == .pixel ? layers - 1e-3 * Objective.totalVariation : layers
            var opts = options(size: 20, transforms: try TransformPipeline.parse("pad:2,jitter:2,scale:0.95/1.05,rotate:4"))
            opts.param = kind
            opts.upsample = 30
            let param = try r.makeParam(opts)
            let seeds: [UInt64] = [7, 9]
            let params = param.initialParameters(seeds: seeds)
            // Move away from the flat start so activations are not all at ReLU kinks.
            let noise = TestData.uniform(params.shape, in: -1...1, seed: 3)
            for i in 0..<params.count { params.data[i] += noise.data[i] * (kind == .fft ? 0.3 : 0.5) }
            func f(_ p: Tensor) throws -> Double {
                let img = param.image(p)
                return try r.valueAndGradient(objective, image: img, seeds: seeds, step: 3, options: opts).values.reduce(0, +)
            }
            let img = param.image(params)
            let g = try r.valueAndGradient(objective, image: img, seeds: seeds, step: 3, options: opts).gradient
            let gp = param.backward(params, image: img, gradImage: g)
            for trial in 0..<3 {
                let d = TestData.uniform(params.shape, in: -1...1, seed: 100 + UInt64(trial))
                // A step that moves pixels by at most ~1e-4: ReLU and max-pool kinks make larger steps inexact.
                let probe = params.copy()
                for i in 0..<params.count { probe.data[i] += 1e-3 * d.data[i] }
                let moved = param.image(probe)
                var change: Float = 0
                for i in 0..<img.count { change = max(change, abs(moved.data[i] - img.data[i])) }
                let eps = 1e-3 * 2e-4 / change
                let plus = params.copy(), minus = params.copy()
                for i in 0..<params.count { plus.data[i] += eps * d.data[i]; minus.data[i] -= eps * d.data[i] }
                let numeric = (try f(plus) - f(minus)) / (2 * Double(eps))
                let analytic = dot(gp, d)
                // A random direction's derivative is typically ‖g‖‖d‖/√P; errors are measured against that scale.
                let typical = (dot(gp, gp) * dot(d, d) / Double(gp.count)).squareRoot()
                XCTAssertEqual(analytic, numeric, accuracy: 0.03 * typical, "\(kind) trial \(trial)")
                XCTAssertGreaterThan(abs(analytic), 0.1 * typical, "\(kind) trial \(trial): derivative too small to test")
            }
        }
    }

    func testUpsampleMatchesAlignCornersAndIsAdjoint() {
        // 2×3 → 3×5 with align_corners: output (y, x) samples input at (y·1/2, x·2/4).
        let x = Tensor(shape: [1, 1, 2, 3], values: [0, 1, 4, 2, 3, 10])
        let u = BilinearUpsample(from: (2, 3), to: (3, 5))
        let y = u.forward(x)
        func naive(_ oy: Int, _ ox: Int) -> Float {
            let sy = Float(oy) * 0.5, sx = Float(ox) * 0.5
            let y0 = min(Int(sy), 1), x0 = min(Int(sx), 2)
            let y1 = min(y0 + 1, 1), x1 = min(x0 + 1, 2), fy = sy - Float(y0), fx = sx - Float(x0)
            let v = { (yy: Int, xx: Int) in x.data[yy * 3 + xx] }
            return (1 - fy) * ((1 - fx) * v(y0, x0) + fx * v(y0, x1)) + fy * ((1 - fx) * v(y1, x0) + fx * v(y1, x1))
        }
        assertClose(y.toArray(), (0..<3).flatMap { oy in (0..<5).map { naive(oy, $0) } }, tol: 1e-6)
        let a = TestData.uniform([2, 3, 7, 5], seed: 1), b = TestData.uniform([2, 3, 13, 11], seed: 2)
        let up = BilinearUpsample(from: (7, 5), to: (13, 11))
        XCTAssertEqual(dot(up.forward(a), b), dot(a, up.backward(b)), accuracy: 1e-4)
    }

    /// Lucid's standard transforms move a 32-px icon too much for 20 steps to show; these are the same kinds, smaller.
    static let light = try! TransformPipeline.parse("pad:2,jitter:2,scale:0.95-1.05,rotate:5,jitter:1")

    func testObjectiveRises() throws {
        let r = try renderer()
        let objective = [Objective.channel(RenderTests.midLayer, 1)]
        let opts = options(size: 32, steps: 20, transforms: RenderTests.light)
        let param = try r.makeParam(opts)
        let start = param.image(param.initialParameters(seeds: [1]))
        let before = try r.evaluate(objective, images: start, options: opts)[0]
        let result = try r.render(objective, seeds: [1], options: opts)
        let after = try r.evaluate(objective, images: result.tensor, options: opts)[0]
        XCTAssertGreaterThan(after, before + 0.2, "channel mean \(before) → \(after)")
        XCTAssertEqual(result.history.count, 20)
        XCTAssertGreaterThan(result.history[19][0], result.history[0][0])
        XCTAssertEqual(result.images.count, 1)
        XCTAssertEqual([result.images[0].channels, result.images[0].width, result.images[0].height], [1, 32, 32])
    }

    func testClassObjectiveRaisesLogit() throws {
        let r = try renderer()
        let objective = [Objective.classLogit(7)]
        let opts = options(size: 32, steps: 20, transforms: .none)
        let param = try r.makeParam(opts)
        let before = try r.evaluate(objective, images: param.image(param.initialParameters(seeds: [4])), options: opts)[0]
        let result = try r.render(objective, seeds: [4], options: opts)
        let after = try r.evaluate(objective, images: result.tensor, options: opts)[0]
        XCTAssertGreaterThan(after, before + 2, "logit 7: \(before) → \(after)")
    }

    func testSameBytesAtAnyThreadCountAndInAnyBatch() throws {
        let r = try renderer()
        var opts = options(size: 32, steps: 6)
        opts.thresholds = [3]
        let objectives = [Objective.channel(RenderTests.midLayer, 1), .classLogit(2), .neuron("features.conv4", 1) - 1e-3 * .totalVariation]
        let seeds: [UInt64] = [11, 12, 13]
        var snaps: [[Float]] = []
        let one = try Parallel.withThreads(1) {
            try r.render(objectives, seeds: seeds, options: opts, snapshot: { _, im in snaps.append(im[1].pixels) })
        }
        let two = try Parallel.withThreads(2) { try r.render(objectives, seeds: seeds, options: opts) }
        XCTAssertEqual(bytes(one.tensor), bytes(two.tensor))
        XCTAssertEqual(one.values, two.values)
        // Network passes in slices of two icons (then one) give the same bytes as one pass over all three.
        let sliced = try renderer()
        sliced.networkBatch = 2
        let three = try sliced.render(objectives, seeds: seeds, options: opts)
        XCTAssertEqual(bytes(three.tensor), bytes(one.tensor))
        XCTAssertEqual(three.values, one.values)
        for i in 0..<3 {
            let alone = try r.render([objectives[i]], seeds: [seeds[i]], options: opts)
            XCTAssertEqual(bytes(alone.tensor), bytes(one.tensor.slice(batch: i..<(i + 1))), "icon \(i)")
            XCTAssertEqual(alone.values[0], one.values[i], "icon \(i)")
        }
        XCTAssertEqual(snaps.count, 1)
        let png1 = try ImageCodec.encodePNG(one.images[0]), png2 = try ImageCodec.encodePNG(two.images[0])
        XCTAssertEqual(png1, png2)
    }

    func testValidationErrors() throws {
        let r = try renderer()
        let opts = options()
        XCTAssertThrowsError(try r.validate([.channel("no_such_layer", 0)], seeds: [0], options: opts)) {
            XCTAssertEqual($0 as? ModelError, .unknownLayer("no_such_layer"))
        }
        XCTAssertThrowsError(try r.validate([.channel(RenderTests.midLayer, 100_000)], seeds: [0], options: opts)) {
            guard case .outOfRange = $0 as? ObjectiveError else { return XCTFail("\($0)") }
        }
        XCTAssertThrowsError(try r.validate([.classLogit(10)], seeds: [0], options: opts)) {
            guard case .outOfRange = $0 as? ObjectiveError else { return XCTFail("\($0)") }
        }
        var bad = opts
        bad.thresholds = [9]
        XCTAssertThrowsError(try r.validate([.classLogit(1)], seeds: [0], options: bad)) {
            guard case .invalidOption = $0 as? RenderError else { return XCTFail("\($0)") }
        }
        bad = opts
        bad.preprocess = .imagenet
        XCTAssertThrowsError(try r.validate([.classLogit(1)], seeds: [0], options: bad))
        XCTAssertThrowsError(try r.validate([.classLogit(1)], seeds: [0, 1], options: opts))
    }
}
