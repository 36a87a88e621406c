/// `AtlasIndex`: the `atlas.json` index of an output folder, version 1 (Assets/viewer/FORMAT.md), as Codable
/// types. Optional fields are omitted when nil; `encode` writes sorted keys so bytes are deterministic.
import Foundation

/// A free-form JSON value (the `settings` object and any extra fields).
public enum JSONValue: Codable, Sendable, Equatable {
    case string(String)
    case int(Int)
    case double(Double)
    case bool(Bool)
    case array([JSONValue])
    case object([String: JSONValue])
    case null

    public init(from decoder: Decoder) throws {
        let c = try decoder.singleValueContainer()
        if c.decodeNil() { self = .null }
        else if let v = try? c.decode(Bool.self) { self = .bool(v) }
        else if let v = try? c.decode(Int.self) { self = .int(v) }
        else if let v = try? c.decode(Double.self) { self = .double(v) }
        else if let v = try? c.decode(String.self) { self = .string(v) }
        else if let v = try? c.decode([JSONValue].self) { self = .array(v) }
        else { self = .object(try c.decode([String: JSONValue].self)) }
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.singleValueContainer()
        switch self {
        case .string(let v): try c.encode(v)
        case .int(let v): try c.encode(v)
        case .double(let v): try c.encode(v)
        case .bool(let v): try c.encode(v)
        case .array(let v): try c.encode(v)
        case .object(let v): try c.encode(v)
        case .null: try c.encodeNil()
        }
    }
}

/// The whole index.
public struct AtlasIndex: Codable, Sendable, Equatable {
    /// What the folder shows.
    public enum Kind: String, Codable, Sendable { case atlas, gallery, activations }

    /// The network that produced the pictures.
    public struct Model: Codable, Sendable, Equatable {
        public var file: String
        public var sha256: String?
        public init(file: String, sha256: String? = nil) { self.file = file; self.sha256 = sha256 }
    }

    /// Canvas size in canvas px.
    public struct Size: Codable, Sendable, Equatable {
        public var width: Int
        public var height: Int
        public init(width: Int, height: Int) { self.width = width; self.height = height }
    }

    /// Where a grid's tile pyramid lies.
    public struct Tiles: Codable, Sendable, Equatable {
        /// Template relative to the folder, e.g. `tiles/g20/{z}/{x}/{y}.jpg`.
        public var path: String
        public var tileSize: Int
        public var minZoom: Int
        public var maxZoom: Int
        /// `jpg` or `png`.
        public var format: String
        public init(path: String, tileSize: Int = 256, minZoom: Int = 0, maxZoom: Int, format: String) {
            self.path = path; self.tileSize = tileSize; self.minZoom = minZoom; self.maxZoom = maxZoom; self.format = format
        }
    }

    /// One of a cell's best classes (or channels), best first.
    public struct TopEntry: Codable, Sendable, Equatable {
        public var label: String
        public var index: Int
        public var value: Double
        public init(label: String, index: Int, value: Double) { self.label = label; self.index = index; self.value = value }
    }

    /// A source image behind a cell and the activation position in it.
    public struct Sample: Codable, Sendable, Equatable {
        public var path: String
        public var x: Int?
        public var y: Int?
        public var thumb: String?
        public init(path: String, x: Int? = nil, y: Int? = nil, thumb: String? = nil) {
            self.path = path; self.x = x; self.y = y; self.thumb = thumb
        }
    }

    /// A filled grid position.
    public struct Cell: Codable, Sendable, Equatable {
        /// Grid column and row.
        public var x: Int
        public var y: Int
        /// Samples averaged into the cell (atlas/activations; nil in galleries).
        public var n: Int?
        /// Painted icon `[left, top, width, height]` in canvas px.
        public var rect: [Int]
        public var norm: Double?
        public var top: [TopEntry]?
        public var samples: [Sample]?
        /// Galleries: channel or class index, and the objective string that rendered the cell.
        public var channel: Int?
        public var objective: String?
        public var label: String?
        public var icon: String?
        /// Activations: the statistic that ranks the channel (named by `settings.statistic`).
        public var value: Double?

