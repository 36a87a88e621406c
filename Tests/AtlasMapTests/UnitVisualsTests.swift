/// Tests of the unit pictures (UnitVisuals.swift) on the Fashion-MNIST CNN: the diversity-set objective's gradient
/// through the network against central differences, a diversity set that is less self-similar than as many
/// independent icons and the same bytes at 1 and 2 threads, and the accentuated top exemplar written beside the
/// crops, on the page, and raising the unit above the exemplar's own value.
import AtlasCore
import AtlasImage
import AtlasMap
import AtlasNet
import AtlasOutput
import AtlasVis
import Foundation
import XCTest

final class UnitVisualsTests: XCTestCase {
    static let layer = "features.conv3.2"

    func recipe(diversity: Int = 4, weight: Float = 1, accentuate: String? = nil, steps: Int = 48) -> UnitVisualsRecipe {
        var o = RenderOptions(param: .fft, size: 28, steps: steps, learningRate: 0.05, transforms: .standard,
                              preprocess: CollectTests.preprocessor.preprocess)
        o.transforms = try! TransformPipeline.parse("pad:2,jitter:2")
        return UnitVisualsRecipe(diversity: diversity, diversityWeight: weight, accentuateLayer: accentuate, accentuateWeight: 1,
                                 accentuateTransforms: try! TransformPipeline.parse("pad:2,jitter:2"), render: o, seed: 5)
    }

    /// d(Σ_i objective_i)/d image of the set's objective (and of the diversity term alone), through the network,
    /// against central differences along random directions (a float32 ReLU network: single entries hit kinks).
    func testDiversityObjectiveGradientMatchesFiniteDifferences() throws {
        let renderer = try Renderer(network: try Network(contentsOf: CollectTests.modelPath))
        let r = recipe(diversity: 3, weight: 2)
        var options = r.render
        options.transforms = .none
        var rng = SplitMix64(seed: 11)
        let image = Tensor(zeros: [3, 1, 28, 28])
        for i in 0..<image.count { image.data[i] = 0.2 + 0.6 * rng.nextUniform() }
        for objective in [r.diversityObjective(layer: Self.layer, channel: 5), Objective.diversity(Self.layer)] {
            func total(_ x: Tensor) throws -> Double {
                try renderer.valueAndGradient(objective, image: x, seeds: [0, 1, 2], step: 0, options: options).values.reduce(0, +)
            }
            let g = try renderer.valueAndGradient(objective, image: image, seeds: [0, 1, 2], step: 0, options: options).gradient.copy()
            for trial in 0..<4 {
                let d = Tensor(zeros: image.shape)
                for i in 0..<d.count { d.data[i] = 2 * rng.nextUniform() - 1 }
                // Pixels move by at most 2e-4: ReLU and max-pool kinks make larger steps inexact (RenderTests' rule).
                let eps: Float = 2e-4
                let up = image.copy(), down = image.copy()
                for i in 0..<d.count { up.data[i] += eps * d.data[i]; down.data[i] -= eps * d.data[i] }
                let numeric = (try total(up) - total(down)) / (2 * Double(eps))
                var analytic = 0.0, gg = 0.0, dd = 0.0
                for i in 0..<d.count {
                    analytic += Double(g.data[i]) * Double(d.data[i]); gg += Double(g.data[i] * g.data[i]); dd += Double(d.data[i] * d.data[i])
                }
                // A random direction's derivative is typically ‖g‖‖d‖/√P; errors are measured against that scale.
                let typical = (gg * dd / Double(d.count)).squareRoot()
                XCTAssertEqual(analytic, numeric, accuracy: 0.03 * typical, "\(objective) direction \(trial)")
                XCTAssertGreaterThan(abs(analytic), 0.1 * typical, "\(objective) direction \(trial): too small to test")
            }
        }
    }

