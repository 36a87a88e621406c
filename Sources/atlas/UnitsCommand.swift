import ArgumentParser
import AtlasCore
import AtlasImage
import AtlasJobs
import AtlasMap
import AtlasNet
import AtlasOutput
import Foundation

/// `atlas units`: per-unit pages of a layer — the dataset images that excite each channel most, beside its icon.
struct UnitsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "units",
        abstract: "Find each channel's top (and bottom) dataset images and write a linkable page per unit.",
        discussion: """
        Streams --images through the model once, forward only, up to --layer, and keeps for every channel \
        (or --channels) the --top images with the largest maximum of the channel over space (ties: lower image \
        number, then the earlier position in row-major order), the position of that maximum, the activation and \
        its rank; with --negative also the images with the smallest minimum. Each exemplar gets the receptive \
        field of its peak cell, computed from the graph (kernels, strides, dilations, padding), as a crop box in \
        network-input pixels. Per channel it also keeps a histogram of the per-image maxima and the fraction of \
        images where the channel fires (max > 0). Memory holds one batch and channels × 2·top exemplars, \
        whatever the number of images.

        OUT holds units.json (every unit's statistics and exemplars with their boxes; docs/units-format.md), \
        units/<layer>/index.html (the layer page: every unit as a cell, opening its page) and \
        units/<layer>/<channel>.html (icon, firing fraction, histogram, exemplar crops; a click shows the full \
        image as the network saw it with the box), with the crops and images beside them. --icons GALLERY puts \
        the icons of an atlas gallery of the same layer (GALLERY/icons/c<NNNN>.png) on the pages.

        The images are summarized in parts of --part-images, each written to OUT/units-parts/ as it finishes: \
        an interrupted run resumes after its last part. --shard i/n computes only parts i, i+n, … into a shared \
        OUT and records them in OUT/shards/units-<i>-of-<n>.json; atlas merge OUT then writes the output, byte \
        for byte what one machine writes (it re-reads the exemplar images from the recorded --images paths, so \
        merge where they resolve). Unreadable images are skipped and listed.

        Example:
          atlas gallery Assets/imagenet/efficientnet_lite0.onnx --layer _blocks.7 --channels 0..15 --out g/
          atlas units Assets/imagenet/efficientnet_lite0.onnx --layer _blocks.7 --channels 0..15 \\
            --images photos/ --icons g/ --out u/      (then open u/units/_blocks.7/index.html)
        """
    )

    @Argument(help: "The ONNX model.") var model: String
    @Option(help: "Layer (value name or alias) whose units to explain.") var layer: String
    @Option(help: "Images: a folder (walked recursively), an image file or an IDX file (.gz too); repeat for more.")
    var images: [String] = []
    @Option(help: "Channels: ranges and lists such as 0..15, 3,5,9 or 0..7,12 (inclusive; default all).") var channels: String?
    @Option(help: "Exemplars kept per unit (and per list with --negative).") var top = 9
    @Flag(help: "Also keep the images with the smallest minimum.") var negative = false
    @Option(help: "A gallery folder of the same layer whose icons/c<NNNN>.png go on the pages.") var icons: String?
    @Option(help: "Use at most N images.") var limit: Int?
    @Option(help: "Images per forward pass.") var batch = 32
    @Option(help: "Images per part (the unit of resuming and sharding).") var partImages = 1024
    @OptionGroup var input: ModelInputOptions
    @Option(help: "Title of the layer page.") var title: String?
    @Option(help: "Summarize only parts i, i+n, … of n (e.g. 0/4, or auto); atlas merge writes the pages.") var shard: String?
    @Option(help: "Output folder.") var out: String
    @Flag(help: "Print a JSON summary on stdout.") var json = false
    @OptionGroup var global: GlobalOptions

    func run() throws {
        try global.apply()
        try build()
    }

    /// Loads and checks everything, then runs the pass (and the assembly).
    func prepare(quiet: Bool) throws -> (recipe: UnitsRecipe, network: Network, source: ImageSource, preprocessor: Preprocessor) {
        guard !images.isEmpty else { throw CommandFailure(message: "give --images", code: AtlasExit.usage) }
        guard (1...1000).contains(top), (1...4096).contains(batch), partImages >= 1, (limit ?? 1) >= 1 else {
            throw CommandFailure(message: "--top 1…1000, --batch 1…4096, --part-images ≥ 1, --limit ≥ 1", code: AtlasExit.usage)
        }
        let network = try ModelSetup.loadNetwork(model)
        let setup = try ModelSetup(network: network, modelPath: model, input: input, labelsPath: nil)
        let value = try inContext("--layer") { try network.resolve(layer) }
        let preprocessor = setup.preprocessor
        let shape = try inContext(layer) { try UnitsRecipe.layerShape(network: network, value: value, input: preprocessor.itemShape) }
        let selected = try GalleryCommand.parseIndices(channels ?? "all", count: shape.channels, what: "channels")
        if let icons, !FileManager.default.fileExists(atPath: icons + "/icons") {
            throw CommandFailure(message: "--icons \(icons): no icons/ folder there (make one with atlas gallery)", code: AtlasExit.noInput)
        }
        let source = try ImageSource(inputs: images, channels: setup.channels, limit: limit)
        for p in source.inputProblems { note("skipped \(p.path): \(p.error.reason)", quiet: quiet) }
        guard !source.items.isEmpty else { throw CommandFailure(message: "no images found in \(images.joined(separator: ", "))", code: AtlasExit.noInput) }
        let recipe = UnitsRecipe(model: AtlasIndex.Model(file: (model as NSString).lastPathComponent, sha256: SHA256.hex(file: model)),
                                 layer: layer, value: value, channels: selected, layerChannels: shape.channels,
                                 spatial: shape.spatial, top: top, negative: negative,
                                 partImages: partImages, limit: limit, preprocessor: preprocessor, preprocess: setup.choice.summary,
                                 source: source, field: shape.field, icons: icons, title: title)
        return (recipe, network, source, preprocessor)
    }

    func build() throws {
        let quiet = global.quiet || json
        let spec = try parseShardOption(shard)
        let job = try prepare(quiet: quiet)
        let r = job.recipe
        note("units \(layer) · \(r.channels.count) of \(r.layerChannels) channels · top \(top)\(negative ? " and bottom" : "") · "
             + "\(r.items) images · \(r.partCount) part(s)\(spec.map { " (shard \($0))" } ?? "") · batch \(batch) · "
             + "\(Parallel.threadCount) threads", quiet: quiet)
        var bar: ProgressBar?
        let result = try UnitScan.run(recipe: r, network: job.network, source: job.source, preprocessor: job.preprocessor,
                                      batch: batch, directory: out, shard: spec) { p in
            if bar == nil {
                if p.resumedItems > 0 { note("resuming: \(p.resumedItems) of \(p.itemsTotal) images already summarized in \(out)", quiet: quiet) }
                bar = ProgressBar("units", total: p.itemsTotal - p.resumedItems, unit: "img", quiet: quiet)
            }
            bar?.update(p.itemsDone - p.resumedItems)
        }
        bar?.finish()
        let skipped = job.source.inputProblems.map { (image: $0.path, reason: $0.error.reason) } + result.skipped.map { (image: $0.image, reason: $0.reason) }
        for s in result.skipped { note("skipped \(s.image): \(s.reason)", quiet: quiet) }
        report(result, spec: spec, skipped: skipped)
    }

    func report(_ r: UnitScanResult, spec: ShardSpec?, skipped: [(image: String, reason: String)]) {
        let rate = r.seconds > 0 ? Double(r.computedImages) / r.seconds : 0
        if json {
            var summary: [String: Any] = ["out": out, "layer": layer, "parts": r.parts, "parts_total": r.partsTotal,
                                          "computed": r.computed, "reused": r.reused, "images": r.images,
                                          "skipped": skipped.map { ["image": $0.image, "reason": $0.reason] },
                                          "seconds": r.seconds, "images_per_second": rate, "threads": Parallel.threadCount]
            if let spec { summary["shard"] = "\(spec)"; summary["manifest"] = "\(out)/\(ShardManifest.path(kind: "units", spec: spec))" }
            if let index = r.index {
                summary["index"] = "\(out)/units.json"
                summary["page"] = "\(out)/\(index.page)"
                summary["units"] = index.units.count
            }
            if let data = try? JSONSerialization.data(withJSONObject: summary, options: [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes]) {
                print(String(decoding: data, as: UTF8.self))
            }
            return
        }
        let made = "\(r.images) images in \(r.parts) part(s) (\(r.computed) summarized"
            + (r.computed > 0 ? String(format: " at %.1f img/s", rate) : "") + ", \(r.reused) kept)"
            + (skipped.isEmpty ? "" : ", \(skipped.count) skipped")
        if let index = r.index {
            note("wrote \(out): \(index.units.count) unit pages from \(made); index units.json", quiet: global.quiet)
            note("browse it: open \(out)/\(index.page)", quiet: global.quiet)
        } else if let spec {
            note("wrote shard \(spec) into \(out): \(made)", quiet: global.quiet)
            note("when every shard is done, write the pages: atlas merge \(out)", quiet: global.quiet)
        }
    }
}
