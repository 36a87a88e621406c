/// Tests of the streaming tile pyramid: geometry, exact tile content against a naive reference cascade,
/// determinism across thread counts, bounded memory, atomic writes, full image / DZI extras and errors.
import AtlasCore
import AtlasImage
import Foundation
import XCTest

final class PyramidTests: XCTestCase {
    /// Naive reference: 8-bit interleaved levels from `image`, shrinking 2×2 with an odd edge paired with itself.
    static func referenceLevels(_ image: Image, maxZoom: Int) -> [(w: Int, h: Int, bytes: [UInt8])] {
        let ch = image.channels
        var w = image.width, h = image.height
        var bytes = image.interleavedBytes()
        var levels = [(w: Int, h: Int, bytes: [UInt8])](repeating: (0, 0, []), count: maxZoom + 1)
        levels[maxZoom] = (w, h, bytes)
        for z in stride(from: maxZoom - 1, through: 0, by: -1) {
            let nw = (w + 1) / 2, nh = (h + 1) / 2
            var out = [UInt8](repeating: 0, count: nw * nh * ch)
            for y in 0..<nh {
                for x in 0..<nw {
                    for c in 0..<ch {
                        var sum = 2
                        for (sy, sx) in [(2 * y, 2 * x), (2 * y, 2 * x + 1), (2 * y + 1, 2 * x), (2 * y + 1, 2 * x + 1)] {
                            sum += Int(bytes[(min(sy, h - 1) * w + min(sx, w - 1)) * ch + c])
                        }
                        out[(y * nw + x) * ch + c] = UInt8(sum / 4)
                    }
                }
            }
            (w, h, bytes) = (nw, nh, out)
            levels[z] = (w, h, bytes)
        }
        return levels
    }

    /// Reference tile (x, y) of a level, padded with `bg`, as an 8-bit planar-free interleaved array.
    static func referenceTile(_ level: (w: Int, h: Int, bytes: [UInt8]), x: Int, y: Int, ch: Int, bg: [UInt8]) -> [UInt8] {
        var tile = [UInt8](repeating: 0, count: 256 * 256 * ch)
        for ty in 0..<256 {
            for tx in 0..<256 {
                let lx = x * 256 + tx, ly = y * 256 + ty
                for c in 0..<ch {
                    tile[(ty * 256 + tx) * ch + c] = lx < level.w && ly < level.h ? level.bytes[(ly * level.w + lx) * ch + c] : bg[c]
                }
            }
        }
        return tile
    }

    /// Produces `image` strip by strip by pasting it (the canvas is exactly the image).
    static func producer(_ image: Image) -> (CanvasBand) -> Void {
        { band in band.paste(image, x: 0, y: 0) }
    }

    static func files(under root: String) -> [String] {
        let e = FileManager.default.enumerator(atPath: root)!
        return (e.allObjects as! [String]).filter { path in
            var isDir: ObjCBool = false
            _ = FileManager.default.fileExists(atPath: root + "/" + path, isDirectory: &isDir)
            return !isDir.boolValue
        }.sorted()
    }

    func testGeometry() throws {
        let g = try PyramidGeometry(width: 1000, height: 300)
        XCTAssertEqual(g.maxZoom, 2)
        XCTAssertTrue(g.levelSize(2) == (1000, 300) && g.levelSize(1) == (500, 150) && g.levelSize(0) == (250, 75))
        XCTAssertTrue(g.tileCount(2) == (4, 2) && g.tileCount(1) == (2, 1) && g.tileCount(0) == (1, 1))
        XCTAssertEqual(g.totalTiles, 11)
        XCTAssertEqual(try PyramidGeometry(width: 256, height: 10).maxZoom, 0)
        XCTAssertEqual(try PyramidGeometry(width: 257, height: 10).maxZoom, 1)
        let big = try PyramidGeometry(width: 100_000, height: 70_000)
        XCTAssertEqual(big.maxZoom, 9)  // 256·2^9 = 131072 ≥ 100000 > 65536
        XCTAssertTrue(big.levelSize(0) == (196, 137))
        XCTAssertEqual(PyramidGeometry.tilePath(z: 3, x: 1, y: 2, format: .defaultJPEG), "3/1/2.jpg")
        XCTAssertThrowsError(try PyramidGeometry(width: 0, height: 5))
    }

