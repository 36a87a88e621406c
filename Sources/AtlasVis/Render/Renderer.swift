import AtlasCore
import AtlasImage
import AtlasNet
import Foundation

/// The image parameterization a render optimizes.
public enum ParamKind: String, Sendable, CaseIterable {
    /// Lucid's FFT image with decorrelated colour (`FFTImageParam`).
    case fft
    /// One parameter per pixel (`PixelImageParam`).
    case pixel
    /// MACO: the Fourier phase only, magnitude fixed to natural images' (`MacoImageParam`).
    case maco
}

/// Settings of one render (Lucid's `render_vis` defaults).
public struct RenderOptions: Sendable, Equatable, Codable {
    public var param: ParamKind = .fft
    /// Icon height and width in pixels.
    public var size = 128
    /// Optimization steps.
    public var steps = 512
    /// Adam learning rate.
    public var learningRate: Float = 0.05
    public var transforms: TransformPipeline = .standard
    /// The model's input normalisation, applied after the transforms (identity: the model sees [0, 1]).
    public var preprocess: Preprocess = .identity
    /// Bilinear resize (align_corners) of the transformed image to `upsample × upsample` before the model, as
    /// Lucent does (224) for icons smaller than 224 px; nil (Lucid) feeds the transformed image as it is.
    public var upsample: Int?
    /// Steps (1…`steps`) after which the current images are handed to the snapshot callback.
    public var thresholds: [Int] = []
    /// Colour decorrelation of the parameterization (default: on for RGB models, off for grayscale).
    public var decorrelate: Bool?

    /// Adam's learning rate unless told otherwise: Lucid's 0.05, and 0.1 for MACO (the best of 0.05, 0.1, 0.2
    /// and 0.5 on EfficientNet-Lite0, README "Deeper networks").
    public static func defaultLearningRate(for param: ParamKind) -> Float { param == .maco ? 0.1 : 0.05 }

    public init(param: ParamKind = .fft, size: Int = 128, steps: Int = 512, learningRate: Float = 0.05,
                transforms: TransformPipeline = .standard, preprocess: Preprocess = .identity, upsample: Int? = nil,
                thresholds: [Int] = [], decorrelate: Bool? = nil) {
        self.param = param
        self.size = size
        self.steps = steps
        self.learningRate = learningRate
        self.transforms = transforms
        self.preprocess = preprocess
        self.upsample = upsample
        self.thresholds = thresholds
        self.decorrelate = decorrelate
    }
}

/// What a render produced.
public struct RenderResult: Sendable {
    /// Final icons (`options.size` square, channels of the model input), values in [0, 1].
    public var images: [Image]
    /// The final images as one `[N, C, H, W]` tensor.
    public var tensor: Tensor
    /// Each icon's objective at the last step (on its transformed image, as Lucid logs the loss).
    public var values: [Double]
    /// Objective values per step: `history[step][icon]`.
    public var history: [[Double]]
    /// Each icon's objective on its final image without transforms (upsampled and preprocessed as rendered):
    /// the quality measure recorded beside icons, comparable between parameterizations and transforms.
    public var scores: [Double]
    /// MACO's importance map: Σ over steps and channels of |∂objective/∂image|, `[N, H, W]` (see `ImportanceMap`).
    public var importance: Tensor
    /// Wall-clock seconds of the optimization.
    public var seconds: Double
}

/// Why a render cannot run.
public enum RenderError: Error, CustomStringConvertible, Equatable {
    case invalidOption(String)
    case model(String)

    public var description: String {
        switch self {
        case let .invalidOption(m): return "render: \(m)"
        case let .model(m): return "render: \(m)"
        }
    }
}

