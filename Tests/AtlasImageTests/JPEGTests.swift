/// JPEG: encode → decode PSNR, fixtures (baseline, progressive, grayscale, Adobe CMYK, YCCK) decoding to the
/// expected colours, EXIF orientations 1–8 landing the corner colours in place, and the EXIF reader itself.
import AtlasImage
import XCTest

final class JPEGTests: XCTestCase {
    /// Display colours of the quadrant fixtures: top-left, top-right, bottom-left, bottom-right.
    let quads: [[Float]] = [[230, 30, 30], [30, 200, 40], [40, 60, 220], [245, 245, 245]]
    let corners = [(2, 2), (29, 2), (2, 13), (29, 13)]

    private func assertQuadrants(_ image: Image, _ colors: [[Float]], tolerance: Float = 12, _ name: String,
                                 line: UInt = #line) {
        XCTAssertEqual(image.width, 32, name, line: line)
        XCTAssertEqual(image.height, 16, name, line: line)
        for ((x, y), color) in zip(corners, colors) {
            for c in 0..<color.count {
                XCTAssertEqual(image[c, y, x] * 255, color[c], accuracy: tolerance, "\(name) (\(x),\(y)) c\(c)", line: line)
            }
        }
    }

    func testRoundTripPSNR() throws {
        let image = Synthetic.smooth(width: 96, height: 64)
        let q444 = try ImageCodec.encodeJPEG(image, quality: 95, subsampling: .none444)
        let q420 = try ImageCodec.encodeJPEG(image, quality: 95, subsampling: .both420)
        XCTAssertEqual(ImageFormat.sniff(q444), .jpeg)
        let psnr444 = Synthetic.psnr(try ImageCodec.decode(q444), image)
        let psnr420 = Synthetic.psnr(try ImageCodec.decode(q420), image)
        XCTAssertGreaterThanOrEqual(psnr444, 38, "4:4:4 q95")
        XCTAssertGreaterThanOrEqual(psnr420, 35, "4:2:0 q95")
        XCTAssertLessThan(q420.count, q444.count)
        // Lower quality: smaller file, lower PSNR.
        let q50 = try ImageCodec.encodeJPEG(image, quality: 50)
        XCTAssertLessThan(q50.count, q420.count)
        XCTAssertLessThan(Synthetic.psnr(try ImageCodec.decode(q50), image), psnr420)
        // Gray round trip stays gray.
        let gray = image.converted(to: .gray)
        let grayBack = try ImageCodec.decode(try ImageCodec.encodeJPEG(gray, quality: 95))
        XCTAssertEqual(grayBack.channels, 1)
        XCTAssertGreaterThanOrEqual(Synthetic.psnr(grayBack, gray), 38)
        // Alpha is removed before encoding.
        let rgba = image.converted(to: .rgba)
        XCTAssertEqual(try ImageCodec.decode(try ImageCodec.encodeJPEG(rgba)).channels, 3)
        assertImageError(.invalidArgument) { try ImageCodec.encodeJPEG(image, quality: 0) }
    }

    func testBaselineAndProgressiveFixtures() throws {
        assertQuadrants(try ImageCodec.decode(file: try Fixtures.path("jpeg/baseline.jpg")), quads, "baseline")
        assertQuadrants(try ImageCodec.decode(file: try Fixtures.path("jpeg/progressive.jpg")), quads, "progressive")
    }

    func testGrayscaleFixture() throws {
        let gray = try ImageCodec.decode(file: try Fixtures.path("jpeg/gray.jpg"))
        XCTAssertEqual(gray.channels, 1)
        assertQuadrants(gray, [[0], [85], [170], [255]], tolerance: 6, "gray")
        let rgb = try ImageCodec.decode(file: try Fixtures.path("jpeg/gray.jpg"), options: .rgb)
        assertQuadrants(rgb, [[0, 0, 0], [85, 85, 85], [170, 170, 170], [255, 255, 255]], tolerance: 6, "gray as rgb")
    }

    func testCMYKAndYCCKFixtures() throws {
        // Inks: cyan, magenta, yellow, 50% black.
        let expected: [[Float]] = [[0, 255, 255], [255, 0, 255], [255, 255, 0], [127, 127, 127]]
        assertQuadrants(try ImageCodec.decode(file: try Fixtures.path("jpeg/cmyk.jpg")), expected, tolerance: 14, "Adobe CMYK")
        assertQuadrants(try ImageCodec.decode(file: try Fixtures.path("jpeg/ycck.jpg")), expected, tolerance: 14, "YCCK")
    }

