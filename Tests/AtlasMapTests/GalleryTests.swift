/// Tests of `Gallery.build` on the Fashion-MNIST CNN at tiny sizes: folder contents and index, resume,
/// sharding equivalence, re-rendering of a corrupt icon, and SHA-256 against FIPS 180-4 vectors.
import AtlasCore
import AtlasImage
import AtlasMap
import AtlasNet
import AtlasOutput
import AtlasVis
import Foundation
import XCTest

final class GalleryTests: XCTestCase {
    static let modelPath = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("Assets/fashion-mnist/fashion_cnn.onnx").path
    static let layer = "features.conv3.0"

    func temporaryFolder() -> String {
        let path = NSTemporaryDirectory() + "atlas-gallery-tests-" + UUID().uuidString
        addTeardownBlock { try? FileManager.default.removeItem(atPath: path) }
        return path
    }

    static func settings(batch: Int = 2) -> GallerySettings {
        let options = RenderOptions(size: 24, steps: 4, learningRate: 0.05, transforms: .standard,
                                    preprocess: .meanStd([0.286], [0.353]))
        return GallerySettings(render: options, seed: 3, batch: batch, format: .fastPNG, title: "test")
    }

    func build(_ out: String, items: [GalleryItem], batch: Int = 2, shard: (index: Int, count: Int)? = nil,
               layer: String? = GalleryTests.layer) throws -> GalleryResult {
        let network = try Network(contentsOf: Self.modelPath)
        return try Gallery.build(network: network, modelPath: Self.modelPath, layer: layer, items: items,
                                 settings: Self.settings(batch: batch), outDir: out, shard: shard)
    }

    /// Every file under `dir` (relative path → bytes).
    func files(_ dir: String) throws -> [String: Data] {
        var out: [String: Data] = [:]
        let e = FileManager.default.enumerator(atPath: dir)!
        while let rel = e.nextObject() as? String {
            var isDir: ObjCBool = false
            _ = FileManager.default.fileExists(atPath: dir + "/" + rel, isDirectory: &isDir)
            if !isDir.boolValue { out[rel] = FileManager.default.contents(atPath: dir + "/" + rel) }
        }
        return out
    }

    func testFolderIndexAndResume() throws {
        let out = temporaryFolder()
        let items = GalleryItem.channels(Self.layer, [0, 3, 5, 9, 17])
        var steps: [Int] = []
        let network = try Network(contentsOf: Self.modelPath)
        let first = try Gallery.build(network: network, modelPath: Self.modelPath, layer: Self.layer, items: items,
                                      settings: Self.settings(), outDir: out, progress: { steps.append($0.stepsDone) })
        XCTAssertEqual(first.rendered, 5)
        XCTAssertEqual(first.reused, 0)
        XCTAssertEqual(steps.last, 5 * 4)
        XCTAssertEqual(steps, steps.sorted())
        XCTAssertTrue(first.values.allSatisfy { $0 != nil && $0!.isFinite })

        let index = try AtlasIndex.decode(try Data(contentsOf: URL(fileURLWithPath: out + "/atlas.json")))
        XCTAssertEqual(index.kind, .gallery)
        XCTAssertEqual(index.layer, Self.layer)
        XCTAssertEqual(index.seed, 3)
        XCTAssertEqual(index.model?.file, "fashion_cnn.onnx")
        XCTAssertEqual(index.model?.sha256, SHA256.hex(file: Self.modelPath))
        XCTAssertEqual(index.settings?["steps"], .int(4))
        XCTAssertEqual(index.settings?["learning_rate"], .double(0.05))
        XCTAssertEqual(index.grids.count, 1)
        let grid = index.grids[0]
        XCTAssertEqual(grid.id, "channels")
        XCTAssertEqual(grid.columns, 3)
        XCTAssertEqual(grid.rows, 2)
        XCTAssertEqual(grid.cells.map(\.channel), [0, 3, 5, 9, 17])
        XCTAssertEqual(grid.cells.map { [$0.x, $0.y] }, [[0, 0], [1, 0], [2, 0], [0, 1], [1, 1]])
        XCTAssertEqual(grid.cells.map(\.objective), items.map { "\($0.objective)" })
        XCTAssertEqual(grid.cells[1].icon, "icons/c0003.png")
        for name in ["atlas.js", "index.html", "atlas.png", "icons/c0017.png", "icons/c0017.json",
                     "tiles/channels/0/0/0.png"] {
            XCTAssertTrue(FileManager.default.fileExists(atPath: out + "/" + name), name)
        }
        // The icon painted on the canvas is the icon file, at the rect the index gives.
        let canvas = try ImageCodec.decode(file: out + "/atlas.png")
        let icon = try ImageCodec.decode(file: out + "/icons/c0009.png")
        let rect = grid.cells[3].rect
        XCTAssertEqual(rect[2], 24)
        for (x, y) in [(0, 0), (11, 7), (23, 23)] {
            XCTAssertEqual(canvas[0, rect[1] + y, rect[0] + x], icon[0, y, x], accuracy: 1.0 / 255)
        }

        let before = try files(out)
        let second = try build(out, items: items)
        XCTAssertEqual(second.rendered, 0)
        XCTAssertEqual(second.reused, 5)
        XCTAssertEqual(second.values, first.values)
        XCTAssertEqual(try files(out), before)

        // Other settings make other pictures: nothing is reused; fewer icons leave no tiles of the old grid.
        var changed = Self.settings()
        changed.render.steps = 3
        let third = try Gallery.build(network: network, modelPath: Self.modelPath, layer: Self.layer, items: Array(items.prefix(2)),
                                      settings: changed, outDir: out)
        XCTAssertEqual(third.rendered, 2)
        XCTAssertEqual(third.index?.grids.first?.cells.count, 2)
        XCTAssertEqual(try files(out + "/tiles").keys.sorted(), ["channels/0/0/0.png"])
    }