    /// PNG tiles of a random canvas with odd sizes equal the reference cascade exactly, padding included.
    func testPNGTilesEqualReferenceExactly() throws {
        let dir = try TempDir()
        defer { dir.cleanup() }
        let image = Synthetic.bytesImage(width: 777, height: 301, channels: 3, seed: 5)
        let bg = RGB8(hex: "#112233")!
        let options = PyramidOptions(format: .fastPNG, background: bg, stripRows: 32)
        let writer = try PyramidWriter(directory: dir.file("tiles/g"), width: 777, height: 301, options: options)
        let stats = try writer.write(Self.producer(image))
        let g = writer.geometry
        XCTAssertEqual(g.maxZoom, 2)
        XCTAssertEqual(stats.tilesWritten, g.totalTiles)
        let expected = (0...2).flatMap { z in
            (0..<g.tileCount(z).columns).flatMap { x in (0..<g.tileCount(z).rows).map { y in "\(z)/\(x)/\(y).png" } }
        }.sorted()
        XCTAssertEqual(Self.files(under: dir.file("tiles/g")), expected)
        let reference = Self.referenceLevels(image, maxZoom: 2)
        for z in 0...2 {
            for x in 0..<g.tileCount(z).columns {
                for y in 0..<g.tileCount(z).rows {
                    let tile = try ImageCodec.decode(file: dir.file("tiles/g/\(z)/\(x)/\(y).png"))
                    XCTAssertEqual(tile.width, 256)
                    XCTAssertEqual(tile.height, 256)
                    let want = Self.referenceTile(reference[z], x: x, y: y, ch: 3, bg: [0x11, 0x22, 0x33])
                    XCTAssertEqual(tile.interleavedBytes(), want, "tile \(z)/\(x)/\(y)")
                }
            }
        }
    }

    /// JPEG tiles decode to 256×256 close to the reference; gray canvases work too.
    func testJPEGTilesAndGray() throws {
        let dir = try TempDir()
        defer { dir.cleanup() }
        let image = Synthetic.smooth(width: 600, height: 520)
        let writer = try PyramidWriter(directory: dir.file("t"), width: 600, height: 520,
                                       options: PyramidOptions(format: .jpeg(quality: 92)))
        try writer.write(Self.producer(image))
        let reference = Self.referenceLevels(image, maxZoom: 2)
        for (z, x, y) in [(2, 1, 1), (1, 0, 0), (0, 0, 0)] {
            let tile = try ImageCodec.decode(file: dir.file("t/\(z)/\(x)/\(y).jpg"))
            XCTAssertTrue(tile.width == 256 && tile.height == 256 && tile.channels == 3)
            let want = try Image(width: 256, height: 256, channels: 3, pixels: [Float](repeating: 0, count: 256 * 256 * 3))
            var ref = want
            let bytes = Self.referenceTile(reference[z], x: x, y: y, ch: 3, bg: [0, 0, 0])
            for i in 0..<256 * 256 { for c in 0..<3 { ref.pixels[c * 256 * 256 + i] = Float(bytes[i * 3 + c]) / 255 } }
            XCTAssertGreaterThan(Synthetic.psnr(tile, ref), 35, "tile \(z)/\(x)/\(y)")
        }
        let gray = Synthetic.bytesImage(width: 300, height: 40, channels: 1, seed: 9)
        let gw = try PyramidWriter(directory: dir.file("gray"), width: 300, height: 40, channels: 1,
                                   options: PyramidOptions(format: .png(level: 1, filter: .fast), background: .white))
        try gw.write(Self.producer(gray))
        let t = try ImageCodec.decode(file: dir.file("gray/1/1/0.png"))
        XCTAssertEqual(t.channels, 1)
        XCTAssertEqual(t.interleavedBytes(), Self.referenceTile(Self.referenceLevels(gray, maxZoom: 1)[1], x: 1, y: 0, ch: 1, bg: [255]))
    }

    func testDeterministicAcrossThreadCountsAndAtomic() throws {
        let dir = try TempDir()
        defer { dir.cleanup() }
        let image = Synthetic.bytesImage(width: 1100, height: 600, channels: 3, seed: 1)
        var trees: [[String: Data]] = []
        for threads in [1, 2, 5] {
            let root = dir.file("t\(threads)")
            try Parallel.withThreads(threads) {
                _ = try PyramidWriter(directory: root, width: 1100, height: 600).write(Self.producer(image))
            }
            let files = Self.files(under: root)
            XCTAssertFalse(files.contains { $0.split(separator: "/").last!.hasPrefix(".") }, "temporary files left")
            trees.append(Dictionary(uniqueKeysWithValues: try files.map { ($0, try Data(contentsOf: URL(fileURLWithPath: root + "/" + $0))) }))
        }
        XCTAssertEqual(trees[0].count, try PyramidGeometry(width: 1100, height: 600).totalTiles)
        XCTAssertEqual(trees[0], trees[1])
        XCTAssertEqual(trees[0], trees[2])
    }

