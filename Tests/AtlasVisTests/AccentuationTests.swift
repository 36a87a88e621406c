import AtlasCore
import AtlasImage
import AtlasNet
import AtlasTestSupport
import AtlasVis
import Foundation
import XCTest

/// Feature accentuation on the Fashion-MNIST model: the seed is reproduced exactly at the start, an infinite
/// (very large) weight keeps the result at the seed, weight 0 lets the objective move it.
final class AccentuationTests: XCTestCase {
    func seedImage(size: Int) throws -> Image {
        var pixels = [Float]()
        for y in 0..<size { for x in 0..<size { pixels.append(0.5 + 0.35 * sinf(Float(x) * 0.4) * cosf(Float(y) * 0.3)) } }
        return try Image(width: size, height: size, channels: 1, pixels: pixels)
    }

    func maxDifference(_ a: [Float], _ b: [Float]) -> Float { zip(a, b).map { abs($0 - $1) }.max() ?? 0 }

    func testWeightToInfinityReturnsTheSeed() throws {
        guard let r = RenderTests.shared else { throw XCTSkip("cannot load \(RenderTests.modelPath)") }
        let seed = try seedImage(size: 32)
        let objective = Objective.channel(RenderTests.midLayer, 1)
        let opts = RenderOptions(param: .pixel, size: 32, steps: 20, learningRate: 0.05, transforms: RenderTests.light,
                                 preprocess: RenderTests.fashion)
        let layer = "features.conv1.2"
        let free = try r.accentuate(objective, seedImage: seed, accentuation: Accentuation(layer: layer, weight: 0),
                                    seed: 3, options: opts)
        let held = try r.accentuate(objective, seedImage: seed, accentuation: Accentuation(layer: layer, weight: 1e7),
                                    seed: 3, options: opts)
        let before = try r.evaluate([objective], images: seed.tensor(), options: opts)[0]
        XCTAssertGreaterThan(free.scores[0], before + 0.1, "weight 0 accentuates: \(before) → \(free.scores[0])")
        let dFree = maxDifference(free.images[0].pixels, seed.pixels), dHeld = maxDifference(held.images[0].pixels, seed.pixels)
        XCTAssertLessThan(dHeld, 0.02, "weight 1e7 stays at the seed")
        XCTAssertGreaterThan(dFree, 5 * dHeld)
        // With no steps the result is the seed itself (the per-pixel preimage is exact).
        var none = opts
        none.steps = 0
        let start = try r.accentuate(objective, seedImage: seed, accentuation: Accentuation(layer: layer, weight: 1), seed: 3, options: none)
        XCTAssertLessThan(maxDifference(start.images[0].pixels, seed.pixels), 1e-5)
        XCTAssertThrowsError(try r.accentuate(objective, seedImage: seed, accentuation: Accentuation(layer: "nope", weight: 1), seed: 3, options: opts))
    }

    /// The accentuated render is deterministic at 1 and 2 threads.
    func testSameBytesAtOneAndTwoThreads() throws {
        guard let r = RenderTests.shared else { throw XCTSkip("cannot load \(RenderTests.modelPath)") }
        let seed = try seedImage(size: 32)
        let opts = RenderOptions(size: 32, steps: 4, transforms: .maco, preprocess: RenderTests.fashion)
        let a = Accentuation(layer: "features.conv1.2", weight: 2)
        let one = try Parallel.withThreads(1) { try r.accentuate(.classLogit(3), seedImage: seed, accentuation: a, seed: 1, options: opts) }
        let two = try Parallel.withThreads(2) { try r.accentuate(.classLogit(3), seedImage: seed, accentuation: a, seed: 1, options: opts) }
        XCTAssertEqual(bytes(one.tensor), bytes(two.tensor))
        XCTAssertEqual(one.values, two.values)
    }
}
