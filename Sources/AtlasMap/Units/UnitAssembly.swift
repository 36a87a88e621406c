/// Units assembly: folds the parts of a units job (in part order, one at a time: memory holds one part and the
/// running summaries) into `units.json` (docs/units-format.md), the exemplar crops and full images (the network's
/// view of each image, re-read from the recorded inputs), the icons copied from the gallery folder, and the pages
/// (UnitPages.swift). The one code path of a single `atlas units` run and of `atlas merge` of units shards.
import AtlasCore
import AtlasImage
import AtlasJobs
import AtlasNet
import AtlasOutput
import Foundation

/// `units.json`: every unit's statistics and exemplars, with the crop boxes in network-input pixels.
public struct UnitsIndex: Codable, Sendable, Equatable {
    /// One exemplar as recorded: rank (0 = best), item number, portable image name, layer cell, activation,
    /// receptive-field box `[x0, y0, x1, y1]` (inclusive, clipped to the input) and the files showing it.
    public struct Exemplar: Codable, Sendable, Equatable {
        public var rank: Int
        public var item: Int
        public var image: String
        public var x: Int
        public var y: Int
        public var value: Float
        public var box: [Int]
        public var crop: String
        public var full: String
        /// The channel's map on the image (a PNG whose alpha is the activation, stretched over `full`); nil for `[N, C]` layers.
        public var heat: String?
    }

    /// One histogram bin of the channel's per-image maxima: `[lo, hi)` and its image count.
    public struct Bin: Codable, Sendable, Equatable {
        public var lo: Float
        public var hi: Float
        public var count: Int
    }

    public struct Unit: Codable, Sendable, Equatable {
        public var channel: Int
        /// Images seen, images where the channel's max is > 0, and their fraction.
        public var images: Int
        public var fired: Int
        public var fraction: Double
        public var histogram: [Bin]
        /// Folder-relative paths of the page and of the icon (nil without a gallery).
        public var page: String
        public var icon: String?
        public var top: [Exemplar]
        public var bottom: [Exemplar]?
        /// The unit's diversity set and its accentuated top exemplar (UnitVisuals.swift); nil when not rendered.
        public var diversity: UnitDiversitySet?
        public var accentuated: UnitAccentuated?
        /// The unit's cell `[left, top, width, height]` in `canvas` pixels; nil without a canvas.
        public var rect: [Int]?
    }

    /// The `--icons` gallery's canvas (its `atlas.png`, copied), shown on the layer page with each unit's cell
    /// linking its page.
    public struct Canvas: Codable, Sendable, Equatable {
        public var image: String
        public var width: Int
        public var height: Int
    }

    public var format = "atlas-units"
    public var version = 1
    public var title: String
    public var model: AtlasIndex.Model
    public var layer: String
    public var value: String
    /// Folder of the pages, `units/<layerId>/`, and the layer page.
    public var layerId: String
    public var page: String
    public var input: [Int]
    public var spatial: [Int]
    public var field: ReceptiveField
    public var settings: [String: JSONValue]
    /// Candidate images, images used, and those skipped as unreadable.
    public var candidates: Int
    public var images: Int
    public var skipped: [SkippedImage]
    public var units: [Unit]
    public var canvas: Canvas?

    /// Sorted keys, no whitespace but one unit a line is not needed: plain deterministic JSON.
    public func jsonData() throws -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return Array(try encoder.encode(self)) + [10]
    }

    /// Parses `units.json`; throws `OutputError.badIndex` for another format or version.
    public static func decode(_ data: Data) throws -> UnitsIndex {
        let index: UnitsIndex
        do { index = try JSONDecoder().decode(UnitsIndex.self, from: data) } catch { throw OutputError.badIndex("\(error)") }
        guard index.format == "atlas-units", index.version == 1 else {
            throw OutputError.badIndex("format \(index.format) version \(index.version); expected atlas-units 1")
        }
        return index
    }
}