    /// An 8192² canvas produced strip by strip: the writer's peak held bytes stay under the computed bound
    /// (bands of all levels + one Float strip + per-thread tile buffers), far below the 192 MiB canvas.
    func testMemoryStaysBounded() throws {
        let dir = try TempDir()
        defer { dir.cleanup() }
        let side = 8192
        let writer = try PyramidWriter(directory: dir.file("t"), width: side, height: side,
                                       options: PyramidOptions(format: .jpeg(quality: 85)))
        let stats = try writer.write { band in
            for c in 0..<3 {
                for y in band.y0..<band.y0 + band.height {
                    let row = band.row(c, canvasRow: y)
                    let v = Float((y >> 6 + c) & 7) / 7
                    for x in 0..<band.width { row[x] = x & 1024 == 0 ? v : 1 - v }
                }
            }
        }
        let g = writer.geometry
        let bands = (0...g.maxZoom).reduce(0) { $0 + g.tileCount($1).columns * 256 * 256 * 3 }
        let strip = side * 64 * 3 * 4
        let perThread = 256 * 256 * 3 * 3  // tile copy + encoder output (≤ 2× raw for JPEG) held at once
        let bound = bands + strip + Parallel.threadCount * perThread
        XCTAssertEqual(stats.tilesWritten, g.totalTiles)
        XCTAssertGreaterThanOrEqual(stats.peakHeldBytes, bands + strip)
        XCTAssertLessThanOrEqual(stats.peakHeldBytes, bound)
        XCTAssertLessThan(bound, side * side * 3 / 4)
    }

    func testFullImageAndDZI() throws {
        let dir = try TempDir()
        defer { dir.cleanup() }
        let image = Synthetic.bytesImage(width: 300, height: 200, channels: 3, seed: 3)
        let options = PyramidOptions(format: .fastPNG, fullImagePath: dir.file("atlas.png"), dziPath: dir.file("g.dzi"))
        let stats = try PyramidWriter(directory: dir.file("tiles/g"), width: 300, height: 200, options: options)
            .write(Self.producer(image))
        XCTAssertTrue(stats.wroteFullImage)
        XCTAssertEqual(try ImageCodec.decode(file: dir.file("atlas.png")), image)
        let dzi = try String(contentsOfFile: dir.file("g.dzi"), encoding: .utf8)
        XCTAssertTrue(dzi.contains("TileSize=\"256\"") && dzi.contains("Width=\"300\" Height=\"200\"") && dzi.contains("Format=\"png\""))
        var small = options
        small.fullImageMaxPixels = 1000
        small.fullImagePath = dir.file("no.png")
        XCTAssertFalse(try PyramidWriter(directory: dir.file("x"), width: 300, height: 200, options: small).write(Self.producer(image)).wroteFullImage)
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir.file("no.png")))
    }

    func testErrors() throws {
        let dir = try TempDir()
        defer { dir.cleanup() }
        XCTAssertThrowsError(try PyramidWriter(directory: dir.path, width: 10, height: 10, channels: 4))
        XCTAssertThrowsError(try PyramidWriter(directory: dir.path, width: 10, height: 10, options: PyramidOptions(stripRows: 100)))
        XCTAssertThrowsError(try PyramidWriter(directory: dir.path, width: 10, height: 10, options: PyramidOptions(format: .jpeg(quality: 0))))
        struct Stop: Error {}
        XCTAssertThrowsError(try PyramidWriter(directory: dir.file("p"), width: 10, height: 10).write { _ in throw Stop() }) {
            XCTAssertTrue($0 is Stop)
        }
        try Data([1]).write(to: URL(fileURLWithPath: dir.file("file")))
        XCTAssertThrowsError(try PyramidWriter(directory: dir.file("file/sub"), width: 10, height: 10).write { _ in }) {
            XCTAssertEqual(($0 as? ImageError)?.kind, .writeFailed)
        }
        XCTAssertEqual(RGB8(hex: "#A0b1C2"), RGB8(red: 0xa0, green: 0xb1, blue: 0xc2))
        XCTAssertEqual(RGB8(red: 1, green: 2, blue: 255).hex, "#0102ff")
        XCTAssertNil(RGB8(hex: "#12345"))
        XCTAssertNil(RGB8(hex: "#12345g"))
    }
}
