/// Assembly of galleries and atlases: icons laid on a grid canvas, produced strip by strip for the tile
/// pyramid (the canvas is never held whole), and the whole output folder written.
import AtlasCore
import AtlasImage
import Foundation

/// An icon and the record of the cell it fills (`cell.x`, `cell.y` = grid column, row; `rect` is set by assembly).
public struct PlacedIcon: Sendable {
    public var image: Image
    public var cell: AtlasIndex.Cell
    public init(image: Image, cell: AtlasIndex.Cell) { self.image = image; self.cell = cell }
}

/// How one grid is laid out and tiled.
public struct GridLayout: Sendable {
    /// `[A-Za-z0-9_-]+`, also the tiles folder name.
    public var id: String
    public var label: String
    public var columns: Int
    public var rows: Int
    /// Canvas px per (square) cell; icons are scaled so that their longer side is `cellSize − 2·padding`.
    public var cellSize: Int
    /// Empty canvas px kept on each side of an icon inside its cell (default 0).
    public var padding: Int
    public var background: RGB8
    public var format: TileFormat

    public init(id: String, label: String? = nil, columns: Int, rows: Int, cellSize: Int, padding: Int = 0,
                background: RGB8 = .black, format: TileFormat = .defaultJPEG) {
        self.id = id; self.label = label ?? "\(columns)×\(rows)"; self.columns = columns; self.rows = rows
        self.cellSize = cellSize; self.padding = padding; self.background = background; self.format = format
    }

    /// Canvas size: `columns · cellSize × rows · cellSize`.
    public var canvasSize: (width: Int, height: Int) { (columns * cellSize, rows * cellSize) }
}

/// Builds grids and output folders from icons.
public enum Assembly {
    /// Icons scaled and positioned on the canvas, bucketed by grid row for strip production.
    public struct Canvas {
        public let layout: GridLayout
        /// Cell records in row-major grid order with `rect` filled in.
        public let cells: [AtlasIndex.Cell]
        let icons: [(image: Image, left: Int, top: Int)]
        let byRow: [[Int]]

        /// Checks positions (inside the grid, one icon per cell) and scales icons to fit their cells.
        public init(icons: [PlacedIcon], layout: GridLayout) throws {
            guard OutputFolder.isValidId(layout.id) else { throw OutputError.invalidLayout("grid id '\(layout.id)'") }
            let inner = layout.cellSize - 2 * layout.padding
            guard layout.columns > 0, layout.rows > 0, layout.padding >= 0, inner > 0 else {
                throw OutputError.invalidLayout("grid \(layout.columns)×\(layout.rows), cell \(layout.cellSize), padding \(layout.padding)")
            }
            let order = icons.indices.sorted { (icons[$0].cell.y, icons[$0].cell.x) < (icons[$1].cell.y, icons[$1].cell.x) }
            var placed: [(image: Image, left: Int, top: Int)] = []
            var cells: [AtlasIndex.Cell] = []
            var byRow = [[Int]](repeating: [], count: layout.rows)
            var previous: (Int, Int)? = nil
            for i in order {
                var cell = icons[i].cell
                guard (0..<layout.columns).contains(cell.x), (0..<layout.rows).contains(cell.y) else {
                    throw OutputError.invalidLayout("icon at (\(cell.x), \(cell.y)) outside \(layout.columns)×\(layout.rows)")
                }
                if let p = previous, p == (cell.x, cell.y) { throw OutputError.invalidLayout("two icons at (\(cell.x), \(cell.y))") }
                previous = (cell.x, cell.y)
                var image = icons[i].image
                if max(image.width, image.height) != inner {
                    let scale = Double(inner) / Double(max(image.width, image.height))
                    image = try image.resized(width: max(1, Int((Double(image.width) * scale).rounded())),
                                              height: max(1, Int((Double(image.height) * scale).rounded())))
                }
                let left = cell.x * layout.cellSize + (layout.cellSize - image.width) / 2
                let top = cell.y * layout.cellSize + (layout.cellSize - image.height) / 2
                cell.rect = [left, top, image.width, image.height]
                byRow[cell.y].append(placed.count)
                placed.append((image, left, top))
                cells.append(cell)
            }
            self.layout = layout
            self.cells = cells
            self.icons = placed
            self.byRow = byRow
        }

        /// Paints the icons that intersect `band` (a `PyramidWriter` producer).
        public func produce(_ band: CanvasBand) {
            let cs = layout.cellSize
            let first = band.y0 / cs, last = min(layout.rows - 1, (band.y0 + band.height - 1) / cs)
            guard first <= last else { return }
            for row in first...last {
                for i in byRow[row] { band.paste(icons[i].image, x: icons[i].left, y: icons[i].top) }
            }
        }
    }

    /// Writes one grid's tiles (and, when given, the whole canvas as PNG within `fullImageMaxPixels`) and returns
    /// its index record with the pyramid's statistics.
    public static func writeGrid(_ canvas: Canvas, to folder: OutputFolder, fullImage: String? = nil,
                                 fullImageMaxPixels: Int = 4096 * 4096, dzi: Bool = false) throws
        -> (grid: AtlasIndex.Grid, stats: PyramidStats) {
        let layout = canvas.layout
        let (width, height) = layout.canvasSize
        let options = PyramidOptions(format: layout.format, background: layout.background,
                                     fullImagePath: fullImage.map { folder.file($0) }, fullImageMaxPixels: fullImageMaxPixels,
                                     dziPath: dzi ? folder.file("\(layout.id).dzi") : nil)
        let writer = try PyramidWriter(directory: folder.tilesDirectory(gridId: layout.id), width: width, height: height,
                                       channels: 3, options: options)
        let stats = try writer.write { canvas.produce($0) }
        let ext = layout.format.fileExtension
        let grid = AtlasIndex.Grid(
            id: layout.id, label: layout.label, columns: layout.columns, rows: layout.rows, cellSize: layout.cellSize,
            origin: [0, 0], background: layout.background.hex, canvas: .init(width: width, height: height),
            tiles: .init(path: "tiles/\(layout.id)/{z}/{x}/{y}.\(ext)", tileSize: 256, minZoom: 0,
                         maxZoom: writer.geometry.maxZoom, format: ext),
            cells: canvas.cells)
        return (grid, stats)
    }

    /// Writes a complete output folder: every grid's tiles (`atlas.png` for the first grid when small enough),
    /// then `atlas.json`/`atlas.js` with `index`'s metadata and the grids, then the viewer. Returns the index.
    @discardableResult
    public static func writeFolder(_ index: AtlasIndex, grids: [(layout: GridLayout, icons: [PlacedIcon])],
                                   to path: String, fullImageMaxPixels: Int = 4096 * 4096) throws -> AtlasIndex {
        let folder = try OutputFolder(path: path)
        var result = index
        result.grids = []
        for (i, entry) in grids.enumerated() {
            let canvas = try Canvas(icons: entry.icons, layout: entry.layout)
            let written = try writeGrid(canvas, to: folder, fullImage: i == 0 ? "atlas.png" : nil,
                                        fullImageMaxPixels: fullImageMaxPixels)
            result.grids.append(written.grid)
        }
        try folder.writeIndex(result)
        try folder.writeViewer()
        return result
    }
}
