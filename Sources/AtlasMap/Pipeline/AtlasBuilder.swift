/// `AtlasBuilder`: an activation collection → an activation atlas folder. Stages: layout (UMAP/PCA, cached) →
/// normalisation to the unit square → G×G grids → whitened cell directions → icons (direction_neuron with a cosine
/// power, best of `tries` seeds, via `IconStore`, so finished icons survive any interruption) → one tile pyramid
/// (+ DZI) per grid, `atlas.png`, `atlas.json`/`atlas.js` (kind `atlas`) and the viewer.
import AtlasCore
import AtlasImage
import AtlasJobs
import AtlasNet
import AtlasOutput
import AtlasReduce
import AtlasVis
import Foundation

/// Settings of an atlas build.
public struct AtlasSettings: Sendable {
    /// Grid sizes G (one G×G grid each), e.g. [20, 40, 80].
    public var grids: [Int] = [20]
    /// Cells with fewer samples are left empty.
    public var minCount: Int = 3
    public var reduce = ReduceSettings()
    /// Cosine-similarity power of the direction_neuron objective.
    public var power: Float = 3
    /// Icon rendering (size 80 px by default, steps, transforms, preprocessing).
    public var render = RenderOptions(size: 80, steps: 256)
    /// How the preprocessing was chosen (e.g. `auto: model.json`), recorded in the index.
    public var preprocessSource: String?
    /// Seeds tried per cell; the icon with the highest final objective value is kept.
    public var tries: Int = 1
    /// Icons optimized together.
    public var batch: Int = 8
    public var seed: UInt64 = 0
    public var format: TileFormat = .defaultJPEG
    /// λ of the whitening, relative to the mean eigenvalue of AᵀA/N.
    public var whitening: Double = 1e-3
    public var topClasses = 5
    public var samplesPerCell = 4
    /// How to crop each listed sample out of its image (the samples' `thumb`s); nil: no crops.
    public var sampleCrops: SampleCrops?
    public var title: String?
    public var fullImageMaxPixels = 4096 * 4096
    public init() {}
}

/// Progress of one stage.
public struct AtlasStageProgress: Sendable {
    public var stage: String
    public var done: Int
    public var total: Int
    public var unit: String
}

/// What a build did.
public struct AtlasResult: Sendable {
    /// The written index; nil for a shard run (icons only).
    public var index: AtlasIndex?
    public var layoutReused: Bool
    public var iconsRendered: Int
    public var iconsReused: Int
    /// Wall seconds per stage, in order.
    public var stageSeconds: [(stage: String, seconds: Double)]
}

