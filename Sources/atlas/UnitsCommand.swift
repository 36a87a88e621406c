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
        the icons of an atlas gallery of the same layer (GALLERY/icons/c<NNNN>.png) on the pages. \
        --diversity N renders per unit N icons optimized together with Lucid's diversity objective (the channel \
        minus --diversity-weight times the Gram-matrix similarity of the set), --accentuate the unit's top \
        exemplar accentuated toward it (as atlas visualize --from); both go on the unit page and in units.json, \
        and are rendered by a run without --shard (after sharded runs, such a run reuses every part).

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
    @Option(help: "Layer (value name or alias) whose units to explain; repeat for several layers into one OUT (their pages link each other).")
    var layer: [String] = []
    @Option(help: "Images: a folder (walked recursively), an image file or an IDX file (.gz too); repeat for more.")
    var images: [String] = []
    @Option(help: "Channels: ranges and lists such as 0..15, 3,5,9 or 0..7,12 (inclusive; default all).") var channels: String?
    @Option(help: "Exemplars kept per unit (and per list with --negative).") var top = 9
    @Flag(help: "Also keep the images with the smallest minimum.") var negative = false
    @Option(help: "A gallery folder of the same layer whose icons/c<NNNN>.png (and canvas) go on the pages; with several --layer, one per layer in order.")
    var icons: [String] = []
    @Option(help: "Use at most N images.") var limit: Int?
    @Option(help: "Images per forward pass.") var batch = 32
    @Option(help: "Images per part (the unit of resuming and sharding).") var partImages = 1024
    @OptionGroup var input: ModelInputOptions
    @OptionGroup(title: "Unit pictures") var visuals: UnitVisualOptions
    @Option(help: "Title of the layer page.") var title: String?
    @Option(help: "Summarize only parts i, i+n, … of n (e.g. 0/4, or auto); atlas merge writes the pages.") var shard: String?
    @Option(help: "Output folder.") var out: String
    @Flag(help: "Print a JSON summary on stdout.") var json = false
    @OptionGroup var global: GlobalOptions

    func run() throws {
        try global.apply()
        try build()
    }

    /// Everything one layer's pass needs, loaded and checked.
    struct Job {
        var recipe: UnitsRecipe
        var network: Network
        var source: ImageSource
        var preprocessor: Preprocessor
    }

    /// Loads and checks everything: one job per --layer (the network and image list shared).
    func prepare(quiet: Bool) throws -> [Job] {
        guard !images.isEmpty else { throw CommandFailure(message: "give --images", code: AtlasExit.usage) }
        guard !layer.isEmpty else { throw CommandFailure(message: "give --layer", code: AtlasExit.usage) }
        guard (1...1000).contains(top), (1...4096).contains(batch), partImages >= 1, (limit ?? 1) >= 1 else {
            throw CommandFailure(message: "--top 1…1000, --batch 1…4096, --part-images ≥ 1, --limit ≥ 1", code: AtlasExit.usage)
        }
        guard icons.isEmpty || icons.count == layer.count, Set(layer).count == layer.count else {
            throw CommandFailure(message: "give one --icons per --layer (or none), and each --layer once", code: AtlasExit.usage)
        }
        let network = try ModelSetup.loadNetwork(model, digest: true)
        let setup = try ModelSetup(network: network, modelPath: model, input: input, labelsPath: nil)
        let preprocessor = setup.preprocessor
        var shapes: [(value: String, shape: (channels: Int, spatial: [Int], field: ReceptiveField), selected: [Int])] = []
        for l in layer {
            let value = try inContext("--layer") { try network.resolve(l) }
            let shape = try inContext(l) { try UnitsRecipe.layerShape(network: network, value: value, input: preprocessor.itemShape) }
            shapes.append((value, shape, try GalleryCommand.parseIndices(channels ?? "all", count: shape.channels, what: "channels")))
        }
        for g in icons where !FileManager.default.fileExists(atPath: g + "/icons") {
            throw CommandFailure(message: "--icons \(g): no icons/ folder there (make one with atlas gallery)", code: AtlasExit.noInput)
        }
        let source = try ImageSource(inputs: images, channels: setup.channels, limit: limit)
        for p in source.inputProblems { note("skipped \(p.path): \(p.error.reason)", quiet: quiet) }
        guard !source.items.isEmpty else { throw CommandFailure(message: "no images found in \(images.joined(separator: ", "))", code: AtlasExit.noInput) }
        let file = AtlasIndex.Model(file: (model as NSString).lastPathComponent, sha256: SHA256.hex(file: model))
        return zip(layer, shapes).enumerated().map { i, pair in
            let (l, s) = pair
            let recipe = UnitsRecipe(model: file, layer: l, value: s.value, channels: s.selected, layerChannels: s.shape.channels,
                                     spatial: s.shape.spatial, top: top, negative: negative,
                                     partImages: partImages, limit: limit, preprocessor: preprocessor, preprocess: setup.choice.summary,
                                     source: source, field: s.shape.field, icons: icons.isEmpty ? nil : icons[i], title: title)
            return Job(recipe: recipe, network: network, source: source, preprocessor: preprocessor)
        }
    }

    func build() throws {
        let quiet = global.quiet || json
        let spec = try parseShardOption(shard)
        let jobs = try prepare(quiet: quiet)
        guard spec == nil || (!visuals.wanted && jobs.count == 1) else {
            throw CommandFailure(message: "--shard takes one --layer, and --diversity and --accentuate render when the pages are "
                                 + "written: run without --shard once the shards are done (it reuses every part)", code: AtlasExit.usage)
        }
        // Every layer's settings are checked before the first pass.
        let pictures = try jobs.map { try visuals.make(network: $0.network, layer: $0.recipe.layer, spatial: $0.recipe.spatial, preprocessor: $0.preprocessor, quiet: quiet) }
        var summaries: [[String: Any]] = []
        for (job, visual) in zip(jobs, pictures) {
            summaries.append(try pass(job, visuals: visual, spec: spec, quiet: quiet))
        }
        if json, let data = try? JSONSerialization.data(withJSONObject: summaries.count == 1 ? summaries[0] as Any : summaries as Any,
                                                        options: [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes]) {
            print(String(decoding: data, as: UTF8.self))
        }
    }

    /// One layer's pass (and assembly), reported; returns its JSON summary.
    func pass(_ job: Job, visuals: UnitVisuals?, spec: ShardSpec?, quiet: Bool) throws -> [String: Any] {
        let r = job.recipe
        var pictures = visuals
        var pictureBar: ProgressBar?
        pictures?.progress = { done, total in
            if pictureBar == nil { pictureBar = ProgressBar("pictures", total: total, unit: "units", quiet: quiet) }
            pictureBar?.update(done)
            if done == total { pictureBar?.finish() }
        }
        note("units \(r.layer) · \(r.channels.count) of \(r.layerChannels) channels · top \(top)\(negative ? " and bottom" : "") · "
             + "\(r.items) images · \(r.partCount) part(s)\(spec.map { " (shard \($0))" } ?? "") · batch \(batch) · "
             + "\(Parallel.threadCount) threads", quiet: quiet)
        var bar: ProgressBar?
        var scanned = false
        let result = try UnitScan.run(recipe: r, network: job.network, source: job.source, preprocessor: job.preprocessor,
                                      batch: batch, directory: out, shard: spec, visuals: pictures) { p in
            if bar == nil {
                if p.resumedItems > 0 { note("resuming: \(p.resumedItems) of \(p.itemsTotal) images already summarized in \(out)", quiet: quiet) }
                bar = ProgressBar("units", total: p.itemsTotal - p.resumedItems, unit: "img", quiet: quiet)
            }
            bar?.update(p.itemsDone - p.resumedItems)
            if p.itemsDone == p.itemsTotal, !scanned { bar?.finish(); scanned = true }   // before the pictures' bar
        }
        if !scanned { bar?.finish() }
        let skipped = job.source.inputProblems.map { (image: $0.path, reason: $0.error.reason) } + result.skipped.map { (image: $0.image, reason: $0.reason) }
        for s in result.skipped { note("skipped \(s.image): \(s.reason)", quiet: quiet) }
        return report(result, layer: r.layer, spec: spec, skipped: skipped)
    }

    func report(_ r: UnitScanResult, layer: String, spec: ShardSpec?, skipped: [(image: String, reason: String)]) -> [String: Any] {
        let rate = r.seconds > 0 ? Double(r.computedImages) / r.seconds : 0
        var summary: [String: Any] = ["out": out, "layer": layer, "parts": r.parts, "parts_total": r.partsTotal,
                                      "computed": r.computed, "reused": r.reused, "images": r.images,
                                      "skipped": skipped.map { ["image": $0.image, "reason": $0.reason] },
                                      "seconds": r.seconds, "images_per_second": rate, "threads": Parallel.threadCount,
                                      "pictures_rendered": r.pictures.rendered, "pictures_reused": r.pictures.reused]
        if let spec { summary["shard"] = "\(spec)"; summary["manifest"] = "\(out)/\(ShardManifest.path(kind: "units", spec: spec))" }
        if let index = r.index {
            summary["index"] = self.layer.count == 1 ? "\(out)/units.json" : "\(out)/units/\(index.layerId)/units.json"
            summary["page"] = "\(out)/\(index.page)"
            summary["units"] = index.units.count
        }
        if json { return summary }
        let made = "\(r.images) images in \(r.parts) part(s) (\(r.computed) summarized"
            + (r.computed > 0 ? String(format: " at %.1f img/s", rate) : "") + ", \(r.reused) kept)"
            + (skipped.isEmpty ? "" : ", \(skipped.count) skipped")
            + (r.pictures.reused > 0 ? "; \(r.pictures.reused) unit picture(s) kept from an earlier run" : "")
        if let index = r.index {
            note("wrote \(out): \(index.units.count) unit pages of \(layer) from \(made); index units.json", quiet: global.quiet)
            note("browse it: open \(out)/\(index.page)", quiet: global.quiet)
        } else if let spec {
            note("wrote shard \(spec) into \(out): \(made)", quiet: global.quiet)
            note("when every shard is done, write the pages: atlas merge \(out)", quiet: global.quiet)
        }
        return summary
    }
}
