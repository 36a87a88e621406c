/// Tests of the output folder: index JSON round trip and script form, validation, the embedded viewer,
/// and an end-to-end gallery assembly whose tiles show the icons where the index says.
import AtlasCore
import AtlasImage
import AtlasMap
import AtlasOutput
import Foundation
import XCTest

final class OutputTests: XCTestCase {
    static let repoRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()

    func temporaryFolder() throws -> String {
        let path = NSTemporaryDirectory() + "atlas-output-tests-" + UUID().uuidString
        addTeardownBlock { try? FileManager.default.removeItem(atPath: path) }
        return path
    }

    static func sampleIndex() -> AtlasIndex {
        let cell = AtlasIndex.Cell(
            x: 3, y: 1, n: 41, rect: [450, 150, 150, 150], norm: 12.4,
            top: [.init(label: "tabby cat — “chat”", index: 281, value: 0.62)],
            samples: [.init(path: "images/cat_017.jpg", x: 3, y: 5, thumb: "thumbs/cat_017.jpg")],
            label: "猫 🐱")
        let grid = AtlasIndex.Grid(
            id: "g20", label: "20×20", columns: 20, rows: 20, cellSize: 150, origin: [0, 0], background: "#111111",
            canvas: .init(width: 3000, height: 3000),
            tiles: .init(path: "tiles/g20/{z}/{x}/{y}.jpg", maxZoom: 4, format: "jpg"), cells: [cell])
        return AtlasIndex(kind: .atlas, title: "InceptionV1 mixed4c", model: .init(file: "inception_v1.onnx", sha256: "9f2c"),
                          layer: "mixed4c", seed: 7,
                          settings: ["steps": .int(512), "lr": .double(0.05), "transforms": .string("jitter,scale"),
                                     "decorrelate": .bool(true), "extra": .object(["a": .array([.int(1), .null])])],
                          created: "2025-01-31T12:00:00Z", grids: [grid])
    }

