import ArgumentParser
import AtlasCore
import AtlasImage
import AtlasJobs
import AtlasMap
import AtlasNet
import AtlasOutput
import AtlasVis
import Foundation

/// Options of the collect stage, shared by `atlas collect` and `atlas map`.
struct CollectOptions: ParsableArguments {
    @Option(help: "Images: a folder (walked recursively), an image file or an IDX file (.gz too); repeat for more.")
    var images: [String] = []
    @Option(help: "Layer (value name or alias) whose activations to collect.") var layer: String?
    @Option(help: "Random spatial positions kept per image.") var perImage = 1
    @Option(help: "Use at most N images.") var limit: Int?
    @Option(help: "Images per forward pass.") var batch = 32
    @Option(help: "Images per part file (memory holds one part's rows).") var partImages = 1024
    @Option(help: "Classes kept per sample (the image's top logits).") var top = 5
    @Option(help: "Class values: gradxact (gradient × activation at the position), logit, or off (no classes).")
    var attribution: AttributionMode = .gradxact
    @OptionGroup var input: ModelInputOptions

    /// What a collection run needs, checked and loaded.
    struct Job {
        var source: ImageSource
        var sampler: ActivationSampler
        var preprocessor: Preprocessor
        var settings: CollectSettings
        var model: AtlasIndex.Model
        var labels: [String]?
    }

    /// Checks the options and loads the model and the image list.
    func prepare(model: String, seed: UInt64, quiet: Bool) throws -> Job {
        guard !images.isEmpty else { throw CommandFailure(message: "give --images", code: AtlasExit.usage) }
        guard let layer else { throw CommandFailure(message: "give --layer", code: AtlasExit.usage) }
        guard perImage >= 1, perImage <= 4096 else { throw CommandFailure(message: "--per-image must be 1…4096", code: AtlasExit.usage) }
        guard (1...4096).contains(batch), partImages >= 1, (0...1000).contains(top), (limit ?? 1) >= 1 else {
            throw CommandFailure(message: "--batch 1…4096, --part-images ≥ 1, --top 0…1000, --limit ≥ 1", code: AtlasExit.usage)
        }
        let mode = attribution
        let network: Network
        network = try ModelSetup.loadNetwork(model, digest: true)
        let setup = try ModelSetup(network: network, modelPath: model, input: input, labelsPath: nil)
        let value: String
        value = try inContext("--layer") { try network.resolve(layer) }
        let logits = mode == .off ? nil : try Renderer(network: network).valueName(Objective.networkOutput)
        let source: ImageSource
        source = try ImageSource(inputs: images, channels: setup.channels, limit: limit)
        for p in source.inputProblems { note("skipped \(p.path): \(p.error.reason)", quiet: quiet) }
        guard !source.items.isEmpty else { throw CommandFailure(message: "no images found in \(images.joined(separator: ", "))", code: AtlasExit.noInput) }
        let settings = CollectSettings(layer: layer, value: value, perImage: perImage, limit: limit, batch: batch,
                                       partImages: partImages, top: mode == .off ? 0 : top, attribution: mode, seed: seed,
                                       input: setup.preprocessor.itemShape, preprocess: setup.choice.summary)
        let sampler = ActivationSampler(network: network, value: value, logits: logits, perImage: perImage, top: settings.top,
                                        attribution: mode, seed: seed)
        let modelRecord = AtlasIndex.Model(file: (model as NSString).lastPathComponent, sha256: SHA256.hex(file: model))
        return Job(source: source, sampler: sampler, preprocessor: setup.preprocessor, settings: settings, model: modelRecord,
                   labels: setup.labels)
    }

    /// Collects into `out` (resuming what is there) with a progress bar; returns the manifest.
    func collect(model: String, seed: UInt64, out: String, quiet: Bool) throws -> CollectManifest {
        let job = try prepare(model: model, seed: seed, quiet: quiet)
        var bar: ProgressBar?
        let manifest = try Collector.run(source: job.source, sampler: job.sampler, preprocessor: job.preprocessor, settings: job.settings,
                                         model: job.model, labels: job.labels, directory: out) { p in
            CollectOptions.show(p, bar: &bar, out: out, quiet: quiet)
        }
        bar?.finish()
        for s in manifest.skipped { note("skipped \(s.image): \(s.reason)") }
        return manifest
    }

    /// Collects the parts of `shard` into `out` (keeping its finished parts) with a progress bar.
    func collectShard(_ shard: ShardSpec, model: String, seed: UInt64, out: String, quiet: Bool) throws -> CollectShardResult {
        let job = try prepare(model: model, seed: seed, quiet: quiet)
        var bar: ProgressBar?
        let result = try Collector.runShard(shard, source: job.source, sampler: job.sampler, preprocessor: job.preprocessor,
                                            settings: job.settings, model: job.model, labels: job.labels, directory: out) { p in
            CollectOptions.show(p, bar: &bar, out: out, quiet: quiet)
        }
        bar?.finish()
        for s in result.skipped { note("skipped \(s.image): \(s.reason)") }
        return result
    }