public enum AtlasBuilder {
    /// Builds the atlas of `set` into `outDir` (see the file comment). Throws `ReduceError`, `RenderError`,
    /// `OutputError`, `ImageError` or the network's errors.
    ///
    /// With `shard`, renders only icons `i, i+n, …` (job order: grid by grid, cells row-major, tries), keeps the
    /// shard manifest `shards/map-<i>-of-<n>.json` (settings: `MapRecipe`, which pins the collection at
    /// `collection` and the layout by SHA-256) and assembles nothing (`index` nil): `atlas merge` does that.
    /// `collection` is how the merge finds the collection: relative to `outDir`, or absolute.
    public static func build(_ set: ActivationSet, network: Network, modelPath: String, settings: AtlasSettings, outDir: String,
                             shard: ShardSpec? = nil, collection: String = "activations",
                             progress: ((AtlasStageProgress) -> Void)? = nil) throws -> AtlasResult {
        guard !settings.grids.isEmpty, settings.grids.allSatisfy({ (1...1024).contains($0) }), Set(settings.grids).count == settings.grids.count else {
            throw ReduceError.invalidParameter("grid sizes must be distinct and in 1…1024, got \(settings.grids)")
        }
        guard settings.tries >= 1, settings.batch >= 1, settings.minCount >= 1 else {
            throw ReduceError.invalidParameter("tries, batch and min-count must be ≥ 1")
        }
        guard set.activations.shape[0] >= 4 else { throw ReduceError.invalidParameter("need at least 4 activation rows, have \(set.activations.shape[0])") }
        let folder = try OutputFolder(path: outDir)
        var timings: [(String, Double)] = []
        var clock = DispatchTime.now().uptimeNanoseconds
        func lap(_ stage: String) {
            let now = DispatchTime.now().uptimeNanoseconds
            timings.append((stage, Double(now - clock) * 1e-9))
            clock = now
        }

        progress?(AtlasStageProgress(stage: "reduce", done: 0, total: 1, unit: "layout"))
        let (raw, reused) = try layout(set, settings: settings, folder: folder)
        progress?(AtlasStageProgress(stage: "reduce", done: 1, total: 1, unit: "layout"))
        lap("reduce")

        let grids = try self.grids(set, layout: raw, sizes: settings.grids, minCount: settings.minCount)
        let whitening = try Whitening(activations: set.activations, relativeRegularization: settings.whitening)
        lap("grids")

        let modelSHA = set.manifest.model.sha256 ?? SHA256.hex(file: modelPath)
        let renderer = try Renderer(network: network)
        let store = try IconStore(folder: folder, renderer: renderer, options: settings.render, modelSHA: modelSHA)
        var jobs: [IconJob] = []
        for grid in grids {
            let directions = try whitening.apply(grid.means)
            let d = directions.shape[1]
            for (c, cell) in grid.cells.enumerated() {
                let vector = Array(UnsafeBufferPointer(start: directions.data + c * d, count: d))
                let objective = Objective.directionNeuron(set.manifest.settings.value, vector, cossimPower: settings.power)
                var rng = SplitMix64(seed: settings.seed, stream: UInt64(grid.size) << 40 | UInt64(cell.y) << 20 | UInt64(cell.x))
                let base = rng.next()
                for t in 0..<settings.tries {
                    jobs.append(IconJob(id: iconId(grid.size, cell, try: t), objective: objective, seed: base &+ UInt64(t), index: jobs.count))
                }
            }
        }
        let recipe = try MapRecipe(settings, set: set, layout: raw, collection: collection, modelPath: modelPath, icons: jobs.count)
        let mine = shard.map { $0.items(of: jobs.count) } ?? Array(jobs.indices)
        let job = try JobFolder(folder, kind: "map", recipe: recipe, reuse: .itemKeys, shard: shard != nil)
        let log = try job.shardLog(shard, total: jobs.count)
        let rendered = try store.render(mine.map { jobs[$0] }, batch: settings.batch, progress: { p in
            progress?(AtlasStageProgress(stage: "icons", done: p.stepsDone, total: p.stepsTotal, unit: "icon-steps"))
        }, mayReuse: { k in log?.matches(item: mine[k]) != false },
           finished: { k in try log?.finished(item: mine[k], files: iconFiles(jobs[mine[k]].id)) },
           checkpoint: { complete in try log?.write(complete: complete) })
        lap("icons")
        var result = AtlasResult(index: nil, layoutReused: reused, iconsRendered: rendered.rendered,
                                 iconsReused: mine.count - rendered.rendered, stageSeconds: timings)
        guard shard == nil else { return result }

        result.index = try assemble(recipe, set: set, grids: grids, values: rendered.values, folder: folder) { g in
            progress?(AtlasStageProgress(stage: "tiles", done: g, total: grids.count, unit: "grids"))
        }
        progress?(AtlasStageProgress(stage: "tiles", done: grids.count, total: grids.count, unit: "grids"))
        lap("tiles")
        result.stageSeconds = timings
        return result
    }

    /// The raw 2-D layout of `set` (from `folder/layout.npy` when it matches, else computed and written) and
    /// whether it was reused. `atlas map --layout-only` stops here.
    public static func layout(_ set: ActivationSet, settings: AtlasSettings, folder: OutputFolder) throws -> (layout: Tensor, reused: Bool) {
        let dataKey = SHA256.hex([UInt8](try set.manifest.jsonData()))
        return try LayoutStage.layout(set.activations, dataKey: dataKey, settings: settings.reduce, folder: folder)
    }

    /// The G×G grids of the normalised layout.
    static func grids(_ set: ActivationSet, layout raw: Tensor, sizes: [Int], minCount: Int) throws -> [AtlasGrid] {
        let unit = try LayoutNormalization.normalize(raw)
        return try AtlasGrid.grids(layout: unit, activations: set.activations, sizes: sizes, minCount: minCount)
    }