    func testExifOrientationFixtures() throws {
        for k in 1...8 {
            let path = try Fixtures.path("jpeg/orientation\(k).jpg")
            assertQuadrants(try ImageCodec.decode(file: path), quads, "orientation \(k)")
            // Without applying, 5–8 keep the stored (transposed) size.
            let raw = try ImageCodec.decode(file: path, options: DecodeOptions(applyOrientation: false))
            XCTAssertEqual(raw.width, k >= 5 ? 16 : 32, "raw orientation \(k)")
        }
    }

    func testApplyingOrientationOnASmallGrid() throws {
        // 3×2 image [[1,2,3],[4,5,6]].
        let image = try Image(width: 3, height: 2, channels: 1, pixels: [1, 2, 3, 4, 5, 6])
        let expected: [Int: (Int, [Float])] = [
            1: (3, [1, 2, 3, 4, 5, 6]), 2: (3, [3, 2, 1, 6, 5, 4]), 3: (3, [6, 5, 4, 3, 2, 1]),
            4: (3, [4, 5, 6, 1, 2, 3]), 5: (2, [1, 4, 2, 5, 3, 6]), 6: (2, [4, 1, 5, 2, 6, 3]),
            7: (2, [6, 3, 5, 2, 4, 1]), 8: (2, [3, 6, 2, 5, 1, 4]),
        ]
        for (k, (width, pixels)) in expected {
            let out = image.applyingOrientation(k)
            XCTAssertEqual(out.width, width, "orientation \(k)")
            XCTAssertEqual(out.pixels, pixels, "orientation \(k)")
        }
    }

    func testExifReader() {
        /// A TIFF block with IFD0 at `ifdOffset`; `claimedOffset` (when given) is what the header says instead.
        func tiff(bigEndian: Bool, entries: [(tag: Int, type: Int, count: Int, value: Int)], ifdOffset: Int = 8,
                  claimedOffset: Int? = nil) -> [UInt8] {
            func u16(_ v: Int) -> [UInt8] { bigEndian ? [UInt8(v >> 8 & 255), UInt8(v & 255)] : [UInt8(v & 255), UInt8(v >> 8 & 255)] }
            func u32(_ v: Int) -> [UInt8] { bigEndian ? u16(v >> 16) + u16(v & 0xFFFF) : u16(v & 0xFFFF) + u16(v >> 16) }
            var b: [UInt8] = (bigEndian ? [0x4D, 0x4D] : [0x49, 0x49]) + u16(42) + u32(claimedOffset ?? ifdOffset)
            b += [UInt8](repeating: 0, count: max(0, ifdOffset - 8)) + u16(entries.count)
            for e in entries { b += u16(e.tag) + u16(e.type) + u32(e.count) + u16(e.value) + [0, 0] }
            return b + u32(0)
        }
        for big in [false, true] {
            XCTAssertEqual(Exif.orientation(tiff: tiff(bigEndian: big, entries: [(0x0112, 3, 1, 6)])), 6)
            XCTAssertEqual(Exif.orientation(tiff: tiff(bigEndian: big, entries: [(0x010F, 2, 4, 0), (0x0112, 3, 1, 8)], ifdOffset: 12)), 8)
            XCTAssertNil(Exif.orientation(tiff: tiff(bigEndian: big, entries: [(0x0112, 3, 1, 9)])), "out of range")
            XCTAssertNil(Exif.orientation(tiff: tiff(bigEndian: big, entries: [(0x0112, 4, 1, 6)])), "wrong type")
            XCTAssertNil(Exif.orientation(tiff: tiff(bigEndian: big, entries: [(0x0110, 3, 1, 6)])), "no tag")
            XCTAssertNil(Exif.orientation(tiff: tiff(bigEndian: big, entries: [(0x0112, 3, 1, 6)], claimedOffset: 4000)), "offset outside")
            XCTAssertNil(Exif.orientation(tiff: tiff(bigEndian: big, entries: [(0x0112, 3, 1, 6)], claimedOffset: 24)), "entry cut")
            let good = tiff(bigEndian: big, entries: [(0x0112, 3, 1, 3)])
            for cut in 0..<good.count - 4 { _ = Exif.orientation(tiff: Array(good.prefix(cut))) }  // never traps
        }
        XCTAssertNil(Exif.orientation(tiff: [0x49, 0x49, 42, 0, 0xFF, 0xFF, 0xFF, 0x7F]))
    }
}