        public init(x: Int, y: Int, n: Int? = nil, rect: [Int] = [], norm: Double? = nil, top: [TopEntry]? = nil,
                    samples: [Sample]? = nil, channel: Int? = nil, objective: String? = nil, label: String? = nil,
                    icon: String? = nil, value: Double? = nil) {
            self.x = x; self.y = y; self.n = n; self.rect = rect; self.norm = norm; self.top = top
            self.samples = samples; self.channel = channel; self.objective = objective; self.label = label; self.icon = icon
            self.value = value
        }
    }

    /// One grid: a canvas, its tiles and its cells.
    public struct Grid: Codable, Sendable, Equatable {
        /// `[A-Za-z0-9_-]+`; also the tiles folder name.
        public var id: String
        public var label: String
        public var columns: Int
        public var rows: Int
        public var cellSize: Int
        public var origin: [Int]?
        /// `#rrggbb`.
        public var background: String?
        public var canvas: Size
        public var tiles: Tiles
        public var cells: [Cell]

        public init(id: String, label: String, columns: Int, rows: Int, cellSize: Int, origin: [Int]? = nil,
                    background: String? = nil, canvas: Size, tiles: Tiles, cells: [Cell]) {
            self.id = id; self.label = label; self.columns = columns; self.rows = rows; self.cellSize = cellSize
            self.origin = origin; self.background = background; self.canvas = canvas; self.tiles = tiles; self.cells = cells
        }
    }

    /// Always `atlas-index`.
    public var format: String
    /// Always 1 for this schema.
    public var version: Int
    public var kind: Kind
    public var title: String?
    public var model: Model?
    public var layer: String?
    public var seed: UInt64?
    /// Free-form settings, shown by the viewer as key=value.
    public var settings: [String: JSONValue]?
    /// ISO 8601 time, e.g. `2025-01-31T12:00:00Z` (left to the caller so that output can be reproducible).
    public var created: String?
    public var grids: [Grid]

    public init(kind: Kind, title: String? = nil, model: Model? = nil, layer: String? = nil, seed: UInt64? = nil,
                settings: [String: JSONValue]? = nil, created: String? = nil, grids: [Grid] = []) {
        format = "atlas-index"
        version = 1
        self.kind = kind; self.title = title; self.model = model; self.layer = layer; self.seed = seed
        self.settings = settings; self.created = created; self.grids = grids
    }

    /// UTF-8 JSON with sorted keys and unescaped slashes (deterministic bytes).
    public func jsonData() throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return try encoder.encode(self)
    }

    /// `window.ATLAS_INDEX = <json>;\n`, ASCII only: every non-ASCII scalar becomes `\uXXXX` (surrogate pairs
    /// above U+FFFF), valid because non-ASCII text only occurs inside JSON strings.
    public func script() throws -> String {
        let json = String(decoding: try jsonData(), as: UTF8.self)
        var out = "window.ATLAS_INDEX = "
        out.reserveCapacity(json.utf8.count + 32)
        for scalar in json.unicodeScalars {
            if scalar.isASCII { out.unicodeScalars.append(scalar); continue }
            for unit in String(scalar).utf16 {
                let hex = String(unit, radix: 16)
                out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            }
        }
        return out + ";\n"
    }

    /// Parses atlas.json bytes; throws `OutputError.badIndex` for another format or an unknown version.
    public static func decode(_ data: Data) throws -> AtlasIndex {
        let index: AtlasIndex
        do { index = try JSONDecoder().decode(AtlasIndex.self, from: data) }
        catch { throw OutputError.badIndex("\(error)") }
        guard index.format == "atlas-index", index.version == 1 else {
            throw OutputError.badIndex("format \(index.format) version \(index.version); expected atlas-index 1")
        }
        return index
    }
}
