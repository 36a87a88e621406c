/// The pictures `atlas units` renders beside the exemplars (they need the network, so a merge of shards writes
/// none): per unit a *diversity set*, N icons optimized jointly with Lucid's diversity objective, and the unit's
/// top exemplar *accentuated* toward the unit (Renderer.accentuate, the code path of `atlas visualize --from`).
/// Every picture has its own seed derived from (seed, channel, member), so the bytes depend on neither the
/// thread count nor which other channels are rendered.
import AtlasCore
import AtlasImage
import AtlasNet
import AtlasOutput
import AtlasVis
import Foundation

/// Settings of the unit pictures; recorded in `units.json` (`settings.visuals`).
public struct UnitVisualsRecipe: Codable, Sendable, Equatable {
    /// Icons per diversity set (0: no sets) and the weight of Lucid's diversity term: each set maximizes Lucid's
    /// `mean_i channel_i − weight · Σ_{i≠j} cos(Ĝ_i, Ĝ_j) / N` (`Ĝ`: the Frobenius-normalized Gram matrix of the
    /// layer's activations), i.e. the mean channel objective minus `weight · (N − 1)` × the mean pairwise similarity.
    public var diversity: Int
    public var diversityWeight: Float
    /// The accentuation regularizer's layer (nil: no accentuation) and weight (`Accentuation`), and the
    /// accentuation's transforms (the standard set is made for 128-px icons: on a network-input-sized exemplar it
    /// moves the peak cell away; a small jitter keeps it).
    public var accentuateLayer: String?
    public var accentuateWeight: Float
    public var accentuateTransforms: TransformPipeline
    /// Options of the diversity render. The accentuation uses their steps, learning rate and preprocessing on the
    /// network-input-sized exemplar with the per-pixel parameterization.
    public var render: RenderOptions
    /// Base seed: member `k` of channel `c`'s set uses `seed + c·N + k`; channel `c`'s accentuation `seed + c`.
    public var seed: UInt64

    public init(diversity: Int, diversityWeight: Float, accentuateLayer: String?, accentuateWeight: Float,
                accentuateTransforms: TransformPipeline, render: RenderOptions, seed: UInt64) {
        self.diversity = diversity; self.diversityWeight = diversityWeight; self.accentuateLayer = accentuateLayer
        self.accentuateWeight = accentuateWeight; self.accentuateTransforms = accentuateTransforms
        self.render = render.pixelRecipe; self.seed = seed
    }

    /// Whether there is anything to render.
    public var isEmpty: Bool { diversity == 0 && accentuateLayer == nil }

    /// The per-icon objective of channel `channel`'s set: `channel − N·weight · diversity`, whose batch total is
    /// N × Lucid's objective (Atlas sums channel values over icons where Lucid averages them).
    public func diversityObjective(layer: String, channel: Int) -> Objective {
        Objective.channel(layer, channel) - (Float(diversity) * diversityWeight) * Objective.diversity(layer)
    }

    /// The seeds of channel `channel`'s set.
    public func diversitySeeds(channel: Int) -> [UInt64] {
        (0..<diversity).map { seed &+ UInt64(channel) &* UInt64(diversity) &+ UInt64($0) }
    }

    /// The accentuation's render options for an `size`-pixel square input.
    public func accentuationOptions(size: Int) -> RenderOptions {
        var o = render
        o.param = .pixel
        o.size = size
        o.upsample = nil
        o.transforms = accentuateTransforms
        return o
    }
}

/// What `units.json` records of a unit's diversity set.
public struct UnitDiversitySet: Codable, Sendable, Equatable {
    /// Folder-relative paths of the icons (`units/<layer>/diversity/<c>-<k>.png`), the objective each member
    /// maximized (CLI syntax), and each icon's channel objective alone on the final image (no transforms).
    public var icons: [String]
    public var objective: String
    public var scores: [Double]
    /// Mean pairwise cosine similarity of the members' Gram matrices at the layer, on the written (8-bit) icons.
    public var similarity: Double
}

