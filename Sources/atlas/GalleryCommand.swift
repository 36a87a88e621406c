import ArgumentParser
import AtlasCore
import AtlasImage
import AtlasMap
import AtlasNet
import AtlasOutput
import AtlasVis
import Foundation

/// `atlas gallery`: one feature visualization per channel of a layer (or per class), as a zoomable grid.
struct GalleryCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "gallery",
        abstract: "Render a feature visualization of every channel of a layer (or every class) into a browsable grid.",
        discussion: """
        Renders one icon per channel of --layer (all channels, or --channels 0..15 / 3,5,9 / 0..7,12) or per \
        class (--classes, optionally a selection: --classes --channels 0..9), with the options of atlas visualize, \
        --batch icons at a time. Icon i (in order) uses seed SEED+i, so the pictures never depend on --batch, \
        --shard or --threads.

        Each finished icon is written at once to OUT/icons/<id>.png (with a small <id>.json); an interrupted \
        run continues where it stopped. --shard i/n renders only icons i, i+n, i+2n, … and writes no grid, so \
        several machines can share the work on one folder; each shard records its icons and their checksums in \
        OUT/shards/gallery-<i>-of-<n>.json. Then atlas merge OUT checks the shards and assembles the grid (tiles, \
        atlas.json, atlas.js, the viewer index.html and atlas.png when small), byte for byte what one machine \
        writes; a final run without --shard does the same after rendering what is missing. --shard auto reads \
        the index from a Slurm array or Kubernetes Indexed Job; atlas plan prints such jobs.

        Convolutions use the fast path (Winograd F(4x4) on large 3x3 layers, about 1e-5 of each layer's scale), \
        since only the optimized image is kept; ATLAS_CONV=accurate (or direct) overrides.
        """
    )

    @Argument(help: "The ONNX model.") var model: String
    @Option(help: "Layer (value name or alias) whose channels to render.") var layer: String?
    @Option(help: "Channels (with --classes: classes) to render: ranges and lists such as 0..15, 3,5,9 or 0..7,12 (inclusive; default all).")
    var channels: String?
    @Flag(help: "Render classes (pre-softmax logits of the model output) instead of the channels of a layer.")
    var classes = false
    @Option(help: "Icon size in pixels.") var size = 128
    @Option(help: "Optimization steps.") var steps = 512
    @Option(help: "Adam learning rate (default 0.05; 0.1 with --param maco, the best measured).") var lr: Float?
    @Option(help: "Base seed (icon i uses SEED+i).") var seed: UInt64 = 0
    @Option(help: "Icons optimized together.") var batch = 8
    @Option(help: PreprocessHelp.option)
    var preprocess = "auto"
    @Option(parsing: .upToNextOption, help: "Natural images (files, folders, IDX): record each icon's score relative to the best image's value of its objective (OUT/quality.json).")
    var images: [String] = []
    @Option(help: "At most this many --images.") var imagesLimit = 256
    @Option(help: "Render only part i of n (e.g. 0/4, or auto under a Slurm array / Kubernetes Indexed Job); no grid is assembled.") var shard: String?
    @OptionGroup var output: RenderOutputOptions
    @OptionGroup var global: GlobalOptions

    func run() throws { try build() }

    /// Parses `0..15,20,22..23` (inclusive ranges; `a..<b` exclusive) into indices below `count`.
    static func parseIndices(_ text: String, count: Int, what: String) throws -> [Int] {
        if text == "all" { return Array(0..<count) }
        var result: [Int] = []
        for part in text.split(separator: ",").map({ $0.trimmingCharacters(in: .whitespaces) }) {
            let bounds: (Int, Int)?
            if let r = part.range(of: "..<"), let a = Int(part[..<r.lowerBound]), let b = Int(part[r.upperBound...]) { bounds = (a, b - 1) }
            else if let r = part.range(of: ".."), let a = Int(part[..<r.lowerBound]), let b = Int(part[r.upperBound...]) { bounds = (a, b) }
            else if let a = Int(part) { bounds = (a, a) }
            else { bounds = nil }
            guard let (a, b) = bounds, a <= b else {
                throw CommandFailure(message: "--channels '\(text)': expected numbers and ranges like 0..15,20", code: AtlasExit.usage)
            }
            guard a >= 0, b < count else {
                throw CommandFailure(message: "--channels \(part): out of range; the \(what == "channels" ? "layer has \(count) channels" : "model has \(count) classes") (0…\(count - 1))",
                                     code: AtlasExit.usage)
            }
            result += Array(a...b)
        }
        guard !result.isEmpty else { throw CommandFailure(message: "--channels selects nothing", code: AtlasExit.usage) }
        guard Set(result).count == result.count else { throw CommandFailure(message: "--channels '\(text)' names an index twice", code: AtlasExit.usage) }
        return result
    }

    func build() throws {
        try global.apply()
        let classMode = classes
        guard classMode != (layer != nil) else {
            throw CommandFailure(message: "give either --layer (channels) or --classes", code: AtlasExit.usage)
        }
        guard (1...4096).contains(batch) else { throw CommandFailure(message: "--batch must be 1…4096", code: AtlasExit.usage) }
        let tileFormat = output.format.tileFormat
        let shardSpec = try parseShard()
        let renderer = try Renderer(network: try ModelSetup.loadNetwork(model, digest: true))
        let network = renderer.network
        let (options, choice) = try makeOptions(channels: renderer.inputChannels)

        let items = try makeItems(renderer: renderer, options: options)
        var settings = GallerySettings(render: options, seed: seed, batch: batch, format: tileFormat, title: output.title,
                                       preprocessSource: choice.source)
        settings.gridId = classMode ? "classes" : "channels"
        let mine = shardSpec.map { s in items.indices.filter { $0 % s.count == s.index }.count } ?? items.count
        note("gallery \(classMode ? "classes" : layer!) · \(items.count) icons\(shardSpec.map { " (shard \($0.index)/\($0.count): \(mine))" } ?? "") · "
             + "\(renderer.inputChannels == 1 ? "grayscale " : "")\(options.param.rawValue) \(size) px · \(steps) steps · batch \(batch) · "
             + "preprocess \(choice.summary) · \(Parallel.threadCount) threads", quiet: global.quiet || output.json)

        var bar: ProgressBar? = nil
        let result = try Gallery.build(network: network, modelPath: model, layer: layer, items: items, settings: settings,
                                                outDir: output.out, shard: shardSpec, progress: { p in
                if bar == nil {
                    if p.iconsDone > 0 { note("resuming: \(p.iconsDone) of \(p.iconsTotal) icons already in \(output.out)/icons", quiet: global.quiet || output.json) }
                    bar = ProgressBar("gallery", total: p.stepsTotal, unit: "icon-steps", quiet: global.quiet || p.stepsTotal == 0)
                }
                if p.stepsDone > 0 { bar?.update(p.stepsDone) }
            })
        if result.rendered > 0 { bar?.finish() }
        let quality = try images.isEmpty ? nil : qualityReport(result, items: items, renderer: renderer, options: options)
        summarize(result, items: items, shard: shardSpec, quality: quality)
    }

    func makeOptions(channels: Int) throws -> (RenderOptions, PreprocessChoice) {
        try makeRenderOptions(param: output.param, size: size, steps: steps, lr: lr, upsample: output.upsample, transforms: output.transforms,
                              preprocess: preprocess, model: model, channels: channels)
    }

    func parseShard() throws -> (index: Int, count: Int)? {
        try parseShardOption(shard).map { ($0.index, $0.count) }
    }

    func makeItems(renderer: Renderer, options: RenderOptions) throws -> [GalleryItem] {
        let side = try renderer.modelInputSize(options)
        let name: String
        name = try renderer.valueName(layer ?? Objective.networkOutput)
        let plan = try renderer.network.plan(for: [1, renderer.inputChannels, side, side])
        if let e = plan.errors[name] { throw InContext(model, e.naming(layer ?? name)) }
        guard let shape = plan.shapes[name], shape.count >= 2 else {
            throw CommandFailure(message: "\(layer ?? "the model output") has no channel axis at \(side) px input", code: AtlasExit.usage)
        }
        let count = shape[1]
        if let layer {
            return GalleryItem.channels(layer, try GalleryCommand.parseIndices(channels ?? "all", count: count, what: "channels"))
        }
        let labelFile = ModelSetup.sibling(model, "labels.txt")
        let labels = labelFile.flatMap { try? String(contentsOfFile: $0, encoding: .utf8) }
            .map { $0.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) } }
        return GalleryItem.classes(try GalleryCommand.parseIndices(channels ?? "all", count: count, what: "classes"),
                                            labels: labels)
    }

    /// Scores against the best natural image per objective, written to OUT/quality.json; returns the medians.
    func qualityReport(_ result: GalleryResult, items: [GalleryItem], renderer: Renderer, options: RenderOptions) throws -> [String: Any] {
        let natural = try NaturalImages(images, channels: renderer.inputChannels, size: options.size, limit: imagesLimit)
        for s in natural.skipped { note("skipped \(s.path): \(s.error)", quiet: global.quiet || output.json) }
        let best = try renderer.bestNaturalValues(items.map(\.objective), images: natural.tensor, options: options)
        var rows: [[String: Any]] = []
        var relatives: [Double] = []
        for (i, item) in items.enumerated() {
            let relative = NaturalImages.relative(result.scores[i], best[i])
            if let relative { relatives.append(relative) }
            rows.append(["id": item.id, "objective": item.objective.description, "score": result.scores[i] as Any,
                         "natural_best": best[i].isFinite ? best[i] : NSNull(), "relative": relative as Any])
        }
        let summary: [String: Any] = [
            "images": natural.files.count, "skipped": natural.skipped.map(\.path),
            "score_median": Gallery.median(result.scores.compactMap { $0 }) as Any,
            "relative_median": Gallery.median(relatives) as Any,
        ]
        var file = summary
        file["icons"] = rows
        let data = try JSONSerialization.data(withJSONObject: file, options: [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes])
        try OutputFolder(path: output.out).write(Array(data), to: "quality.json")
        return summary
    }

    func summarize(_ result: GalleryResult, items: [GalleryItem], shard: (index: Int, count: Int)?, quality: [String: Any]? = nil) {
        let rate = result.renderSeconds > 0 ? Double(result.rendered * steps) / result.renderSeconds : 0
        if output.json {
            var summary: [String: Any] = [
                "model": model, "out": result.outDir, "items": items.count, "shard_items": result.itemCount,
                "rendered": result.rendered, "reused": result.reused, "seconds": result.renderSeconds,
                "icon_steps_per_second": rate, "size": size, "steps": steps, "seed": Int(truncatingIfNeeded: seed),
                "batch": batch, "threads": Parallel.threadCount, "assembled": result.index != nil,
                "values": result.values.map { $0 as Any? ?? NSNull() },
                "scores": result.scores.map { $0 as Any? ?? NSNull() },
                "objective_median": Gallery.median(result.scores.compactMap { $0 }) as Any,
            ]
            if let layer { summary["layer"] = layer }
            if let quality { summary["quality"] = quality }
            if let shard {
                summary["shard"] = "\(shard.index)/\(shard.count)"
                summary["manifest"] = "\(result.outDir)/shards/gallery-\(shard.index)-of-\(shard.count).json"
            }
            if let grid = result.index?.grids.first {
                summary["index"] = "\(result.outDir)/atlas.json"
                summary["viewer"] = "\(result.outDir)/index.html"
                summary["grid"] = ["id": grid.id, "columns": grid.columns, "rows": grid.rows,
                                   "canvas": [grid.canvas.width, grid.canvas.height], "max_zoom": grid.tiles.maxZoom]
            }
            if let data = try? JSONSerialization.data(withJSONObject: summary, options: [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes]) {
                print(String(decoding: data, as: UTF8.self))
            }
            return
        }
        guard !global.quiet else { return }
        let made = "\(result.rendered) icons rendered" + (result.reused > 0 ? ", \(result.reused) reused" : "")
            + (Gallery.median(result.scores.compactMap { $0 }).map { String(format: " · objective median %.4g", $0) } ?? "")
            + ((quality?["relative_median"] as? Double).map { String(format: " (%.2f× the best of the --images, median; quality.json)", $0) } ?? "")
            + (result.rendered > 0 ? String(format: " · %.1f icon-steps/s", rate) : "")
        if let grid = result.index?.grids.first {
            note("wrote \(result.outDir): \(made); \(grid.columns)×\(grid.rows) grid, \(grid.canvas.width)×\(grid.canvas.height) px, "
                 + "zoom 0…\(grid.tiles.maxZoom), icons in icons/, index atlas.json")
            note("browse it: open \(result.outDir)/index.html")
        } else if let shard {
            note("wrote shard \(shard.index)/\(shard.count) into \(result.outDir)/icons: \(made)")
            note("when every shard is done, assemble the grid: atlas merge \(result.outDir)")
        }
    }
}