/// Feature visualization by gradient ascent on the input (Lucid's `render_vis`), many icons as one batch.
///
/// Each step: parameters → images `[N, C, H, W]` → transforms (icon `i` draws from its own seed) → optional
/// upsample → preprocess → `Network.forward` (only up to the layers the objectives read) → objective values and
/// gradients → `Network.backward` to the input (never to the weights) → the adjoints in reverse → Adam ascent.
/// Icon `i` optimizes `objectives[i]` from `seeds[i]`; every component treats icons independently (unless an
/// objective couples them, e.g. diversity), so an icon renders to the same bytes alone or in any batch, at any
/// thread count.
public final class Renderer {
    public let network: Network
    /// Channels of the model input (1 for grayscale models: the parameterization follows).
    public let inputChannels: Int
    /// Most icons sent through the network at once. Icons are independent (unless a term couples them), so a larger
    /// batch runs in slices of this size with the same bytes: activations and their gradients stay small enough for
    /// the caches (and memory stays bounded) while the convolutions keep enough columns to run at full speed.
    public var networkBatch = 8

    public init(network: Network) throws {
        guard let input = network.input else { throw RenderError.model("the model has no runtime input") }
        if let shape = input.shape {
            guard shape.count == 4 else { throw RenderError.model("input '\(input.name)' has rank \(shape.count), not NCHW") }
            if case let .fixed(c) = shape[1] { inputChannels = c } else { inputChannels = 3 }
        } else {
            inputChannels = 3
        }
        guard (1...4).contains(inputChannels) else {
            throw RenderError.model("input '\(input.name)' has \(inputChannels) channels; images need 1–4")
        }
        self.network = network
    }

    /// The parameterization for these options (grayscale when the model input has one channel).
    public func makeParam(_ options: RenderOptions) throws -> ImageParam {
        let s = options.size
        switch options.param {
        case .fft: return try FFTImageParam(height: s, width: s, channels: inputChannels, decorrelate: options.decorrelate)
        case .pixel: return try PixelImageParam(height: s, width: s, channels: inputChannels, decorrelate: options.decorrelate)
        case .maco: return try MacoImageParam(height: s, width: s, channels: inputChannels, decorrelate: options.decorrelate)
        }
    }

    /// Height and width the model sees (after transforms and upsampling).
    public func modelInputSize(_ options: RenderOptions) throws -> Int {
        if let u = options.upsample { return u }
        return try options.transforms.outputSize(height: options.size, width: options.size).height
    }

    /// The value name a user-given objective layer stands for; `Objective.networkOutput` is the first graph
    /// output, or the input of the Softmax that produces it (class objectives read pre-softmax logits).
    public func valueName(_ layer: String) throws -> String {
        guard layer == Objective.networkOutput else { return try network.resolve(layer) }
        guard let out = network.graph.outputs.first?.name else { throw RenderError.model("the model has no output") }
        if let node = network.graph.nodes.first(where: { $0.outputs.first == out }), node.opType == "Softmax",
           let logits = node.input(0) {
            return logits
        }
        return out
    }

    /// Checks options and objectives against the model at the render's input size without running it: sizes,
    /// layer names, channel and position ranges, vector lengths. Throws `RenderError`, `ModelError`,
    /// `ObjectiveError`, `TransformError` or `ParamError` with a message naming the problem.
    public func validate(_ objectives: [Objective], seeds: [UInt64], options: RenderOptions) throws {
        guard !objectives.isEmpty, objectives.count == seeds.count else {
            throw RenderError.invalidOption("\(objectives.count) objectives for \(seeds.count) seeds")
        }
        guard (1...4096).contains(options.size) else { throw RenderError.invalidOption("size \(options.size) (1…4096)") }
        guard options.steps >= 0 else { throw RenderError.invalidOption("steps \(options.steps) (≥ 0)") }
        guard options.learningRate > 0, options.learningRate.isFinite else {
            throw RenderError.invalidOption("learning rate \(options.learningRate) (> 0)")
        }
        if let u = options.upsample, !(1...4096).contains(u) { throw RenderError.invalidOption("upsample \(u) (1…4096)") }
        if let t = options.thresholds.first(where: { $0 < 1 || $0 > options.steps }) {
            throw RenderError.invalidOption("threshold \(t) outside 1…\(options.steps) steps")
        }
        guard options.preprocess.accepts(channels: inputChannels) else {
            throw RenderError.invalidOption("preprocess \(options.preprocess) has \(options.preprocess.scale.count) channels; the model takes \(inputChannels)")
        }
        _ = try makeParam(options)
        let side = try modelInputSize(options)
        let plan = try network.plan(for: [objectives.count, inputChannels, side, side])
        var zeros: [String: Tensor] = [:]
        for layer in Set(objectives.flatMap(\.layers)) {
            let value = try valueName(layer)
            if let e = plan.errors[value] { throw e.naming(layer) }
            guard let shape = plan.shapes[value] else { throw ModelError.unknownLayer(layer) }
            zeros[layer] = Tensor(zeros: shape)
        }
        let image = Tensor(zeros: [objectives.count, inputChannels, options.size, options.size])
        _ = try combined(objectives).evaluate(activations: zeros, image: image)
    }