    static func show(_ p: CollectProgress, bar: inout ProgressBar?, out: String, quiet: Bool) {
        if bar == nil {
            if p.resumedItems > 0 { note("resuming: \(p.resumedItems) of \(p.itemsTotal) images already in \(out)", quiet: quiet) }
            bar = ProgressBar("collect", total: p.itemsTotal - p.resumedItems, unit: "img", quiet: quiet)
        }
        bar?.update(p.itemsDone - p.resumedItems)
    }
}

/// `atlas collect`: activation vectors of a layer at random positions of many images, with class attributions.
struct CollectCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "collect",
        abstract: "Collect a layer's activation vectors from many images (the first stage of an activation atlas).",
        discussion: """
        Streams the images through the model in batches (decoded in parallel), runs it up to --layer (and on to \
        the logits), keeps --per-image random positions per image (image i's positions depend only on --seed and \
        i) and stores each activation vector with its image, position and the image's --top classes scored by \
        gradient × activation at that position (--attribution logit: the logits; off: no classes).

        OUT holds part-NNNNN.npy (float32 [rows, C]), part-NNNNN.jsonl (one record per row) and collect.json \
        (model, settings, parts with SHA-256, skipped images); see docs/activations-format.md. Parts are \
        written atomically; an interrupted run resumes after the last part listed in collect.json. Unreadable \
        images are skipped and listed.

        --shard i/n collects only parts i, i+n, i+2n, … (part p holds images p·N … (p+1)·N−1 for N = \
        --part-images, so the split never depends on the machine) into a shared OUT, each part with a record in \
        OUT/shards/collect-parts/, and keeps OUT/shards/collect-<i>-of-<n>.json (settings fingerprint, parts, \
        SHA-256 of every file); it never writes collect.json. A rerun keeps the shard's intact parts. When every \
        shard is done, atlas merge OUT writes collect.json, byte for byte what one machine writes. --shard auto \
        reads the index from a Slurm array or Kubernetes Indexed Job; atlas plan prints such jobs.

        Example:
          atlas collect Assets/fashion-mnist/fashion_cnn.onnx --images Assets/fashion-mnist/t10k-2000-images-idx3-ubyte.gz \\
            --layer features.conv3.0 --per-image 2 --out acts/
          atlas collect … --out /shared/acts --shard 1/3    (and 0/3, 2/3 elsewhere), then atlas merge /shared/acts

        Convolutions run on the accurate path here (Winograd F(2x2) or im2col, within float32 rounding of a \
        float64 reference), since the attributions are gradients; ATLAS_CONV overrides.
        """
    )

    @Argument(help: "The ONNX model.") var model: String
    @OptionGroup var options: CollectOptions
    @Option(help: "Seed of the positions.") var seed: UInt64 = 0
    @Option(help: "Output folder.") var out: String
    @Option(help: "Collect only parts i, i+n, … of n (e.g. 0/4, or auto under a Slurm array / Kubernetes Indexed Job); atlas merge writes collect.json.")
    var shard: String?
    @Flag(help: "Print a JSON summary on stdout.") var json = false
    @OptionGroup var global: GlobalOptions

    func run() throws {
        try global.apply()
        let start = Date()
        if let spec = try parseShardOption(shard) {
            return try runShard(spec, start: start)
        }
        let m = try options.collect(model: model, seed: seed, out: out, quiet: global.quiet || json)
        let seconds = Date().timeIntervalSince(start)
        let images = m.items - m.skipped.count
        if json {
            let summary: [String: Any] = ["out": out, "rows": m.rows, "channels": m.channels, "images": images, "parts": m.parts.count,
                                          "skipped": m.skipped.map { ["image": $0.image, "reason": $0.reason] },
                                          "seconds": seconds, "threads": Parallel.threadCount]
            let data = try JSONSerialization.data(withJSONObject: summary, options: [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes])
            print(String(decoding: data, as: UTF8.self))
        } else {
            note("wrote \(out): \(m.rows) vectors × \(m.channels) channels from \(images) images in \(m.parts.count) part(s)"
                 + (m.skipped.isEmpty ? "" : ", \(m.skipped.count) skipped"), quiet: global.quiet)
        }
    }

    func runShard(_ spec: ShardSpec, start: Date) throws {
        let r = try options.collectShard(spec, model: model, seed: seed, out: out, quiet: global.quiet || json)
        let seconds = Date().timeIntervalSince(start)
        if json {
            let summary: [String: Any] = ["out": out, "shard": "\(spec)", "manifest": "\(out)/\(r.manifest)", "parts": r.parts,
                                          "parts_total": r.partsTotal, "computed": r.computed, "reused": r.reused, "rows": r.rows,
                                          "channels": r.channels, "skipped": r.skipped.map { ["image": $0.image, "reason": $0.reason] },
                                          "seconds": seconds, "threads": Parallel.threadCount]
            let data = try JSONSerialization.data(withJSONObject: summary, options: [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes])
            print(String(decoding: data, as: UTF8.self))
        } else {
            note("wrote shard \(spec) into \(out): \(r.parts) of \(r.partsTotal) parts (\(r.computed) collected, \(r.reused) kept), "
                 + "\(r.rows) vectors" + (r.skipped.isEmpty ? "" : ", \(r.skipped.count) images skipped"), quiet: global.quiet)
            note("when every shard is done, write collect.json: atlas merge \(out)", quiet: global.quiet)
        }
    }
}
