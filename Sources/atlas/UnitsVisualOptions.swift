import ArgumentParser
import AtlasImage
import AtlasMap
import AtlasNet
import AtlasVis

/// The options of the pictures `atlas units` renders per unit: a diversity set and the accentuated top exemplar.
struct UnitVisualOptions: ParsableArguments {
    @Option(help: "Per unit, a diversity set of N ≥ 2 icons optimized jointly with Lucid's diversity objective (0: none).")
    var diversity = 0
    @Option(help: "Weight of Lucid's diversity term: each set maximizes mean channel − W·Σ_{i≠j} cos(Gram_i, Gram_j)/N.")
    var diversityWeight: Float = 0.3
    @Flag(help: "Per unit, the top exemplar accentuated toward the unit (as atlas visualize --from).") var accentuate = false
    @Option(help: "With --accentuate: layer whose activations keep the image close to the exemplar (default: the first convolution).")
    var accentuateLayer: String?
    @Option(help: "With --accentuate: weight of the closeness term (0: free; larger: closer to the exemplar).")
    var accentuateWeight: Float = 1
    @Option(help: "With --accentuate: its transforms (none, or a list like 'pad:2,jitter:2' that keeps the input size; the peak cell should stay in place).")
    var accentuateTransforms = "pad:2,jitter:2"
    @Option(help: "Size of the diversity icons in pixels (the accentuated image keeps the network's input size).") var iconSize = 128
    @Option(help: "Optimization steps of each picture.") var steps = 512
    @Option(help: "Adam learning rate (default 0.05).") var lr: Float?
    @Option(help: "Base seed of the pictures.") var seed: UInt64 = 0
    @Option(help: "Transforms of the diversity renders: auto (standard), none, or a list like 'pad:12,jitter:8,scale:0.9-1.1,rotate:10,jitter:4'.")
    var transforms = "auto"

    var wanted: Bool { diversity != 0 || accentuate }

    /// The recipe and its renderer, checked against the layer (usage errors for bad values); nil without pictures.
    func make(network: Network, layer: String, spatial: [Int], preprocessor: Preprocessor, quiet: Bool) throws -> UnitVisuals? {
        guard wanted else { return nil }
        guard diversity == 0 || (2...64).contains(diversity), diversityWeight.isFinite, diversityWeight >= 0 else {
            throw CommandFailure(message: "--diversity 2…64 (0: none), --diversity-weight ≥ 0", code: AtlasExit.usage)
        }
        guard (8...1024).contains(iconSize), steps >= 1, accentuateWeight.isFinite, accentuateWeight >= 0 else {
            throw CommandFailure(message: "--icon-size 8…1024, --steps ≥ 1, --accentuate-weight ≥ 0", code: AtlasExit.usage)
        }
        var options = RenderOptions(param: .fft, size: iconSize, steps: steps, learningRate: lr ?? RenderOptions.defaultLearningRate(for: .fft))
        options.transforms = try inContext("--transforms") { try parseTransforms(transforms, param: .fft) }
        options.preprocess = preprocessor.preprocess
        let renderer = try Renderer(network: network)
        var regularizer: String? = nil
        if accentuate {
            guard let l = accentuateLayer ?? Accentuation.defaultLayer(of: network) else {
                throw CommandFailure(message: "the model has no convolution; give --accentuate-layer", code: AtlasExit.usage)
            }
            regularizer = l
        }
        let recipe = UnitVisualsRecipe(diversity: diversity, diversityWeight: diversityWeight, accentuateLayer: regularizer,
                                       accentuateWeight: accentuateWeight,
                                       accentuateTransforms: try inContext("--accentuate-transforms") { try TransformPipeline.parse(accentuateTransforms) },
                                       render: options, seed: seed)
        let visuals = UnitVisuals(recipe: recipe, renderer: renderer)
        try inContext("--diversity/--accentuate") { try visuals.validate(layer: layer, input: preprocessor.itemShape, spatial: spatial) }
        return visuals
    }
}