public enum UnitAssembly {
    /// Writes the output of `recipe` into `folder` from its parts there. `source` is the scan's image list; when
    /// nil (a merge) it is listed again from the recorded inputs and must name the same images. `visuals` renders
    /// each unit's diversity set and accentuated top exemplar (a merge has no network: none); the pictures
    /// rendered and those kept from an earlier run come back beside the index.
    public static func assemble(_ recipe: UnitsRecipe, folder: OutputFolder, source: ImageSource? = nil,
                                visuals: UnitVisuals? = nil) throws -> (index: UnitsIndex, pictures: UnitPictureCounts) {
        let fingerprint = try recipe.fingerprint
        var merged: [ChannelSummary]? = nil
        var skipped: [SkippedImage] = []
        for p in 0..<recipe.partCount {
            guard let part = UnitsPart.read(p, layer: recipe.layerId, fingerprint: fingerprint, folder: folder),
                  part.first == recipe.partRange(p).lowerBound, part.count == recipe.partRange(p).count,
                  part.summaries.map(\.channel) == recipe.channels else {
                throw ShardMergeError.corrupt(["\(UnitsPart.path(p, layer: recipe.layerId)) missing, unreadable or of another job"])
            }
            merged = merged.map { ChannelSummary.merge($0, part.summaries, k: recipe.top) } ?? part.summaries
            skipped += part.skipped
        }
        let summaries = merged ?? recipe.channels.map { ChannelSummary(channel: $0) }
        let dir = "units/\(recipe.layerId)"
        // Crops and pages of an earlier job (other channels, a larger top) would linger beside the new ones.
        if FileManager.default.fileExists(atPath: folder.file(dir)) {
            do { try FileManager.default.removeItem(atPath: folder.file(dir)) }
            catch { throw OutputError.writeFailed(path: folder.file(dir), reason: "cannot remove the old pages: \(error.localizedDescription)") }
        }
        let (h, w) = (recipe.input[1], recipe.input[2])
        func exemplars(_ list: [UnitExemplar], channel: Int, tag: String) -> [UnitsIndex.Exemplar] {
            list.enumerated().map { r, e in
                UnitsIndex.Exemplar(rank: r, item: e.item, image: e.image, x: e.x, y: e.y, value: e.value,
                                    box: recipe.field.box(x: e.x, y: e.y, width: w, height: h),
                                    crop: "\(dir)/crops/\(channel)-\(tag)\(r).jpg", full: "\(dir)/images/\(e.item).jpg",
                                    heat: e.heat == nil ? nil : "\(dir)/heat/\(channel)-\(tag)\(r).png")
            }
        }
        let icons = try copyIcons(recipe, folder: folder, dir: dir)
        let (canvas, rects) = try copyCanvas(recipe, folder: folder, dir: dir)
        var units = summaries.map { s in
            UnitsIndex.Unit(channel: s.channel, images: s.images, fired: s.fired,
                            fraction: s.images > 0 ? Double(s.fired) / Double(s.images) : 0,
                            histogram: s.histogram.map { pair in
                                let r = UnitHistogram.range(pair[0])
                                return UnitsIndex.Bin(lo: r.lo, hi: r.hi, count: pair[1])
                            },
                            page: "\(dir)/\(s.channel).html", icon: icons[s.channel],
                            top: exemplars(s.top, channel: s.channel, tag: "t"),
                            bottom: recipe.negative ? exemplars(s.bottom, channel: s.channel, tag: "b") : nil,
                            rect: rects[s.channel])
        }
        let images = try source ?? relist(recipe)
        var pictures = UnitPictureCounts()
        if let visuals, !visuals.recipe.isEmpty {
            pictures = try render(visuals, units: &units, recipe: recipe, folder: folder, dir: dir, source: images)
        }
        var settings: [String: JSONValue] = [
            "top": .int(recipe.top), "negative": .bool(recipe.negative), "preprocess": .string(recipe.preprocess),
            "part_images": .int(recipe.partImages), "limit": recipe.limit.map { .int($0) } ?? .null,
            "statistic": .string("spatial max per image"), "channels": .int(recipe.channels.count),
        ]
        if let visuals, !visuals.recipe.isEmpty { settings["visuals"] = try visuals.recipe.recordedSettings() }
        let index = UnitsIndex(title: recipe.title, model: recipe.model, layer: recipe.layer, value: recipe.value,
                               layerId: recipe.layerId, page: "\(dir)/index.html", input: recipe.input, spatial: recipe.spatial,
                               field: recipe.field, settings: settings, candidates: recipe.items,
                               images: recipe.items - skipped.count, skipped: skipped, units: units, canvas: canvas)
        try writeCrops(index, recipe: recipe, folder: folder, source: images)
        try writeHeat(index, summaries: summaries, folder: folder)
        // Every layer's pages link the same unit in the other layers of the folder: theirs are rewritten too.
        let layers = UnitPages.layers(in: folder, with: index)
        for other in layers where other.layerId != index.layerId { try UnitPages.write(other, folder: folder, layers: layers) }
        try UnitPages.write(index, folder: folder, layers: layers)
        try write(try index.jsonData(), "\(dir)/units.json", folder)
        try folder.write(try index.jsonData(), to: "units.json")
        return (index, pictures)
    }