    /// One objective for the batch: the shared objective when all icons have the same one (so batch terms such
    /// as diversity work), else `Objective.perIcon`.
    func combined(_ objectives: [Objective]) -> Objective {
        if let first = objectives.first, objectives.allSatisfy({ $0 == first }) { return first }
        return Objective.perIcon(objectives)
    }

    /// Renders icon `i` for `objectives[i]` from `seeds[i]`. `progress(step, steps)` is called after every step;
    /// `snapshot(step, images)` after each threshold step.
    public func render(_ objectives: [Objective], seeds: [UInt64], options: RenderOptions,
                       progress: ((Int, Int) -> Void)? = nil,
                       snapshot: ((Int, [Image]) throws -> Void)? = nil) throws -> RenderResult {
        try validate(objectives, seeds: seeds, options: options)
        let start = DispatchTime.now().uptimeNanoseconds
        let objective = combined(objectives)
        let param = try makeParam(options)
        let params = param.initialParameters(seeds: seeds)
        let adam = Adam(shape: params.shape, learningRate: options.learningRate)
        let thresholds = Set(options.thresholds)
        var history: [[Double]] = []
        history.reserveCapacity(options.steps)
        let importance = Tensor(zeros: [seeds.count, options.size, options.size])
        for step in 0..<options.steps {
            let image = param.image(params)
            let (values, gradImage) = try valueAndGradient(objective, image: image, seeds: seeds, step: step, options: options)
            history.append(values)
            ImportanceMap.accumulate(gradImage, into: importance)
            adam.ascend(params, grad: param.backward(params, image: image, gradImage: gradImage))
            progress?(step + 1, options.steps)
            if let snapshot, thresholds.contains(step + 1) { try snapshot(step + 1, try images(param.image(params))) }
        }
        let final = param.image(params)
        // Objectives that read fixed positions may not fit the untransformed size: no score then (NaN).
        let scores = (try? evaluate(objectives, images: final, options: options)) ?? [Double](repeating: .nan, count: seeds.count)
        let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) * 1e-9
        return RenderResult(images: try images(final), tensor: final, values: history.last ?? [],
                            history: history, scores: scores, importance: importance, seconds: seconds)
    }

    /// Objective values of the images `[N, C, H, W]` (in [0, 1]) at optimization step `step` (which selects the
    /// transform draws) and the gradient of their sum w.r.t. the images.
    public func valueAndGradient(_ objective: Objective, image: Tensor, seeds: [UInt64], step: Int,
                                 options: RenderOptions) throws -> (values: [Double], gradient: Tensor) {
        let r = try run(objective, image: image, seeds: seeds, step: step, options: options, gradient: true)
        return (r.values, r.gradient!)
    }

    func run(_ objective: Objective, image: Tensor, seeds: [UInt64], step: Int, options: RenderOptions,
             gradient wantGradient: Bool, penalty: FeaturePenalty? = nil) throws -> (values: [Double], gradient: Tensor?) {
        let n = image.shape[0]
        guard n > networkBatch, networkBatch > 0, !objective.couplesIcons else {
            return try runBatch(objective, image: image, seeds: seeds, step: step, options: options, gradient: wantGradient,
                                penalty: penalty)
        }
        var values: [Double] = []
        let gradient = wantGradient ? Tensor(uninitialized: image.shape) : nil   // every slice writes its rows
        for start in stride(from: 0, to: n, by: networkBatch) {
            let range = start..<min(n, start + networkBatch)
            let part = try runBatch(objective.restricted(to: range), image: image.slice(batch: range).copy(),
                                    seeds: Array(seeds[range]), step: step, options: options, gradient: wantGradient,
                                    penalty: penalty?.restricted(to: range))
            values += part.values
            if let gradient, let g = part.gradient {
                let per = image.count / n
                (gradient.data + start * per).update(from: g.data, count: g.count)
            }
        }
        return (values, gradient)
    }

    /// One network pass (and backward) over the whole batch.
    func runBatch(_ objective: Objective, image: Tensor, seeds: [UInt64], step: Int, options: RenderOptions,
                  gradient wantGradient: Bool, penalty: FeaturePenalty? = nil) throws -> (values: [Double], gradient: Tensor?) {
        let (transformed, record) = try options.transforms.forward(image, seeds: seeds, step: step)
        let resize = options.upsample.map {
            BilinearUpsample(from: (transformed.shape[2], transformed.shape[3]), to: ($0, $0))
        }
        let x = options.preprocess.forward(resize?.forward(transformed) ?? transformed)
        var layers = objective.layers
        if let penalty, !layers.contains(penalty.layer) { layers.append(penalty.layer) }
        var request: [String: String] = [:]
        for l in layers { request[l] = l == Objective.networkOutput ? try valueName(l) : l }
        // The regularizer's reference features first: every forward discards the previous one's backward record.
        let penaltyReference = try penalty.map { p -> Tensor in
            let (t, _) = try options.transforms.forward(p.reference, seeds: seeds, step: step)
            let value = request[p.layer]!
            guard let f = try network.forward(options.preprocess.forward(resize?.forward(t) ?? t), capture: [value])[value] else {
                throw RenderError.model("no activations at '\(p.layer)'")
            }
            return f
        }
        var activations: [String: Tensor] = [:]
        if !layers.isEmpty {
            // Channels read per value; a value that some alias reads whole is not restricted.
            var channels: [String: Set<Int>] = [:], whole = Set<String>()
            let read = objective.channelsRead
            if let penalty { whole.insert(request[penalty.layer]!) }
            for l in layers {
                if let c = read[l] { channels[request[l]!, default: []].formUnion(c) } else { whole.insert(request[l]!) }
            }
            for v in whole { channels[v] = nil }
            let out = try network.forward(x, capture: Set(request.values), keepForBackward: wantGradient, channels: channels)
            for l in layers { activations[l] = out[request[l]!] }
        }
        var result = try objective.evaluate(activations: activations, image: image)
        if let penalty, let reference = penaltyReference {
            guard let features = activations[penalty.layer] else { throw RenderError.model("no activations at '\(penalty.layer)'") }
            let (values, gradient) = penalty.evaluate(features, reference: reference)
            for i in result.values.indices { result.values[i] -= values[i] }
            result.gradients[penalty.layer] = result.gradients[penalty.layer].map { Add().forward([$0, gradient]) } ?? gradient
        }
        guard wantGradient else { return (result.values, nil) }
        var gradient = Tensor(zeros: image.shape)
        if !layers.isEmpty {
            var seedsByValue: [String: Tensor] = [:]
            for (l, g) in result.gradients {
                let key = request[l]!
                seedsByValue[key] = seedsByValue[key].map { Add().forward([$0, g]) } ?? g
            }
            let gx = try network.backward(from: seedsByValue)
            let gt = options.preprocess.backward(gx)
            gradient = options.transforms.backward(resize?.backward(gt) ?? gt, record: record)
        }
        if let gi = result.imageGradient {
            let g = gradient.data, a = gi.data
            for i in 0..<gradient.count { g[i] += a[i] }
        }
        return (result.values, gradient)
    }

    /// Objective values of the images `[N, C, H, W]` without transforms (upsampled and preprocessed as in
    /// `options`), e.g. to compare finished icons.
    public func evaluate(_ objectives: [Objective], images: Tensor, options: RenderOptions) throws -> [Double] {
        let seeds = [UInt64](repeating: 0, count: images.shape[0])
        var plain = options
        plain.transforms = .none
        return try run(combined(objectives), image: images, seeds: seeds, step: 0, options: plain, gradient: false).values
    }

    func images(_ t: Tensor) throws -> [Image] {
        try (0..<t.shape[0]).map { try Image(tensor: t, index: $0) }
    }
}
