/// PNG decoding of every layout (bit depths 1–16, gray/gray+alpha/RGB/RGBA/palette, tRNS, Adam7) against
/// the exact samples recorded by scripts/make_image_fixtures.py, and exact encode → decode round trips.
import AtlasImage
import Foundation
import XCTest

final class PNGTests: XCTestCase {
    struct Layout: Decodable {
        let file: String, width: Int, height: Int, channels: Int, max: Int, samples: [Int]
    }

    func testDecodesEveryLayoutExactly() throws {
        let manifest = try JSONDecoder().decode([Layout].self, from: Data(try Fixtures.bytes("png_layouts.json")))
        XCTAssertGreaterThanOrEqual(manifest.count, 25)
        for layout in manifest {
            let image = try ImageCodec.decode(file: try Fixtures.path(layout.file))
            XCTAssertEqual(image.width, layout.width, layout.file)
            XCTAssertEqual(image.height, layout.height, layout.file)
            XCTAssertEqual(image.channels, layout.channels, layout.file)
            XCTAssertEqual(image.pixels.count, layout.samples.count, layout.file)
            var mismatches = 0
            for (i, raw) in layout.samples.enumerated() where image.pixels[i] != Float(raw) / Float(layout.max) {
                mismatches += 1
            }
            XCTAssertEqual(mismatches, 0, "\(layout.file): \(mismatches) samples differ")
        }
    }

    func testSpotValuesOfKnownLayouts() throws {
        // gray 2-bit: sample (x + ... ) pattern value 1 at (0,0) is expanded to 85/255.
        let g2 = try ImageCodec.decode(file: try Fixtures.path("png/gray2.png"))
        XCTAssertEqual(g2[0, 0, 0], 85 / 255)
        // gray8 with tRNS: the key colour at (3, 2) is transparent, everything else opaque.
        let t = try ImageCodec.decode(file: try Fixtures.path("png/gray8_trns.png"))
        XCTAssertEqual(t.channels, 2)
        XCTAssertEqual(t[1, 2, 3], 0)
        XCTAssertEqual(t[1, 0, 0], 1)
        // 16-bit keeps full precision: value 31 at (0,0) channel 0.
        let g16 = try ImageCodec.decode(file: try Fixtures.path("png/gray16.png"))
        XCTAssertEqual(g16[0, 0, 0], 31 / 65535)
    }

    func testForcedRGBConversions() throws {
        let gray = try ImageCodec.decode(file: try Fixtures.path("png/gray8.png"), options: .rgb)
        let original = try ImageCodec.decode(file: try Fixtures.path("png/gray8.png"))
        XCTAssertEqual(gray.channels, 3)
        for c in 0..<3 { XCTAssertEqual(gray[c, 4, 6], original[0, 4, 6]) }
        // RGBA → RGB: drop keeps colour, composite blends over white.
        let rgba = try ImageCodec.decode(file: try Fixtures.path("png/rgba8.png"))
        let dropped = try ImageCodec.decode(file: try Fixtures.path("png/rgba8.png"), options: .rgb)
        var over = DecodeOptions.rgb
        over.alpha = .overWhite
        let composited = try ImageCodec.decode(file: try Fixtures.path("png/rgba8.png"), options: over)
        for (x, y) in [(0, 0), (3, 2), (6, 4)] {
            let a = rgba[3, y, x]
            for c in 0..<3 {
                XCTAssertEqual(dropped[c, y, x], rgba[c, y, x])
                XCTAssertEqual(composited[c, y, x], rgba[c, y, x] * a + (1 - a), accuracy: 1e-6)
            }
        }
    }

    func testEncodeDecodeRoundTripIsExactForEveryLayout() throws {
        let filters: [PNGFilter] = [.none, .sub, .up, .average, .paeth, .all, .fast]
        for channels in 1...4 {
            for (i, filter) in filters.enumerated() {
                let level = [0, 1, 6, 9][i % 4]
                let image = Synthetic.bytesImage(width: 13 + i, height: 7, channels: channels, seed: UInt64(channels * 10 + i))
                let png = try ImageCodec.encodePNG(image, level: level, filter: filter)
                XCTAssertEqual(ImageFormat.sniff(png), .png)
                let back = try ImageCodec.decode(png)
                XCTAssertEqual(back, image, "channels \(channels), filter \(filter.rawValue), level \(level)")
            }
        }
    }

    func testCompressionLevelAndFiltersAffectSize() throws {
        let image = Synthetic.smooth(width: 64, height: 64)
        let stored = try ImageCodec.encodePNG(image, level: 0, filter: .none)
        let best = try ImageCodec.encodePNG(image, level: 9, filter: .all)
        XCTAssertGreaterThan(stored.count, 64 * 64 * 3)  // level 0 stores the bytes
        XCTAssertLessThan(best.count, stored.count * 3 / 4)
        XCTAssertLessThanOrEqual(best.count, try ImageCodec.encodePNG(image, level: 1, filter: .none).count)
    }

    func testEncoderRejectsBadArguments() {
        let image = Image(width: 2, height: 2, channels: 3)
        assertImageError(.invalidArgument) { try ImageCodec.encodePNG(image, level: 10) }
        assertImageError(.invalidArgument) { try ImageCodec.encodePNG(image, filter: []) }
    }

    func testWriteIsAtomicAndReadable() throws {
        let dir = try TempDir()
        defer { dir.cleanup() }
        let image = Synthetic.bytesImage(width: 5, height: 4, channels: 3, seed: 3)
        try ImageCodec.write(image, to: dir.file("out.png"))
        try ImageCodec.write(image, to: dir.file("out.png"))  // overwrite in place
        XCTAssertEqual(try ImageCodec.decode(file: dir.file("out.png")), image)
        let names = try FileManager.default.contentsOfDirectory(atPath: dir.path)
        XCTAssertEqual(names, ["out.png"], "no temporary files left behind")
        assertImageError(.writeFailed) { try ImageCodec.write(image, to: dir.file("missing/out.png")) }
        assertImageError(.invalidArgument) { try ImageCodec.write(image, to: dir.file("out.bmp")) }
    }
}
