/// `OutputFolder`: writes a browsable output folder (Assets/viewer/FORMAT.md): `atlas.json`, `atlas.js`, the
/// embedded viewer files and the tiles folders, every file atomically (temporary sibling + rename).
import AtlasImage
import Foundation

/// Failures of the output writer, each naming what is wrong.
public enum OutputError: Error, CustomStringConvertible, Equatable {
    /// The index breaks a rule of FORMAT.md (bad grid id, absolute or `..` path, cell outside its grid, …).
    case invalidIndex(String)
    /// atlas.json could not be parsed or is not `atlas-index` version 1.
    case badIndex(String)
    /// Assembly input is inconsistent (two icons on one cell, a cell outside the grid, bad sizes).
    case invalidLayout(String)
    /// A file or folder could not be written.
    case writeFailed(path: String, reason: String)

    public var description: String {
        switch self {
        case .invalidIndex(let s): return "invalid atlas index: \(s)"
        case .badIndex(let s): return "unreadable atlas index: \(s)"
        case .invalidLayout(let s): return "invalid grid layout: \(s)"
        case .writeFailed(let path, let reason): return "\(path): write failed: \(reason)"
        }
    }
}

/// An output folder on disk.
public struct OutputFolder: Sendable {
    /// The folder's path.
    public let path: String

    /// Creates the folder (and parents) when missing.
    public init(path: String) throws {
        self.path = path.hasSuffix("/") && path.count > 1 ? String(path.dropLast()) : path
        try OutputFolder.makeDirectory(self.path)
    }

    /// `<folder>/tiles/<gridId>`.
    public func tilesDirectory(gridId: String) -> String { "\(path)/tiles/\(gridId)" }

    /// Absolute path of a folder-relative path.
    public func file(_ relative: String) -> String { "\(path)/\(relative)" }

    /// Writes index.html, viewer.js and viewer.css (the copies embedded by scripts/embed-viewer.sh).
    public func writeViewer() throws {
        for (name, content) in ViewerFiles.all { try write(Array(content.utf8), to: name) }
    }

    /// Validates `index` and writes `atlas.json` (UTF-8) and `atlas.js` (ASCII script) holding the same object.
    public func writeIndex(_ index: AtlasIndex) throws {
        try OutputFolder.validate(index)
        try write(Array(try index.jsonData()), to: "atlas.json")
        try write(Array(try index.script().utf8), to: "atlas.js")
    }

    /// Writes bytes atomically at a folder-relative path.
    public func write(_ bytes: [UInt8], to relative: String) throws {
        do { try ImageCodec.writeAtomically(bytes, to: file(relative)) }
        catch { throw OutputError.writeFailed(path: file(relative), reason: "\(error)") }
    }

    /// Checks the FORMAT.md rules a viewer relies on.
    public static func validate(_ index: AtlasIndex) throws {
        guard index.format == "atlas-index", index.version == 1 else {
            throw OutputError.invalidIndex("format \(index.format) version \(index.version)")
        }
        var ids = Set<String>()
        for grid in index.grids {
            guard isValidId(grid.id) else { throw OutputError.invalidIndex("grid id '\(grid.id)' is not [A-Za-z0-9_-]+") }
            guard ids.insert(grid.id).inserted else { throw OutputError.invalidIndex("grid id '\(grid.id)' appears twice") }
            guard grid.columns > 0, grid.rows > 0, grid.cellSize > 0, grid.canvas.width > 0, grid.canvas.height > 0 else {
                throw OutputError.invalidIndex("grid \(grid.id): non-positive size")
            }
            if let bg = grid.background, RGB8(hex: bg) == nil {
                throw OutputError.invalidIndex("grid \(grid.id): background '\(bg)' is not #rrggbb")
            }
            if let origin = grid.origin, origin.count != 2 { throw OutputError.invalidIndex("grid \(grid.id): origin needs 2 numbers") }
            try checkPath(grid.tiles.path, in: grid.id)
            for token in ["{z}", "{x}", "{y}"] where !grid.tiles.path.contains(token) {
                throw OutputError.invalidIndex("grid \(grid.id): tiles.path lacks \(token)")
            }
            for cell in grid.cells {
                guard (0..<grid.columns).contains(cell.x), (0..<grid.rows).contains(cell.y) else {
                    throw OutputError.invalidIndex("grid \(grid.id): cell (\(cell.x), \(cell.y)) outside \(grid.columns)×\(grid.rows)")
                }
                guard cell.rect.count == 4 else { throw OutputError.invalidIndex("grid \(grid.id): cell (\(cell.x), \(cell.y)) rect needs 4 numbers") }
                if let icon = cell.icon { try checkPath(icon, in: grid.id) }
                for sample in cell.samples ?? [] {
                    try checkPath(sample.path, in: grid.id)
                    if let thumb = sample.thumb { try checkPath(thumb, in: grid.id) }
                }
            }
        }
    }

    /// `[A-Za-z0-9_-]+`.
    public static func isValidId(_ id: String) -> Bool {
        !id.isEmpty && id.utf8.allSatisfy { c in
            (c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || c == 45 || c == 95
        }
    }

    private static func checkPath(_ path: String, in grid: String) throws {
        let parts = path.split(separator: "/", omittingEmptySubsequences: false)
        guard !path.isEmpty, !path.hasPrefix("/"), !path.contains("\\"), !parts.contains(".."), !parts.contains("") else {
            throw OutputError.invalidIndex("grid \(grid): path '\(path)' must be relative, use '/', and not contain '..'")
        }
    }

    public static func makeDirectory(_ path: String) throws {
        do { try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true) }
        catch { throw OutputError.writeFailed(path: path, reason: "cannot create the folder: \(error.localizedDescription)") }
    }
}
