import ArgumentParser
import AtlasCore
import AtlasImage
import AtlasJobs
import AtlasMap
import AtlasNet
import AtlasOutput
import AtlasReduce
import AtlasVis
import Foundation

/// `atlas map`: the whole activation atlas — collect → reduce → grids → icons → tiles + index.
struct MapCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "map",
        abstract: "Build an activation atlas: collect, lay out (UMAP), grid, render icons, tile and index.",
        discussion: """
        Stages, each with its progress bar: collect (into OUT/activations, or read --activations DIR from atlas \
        collect) → reduce (UMAP with --neighbors, --min-dist, --metric; --reduce pca is fast) to OUT/layout.npy → \
        clip to the 1st–99th percentile + 10% margin → one G×G grid per --grid size, cells with ≥ --min-count \
        samples → per cell the whitened mean activation, S = (AᵀA/N + λI)⁻¹ · mean, rendered as a direction_neuron \
        icon with cosine power --power (best of --tries seeds) → per grid a 256-px tile pyramid and a DZI, \
        atlas.png (first grid, when small), atlas.json/atlas.js and the viewer (index.html).

        Everything is kept on disk as it is made: a rerun (also after kill -9) reuses the collection's finished \
        parts, the layout and every finished icon (icons/<id>.png, each with a sidecar written after it).

        --shard i/n splits the icon stage over machines sharing OUT: each shard uses the collection (--activations \
        DIR, or OUT/activations, collected when missing) and the layout (OUT/layout.npy, computed when missing or \
        stale; the same bytes on every machine of one kind), renders only icons i, i+n, … (grid by grid, cells \
        row-major, tries) and keeps OUT/shards/map-<i>-of-<n>.json with the SHA-256 of the collection, the layout \
        and every icon; it assembles no grid. atlas merge OUT then writes tiles, atlas.json and the viewer, byte \
        for byte what one machine writes. To collect and lay out once instead of on every shard, run the same \
        command with --layout-only first (atlas plan slurm does), or collect with atlas collect --shard and pass \
        --activations.

        Example:
          atlas map Assets/fashion-mnist/fashion_cnn.onnx --images Assets/fashion-mnist/t10k-2000-images-idx3-ubyte.gz \\
            --layer features.conv3.0 --grid 8,16 --steps 128 --out atlas/
          open atlas/index.html
          atlas map … --activations acts/ --out /shared/atlas --layout-only, then --shard 0/2 and 1/2, then atlas merge /shared/atlas

        Collecting runs convolutions on the accurate path (Winograd F(2x2) or im2col; its attributions are \
        gradients), the icons on the fast one (Winograd F(4x4) on large 3x3 layers); ATLAS_CONV overrides both.
        """
    )

    @Argument(help: "The ONNX model.") var model: String
    @OptionGroup var collectOptions: CollectOptions
    @Option(help: "Start from this activation collection (from atlas collect) instead of --images.") var activations: String?
    @Option(help: "Grid sizes, e.g. 20 or 20,40,80.") var grid = "20"
    @Option(help: "Minimum samples for a cell to get an icon.") var minCount = 3
    @Option(help: "Layout method.") var reduce: ReduceMethod = .umap
    @Option(help: "UMAP n_neighbors.") var neighbors = 20
    @Option(help: "UMAP min_dist.") var minDist = 0.01
    @Option(help: "UMAP metric.") var metric: DistanceMetric = .cosine
    @Option(help: "Cosine-similarity power of the icon objective.") var power: Float = 3
    @Option(help: "Whitening regularization λ relative to the mean eigenvalue.") var whitening = 1e-3
    @Option(help: "Icon size in pixels.") var iconSize = 80
    @Option(help: "Optimization steps per icon.") var steps = 256
    @Option(help: "Adam learning rate (default 0.05; 0.1 with --param maco, the best measured).") var lr: Float?
    @Option(help: "Seeds tried per cell; the best final objective value wins.") var tries = 1
    @Option(help: "Icons optimized together.") var iconBatch = 8
    @Option(help: "Seed of positions, layout and icons.") var seed: UInt64 = 0
    @OptionGroup var output: RenderOutputOptions
    @Option(help: "Render only icons i, i+n, … of n (e.g. 0/4, or auto under a Slurm array / Kubernetes Indexed Job); no grid is assembled.")
    var shard: String?
    @Flag(help: "Collect and lay out (OUT/layout.npy), then stop: done once before the shards of a cluster job.")
    var layoutOnly = false
    @OptionGroup var global: GlobalOptions

    var out: String { output.out }

    /// How the atlas crops its cells' samples: the collection's inputs at this run's input geometry (nil when that
    /// does not make the collection's input shape).
    func sampleCrops(network: Network, set: ActivationSet) throws -> SampleCrops? {
        let pre = try ModelSetup(network: network, modelPath: model, input: collectOptions.input, labelsPath: nil).preprocessor
        guard pre.itemShape == set.manifest.settings.input,
              let shape = try? UnitsRecipe.layerShape(network: network, value: set.manifest.settings.value, input: pre.itemShape) else { return nil }
        return SampleCrops(inputs: set.manifest.inputs, limit: set.manifest.settings.limit, channels: pre.itemShape[0],
                           geometry: pre.geometry, field: shape.field)
    }

    func run() throws {
        try global.apply()
        let quiet = global.quiet || output.json
        let start = Date()
        let shardSpec = try parseShardOption(shard)
        guard !(layoutOnly && shardSpec != nil) else { throw CommandFailure(message: "give --layout-only or --shard, not both", code: AtlasExit.usage) }
        let network: Network
        network = try ModelSetup.loadNetwork(model, digest: true)
        let made = try makeSettings(channels: try ModelSetup.inputChannels(network, modelPath: model))
        var settings = made.0
        let choice = made.1
        var seconds: [(String, Double)] = []
        let collectDir: String
        if let activations {
            collectDir = activations
        } else {
            collectDir = (out as NSString).appendingPathComponent("activations")
            note("stage 1/4 collect → \(collectDir)", quiet: quiet)
            _ = try collectOptions.collect(model: model, seed: seed, out: collectDir, quiet: quiet)
            seconds.append(("collect", Date().timeIntervalSince(start)))
        }
        let set: ActivationSet
        set = try ActivationSet(directory: collectDir)
        guard set.manifest.complete else {
            throw CommandFailure(message: "\(collectDir) is an unfinished collection; rerun atlas collect on it first", code: AtlasExit.dataError)
        }
        if activations != nil, set.manifest.settings.preprocess != choice.summary {
            note("note: \(collectDir) was collected with preprocess \(set.manifest.settings.preprocess); icons render with "
                 + "\(choice.summary) (pass the same --preprocess to match)", quiet: quiet)
        }
        if let layer = collectOptions.layer, layer != set.manifest.settings.layer, activations != nil {
            throw CommandFailure(message: "--layer \(layer), but \(collectDir) holds \(set.manifest.settings.layer)", code: AtlasExit.usage)
        }
        if layoutOnly {
            let (layout, reused) = try AtlasBuilder.layout(set, settings: settings, folder: try OutputFolder(path: out))
            if output.json {
                let summary: [String: Any] = ["out": out, "layout": "\(out)/layout.npy", "rows": layout.shape[0], "layout_reused": reused,
                                              "seconds": Date().timeIntervalSince(start)]
                let data = try JSONSerialization.data(withJSONObject: summary, options: [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes])
                print(String(decoding: data, as: UTF8.self))
            } else {
                note("wrote \(out)/layout.npy (\(layout.shape[0]) points\(reused ? ", reused" : "")); now run the shards", quiet: global.quiet)
            }
            return
        }
        settings.sampleCrops = try sampleCrops(network: network, set: set)
        if settings.title == nil { settings.title = "\((model as NSString).lastPathComponent) \(set.manifest.settings.layer) — activation atlas" }
        note("atlas of \(set.activations.shape[0]) vectors × \(set.manifest.channels) · grids \(settings.grids.map(String.init).joined(separator: ",")) · "
             + "\(settings.reduce.method.rawValue) · icons \(iconSize) px, \(steps) steps, power \(power), tries \(tries) · \(Parallel.threadCount) threads",
             quiet: quiet)
        var bars: [String: ProgressBar] = [:]
        let stageNames = ["reduce": "stage 2/4 reduce", "icons": "stage 3/4 icons", "tiles": "stage 4/4 tiles"]
        let result = try AtlasBuilder.build(set, network: network, modelPath: model, settings: settings, outDir: out, shard: shardSpec,
                                            collection: MapRecipe.collectionReference(collectDir, outDir: out)) { p in
            if bars[p.stage] == nil {
                for (_, b) in bars { b.finish() }
                bars = [:]
                bars[p.stage] = ProgressBar(stageNames[p.stage] ?? p.stage, total: p.total, unit: p.unit, quiet: quiet)
            }
            bars[p.stage]?.update(p.done)
        }
        for (_, b) in bars { b.finish() }
        seconds += result.stageSeconds.map { ($0.stage, $0.seconds) }
        report(result, shard: shardSpec, seconds: seconds, total: Date().timeIntervalSince(start))
    }

    /// The settings of every stage; icons render with the same preprocessing collect resolves for the model.
    func makeSettings(channels: Int) throws -> (AtlasSettings, PreprocessChoice) {
        var s = AtlasSettings()
        let sizes = grid.split(separator: ",").map { Int($0.trimmingCharacters(in: .whitespaces)) }
        guard !sizes.isEmpty, sizes.allSatisfy({ $0 != nil && (1...1024).contains($0!) }), Set(sizes).count == sizes.count else {
            throw CommandFailure(message: "--grid '\(grid)': expected distinct sizes 1…1024 like 20,40,80", code: AtlasExit.usage)
        }
        s.grids = sizes.map { $0! }
        guard neighbors >= 2, minDist >= 0, minCount >= 1, tries >= 1, (1...4096).contains(iconBatch), (1...2048).contains(iconSize),
              steps >= 1, power >= 0, whitening >= 0 else {
            throw CommandFailure(message: "need --neighbors ≥ 2, --min-dist ≥ 0, --min-count ≥ 1, --tries ≥ 1, --icon-batch 1…4096, "
                                 + "--icon-size 1…2048, --steps ≥ 1, --power ≥ 0, --whitening ≥ 0", code: AtlasExit.usage)
        }
        s.reduce = ReduceSettings(method: reduce, neighbors: neighbors, minDist: minDist, metric: metric, seed: seed)
        let choice: PreprocessChoice
        (s.render, choice) = try makeRenderOptions(param: output.param, size: iconSize, steps: steps, lr: lr, upsample: output.upsample,
                                              transforms: output.transforms, preprocess: collectOptions.input.preprocess,
                                              model: model, channels: channels)
        s.format = output.format.tileFormat
        s.minCount = minCount; s.power = power; s.tries = tries; s.batch = iconBatch; s.seed = seed
        s.whitening = whitening; s.title = output.title
        s.preprocessSource = choice.source
        return (s, choice)
    }

    func report(_ result: AtlasResult, shard: ShardSpec?, seconds: [(String, Double)], total: Double) {
        let stages = seconds.map { String(format: "%@ %.1fs", $0.0, $0.1) }.joined(separator: " · ")
        if output.json {
            var summary: [String: Any] = [
                "out": out, "seconds": total, "assembled": result.index != nil,
                "stages": Dictionary(seconds.map { ($0.0, $0.1) }, uniquingKeysWith: +), "layout_reused": result.layoutReused,
                "icons_rendered": result.iconsRendered, "icons_reused": result.iconsReused, "threads": Parallel.threadCount,
            ]
            if let shard {
                summary["shard"] = "\(shard)"
                summary["manifest"] = "\(out)/\(ShardManifest.path(kind: "map", spec: shard))"
            }
            if let index = result.index {
                summary["index"] = "\(out)/atlas.json"
                summary["viewer"] = "\(out)/index.html"
                summary["grids"] = index.grids.map { ["id": $0.id, "cells": $0.cells.count, "canvas": [$0.canvas.width, $0.canvas.height],
                                                     "max_zoom": $0.tiles.maxZoom] as [String: Any] }
            }
            if let data = try? JSONSerialization.data(withJSONObject: summary, options: [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes]) {
                print(String(decoding: data, as: UTF8.self))
            }
            return
        }
        let made = "\(result.iconsRendered) icons rendered, \(result.iconsReused) reused" + (result.layoutReused ? ", layout reused" : "")
        if let index = result.index {
            let grids = index.grids.map { "\($0.id) \($0.cells.count) cells" }.joined(separator: ", ")
            note("wrote \(out): \(grids); \(made)", quiet: global.quiet)
            note(String(format: "time %.1fs: ", total) + stages, quiet: global.quiet)
            note("browse it: open \(out)/index.html", quiet: global.quiet)
        } else if let shard {
            note("wrote shard \(shard) into \(out)/icons: \(made)", quiet: global.quiet)
            note(String(format: "time %.1fs: ", total) + stages, quiet: global.quiet)
            note("when every shard is done, assemble the atlas: atlas merge \(out)", quiet: global.quiet)
        }
    }
}