    func testIndexRoundTripAndStableBytes() throws {
        let index = Self.sampleIndex()
        let data = try index.jsonData()
        XCTAssertEqual(try AtlasIndex.decode(data), index)
        XCTAssertEqual(try index.jsonData(), data)  // deterministic
        let object = try XCTUnwrap(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        XCTAssertEqual(object["format"] as? String, "atlas-index")
        XCTAssertEqual(object["version"] as? Int, 1)
        XCTAssertEqual(object["kind"] as? String, "atlas")
        let text = String(decoding: data, as: UTF8.self)
        XCTAssertTrue(text.hasPrefix("{\"created\":"), "keys are sorted")
        XCTAssertTrue(text.contains("\"tiles/g20/{z}/{x}/{y}.jpg\""), "slashes unescaped")
        XCTAssertFalse(text.contains("\"channel\""), "nil fields are omitted")
        // A gallery cell: channel/objective, no n.
        let gallery = AtlasIndex.Cell(x: 0, y: 0, rect: [0, 0, 8, 8], channel: 37, objective: "mixed4c:37")
        XCTAssertEqual(try JSONDecoder().decode(AtlasIndex.Cell.self, from: try JSONEncoder().encode(gallery)), gallery)
        XCTAssertThrowsError(try AtlasIndex.decode(Data("{\"format\":\"atlas-index\",\"version\":2,\"kind\":\"atlas\",\"grids\":[]}".utf8)))
        XCTAssertThrowsError(try AtlasIndex.decode(Data("not json".utf8)))
    }

    func testScriptIsASCIIAndHoldsTheSameObject() throws {
        let index = Self.sampleIndex()
        let script = try index.script()
        XCTAssertTrue(script.hasPrefix("window.ATLAS_INDEX = {"))
        XCTAssertTrue(script.hasSuffix("};\n"))
        XCTAssertTrue(script.utf8.allSatisfy { $0 < 128 })
        XCTAssertTrue(script.contains("\\ud83d\\udc31"), "astral characters as surrogate pairs")
        let json = script.dropFirst("window.ATLAS_INDEX = ".count).dropLast(2)
        XCTAssertEqual(try AtlasIndex.decode(Data(json.utf8)), index)
    }

    func testValidation() throws {
        var index = Self.sampleIndex()
        XCTAssertNoThrow(try OutputFolder.validate(index))
        let bad: [(inout AtlasIndex) -> Void] = [
            { $0.grids[0].id = "a b" },
            { $0.grids.append($0.grids[0]) },
            { $0.grids[0].tiles.path = "/abs/{z}/{x}/{y}.jpg" },
            { $0.grids[0].tiles.path = "tiles/../{z}/{x}/{y}.jpg" },
            { $0.grids[0].tiles.path = "tiles/g20/{z}/{x}.jpg" },
            { $0.grids[0].cells[0].x = 20 },
            { $0.grids[0].cells[0].rect = [1, 2] },
            { $0.grids[0].background = "red" },
            { $0.grids[0].cells[0].samples![0].thumb = "../x.jpg" },
        ]
        for (i, mutate) in bad.enumerated() {
            var copy = index
            mutate(&copy)
            XCTAssertThrowsError(try OutputFolder.validate(copy), "case \(i)") { XCTAssertTrue($0 is OutputError) }
        }
        index.grids[0].cells[0].icon = "icons/g20/3_1.png"
        XCTAssertNoThrow(try OutputFolder.validate(index))
    }

    /// Fails when Assets/viewer changed and scripts/embed-viewer.sh was not rerun.
    func testEmbeddedViewerMatchesAssets() throws {
        XCTAssertEqual(ViewerFiles.all.map(\.name), ["index.html", "viewer.js", "viewer.css"])
        for (name, content) in ViewerFiles.all {
            let url = Self.repoRoot.appendingPathComponent("Assets/viewer/\(name)")
            let disk = try Data(contentsOf: url)
            XCTAssertTrue(Data(content.utf8) == disk, "\(name) differs from Assets/viewer: run scripts/embed-viewer.sh")
        }
    }

    /// 12 random icons on a 5×3 grid: the folder has the index, script, viewer and every tile; tiles show the
    /// icons at their rects, empty cells show the background.
    func testGalleryAssemblyEndToEnd() throws {
        let path = try temporaryFolder()
        var rng = SplitMix64(seed: 11, stream: 0)
        var icons: [PlacedIcon] = []
        var colors: [[Float]] = []
        for i in 0..<12 {
            let color = (0..<3).map { _ in Float(Int(rng.next() % 200) + 40) / 255 }
            var image = Image(width: 96, height: 96, channels: 3)
            for c in 0..<3 { for p in 0..<96 * 96 { image.pixels[c * 96 * 96 + p] = color[c] } }
            colors.append(color)
            icons.append(PlacedIcon(image: image, cell: .init(x: i % 5, y: i / 5, channel: i, objective: "mixed4c:\(i)",
                                                               label: "channel \(i)")))
        }
        let layout = GridLayout(id: "channels", columns: 5, rows: 3, cellSize: 128, padding: 16,
                                background: RGB8(hex: "#202020")!, format: .fastPNG)
        let meta = AtlasIndex(kind: .gallery, title: "test gallery", layer: "mixed4c", seed: 3, created: "2025-01-01T00:00:00Z")
        let index = try Assembly.writeFolder(meta, grids: [(layout, icons)], to: path)
        let grid = try XCTUnwrap(index.grids.first)
        XCTAssertEqual(grid.canvas, .init(width: 640, height: 384))
        XCTAssertEqual(grid.tiles.maxZoom, 2)
        XCTAssertEqual(grid.cells.count, 12)
        XCTAssertEqual(grid.cells[7].rect, [2 * 128 + 16, 128 + 16, 96, 96])
        let read = try AtlasIndex.decode(try Data(contentsOf: URL(fileURLWithPath: path + "/atlas.json")))
        XCTAssertEqual(read, index)
        for name in ["atlas.js", "index.html", "viewer.js", "viewer.css", "atlas.png"] {
            XCTAssertTrue(FileManager.default.fileExists(atPath: path + "/" + name), name)
        }
        let g = try PyramidGeometry(width: 640, height: 384)
        for z in 0...g.maxZoom {
            for x in 0..<g.tileCount(z).columns { for y in 0..<g.tileCount(z).rows {
                XCTAssertTrue(FileManager.default.fileExists(atPath: "\(path)/tiles/channels/\(z)/\(x)/\(y).png"))
            } }
        }
        // Full-resolution content: icon centres have their colour, an empty cell and the edge padding the background.
        let atlas = try ImageCodec.decode(file: path + "/atlas.png")
        for (i, cell) in grid.cells.enumerated() {
            let cx = cell.rect[0] + 48, cy = cell.rect[1] + 48
            for c in 0..<3 { XCTAssertEqual(atlas[c, cy, cx], colors[i][c], accuracy: 0.5 / 255) }
        }
        XCTAssertEqual(atlas[0, 2 * 128 + 64, 4 * 128 + 64], Float(0x20) / 255, accuracy: 1e-6)
        let tile = try ImageCodec.decode(file: "\(path)/tiles/channels/2/2/1.png")  // canvas x 512…767, y 256…511
        XCTAssertEqual(tile[1, 10, 200], Float(0x20) / 255, accuracy: 1e-6)  // right padding beyond x = 640
        XCTAssertEqual(tile[1, 200, 10], Float(0x20) / 255, accuracy: 1e-6)  // bottom padding beyond y = 384
    }

    func testAssemblyRejectsBadLayouts() throws {
        let path = try temporaryFolder()
        let icon = Image(width: 8, height: 8, channels: 3)
        let layout = GridLayout(id: "g", columns: 2, rows: 2, cellSize: 8)
        XCTAssertThrowsError(try Assembly.Canvas(icons: [PlacedIcon(image: icon, cell: .init(x: 2, y: 0))], layout: layout))
        XCTAssertThrowsError(try Assembly.Canvas(icons: [PlacedIcon(image: icon, cell: .init(x: 1, y: 1)),
                                                         PlacedIcon(image: icon, cell: .init(x: 1, y: 1))], layout: layout))
        XCTAssertThrowsError(try Assembly.Canvas(icons: [], layout: GridLayout(id: "bad id", columns: 1, rows: 1, cellSize: 8)))
        XCTAssertThrowsError(try Assembly.Canvas(icons: [], layout: GridLayout(id: "g", columns: 1, rows: 1, cellSize: 8, padding: 4)))
        // An empty grid is fine: background tiles only.
        let index = try Assembly.writeFolder(AtlasIndex(kind: .atlas), grids: [(layout, [])], to: path)
        XCTAssertEqual(index.grids[0].cells, [])
    }
}