    /// Tiles, `atlas.png`, `atlas.json`/`atlas.js` and the viewer from finished icons: per cell the try with the
    /// highest objective value (`values` in job order, as `build` lists the jobs). The one assembly path of a
    /// single run and of `atlas merge`.
    static func assemble(_ recipe: MapRecipe, set: ActivationSet, grids: [AtlasGrid], values: [Double?], folder: OutputFolder,
                         progress: ((Int) -> Void)? = nil) throws -> AtlasIndex {
        let format = recipe.tiles.tileFormat
        var index = AtlasIndex(kind: .atlas, title: recipe.title, model: set.manifest.model, layer: set.manifest.settings.layer,
                               seed: UInt64(recipe.seed) ?? 0, settings: try recorded(recipe, set: set))
        var k = 0, scores: [Double] = []
        var thumbs: [String: String] = [:]
        if let crops = recipe.crops {
            let samples = grids.flatMap { $0.cells.flatMap { $0.members.prefix(recipe.samplesPerCell) } }.map { m in
                (item: set.records[m].item, x: set.records[m].x, y: set.records[m].y)
            }
            thumbs = try crops.write(samples, items: set.manifest.items, folder: folder)
        }
        for (g, grid) in grids.enumerated() {
            progress?(g)
            var icons: [PlacedIcon] = []
            for (c, cell) in grid.cells.enumerated() {
                let tries = (0..<recipe.tries).map { k + c * recipe.tries + $0 }
                var best = tries[0]
                for j in tries.dropFirst() where (values[j] ?? -.infinity) > (values[best] ?? -.infinity) { best = j }
                let id = iconId(grid.size, cell, try: best - tries[0]), path = IconStore.path(id)
                // The quality measure: the kept icon's objective without transforms (from its sidecar).
                let score = IconSidecar.read(folder, id: id)?.score
                if let score { scores.append(score) }
                let top = CellSummary.topClasses(cell.members, records: set.records, labels: set.manifest.labels, count: recipe.topClasses)
                let record = AtlasIndex.Cell(x: cell.x, y: cell.y, n: cell.count, norm: CellSummary.norm(grid.means, row: c),
                                             top: top.isEmpty ? nil : top,
                                             samples: CellSummary.samples(cell.members, records: set.records, count: recipe.samplesPerCell,
                                                                          thumbs: thumbs),
                                             label: top.first?.label, icon: path, value: score)
                icons.append(PlacedIcon(image: try ImageCodec.decode(file: folder.file(path)), cell: record))
            }
            k += grid.cells.count * recipe.tries
            let layout = GridLayout(id: "g\(grid.size)", label: "\(grid.size)×\(grid.size) · \(grid.cells.count) cells",
                                    columns: grid.size, rows: grid.size, cellSize: recipe.render.size,
                                    background: RGB8(hex: "#111111") ?? .black, format: format)
            let tiles = folder.tilesDirectory(gridId: layout.id)
            if FileManager.default.fileExists(atPath: tiles) { try? FileManager.default.removeItem(atPath: tiles) }
            let written = try Assembly.writeGrid(try Assembly.Canvas(icons: icons, layout: layout), to: folder,
                                                 fullImage: g == 0 ? "atlas.png" : nil,
                                                 fullImageMaxPixels: recipe.fullImageMaxPixels, dzi: true)
            index.grids.append(written.grid)
        }
        if let median = Gallery.median(scores) { index.settings?["objective_median"] = .double(median) }
        try folder.writeIndex(index)
        try folder.writeViewer()
        return index
    }

    /// `g<G>-<x>-<y>-t<try>`.
    static func iconId(_ g: Int, _ cell: GridCell, try t: Int) -> String { "g\(g)-\(cell.x)-\(cell.y)-t\(t)" }

    /// Icon ids in job order.
    static func iconIds(_ grids: [AtlasGrid], tries: Int) -> [String] {
        grids.flatMap { grid in grid.cells.flatMap { cell in (0..<tries).map { iconId(grid.size, cell, try: $0) } } }
    }

    /// Files of one icon listed in a shard manifest: the PNG and its sidecar.
    static func iconFiles(_ id: String) -> [String] { [IconStore.path(id), "icons/\(id).json"] }

    /// The settings recorded in atlas.json.
    static func recorded(_ r: MapRecipe, set: ActivationSet) throws -> [String: JSONValue] {
        let c = set.manifest.settings
        var settings = try r.render.recordedSettings(preprocessSource: r.preprocessSource)
        settings.merge([
            "grids": .array(r.grids.map { .int($0) }), "min_count": .int(r.minCount), "reduce": .string(r.reduce),
            "neighbors": .int(r.neighbors), "min_dist": .double(r.minDist), "metric": .string(r.metric),
            "power": .double(Double(r.power)), "tries": .int(r.tries), "whitening": .double(r.whitening),
            "samples": .int(set.activations.shape[0]), "images": .int(set.manifest.items), "per_image": .int(c.perImage),
            "attribution": .string(c.attribution.rawValue), "collect_seed": .int(Int(truncatingIfNeeded: c.seed)),
            "format": .string(r.tiles.tileFormat.fileExtension),
        ]) { $1 }
        return settings
    }
}
