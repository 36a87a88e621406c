/// Bad input never kills the process: every class of broken file gives a typed `ImageError` naming the file,
/// lying headers are refused before allocation, and every prefix / byte-flip of a valid file is survived.
import AtlasImage
import Foundation
import XCTest

final class BadInputTests: XCTestCase {
    func testEachBadFileClass() throws {
        let cases: [(String, ImageError.Kind)] = [
            ("bad/truncated.png", .truncated), ("bad/corrupt.png", .corrupt), ("bad/huge_ihdr.png", .tooLarge),
            ("bad/empty.png", .empty), ("bad/text.png", .notAnImage), ("bad/truncated.jpg", .truncated),
            ("bad/huge_sof.jpg", .tooLarge), ("bad/corrupt.jpg", .corrupt),
        ]
        for (name, kind) in cases {
            let path = try Fixtures.path(name)
            let error = assertImageError(kind, file: path) { try ImageCodec.decode(file: path) }
            XCTAssertTrue(error?.description.hasPrefix(path) ?? false, "message names the file: \(String(describing: error))")
        }
        // The lying headers report their claimed size.
        let png = assertImageError(.tooLarge) { try ImageCodec.decode(file: try Fixtures.path("bad/huge_ihdr.png")) }
        XCTAssertTrue(png?.reason.contains("100000x100000") ?? false, String(describing: png))
        let jpg = assertImageError(.tooLarge) { try ImageCodec.decode(file: try Fixtures.path("bad/huge_sof.jpg")) }
        XCTAssertTrue(jpg?.reason.contains("65000x65000") ?? false, String(describing: jpg))
    }

    func testFileSystemProblems() throws {
        let dir = try TempDir()
        defer { dir.cleanup() }
        try FileManager.default.createDirectory(atPath: dir.file("x.png"), withIntermediateDirectories: false)
        assertImageError(.isDirectory, file: dir.file("x.png")) { try ImageCodec.decode(file: dir.file("x.png")) }
        assertImageError(.notFound, file: dir.file("nope.jpg")) { try ImageCodec.decode(file: dir.file("nope.jpg")) }
        try FileManager.default.createSymbolicLink(atPath: dir.file("dangling.png"), withDestinationPath: dir.file("gone"))
        assertImageError(.notFound) { try ImageCodec.decode(file: dir.file("dangling.png")) }
        // A permission-denied file (meaningless as root, who may read anything).
        if getuid() != 0 {
            try dir.write("locked.png", try ImageCodec.encodePNG(Image(width: 2, height: 2, channels: 1)))
            chmod(dir.file("locked.png"), 0)
            assertImageError(.unreadable) { try ImageCodec.decode(file: dir.file("locked.png")) }
        }
        // Not a regular file.
        assertImageError(.unreadable) { try ImageCodec.decode(file: "/dev/null") }
        // Over the file-size cap.
        try dir.write("big.png", try Fixtures.bytes("png/rgb8.png"))
        let small = DecodeOptions(limits: ImageLimits(maxPixels: 1000, maxFileBytes: 10))
        assertImageError(.tooLarge) { try ImageCodec.decode(file: dir.file("big.png"), options: small) }
    }

    func testPixelLimitIsConfigurable() throws {
        let png = try ImageCodec.encodePNG(Image(width: 40, height: 30, channels: 3))
        let jpg = try ImageCodec.encodeJPEG(Image(width: 40, height: 30, channels: 3))
        let tight = DecodeOptions(limits: ImageLimits(maxPixels: 1199))
        assertImageError(.tooLarge) { try ImageCodec.decode(png, name: "a.png", options: tight) }
        assertImageError(.tooLarge) { try ImageCodec.decode(jpg, name: "a.jpg", options: tight) }
        let exact = DecodeOptions(limits: ImageLimits(maxPixels: 1200))
        XCTAssertEqual(try ImageCodec.decode(png, options: exact).width, 40)
        XCTAssertEqual(try ImageCodec.decode(jpg, options: exact).width, 40)
        // The process-wide default applies when no limits are given.
        let saved = ImageLimits.current
        ImageLimits.current.maxPixels = 100
        defer { ImageLimits.current = saved }
        assertImageError(.tooLarge) { try ImageCodec.decode(png) }
    }

    func testEveryPrefixAndByteFlipIsSurvived() throws {
        let image = Synthetic.bytesImage(width: 20, height: 12, channels: 3, seed: 9)
        let progressive = try Fixtures.bytes("jpeg/progressive.jpg")
        let inputs: [(String, [UInt8])] = [
            ("png", try ImageCodec.encodePNG(image)), ("jpeg", try ImageCodec.encodeJPEG(image)),
            ("progressive", progressive), ("interlaced", try Fixtures.bytes("png/rgba16_interlaced.png")),
        ]
        for (name, bytes) in inputs {
            for cut in 0..<bytes.count - 1 {
                do {
                    _ = try ImageCodec.decode(Array(bytes.prefix(cut)), name: name)
                    // A PNG cut after its last IDAT is complete; nothing else may decode.
                    XCTAssertTrue(name == "png" || name == "interlaced", "\(name) prefix \(cut) decoded")
                } catch let error as ImageError {
                    XCTAssertEqual(error.file, name)
                }
            }
            // Deterministic byte flips.
            var state: UInt64 = 12345
            for _ in 0..<300 {
                var mutated = bytes
                for _ in 0..<3 {
                    state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
                    let at = Int(state >> 33) % mutated.count
                    mutated[at] ^= UInt8(truncatingIfNeeded: state >> 20) | 1
                }
                _ = try? ImageCodec.decode(mutated, name: name)
            }
        }
    }
}
