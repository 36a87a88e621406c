import ArgumentParser
import AtlasCore
import AtlasImage
import AtlasNet
import AtlasVis
import Foundation

/// `atlas visualize`: one feature visualization (or a few seeds of it) rendered by gradient ascent.
struct Visualize: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Render a feature visualization of a channel, neuron, class or objective expression.",
        discussion: """
        Optimizes an image (Lucid's FFT parameterization with decorrelated colour, or one parameter per pixel) \
        so that the objective grows, with Lucid's standard random transforms each step and Adam. Defaults are \
        Lucid's render_vis: 128 px, 512 steps, learning rate 0.05. Models with a one-channel input get \
        grayscale icons.

        Choose the objective with --layer L --channel C, --neuron L:C[:X:Y] (default the centre), --class K \
        (pre-softmax logit of the model output) or --objective EXPR (e.g. 'mixed4a:97 - 1e-3*tv'; see the \
        AtlasVis Objective.parse grammar). Layer names are ONNX value names or aliases (atlas inspect lists them).

        \(PreprocessHelp.discussion)

        --thresholds 32,128,512 also writes FILE-32.png, FILE-128.png, … after those steps. --batch-seeds K \
        renders seeds SEED…SEED+K−1 of the objective as one batch and writes them side by side. \
        Same seed, same bytes, at any --threads.

        --param maco (Fel et al. 2023) optimizes only the Fourier phase; the magnitude spectrum stays that of \
        natural images, and the transforms default to MACO's random crops with noise (--transforms auto). It \
        also writes FILE.importance.png: where the gradient was large over the run (white = most important \
        fifth). The objective printed (and 'scores' in --json) is that of the final image without transforms, \
        comparable between parameterizations.

        --from IMAGE does feature accentuation (Hamblin et al. 2024): the image (centre-cropped, resized to \
        --size) is the start, and --accentuate-weight W (default 1) times the mean squared difference of the \
        activations at --accentuate-layer L (default: the first convolution) between the image and the seed, \
        under the same random transforms, is subtracted from the objective: it shows what the unit sees in that \
        image. A per-pixel image (decorrelated colour) is optimized; a larger W stays closer to the seed.

        Convolutions use the fast path (Winograd F(4x4) on large 3x3 layers, about 1e-5 of each layer's scale), \
        since only the optimized image is kept; ATLAS_CONV=accurate (or direct) overrides.
        """
    )

    @Argument(help: "The ONNX model.")
    var model: String

    @Option(help: "Layer (value name or alias) of a channel objective; needs --channel.")
    var layer: String?
    @Option(help: "Channel of --layer whose mean activation is maximized.")
    var channel: Int?
    @Option(help: "Neuron objective LAYER:CHANNEL[:X:Y] (position default: the centre).")
    var neuron: String?
    @Option(name: .customLong("class"), help: "Class index K: maximize the pre-softmax logit K of the model output.")
    var classIndex: Int?
    @Option(help: "Objective expression, e.g. 'mixed4a:97 - 1e-3*tv'.")
    var objective: String?

    @Option(help: "Icon size in pixels.") var size = 128
    @Option(help: "Optimization steps.") var steps = 512
    @Option(help: "Random seed (icon k of --batch-seeds uses SEED+k).") var seed: UInt64 = 0
    @Option(help: "Adam learning rate (default 0.05; 0.1 with --param maco, the best measured).") var lr: Float?
    @Option(help: "Transforms: auto (maco for --param maco, else standard), standard, maco, none, or a list like 'pad:12,jitter:8,scale:0.9-1.1,rotate:10,jitter:4' or 'crop:0.6-1.0,noise:0.02'.")
    var transforms = "auto"
    @Option(help: "Image parameterization: fft (Lucid), pixel, or maco (phase only, natural magnitude spectrum; also writes FILE.importance.png).")
    var param: ParamKind = .fft
    @Option(help: PreprocessHelp.option)
    var preprocess = "auto"
    @Option(help: "Resize the transformed image to N×N (bilinear, align_corners) before the model, as Lucent does with 224.")
    var upsample: Int?
    @Option(help: "Comma-separated steps after which to also write FILE-<step>.png.") var thresholds: String?
    @Option(help: "Render K seeds of the objective as one batch (written side by side).") var batchSeeds = 1
    @Option(help: "Feature accentuation: start from this image and stay close to it (see --accentuate-weight).") var from: String?
    @Option(help: "With --from: the early layer whose activations keep the image close to the seed (default: the first convolution).")
    var accentuateLayer: String?
    @Option(help: "With --from: weight of the closeness term (0: free; larger: closer to the seed).") var accentuateWeight: Float = 1
    @Option(parsing: .upToNextOption, help: "Natural images (files, folders, IDX): also report the score relative to the best image's value of the objective.")
    var images: [String] = []
    @Option(help: "At most this many --images.") var imagesLimit = 256
    @Option(help: "Output image (.png or .jpg).") var out: String
    @Flag(help: "Print a JSON summary on stdout.") var json = false
    @OptionGroup var global: GlobalOptions

    func run() throws { try render() }

    /// The single objective the options select.
    func makeObjective() throws -> Objective {
        let chosen = [layer != nil || channel != nil, neuron != nil, classIndex != nil, objective != nil].filter { $0 }.count
        guard chosen == 1 else {
            throw CommandFailure(message: "give exactly one of --layer/--channel, --neuron, --class, --objective", code: AtlasExit.usage)
        }
        if layer != nil || channel != nil {
            guard let layer, let channel else { throw CommandFailure(message: "--layer and --channel go together", code: AtlasExit.usage) }
            return .channel(layer, channel)
        }
        if let neuron {
            var parts = neuron.split(separator: ":", omittingEmptySubsequences: false).map(String.init)
            var numbers: [Int] = []
            while parts.count > 1, numbers.count < 3, let v = Int(parts.last!) { numbers.insert(v, at: 0); parts.removeLast() }
            let name = parts.joined(separator: ":")
            guard !name.isEmpty, numbers.count == 1 || numbers.count == 3 else {
                throw CommandFailure(message: "--neuron '\(neuron)': expected LAYER:CHANNEL[:X:Y]", code: AtlasExit.usage)
            }
            return numbers.count == 1 ? .neuron(name, numbers[0]) : .neuron(name, numbers[0], x: numbers[1], y: numbers[2])
        }
        if let classIndex { return .classLogit(classIndex) }
        return try Objective.parse(objective!)
    }

    func makeOptions(modelPath: String, channels: Int) throws -> (RenderOptions, PreprocessChoice) {
        var (options, choice) = try makeRenderOptions(param: param, size: size, steps: steps, lr: lr, upsample: upsample,
                                                      transforms: transforms, preprocess: preprocess, model: modelPath,
                                                      channels: channels)
        if let thresholds {
            let items = thresholds.split(separator: ",").map { Int($0.trimmingCharacters(in: .whitespaces)) }
            guard !items.isEmpty, items.allSatisfy({ $0 != nil }) else {
                throw CommandFailure(message: "--thresholds '\(thresholds)': expected step numbers separated by commas", code: AtlasExit.usage)
            }
            options.thresholds = items.map { $0! }
        }
        return (options, choice)
    }

    func render() throws {
        try global.apply()
        guard batchSeeds >= 1, batchSeeds <= 256 else { throw CommandFailure(message: "--batch-seeds must be 1…256", code: AtlasExit.usage) }
        guard ImageFormat(pathExtension: out) != nil else {
            throw CommandFailure(message: "--out '\(out)': use a .png or .jpg name", code: AtlasExit.usage)
        }
        let outDir = (out as NSString).deletingLastPathComponent
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: outDir.isEmpty ? "." : outDir, isDirectory: &isDir), isDir.boolValue else {
            throw CommandFailure(message: "output directory '\(outDir)' does not exist", code: AtlasExit.cannotCreate)
        }
        let objective = try makeObjective()
        let renderer = try Renderer(network: try ModelSetup.loadNetwork(model))
        let (options, choice) = try makeOptions(modelPath: model, channels: renderer.inputChannels)
        if let from {
            return try accentuate(from: from, objective: objective, options: options, renderer: renderer, preprocess: choice)
        }
        let seeds = (0..<UInt64(batchSeeds)).map { seed &+ $0 }
        let objectives = [Objective](repeating: objective, count: batchSeeds)
        try renderer.validate(objectives, seeds: seeds, options: options)

        note("visualize \(objective) · \(renderer.inputChannels == 1 ? "grayscale " : "")\(options.param.rawValue) \(size) px · "
             + "\(steps) steps · batch \(batchSeeds) · preprocess \(choice.summary) · \(Parallel.threadCount) threads",
             quiet: global.quiet || json)
        let bar = ProgressBar("visualize", total: steps, unit: "steps", quiet: global.quiet)
        var snapshots: [String] = []
        let result = try renderer.render(objectives, seeds: seeds, options: options,
                                         progress: { step, total in if step < total { bar.update(step) } },
                                         snapshot: { step, images in
                                             let path = Visualize.snapshotPath(out, step: step)
                                             try Visualize.write(images, to: path)
                                             snapshots.append(path)
                                         })
        bar.finish()
        try Visualize.write(result.images, to: out)
        let importancePath = options.param == .maco ? ImportanceMap.path(besideIcon: out) : nil
        if let importancePath {
            try Visualize.write(try (0..<batchSeeds).map { try ImportanceMap.image(result.importance, index: $0) }, to: importancePath)
        }
        let rate = result.seconds > 0 ? Double(steps * batchSeeds) / result.seconds : 0
        var naturalBest: Double?
        if !images.isEmpty {
            let natural = try NaturalImages(images, channels: renderer.inputChannels, size: size, limit: imagesLimit)
            for s in natural.skipped { note("skipped \(s.path): \(s.error)", quiet: global.quiet || json) }
            naturalBest = try renderer.bestNaturalValues([objective], images: natural.tensor, options: options)[0]
        }
        let relatives = naturalBest.map { b in result.scores.map { NaturalImages.relative($0, b) } }
        if json {
            let summary: [String: Any] = [
                "model": model, "objective": objective.description, "out": out, "snapshots": snapshots,
                "seeds": seeds.map { Int(truncatingIfNeeded: $0) }, "values": result.values,
                "scores": result.scores.map { $0.isFinite ? $0 as Any : NSNull() }, "importance": importancePath as Any,
                "natural_best": naturalBest.map { $0.isFinite ? $0 as Any : NSNull() } as Any,
                "relative": relatives.map { $0.map { $0 as Any? ?? NSNull() } } as Any,
                "size": size, "steps": steps, "batch": batchSeeds, "param": options.param.rawValue,
                "transforms": options.transforms.description, "preprocess": choice.summary,
                "upsample": upsample as Any, "learning_rate": Double(options.learningRate), "threads": Parallel.threadCount,
                "seconds": result.seconds, "icon_steps_per_second": rate,
            ]
            let data = try JSONSerialization.data(withJSONObject: summary, options: [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes])
            print(String(decoding: data, as: UTF8.self))
        } else {
            note("wrote \(out)\(importancePath.map { " and \($0)" } ?? "") · objective \(result.scores.map { String(format: "%.4g", $0) }.joined(separator: ", ")) "
                 + "(final image, no transforms; last step \(result.values.map { String(format: "%.4g", $0) }.joined(separator: ", "))) · "
                 + (relatives.map { r in "relative to the best of the --images \(r.map { $0.map { String(format: "%.2f", $0) } ?? "-" }.joined(separator: ", ")) · " } ?? "")
                 + String(format: "%.1f icon-steps/s", rate), quiet: global.quiet)
        }
    }

    /// `dir/icon.png` → `dir/icon-32.png`.
    static func snapshotPath(_ path: String, step: Int) -> String {
        let ext = (path as NSString).pathExtension
        let stem = ext.isEmpty ? path : String(path.dropLast(ext.count + 1))
        return ext.isEmpty ? "\(stem)-\(step)" : "\(stem)-\(step).\(ext)"
    }

    /// Writes the icons side by side into one image, atomically.
    static func write(_ images: [Image], to path: String) throws {
        guard let first = images.first else { return }
        if images.count == 1 { return try ImageCodec.write(first, to: path) }
        let w = first.width, h = first.height, c = first.channels, n = images.count
        var pixels = [Float](repeating: 0, count: c * h * w * n)
        for (k, im) in images.enumerated() {
            for ch in 0..<c {
                for y in 0..<h {
                    for x in 0..<w { pixels[(ch * h + y) * w * n + k * w + x] = im.pixels[(ch * h + y) * w + x] }
                }
            }
        }
        try ImageCodec.write(try Image(width: w * n, height: h, channels: c, pixels: pixels), to: path)
    }
}
