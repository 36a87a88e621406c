/// End to end: 300 Fashion-MNIST images → collection → UMAP → grids 4 and 8 → icons → tiles + index; a rerun renders
/// nothing; a damaged icon (as left by a kill) is rendered again; the index survives a decode/encode round trip.
import AtlasCore
import AtlasImage
import AtlasMap
import AtlasNet
import AtlasOutput
import AtlasVis
import Foundation
import XCTest

final class AtlasBuilderTests: XCTestCase {
    func testAtlasEndToEndRerunAndIndexRoundTrip() throws {
        let root = NSTemporaryDirectory() + "atlas-map-tests-" + UUID().uuidString
        addTeardownBlock { try? FileManager.default.removeItem(atPath: root) }
        let collection = root + "/activations", out = root + "/atlas"
        let network = try Network(contentsOf: CollectTests.modelPath)
        let value = try network.resolve(CollectTests.layer)
        let logits = try Renderer(network: network).valueName(Objective.networkOutput)
        let source = try ImageSource(inputs: [CollectTests.idxPath], channels: 1, limit: 300)
        let settings = CollectSettings(layer: CollectTests.layer, value: value, limit: 300, batch: 50, partImages: 128, top: 3,
                                       attribution: .gradxact, seed: 1, input: [1, 28, 28], preprocess: "test")
        let labels = (0..<10).map { "class \($0)" }
        _ = try Collector.run(source: source, sampler: ActivationSampler(network: network, value: value, logits: logits, perImage: 1,
                                                                           top: 3, attribution: .gradxact, seed: 1),
                              preprocessor: CollectTests.preprocessor, settings: settings,
                              model: .init(file: "fashion_cnn.onnx", sha256: SHA256.hex(file: CollectTests.modelPath)),
                              labels: labels, directory: collection)
        let set = try ActivationSet(directory: collection)
        XCTAssertEqual(set.activations.shape[0], 300)

        var atlas = AtlasSettings()
        atlas.grids = [4, 8]
        atlas.minCount = 2
        atlas.render = RenderOptions(size: 40, steps: 3, preprocess: .meanStd([0.286], [0.353]))
        atlas.batch = 16
        atlas.format = .fastPNG
        atlas.seed = 2
        var stages: [String] = []
        let first = try AtlasBuilder.build(set, network: network, modelPath: CollectTests.modelPath, settings: atlas, outDir: out) {
            if stages.last != $0.stage { stages.append($0.stage) }
        }
        XCTAssertEqual(stages, ["reduce", "icons", "tiles"])
        XCTAssertFalse(first.layoutReused)
        let index = try AtlasIndex.decode(try Data(contentsOf: URL(fileURLWithPath: out + "/atlas.json")))
        XCTAssertEqual(try index.jsonData(), try XCTUnwrap(first.index).jsonData())
        XCTAssertEqual(index.kind, .atlas)
        XCTAssertEqual(index.grids.map(\.id), ["g4", "g8"])
        XCTAssertEqual(first.iconsRendered, index.grids.reduce(0) { $0 + $1.cells.count })
        // Round trip: the bytes re-encode identically, atlas.js holds the same object.
        XCTAssertEqual(try index.jsonData(), try Data(contentsOf: URL(fileURLWithPath: out + "/atlas.json")))
        XCTAssertEqual(try index.script(), try String(contentsOfFile: out + "/atlas.js", encoding: .utf8))

        for grid in index.grids {
            XCTAssertEqual(grid.canvas.width, grid.columns * 40)
            let counted = grid.cells.reduce(0) { $0 + $1.n! }
            XCTAssertLessThanOrEqual(counted, 300)
            XCTAssertGreaterThan(counted, 200)   // few samples fall in cells under the minimum count
            for cell in grid.cells {
                XCTAssertGreaterThanOrEqual(cell.n!, 2)
                XCTAssertTrue((3...5).contains(cell.top!.count))   // the union of the samples' top 3, best 5 kept
                XCTAssertEqual(cell.top?.first?.label, cell.label)
                XCTAssertTrue(cell.top!.first!.label.hasPrefix("class "))
                XCTAssertEqual(cell.samples?.count, min(4, cell.n!))
                XCTAssertTrue(cell.samples!.allSatisfy { $0.path.hasPrefix("t10k-2000-images-idx3-ubyte.gz#") })
                XCTAssertTrue(FileManager.default.fileExists(atPath: out + "/" + cell.icon!))
                XCTAssertGreaterThan(cell.norm!, 0)
            }
            // Tiles: exactly the levels FORMAT.md gives, every tile 256×256.
            let side = max(grid.canvas.width, grid.canvas.height)
            var expectedMax = 0
            while 256 << expectedMax < side { expectedMax += 1 }
            XCTAssertEqual(grid.tiles.maxZoom, expectedMax)
            for z in 0...grid.tiles.maxZoom {
                let scale = 1 << (grid.tiles.maxZoom - z)
                let lw = (grid.canvas.width + scale - 1) / scale, lh = (grid.canvas.height + scale - 1) / scale
                let columns = try FileManager.default.contentsOfDirectory(atPath: "\(out)/tiles/\(grid.id)/\(z)")
                XCTAssertEqual(columns.count, (lw + 255) / 256)
                let tile = try ImageCodec.decode(file: "\(out)/tiles/\(grid.id)/\(z)/0/0.png")
                XCTAssertEqual([tile.width, tile.height], [256, 256])
                _ = lh
            }
            XCTAssertTrue(FileManager.default.fileExists(atPath: "\(out)/\(grid.id).dzi"))
        }
        XCTAssertGreaterThanOrEqual(index.grids[1].tiles.maxZoom, 1)
        for name in ["atlas.png", "index.html", "viewer.js", "layout.npy", "layout.json"] {
            XCTAssertTrue(FileManager.default.fileExists(atPath: out + "/" + name), name)
        }

        // Rerun: layout and every icon reused, same index.
        let second = try AtlasBuilder.build(set, network: network, modelPath: CollectTests.modelPath, settings: atlas, outDir: out)
        XCTAssertTrue(second.layoutReused)
        XCTAssertEqual(second.iconsRendered, 0)
        XCTAssertEqual(second.index, first.index)

        // A kill mid-write leaves at worst a half PNG without its sidecar, or a PNG whose sidecar is cut: both re-render.
        let icon = out + "/" + index.grids[1].cells[0].icon!
        let bytes = try Data(contentsOf: URL(fileURLWithPath: icon))
        try bytes.prefix(bytes.count / 2).write(to: URL(fileURLWithPath: icon))
        let sidecar = out + "/" + index.grids[0].cells[0].icon!.replacingOccurrences(of: ".png", with: ".json")
        try Data("{\"id\":".utf8).write(to: URL(fileURLWithPath: sidecar))
        let third = try AtlasBuilder.build(set, network: network, modelPath: CollectTests.modelPath, settings: atlas, outDir: out)
        XCTAssertEqual(third.iconsRendered, 2)
        XCTAssertEqual(third.index, first.index)
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: icon)), bytes)
    }
}