    /// The image list of `recipe`'s inputs, checked against the names the scan saw.
    static func relist(_ recipe: UnitsRecipe) throws -> ImageSource {
        let source = try ImageSource(inputs: recipe.inputs, channels: recipe.input[0], limit: recipe.limit)
        guard source.items.count == recipe.items, UnitsRecipe.namesHash(source) == recipe.images else {
            throw ShardMergeError.corrupt(["the images under \(recipe.inputs.joined(separator: ", ")) are not the ones the shards scanned "
                                           + "(\(source.items.count) now, \(recipe.items) then); merge where the shards' image paths resolve"])
        }
        return source
    }

    /// Renders and writes every unit's pictures (`diversity/<c>-<k>.png`, `accentuated/<c>.png`), one unit at a
    /// time, and records them in `units`. A picture stored by an earlier run with the same key (UnitPictureStore)
    /// is copied instead of rendered.
    static func render(_ visuals: UnitVisuals, units: inout [UnitsIndex.Unit], recipe: UnitsRecipe, folder: OutputFolder,
                       dir: String, source: ImageSource) throws -> UnitPictureCounts {
        let view = recipe.viewPreprocessor
        let store = UnitPictureStore(folder: folder, layerId: recipe.layerId)
        var counts = UnitPictureCounts()
        for k in units.indices {
            let c = units[k].channel
            if visuals.recipe.diversity > 0 {
                let key = try UnitPictureStore.diversityKey(visuals.recipe, recipe: recipe, channel: c)
                let set = try store.picture("d\(c)", key: key, count: visuals.recipe.diversity) {
                    let made = try visuals.diversitySet(layer: recipe.layer, channel: c)
                    return (made.png, made.record)
                }
                counts.count(set.kept)
                var record = set.picture
                record.icons = set.png.indices.map { "\(dir)/diversity/\(c)-\($0).png" }
                for (bytes, path) in zip(set.png, record.icons) { try write(bytes, path, folder) }
                units[k].diversity = record
            }
            if visuals.recipe.accentuateLayer != nil, let best = units[k].top.first {
                let key = try UnitPictureStore.accentuationKey(visuals.recipe, recipe: recipe, channel: c, exemplar: best)
                let path = "\(dir)/accentuated/\(c).png"
                let made = try store.picture("a\(c)", key: key, count: 1) {
                    let seed = try view.geometryApplied(try source.image(best.item))
                    let (png, before, after) = try visuals.accentuate(layer: recipe.layer, value: recipe.value, channel: c,
                                                                    x: best.x, y: best.y, seedImage: seed)
                    return ([png], UnitAccentuated(image: path, item: best.item, seedValue: before, value: after))
                }
                counts.count(made.kept)
                try write(made.png[0], path, folder)
                // The item number is this run's (an earlier run may have listed other images before it).
                units[k].accentuated = UnitAccentuated(image: path, item: best.item, seedValue: made.picture.seedValue,
                                                       value: made.picture.value)
            }
            visuals.progress?(k + 1, units.count)
        }
        return counts
    }

    /// Copies `icons/c<NNNN>.png` of the recipe's gallery folder beside the pages; returns the copied paths by channel.
    static func copyIcons(_ recipe: UnitsRecipe, folder: OutputFolder, dir: String) throws -> [Int: String] {
        guard let gallery = recipe.icons else { return [:] }
        var found: [Int: String] = [:]
        for c in recipe.channels {
            let name = String(format: "c%04d.png", c)
            guard let bytes = FileManager.default.contents(atPath: "\(gallery)/icons/\(name)") else { continue }
            try write(Array(bytes), "\(dir)/icons/\(name)", folder)
            found[c] = "\(dir)/icons/\(name)"
        }
        return found
    }

    /// Copies the gallery's `atlas.png` (when it wrote one) as `gallery.png` and returns it with the cells of the
    /// recipe's channels (`atlas.json`'s first grid); nil and none without a gallery, its canvas or its index.
    static func copyCanvas(_ recipe: UnitsRecipe, folder: OutputFolder, dir: String) throws -> (UnitsIndex.Canvas?, [Int: [Int]]) {
        guard let gallery = recipe.icons, let bytes = FileManager.default.contents(atPath: "\(gallery)/atlas.png"),
              let data = FileManager.default.contents(atPath: "\(gallery)/atlas.json"),
              let grid = (try? AtlasIndex.decode(data))?.grids.first else { return (nil, [:]) }
        let wanted = Set(recipe.channels)
        var rects: [Int: [Int]] = [:]
        for cell in grid.cells { if let c = cell.channel, wanted.contains(c), cell.rect.count == 4 { rects[c] = cell.rect } }
        guard !rects.isEmpty else { return (nil, [:]) }
        try write(Array(bytes), "\(dir)/gallery.png", folder)
        return (UnitsIndex.Canvas(image: "\(dir)/gallery.png", width: grid.canvas.width, height: grid.canvas.height), rects)
    }

