import AtlasCore
import AtlasImage
import AtlasNet
import AtlasVis
import Foundation

/// `atlas visualize --from IMAGE`: feature accentuation of the objective in a seed image.
extension Visualize {
    func accentuate(from path: String, objective: Objective, options: RenderOptions, renderer: Renderer,
                    preprocess: PreprocessChoice) throws {
        guard batchSeeds == 1 else { throw CommandFailure(message: "--from renders one image; drop --batch-seeds", code: AtlasExit.usage) }
        guard accentuateWeight >= 0, accentuateWeight.isFinite else {
            throw CommandFailure(message: "--accentuate-weight must be a number ≥ 0", code: AtlasExit.usage)
        }
        guard FileManager.default.fileExists(atPath: path) else { throw CommandFailure(message: "--from '\(path)' not found", code: AtlasExit.noInput) }
        let seedImage = try inContext("--from") {
            let layout: ChannelLayout = renderer.inputChannels == 1 ? .gray : .rgb
            let decoded = try ImageCodec.decode(file: path, options: DecodeOptions(layout: layout))
            return try decoded.resized(shorterSide: size).centerCropped(width: size, height: size)
        }
        guard let layer = accentuateLayer ?? Accentuation.defaultLayer(of: renderer.network) else {
            throw CommandFailure(message: "the model has no convolution; give --accentuate-layer", code: AtlasExit.usage)
        }
        note("accentuate \(objective) in \(path) · layer \(layer) weight \(accentuateWeight) · \(size) px · \(steps) steps · "
             + "preprocess \(preprocess.summary) · \(Parallel.threadCount) threads", quiet: global.quiet || json)
        let bar = ProgressBar("accentuate", total: steps, unit: "steps", quiet: global.quiet)
        let result = try renderer.accentuate(objective, seedImage: seedImage, accentuation: Accentuation(layer: layer, weight: accentuateWeight),
                                             seed: seed, options: options, progress: { step, total in if step < total { bar.update(step) } })
        bar.finish()
        try Visualize.write(result.images, to: out)
        let seedScore = (try? renderer.evaluate([objective], images: seedImage.tensor(), options: options))?.first ?? .nan
        if json {
            let summary: [String: Any] = [
                "model": model, "objective": objective.description, "out": out, "from": path, "accentuate_layer": layer,
                "accentuate_weight": Double(accentuateWeight), "seed_score": seedScore.isFinite ? seedScore : NSNull(),
                "scores": result.scores.map { $0.isFinite ? $0 as Any : NSNull() }, "values": result.values,
                "size": size, "steps": steps, "learning_rate": Double(options.learningRate), "transforms": options.transforms.description,
                "preprocess": preprocess.summary, "threads": Parallel.threadCount, "seconds": result.seconds,
            ]
            let data = try JSONSerialization.data(withJSONObject: summary, options: [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes])
            print(String(decoding: data, as: UTF8.self))
        } else {
            note("wrote \(out) · objective \(String(format: "%.4g", seedScore)) in the seed → "
                 + "\(result.scores.map { String(format: "%.4g", $0) }.joined()) accentuated", quiet: global.quiet)
        }
    }
}