    func testShardsThenAssembleEqualSingleRun() throws {
        let items = GalleryItem.classes([0, 2, 4, 7], labels: ["a", "b", "c", "d", "e", "f", "g", "h"])
        let single = temporaryFolder(), sharded = temporaryFolder()
        _ = try build(single, items: items, batch: 3, layer: nil)
        let s0 = try build(sharded, items: items, batch: 1, shard: (0, 2), layer: nil)
        XCTAssertNil(s0.index)
        XCTAssertEqual(s0.rendered, 2)
        XCTAssertFalse(FileManager.default.fileExists(atPath: sharded + "/atlas.json"))
        let s1 = try build(sharded, items: items, batch: 2, shard: (1, 2), layer: nil)
        XCTAssertEqual(s1.rendered, 2)
        let assembled = try build(sharded, items: items, batch: 3, layer: nil)
        XCTAssertEqual(assembled.rendered, 0)
        XCTAssertEqual(assembled.index?.grids.first?.id, "classes")
        XCTAssertEqual(assembled.index?.grids.first?.cells.map(\.label), ["a", "c", "e", "h"])
        XCTAssertEqual(try files(sharded).filter { !$0.key.hasPrefix("shards/") }, try files(single))
        XCTAssertEqual(try files(sharded + "/shards").keys.sorted(), ["gallery-0-of-2.json", "gallery-1-of-2.json"])
    }

    func testCorruptIconIsRerendered() throws {
        let out = temporaryFolder()
        let items = GalleryItem.channels(Self.layer, [1, 2, 6, 8])
        _ = try build(out, items: items)
        let reference = try files(out)
        let path = out + "/icons/c0006.png"
        let bytes = try Data(contentsOf: URL(fileURLWithPath: path))
        try bytes.prefix(bytes.count / 2).write(to: URL(fileURLWithPath: path))
        try Data("{".utf8).write(to: URL(fileURLWithPath: out + "/icons/c0008.json"))
        let again = try build(out, items: items, batch: 4)
        XCTAssertEqual(again.rendered, 2)
        XCTAssertEqual(again.reused, 2)
        XCTAssertEqual(try files(out), reference)
    }

    func testSameBytesAtAnyThreadCount() throws {
        let items = GalleryItem.channels(Self.layer, [4, 11, 30])
        let one = temporaryFolder(), three = temporaryFolder()
        _ = try Parallel.withThreads(1) { try build(one, items: items, batch: 3) }
        _ = try Parallel.withThreads(3) { try build(three, items: items, batch: 1) }
        XCTAssertEqual(try files(one), try files(three))
    }