/// What `units.json` records of a unit's accentuated top exemplar.
public struct UnitAccentuated: Codable, Sendable, Equatable {
    /// Folder-relative path of the accentuated image (`units/<layer>/accentuated/<c>.png`, network-input size)
    /// and the exemplar it started from (its item; the seed image is `images/<item>.jpg`).
    public var image: String
    public var item: Int
    /// The unit's statistic (its maximum over space) on the seed (the network's view of the exemplar) and on the
    /// written (8-bit) accentuated image.
    public var seedValue: Float
    public var value: Float
}

/// Renders the unit pictures of one job with a loaded network.
public struct UnitVisuals {
    public let recipe: UnitVisualsRecipe
    public let renderer: Renderer
    /// Called after each unit: units done, units total.
    public var progress: ((Int, Int) -> Void)?

    public init(recipe: UnitVisualsRecipe, renderer: Renderer, progress: ((Int, Int) -> Void)? = nil) {
        self.recipe = recipe; self.renderer = renderer; self.progress = progress
    }

    /// Checks the settings against the layer (`spatial`: its `[H, W]` at the network input `input`) before the
    /// dataset pass: throws `RenderError`/`ObjectiveError` for options the renderer refuses (a layer without space
    /// for diversity, a non-square input for accentuation, accentuation transforms that change the layer's size).
    public func validate(layer: String, input: [Int], spatial: [Int]) throws {
        if recipe.diversity > 0 {
            guard recipe.diversity >= 2, recipe.diversityWeight.isFinite, recipe.diversityWeight >= 0 else {
                throw RenderError.invalidOption("a diversity set needs at least 2 icons and a weight ≥ 0")
            }
            let o = recipe.diversityObjective(layer: layer, channel: 0)
            try renderer.validate(Array(repeating: o, count: recipe.diversity), seeds: recipe.diversitySeeds(channel: 0),
                                  options: recipe.render)
            var probe = recipe.render
            probe.transforms = .none
            _ = try renderer.evaluate([o], images: Tensor(zeros: [2, renderer.inputChannels, probe.size, probe.size]), options: probe)
        }
        if let l = recipe.accentuateLayer {
            guard input[1] == input[2] else {
                throw RenderError.invalidOption("accentuation needs a square network input (this one is \(input[2])×\(input[1]))")
            }
            _ = try renderer.network.resolve(l)
            let options = recipe.accentuationOptions(size: input[1])
            try renderer.validate([.channel(layer, 0)], seeds: [0], options: options)
            // Every peak cell must stay inside the layer under the transforms (a crop without padding shrinks it).
            let corner = Self.accentuationObjective(layer: layer, channel: 0, x: spatial[1] - 1, y: spatial[0] - 1)
            _ = try renderer.valueAndGradient(corner, image: Tensor(zeros: [1, renderer.inputChannels, input[1], input[2]]),
                                              seeds: [0], step: 0, options: options)
        }
    }

    /// Channel `channel`'s diversity set: the icons (as written: 8-bit PNG bytes), the record, without paths.
    public func diversitySet(layer: String, channel: Int) throws -> (png: [[UInt8]], record: UnitDiversitySet) {
        let o = recipe.diversityObjective(layer: layer, channel: channel)
        let seeds = recipe.diversitySeeds(channel: channel)
        let result = try renderer.render(Array(repeating: o, count: seeds.count), seeds: seeds, options: recipe.render)
        let png = try result.images.map { try ImageCodec.encodePNG($0) }
        let written = try png.map { try ImageCodec.decode($0, options: DecodeOptions(layout: renderer.inputChannels == 1 ? .gray : .rgb)) }
        let scores = try renderer.evaluate([.channel(layer, channel)], images: Self.stack(written), options: recipe.render)
        let similarity = try Self.similarity(Self.stack(written), layer: layer, renderer: renderer, options: recipe.render)
        return (png, UnitDiversitySet(icons: [], objective: o.description, scores: scores, similarity: similarity))
    }

