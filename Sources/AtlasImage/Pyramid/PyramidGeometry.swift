/// Geometry and options of a 256-px XYZ tile pyramid (Assets/viewer/FORMAT.md): level sizes, tile counts,
/// tile formats and the background colour used for the canvas and the padding of edge tiles.

/// An 8-bit RGB colour, e.g. a grid's `background` (`#rrggbb` in atlas.json).
public struct RGB8: Sendable, Equatable, Hashable {
    public var red: UInt8
    public var green: UInt8
    public var blue: UInt8

    public init(red: UInt8, green: UInt8, blue: UInt8) {
        self.red = red
        self.green = green
        self.blue = blue
    }

    public static let black = RGB8(red: 0, green: 0, blue: 0)
    public static let white = RGB8(red: 255, green: 255, blue: 255)

    /// Parses `#rrggbb` (case-insensitive); nil for anything else.
    public init?(hex: String) {
        let digits = Array(hex.utf8)
        guard digits.count == 7, digits[0] == UInt8(ascii: "#") else { return nil }
        var values = [UInt8]()
        for i in stride(from: 1, to: 7, by: 2) {
            guard let hi = RGB8.nibble(digits[i]), let lo = RGB8.nibble(digits[i + 1]) else { return nil }
            values.append(hi << 4 | lo)
        }
        self.init(red: values[0], green: values[1], blue: values[2])
    }

    /// `#rrggbb`, lower case.
    public var hex: String {
        let chars = Array("0123456789abcdef")
        return "#" + [red, green, blue].map { String([chars[Int($0 >> 4)], chars[Int($0 & 15)]]) }.joined()
    }

    /// The colour's samples for a 1-channel (Rec. 601 luma, rounded) or 3-channel canvas.
    public func samples(channels: Int) -> [UInt8] {
        if channels == 1 {
            let luma = 0.299 * Double(red) + 0.587 * Double(green) + 0.114 * Double(blue)
            return [UInt8(min(255, luma + 0.5))]
        }
        return [red, green, blue]
    }

    private static func nibble(_ c: UInt8) -> UInt8? {
        switch c {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return c - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return c - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): return c - UInt8(ascii: "A") + 10
        default: return nil
        }
    }
}

/// How tiles are encoded.
public enum TileFormat: Sendable, Equatable {
    /// Baseline JPEG, quality 1–100, 4:2:0 chroma (FORMAT.md asks for quality ≥ 85).
    case jpeg(quality: Int)
    /// 8-bit PNG with zlib `level` 0–9 and the allowed row filters.
    case png(level: Int, filter: PNGFilter)

    /// JPEG quality 90.
    public static let defaultJPEG = TileFormat.jpeg(quality: 90)
    /// PNG level 2 with NONE/SUB/UP filters: about twice as fast as level 6 with all filters, a little larger.
    public static let fastPNG = TileFormat.png(level: 2, filter: .fast)

    /// File extension and atlas.json `tiles.format`: `jpg` or `png`.
    public var fileExtension: String {
        if case .png = self { return "png" }
        return "jpg"
    }
}

/// Sizes of the levels and tile grids of a canvas's pyramid. Level `maxZoom` is the full canvas; level `z` is
/// `ceil(width / 2^(maxZoom − z)) × ceil(height / 2^(maxZoom − z))`; level 0 fits one tile.
public struct PyramidGeometry: Sendable, Equatable {
    public let width: Int
    public let height: Int
    public let tileSize: Int
    /// Smallest `m ≥ 0` with `tileSize · 2^m ≥ max(width, height)`.
    public let maxZoom: Int

    /// Throws `ImageError.invalidArgument` for non-positive sizes.
    public init(width: Int, height: Int, tileSize: Int = 256) throws {
        guard width > 0, height > 0, tileSize > 0, width <= 1 << 30, height <= 1 << 30 else {
            throw ImageError(.invalidArgument, file: "<pyramid>", reason: "canvas \(width)x\(height), tile \(tileSize)")
        }
        self.width = width
        self.height = height
        self.tileSize = tileSize
        var m = 0
        while tileSize << m < max(width, height) { m += 1 }
        maxZoom = m
    }

    /// Level `z`'s size in level px.
    public func levelSize(_ z: Int) -> (width: Int, height: Int) {
        let shift = maxZoom - z
        let d = 1 << shift
        return ((width + d - 1) >> shift, (height + d - 1) >> shift)
    }

    /// Level `z`'s tile columns and rows.
    public func tileCount(_ z: Int) -> (columns: Int, rows: Int) {
        let s = levelSize(z)
        return ((s.width + tileSize - 1) / tileSize, (s.height + tileSize - 1) / tileSize)
    }

    /// Tiles in all levels together.
    public var totalTiles: Int {
        (0...maxZoom).reduce(0) { sum, z in let t = tileCount(z); return sum + t.columns * t.rows }
    }

    /// A tile's path relative to the tiles folder: `z/x/y.ext`.
    public static func tilePath(z: Int, x: Int, y: Int, format: TileFormat) -> String {
        "\(z)/\(x)/\(y).\(format.fileExtension)"
    }
}

/// Options of `PyramidWriter`.
public struct PyramidOptions: Sendable, Equatable {
    /// Tile encoding (default JPEG quality 90).
    public var format: TileFormat
    /// Canvas background and colour of the padding of edge tiles.
    public var background: RGB8
    /// Canvas rows the producer fills per call; must divide the tile size (default 64).
    public var stripRows: Int
    /// When set, also writes the whole canvas as PNG here if `width · height ≤ fullImageMaxPixels`.
    public var fullImagePath: String?
    /// Size limit for `fullImagePath` (default 4096², i.e. 48 MiB of RGB bytes held while building).
    public var fullImageMaxPixels: Int
    /// zlib level of the full-canvas PNG (default 2, with the fast filters).
    public var fullImagePNGLevel: Int
    /// When set, writes a Deep Zoom descriptor of the canvas here (the descriptor only; tiles stay XYZ).
    public var dziPath: String?

    public init(format: TileFormat = .defaultJPEG, background: RGB8 = .black, stripRows: Int = 64,
                fullImagePath: String? = nil, fullImageMaxPixels: Int = 4096 * 4096, fullImagePNGLevel: Int = 2,
                dziPath: String? = nil) {
        self.format = format
        self.background = background
        self.stripRows = stripRows
        self.fullImagePath = fullImagePath
        self.fullImageMaxPixels = fullImageMaxPixels
        self.fullImagePNGLevel = fullImagePNGLevel
        self.dziPath = dziPath
    }
}

/// What a pyramid run did.
public struct PyramidStats: Sendable, Equatable {
    public var geometry: PyramidGeometry
    /// Tile files written (all levels).
    public var tilesWritten: Int
    /// Encoded bytes written to tile files.
    public var tileBytes: Int
    /// Largest number of buffer bytes the writer held at once (bands, strip, scratch, encoder output, full image).
    public var peakHeldBytes: Int
    /// Whether the full-canvas PNG was written.
    public var wroteFullImage: Bool
}