    func testRejectsBadInput() throws {
        let out = temporaryFolder()
        XCTAssertThrowsError(try build(out, items: [])) { XCTAssertTrue($0 is GalleryError) }
        let twice = GalleryItem.channels(Self.layer, [1, 1])
        XCTAssertThrowsError(try build(out, items: twice)) { XCTAssertTrue($0 is GalleryError) }
        XCTAssertThrowsError(try build(out, items: GalleryItem.channels(Self.layer, [0]), shard: (2, 2))) {
            XCTAssertTrue($0 is GalleryError)
        }
        XCTAssertThrowsError(try build(out, items: GalleryItem.channels(Self.layer, [999]))) {
            XCTAssertTrue($0 is ObjectiveError, "\($0)")
        }
        XCTAssertThrowsError(try build(out, items: GalleryItem.channels("no.such.layer", [0]))) {
            XCTAssertEqual($0 as? ModelError, .unknownLayer("no.such.layer"), "\($0)")
        }
    }

    /// The CPU's SHA extensions (where present) and the portable path agree on every length around block edges.
    func testSHA256PathsAgree() {
        var rng = SplitMix64(seed: 17, stream: 1)
        for n in [0, 1, 55, 56, 63, 64, 65, 119, 128, 1000, 100_003] {
            let bytes = (0..<n).map { _ in UInt8(truncatingIfNeeded: rng.nextInt(below: 256)) }
            let fast = bytes.withUnsafeBytes { SHA256.digest($0, portable: false) }
            let portable = bytes.withUnsafeBytes { SHA256.digest($0, portable: true) }
            XCTAssertEqual(fast, portable, "\(n) bytes")
            XCTAssertEqual(SHA256.digest(bytes), portable)
        }
    }

    /// A digest started early (`prefetch`) is the file's; once the file changes, `hex(file:)` hashes it anew.
    func testSHA256PrefetchedFile() throws {
        let path = NSTemporaryDirectory() + "atlas-sha-\(UUID().uuidString).bin"
        defer { try? FileManager.default.removeItem(atPath: path) }
        let first = (0..<70_001).map { UInt8(truncatingIfNeeded: $0 &* 31) }
        try Data(first).write(to: URL(fileURLWithPath: path))
        SHA256.prefetch(file: path)
        XCTAssertEqual(SHA256.hex(file: path), SHA256.hex(first))
        XCTAssertEqual(SHA256.hex(file: path), SHA256.hex(first))
        let second = first.map { $0 ^ 1 } + [7]   // file times can be coarser than two writes apart: the size tells
        try Data(second).write(to: URL(fileURLWithPath: path))
        XCTAssertEqual(SHA256.hex(file: path), SHA256.hex(second))
        XCTAssertNil(SHA256.hex(file: path + ".missing"))
        try Data().write(to: URL(fileURLWithPath: path))
        XCTAssertEqual(SHA256.hex(file: path), SHA256.hex([UInt8]()))
    }

    func testSHA256KnownVectors() {
        XCTAssertEqual(SHA256.hex([UInt8]()), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        XCTAssertEqual(SHA256.hex(Array("abc".utf8)), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        XCTAssertEqual(SHA256.hex(Array("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq".utf8)),
                       "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1")  // 448-bit message
        XCTAssertEqual(SHA256.hex([UInt8](repeating: 0x61, count: 55)),
                       "9f4390f8d30c2dd92ec9f095b65e2b9ae9b0a925a5258e241c9f1e910f734318")  // padding fits one block
        XCTAssertEqual(SHA256.hex([UInt8](repeating: 0x61, count: 64)),
                       "ffe054fe7ae0cb6dc65c3af9b61d5209f439851db43d0ba5997337df154668eb")
        XCTAssertEqual(SHA256.hex([UInt8](repeating: 0x61, count: 1_000)),
                       "41edece42d63e8d9bf515a9ba6932e1c20cbc9f5a5d134645adb5db1b9737ea3")
    }
}