    /// The accentuation objective of channel `channel` in an exemplar whose peak is cell `(x, y)`: the unit there
    /// (the statistic that ranked the exemplar is the channel's maximum over space).
    public static func accentuationObjective(layer: String, channel: Int, x: Int, y: Int) -> Objective {
        .neuron(layer, channel, x: x, y: y)
    }

    /// `seedImage` (the network's view of the top exemplar, values in [0, 1]) accentuated toward channel
    /// `channel` of `layer` (ONNX value `value`) at the exemplar's peak cell `(x, y)`, as PNG bytes, with the
    /// unit's maximum over space before and after.
    public func accentuate(layer: String, value: String, channel: Int, x: Int, y: Int,
                           seedImage: Image) throws -> (png: [UInt8], seedValue: Float, value: Float) {
        let options = recipe.accentuationOptions(size: seedImage.width)
        let result = try renderer.accentuate(Self.accentuationObjective(layer: layer, channel: channel, x: x, y: y), seedImage: seedImage,
                                             accentuation: Accentuation(layer: recipe.accentuateLayer!, weight: recipe.accentuateWeight),
                                             seed: recipe.seed &+ UInt64(channel), options: options)
        let png = try ImageCodec.encodePNG(result.images[0])
        let written = try ImageCodec.decode(png, options: DecodeOptions(layout: seedImage.channels == 1 ? .gray : .rgb))
        let maxima = try Self.unitMaxima([seedImage, written], value: value, channel: channel, network: renderer.network,
                                         preprocess: options.preprocess)
        return (png, maxima[0], maxima[1])
    }

    /// Mean pairwise cosine similarity of the Gram matrices at `layer` of `images` `[N, C, H, W]` (no transforms):
    /// Lucid's diversity term (`Σ_{i≠j} cos / N`) divided by `N − 1`; 0 for one image.
    public static func similarity(_ images: Tensor, layer: String, renderer: Renderer, options: RenderOptions) throws -> Double {
        let n = images.shape[0]
        guard n > 1 else { return 0 }
        return try renderer.evaluate([.diversity(layer)], images: images, options: options).reduce(0, +) / Double(n - 1)
    }

    /// The maximum over space of `channel` of ONNX value `value` per image (the statistic `atlas units` ranks by).
    public static func unitMaxima(_ images: [Image], value: String, channel: Int, network: Network, preprocess: Preprocess) throws -> [Float] {
        let act = try UnitScan.layerActivations(network, value: value, input: preprocess.forward(stack(images)))
        let c = act.shape[1], plane = act.count / (act.shape[0] * c)
        return (0..<images.count).map { i in
            let p = act.data + (i * c + channel) * plane
            var m = p[0]
            for q in 1..<max(1, plane) { m = max(m, p[q]) }
            return m
        }
    }

    /// Images of one size as an `[N, C, H, W]` tensor.
    static func stack(_ images: [Image]) -> Tensor {
        let (c, h, w) = (images[0].channels, images[0].height, images[0].width)
        let t = Tensor(zeros: [images.count, c, h, w])
        for (i, image) in images.enumerated() { image.copyPixels(to: t.data + i * c * h * w) }
        return t
    }
}

extension UnitVisualsRecipe {
    /// `settings.visuals` of `units.json`: the set size and weight (0 and null without sets), the accentuation
    /// layer and weight (null without), the seed, and the render options as galleries record them.
    func recordedSettings() throws -> JSONValue {
        .object([
            "diversity": .int(diversity), "diversity_weight": diversity > 0 ? .double(Double(diversityWeight)) : .null,
            "accentuate_layer": accentuateLayer.map { .string($0) } ?? .null,
            "accentuate_weight": accentuateLayer != nil ? .double(Double(accentuateWeight)) : .null,
            "accentuate_transforms": accentuateLayer != nil ? .string(accentuateTransforms.description) : .null,
            "seed": .string(String(seed)), "render": .object(try render.recordedSettings(preprocessSource: nil)),
        ])
    }
}