    func testDiversitySetIsLessSimilarThanIndependentIconsAndThreadIndependent() throws {
        let renderer = try Renderer(network: try Network(contentsOf: CollectTests.modelPath))
        let r = recipe()
        let saved = Parallel.threadCount
        defer { Parallel.threadCount = saved }
        Parallel.threadCount = 2
        let visuals = UnitVisuals(recipe: r, renderer: renderer)
        let (png, record) = try visuals.diversitySet(layer: Self.layer, channel: 5)
        Parallel.threadCount = 1
        let (png1, record1) = try visuals.diversitySet(layer: Self.layer, channel: 5)
        XCTAssertEqual(png, png1, "the same bytes at 1 and 2 threads")
        XCTAssertEqual(record, record1)
        XCTAssertEqual(png.count, 4)
        XCTAssertEqual(record.objective, "features.conv3.2:5 - 4.0*diversity(features.conv3.2)")
        // The same seeds and steps without the diversity term.
        let independent = try renderer.render(Array(repeating: .channel(Self.layer, 5), count: 4), seeds: r.diversitySeeds(channel: 5),
                                               options: r.render)
        let written = try independent.images.map { try ImageCodec.decode(try ImageCodec.encodePNG($0), options: DecodeOptions(layout: .gray)) }
        let t = Tensor(zeros: [4, 1, 28, 28])
        for (i, im) in written.enumerated() { im.copyPixels(to: t.data + i * 784) }
        let baseline = try UnitVisuals.similarity(t, layer: Self.layer, renderer: renderer, options: r.render)
        XCTAssertLessThan(record.similarity, baseline - 0.05, "diversity set vs independent icons")
        XCTAssertGreaterThan(record.similarity, 0)
        XCTAssertLessThan(baseline, 1.0001)
        // The recorded similarity is the one of the written files.
        let files = try png.map { try ImageCodec.decode($0, options: DecodeOptions(layout: .gray)) }
        for (i, im) in files.enumerated() { im.copyPixels(to: t.data + i * 784) }
        XCTAssertEqual(try UnitVisuals.similarity(t, layer: Self.layer, renderer: renderer, options: r.render), record.similarity, accuracy: 1e-9)
    }

    func testUnitsRunWritesTheSetsAndTheAccentuatedExemplar() throws {
        let out = NSTemporaryDirectory() + "atlas-unit-visuals-" + UUID().uuidString
        addTeardownBlock { try? FileManager.default.removeItem(atPath: out) }
        let network = try Network(contentsOf: CollectTests.modelPath)
        let value = try network.resolve(Self.layer)
        let pre = CollectTests.preprocessor
        let source = try ImageSource(inputs: [CollectTests.idxPath], channels: 1, limit: 40)
        let shape = try UnitsRecipe.layerShape(network: network, value: value, input: pre.itemShape)
        let units = UnitsRecipe(model: .init(file: "fashion_cnn.onnx", sha256: SHA256.hex(file: CollectTests.modelPath)), layer: Self.layer,
                                value: value, channels: [2, 7], layerChannels: shape.channels, spatial: shape.spatial, top: 3,
                                negative: false, partImages: 16, limit: 40, preprocessor: pre, preprocess: "test", source: source,
                                field: shape.field, icons: nil, title: nil)
        let first = try XCTUnwrap(Accentuation.defaultLayer(of: network))
        let visuals = UnitVisuals(recipe: recipe(diversity: 2, accentuate: first, steps: 24), renderer: try Renderer(network: network))
        try visuals.validate(layer: Self.layer, input: pre.itemShape, spatial: shape.spatial)
        let index = try XCTUnwrap(try UnitScan.run(recipe: units, network: network, source: source, preprocessor: pre, batch: 8,
                                                   directory: out, visuals: visuals).index)
        guard case .object(let v)? = index.settings["visuals"] else { return XCTFail("settings.visuals missing") }
        XCTAssertEqual(v["diversity"], .int(2))
        XCTAssertEqual(v["accentuate_layer"], .string(first))
        for u in index.units {
            let set = try XCTUnwrap(u.diversity)
            XCTAssertEqual(set.icons, ["units/features.conv3.2/diversity/\(u.channel)-0.png", "units/features.conv3.2/diversity/\(u.channel)-1.png"])
            for icon in set.icons { XCTAssertEqual(try ImageCodec.decode(file: "\(out)/\(icon)").width, 28) }
            let a = try XCTUnwrap(u.accentuated)
            XCTAssertEqual(a.item, u.top[0].item)
            XCTAssertEqual(a.image, "units/features.conv3.2/accentuated/\(u.channel).png")
            // The seed is the exemplar as the scan saw it; the accentuated file raises the unit above it.
            XCTAssertEqual(a.seedValue, u.top[0].value, accuracy: 1e-4 * max(1, abs(u.top[0].value)))
            let written = try ImageCodec.decode(file: "\(out)/\(a.image)", options: DecodeOptions(layout: .gray))
            let after = try UnitVisuals.unitMaxima([written], value: value, channel: u.channel, network: network, preprocess: pre.preprocess)[0]
            XCTAssertEqual(after, a.value, accuracy: 1e-5 * max(1, abs(a.value)))
            XCTAssertGreaterThan(after, u.top[0].value * 1.05, "unit \(u.channel): accentuated \(after) vs exemplar \(u.top[0].value)")
            let page = try String(contentsOfFile: "\(out)/\(u.page)", encoding: .utf8)
            XCTAssertEqual(page.components(separatedBy: "class=\"diverse\"").count - 1, 2)
            XCTAssertTrue(page.contains("src=\"accentuated/\(u.channel).png\""), page)
        }
    }
}