    /// The network's view of every exemplar image (`images/<item>.jpg`) and each exemplar's crop, decoded once per
    /// image, in parallel over a few images at a time.
    static func writeCrops(_ index: UnitsIndex, recipe: UnitsRecipe, folder: OutputFolder, source: ImageSource) throws {
        var byItem: [Int: [UnitsIndex.Exemplar]] = [:]
        for u in index.units { for e in u.top + (u.bottom ?? []) { byItem[e.item, default: []].append(e) } }
        let items = byItem.keys.sorted()
        let view = recipe.viewPreprocessor
        for start in stride(from: 0, to: items.count, by: 32) {
            let chunk = Array(items[start..<min(items.count, start + 32)])
            let files: [Result<[(String, [UInt8])], Error>] = Parallel.mapChunks(chunk.count) { k in
                Result {
                    let item = chunk[k]
                    guard item < source.items.count else {
                        throw ImageError(.notFound, file: "item \(item)", reason: "not among the \(source.items.count) images")
                    }
                    let image = try view.geometryApplied(try source.image(item))
                    var out = [(byItem[item]![0].full, try ImageCodec.encodeJPEG(image, quality: 90))]
                    for e in byItem[item]! {
                        let b = e.box
                        let crop = try image.cropped(x: b[0], y: b[1], width: b[2] - b[0] + 1, height: b[3] - b[1] + 1)
                        out.append((e.crop, try ImageCodec.encodeJPEG(crop, quality: 90)))
                    }
                    return out
                }
            }
            for r in files {
                for (path, bytes) in try r.get() { try write(bytes, path, folder) }
            }
        }
    }

    /// Each exemplar's map as a PNG: orange-red, alpha = the encoded activation (UnitHeat).
    static func writeHeat(_ index: UnitsIndex, summaries: [ChannelSummary], folder: OutputFolder) throws {
        for (u, s) in zip(index.units, summaries) {
            for (e, x) in zip(u.top + (u.bottom ?? []), s.top + (u.bottom == nil ? [] : s.bottom)) {
                guard let path = e.heat, let text = x.heat, let map = UnitHeat.decode(text) else { continue }
                // Planar RGBA (Image's layout): one colour, the map in the alpha plane.
                let n = map.bytes.count
                var pixels = [Float](repeating: 1, count: n) + [Float](repeating: 0.25, count: n) + [Float](repeating: 0, count: n)
                pixels += map.bytes.map { Float($0) / 255 }
                let image = try Image(width: map.width, height: map.height, channels: 4, pixels: pixels)
                try write(try ImageCodec.encodePNG(image, level: 6), path, folder)
            }
        }
    }

    /// Writes a file that the output can regenerate (no fsync: crops, images, icons, pages).
    static func write(_ bytes: [UInt8], _ relative: String, _ folder: OutputFolder) throws {
        let path = folder.file(relative)
        do {
            try OutputFolder.makeDirectory((path as NSString).deletingLastPathComponent)
            try AtomicFile.write(bytes, to: path, durable: false)
        } catch { throw OutputError.writeFailed(path: path, reason: "\(error)") }
    }
}

/// Merges units shards: `atlas merge` of a folder filled by `atlas units … --shard i/n`.
public struct UnitsShardAssembler: ShardAssembler {
    public init() {}
    public var kind: String { "units" }

    public func assemble(settings: JSONValue, shards: [ShardManifest], folder: OutputFolder) throws -> ShardMergeResult {
        let recipe: UnitsRecipe
        do { recipe = try UnitsRecipe(settings: settings) } catch {
            throw ShardMergeError.corrupt(["\(shards[0].path): units settings unreadable (\(error))"])
        }
        guard recipe.partCount == shards[0].total else {
            throw ShardMergeError.corrupt(["\(shards[0].path): \(shards[0].total) parts listed, the settings make \(recipe.partCount)"])
        }
        let index = try UnitAssembly.assemble(recipe, folder: folder).index
        return ShardMergeResult(kind: kind, shardCount: shards.count, items: recipe.partCount, filesVerified: 0, index: nil,
                                summary: "units.json: \(index.units.count) units of \(index.layer) from \(index.images) images, "
                                    + "pages in \(index.page)")
    }
}
