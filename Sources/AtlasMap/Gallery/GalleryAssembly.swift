/// Gallery assembly from a `GalleryRecipe`: the one code path that turns finished icons into the grid, tiles,
/// `atlas.json` and viewer, used by a single-machine `atlas gallery` run and by `atlas merge` of gallery shards.
import AtlasImage
import AtlasJobs
import AtlasOutput
import AtlasVis
import Foundation

/// Everything a gallery's assembled output (and its icons) depends on, in plain Codable values: recorded in
/// every shard manifest (its SHA-256 is the settings fingerprint) so that a merge needs neither the model nor
/// the command line. `batch` and thread count are left out: they never change a byte.
public struct GalleryRecipe: Codable, Sendable, Equatable {
    public struct Item: Codable, Sendable, Equatable {
        public var id: String
        public var label: String?
        public var objective: String
        public var channel: Int
    }

    /// Tile encoding, spelled out so that it round-trips exactly.
    public struct Tiles: Codable, Sendable, Equatable {
        public var format: String
        public var quality: Int?
        public var level: Int?
        public var filter: Int32?

        init(_ f: TileFormat) {
            switch f {
            case .jpeg(let q): format = "jpeg"; quality = q
            case let .png(l, filter): format = "png"; level = l; self.filter = filter.rawValue
            }
        }

        var tileFormat: TileFormat {
            format == "png" ? .png(level: level ?? 2, filter: PNGFilter(rawValue: filter ?? PNGFilter.fast.rawValue))
                : .jpeg(quality: quality ?? 90)
        }
    }

    /// Model file name (not its path) and SHA-256.
    public var model: String
    public var modelSHA256: String?
    public var layer: String?
    public var title: String
    public var gridId: String
    /// Decimal, so that any UInt64 round-trips through JSON.
    public var seed: String
    /// Every icon's render options, as `RenderOptions` encodes itself (snapshot thresholds cleared).
    public var render: RenderOptions
    /// How the preprocessing was chosen (e.g. `auto: model.json`), recorded in atlas.json.
    public var preprocessSource: String?
    public var inputChannels: Int
    public var tiles: Tiles
    public var created: String?
    public var items: [Item]

    /// The recipe of a gallery run.
    public init(items: [GalleryItem], layer: String?, modelPath: String, modelSHA: String?, settings: GallerySettings,
                inputChannels: Int) {
        model = (modelPath as NSString).lastPathComponent
        modelSHA256 = modelSHA
        self.layer = layer
        title = settings.title ?? (layer.map { "Channels of \($0)" } ?? "Classes")
        gridId = settings.gridId ?? (layer == nil ? "classes" : "channels")
        seed = String(settings.seed)
        render = settings.render.pixelRecipe
        preprocessSource = settings.preprocessSource
        self.inputChannels = inputChannels
        tiles = Tiles(settings.format)
        created = settings.created
        self.items = items.map { Item(id: $0.id, label: $0.label, objective: $0.objective.description, channel: $0.channel) }
    }

    /// Decodes a recipe from shard-manifest settings.
    public init(settings: JSONValue) throws {
        self = try JSONDecoder().decode(GalleryRecipe.self, from: ShardManifest.canonicalJSON(settings))
    }
}

extension Gallery {
    /// Places the icons of `recipe` (item order, row-major on `ceil(sqrt(n))` columns) on one grid and writes
    /// tiles, `atlas.json`/`atlas.js`, the viewer and `atlas.png` (when small) into `folder`.
    public static func assemble(_ recipe: GalleryRecipe, folder: OutputFolder) throws -> AtlasIndex {
        let n = recipe.items.count
        let columns = Int(Double(n).squareRoot().rounded(.up))
        let rows = (n + columns - 1) / columns
        let pad = max(2, recipe.render.size / 32)
        var icons: [PlacedIcon] = []
        icons.reserveCapacity(n)
        var scores: [Double] = []
        for (i, item) in recipe.items.enumerated() {
            let image = try ImageCodec.decode(file: folder.file("icons/\(item.id).png"))
            // The quality measure: the objective of the finished icon without transforms (from its sidecar).
            let score = IconSidecar.read(folder, id: item.id)?.score
            if let score { scores.append(score) }
            let cell = AtlasIndex.Cell(x: i % columns, y: i / columns, channel: item.channel,
                                       objective: item.objective, label: item.label, icon: "icons/\(item.id).png", value: score)
            icons.append(PlacedIcon(image: image, cell: cell))
        }
        let format = recipe.tiles.tileFormat
        let layout = GridLayout(id: recipe.gridId, label: "\(n) \(recipe.gridId) · \(columns)×\(rows)", columns: columns, rows: rows,
                                cellSize: recipe.render.size + 2 * pad, padding: pad,
                                background: RGB8(hex: "#111111") ?? .black, format: format)
        var recorded = try recipe.render.recordedSettings(preprocessSource: recipe.preprocessSource)
        recorded.merge(["format": .string(format.fileExtension), "icons": .int(n), "seeds": .string("seed + item index")]) { $1 }
        if let median = Gallery.median(scores) { recorded["objective_median"] = .double(median) }
        let index = AtlasIndex(kind: .gallery, title: recipe.title, model: .init(file: recipe.model, sha256: recipe.modelSHA256),
                               layer: recipe.layer, seed: UInt64(recipe.seed) ?? 0, settings: recorded, created: recipe.created)
        // Tiles of an earlier, larger grid would linger beside the new pyramid.
        let tiles = folder.tilesDirectory(gridId: recipe.gridId)
        if FileManager.default.fileExists(atPath: tiles) {
            do { try FileManager.default.removeItem(atPath: tiles) }
            catch { throw OutputError.writeFailed(path: tiles, reason: "cannot remove the old tiles: \(error.localizedDescription)") }
        }
        return try Assembly.writeFolder(index, grids: [(layout, icons)], to: folder.path)
    }

    /// The median of the icons' scores (mean of the middle two for an even count); nil for none.
    public static func median(_ values: [Double]) -> Double? {
        guard !values.isEmpty else { return nil }
        let s = values.sorted(), n = s.count
        return n % 2 == 1 ? s[n / 2] : 0.5 * (s[n / 2 - 1] + s[n / 2])
    }

    /// Files of item `i` listed in its shard manifest: the icon and its sidecar.
    static func itemFiles(_ item: GalleryItem) -> [String] { ["icons/\(item.id).png", "icons/\(item.id).json"] }
}

/// Merges gallery shards: `atlas merge` of a folder filled by `atlas gallery … --shard i/n`.
public struct GalleryShardAssembler: ShardAssembler {
    public init() {}
    public var kind: String { "gallery" }

    public func assemble(settings: JSONValue, shards: [ShardManifest], folder: OutputFolder) throws -> ShardMergeResult {
        let recipe: GalleryRecipe
        do { recipe = try GalleryRecipe(settings: settings) } catch {
            throw ShardMergeError.corrupt(["\(shards[0].path): gallery settings unreadable (\(error))"])
        }
        let index = try Gallery.assemble(recipe, folder: folder)
        return ShardMergeResult(kind: kind, shardCount: shards.count, items: recipe.items.count, filesVerified: 0, index: index)
    }
}
