/// Shared helpers of the AtlasImage tests: fixture paths, temporary folders, synthetic images, PSNR.
import AtlasImage
import Foundation
import XCTest

enum Fixtures {
    /// Absolute path of a file under Tests/AtlasImageTests/Fixtures.
    static func path(_ relative: String) throws -> String {
        let root = try XCTUnwrap(Bundle.module.url(forResource: "Fixtures", withExtension: nil), "Fixtures bundle missing")
        return root.appendingPathComponent(relative).path
    }

    static func bytes(_ relative: String) throws -> [UInt8] {
        [UInt8](try Data(contentsOf: URL(fileURLWithPath: try path(relative))))
    }
}

/// A fresh temporary folder, removed by the caller with `cleanup()`.
struct TempDir {
    let path: String
    init() throws {
        path = NSTemporaryDirectory() + "atlas-image-tests-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }
    func file(_ name: String) -> String { path + "/" + name }
    func write(_ name: String, _ bytes: [UInt8]) throws {
        let url = URL(fileURLWithPath: file(name))
        try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        try Data(bytes).write(to: url)
    }
    func cleanup() { try? FileManager.default.removeItem(atPath: path) }
}

enum Synthetic {
    /// Samples k/255 from a fixed pseudo-random sequence (exactly representable after 8-bit quantization).
    static func bytesImage(width: Int, height: Int, channels: Int, seed: UInt64) -> Image {
        var state = seed &* 0x9E37_79B9_7F4A_7C15 &+ 1
        var image = Image(width: width, height: height, channels: channels)
        for i in 0..<image.pixels.count {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            image.pixels[i] = Float(Int(state >> 56)) / 255
        }
        return image
    }

    /// A smooth colour image (low-frequency sines), the kind JPEG handles well.
    static func smooth(width: Int, height: Int) -> Image {
        var image = Image(width: width, height: height, channels: 3)
        for c in 0..<3 {
            for y in 0..<height {
                for x in 0..<width {
                    let fx = Double(x) / Double(width), fy = Double(y) / Double(height)
                    let v = 0.5 + 0.35 * sin(2 * .pi * (fx * Double(c + 1) + 0.5 * fy)) + 0.1 * cos(2 * .pi * fy * 2)
                    image[c, y, x] = Float(v)
                }
            }
        }
        return image
    }

    /// PSNR in dB of `a` against `b` over samples in [0, 1].
    static func psnr(_ a: Image, _ b: Image) -> Double {
        precondition(a.pixels.count == b.pixels.count)
        var mse = 0.0
        for i in 0..<a.pixels.count {
            let d = Double(a.pixels[i]) - Double(b.pixels[i])
            mse += d * d
        }
        mse /= Double(a.pixels.count)
        return mse == 0 ? .infinity : 10 * log10(1 / mse)
    }
}

/// Asserts that `body` throws an `ImageError` of `kind`; returns it.
@discardableResult
func assertImageError(_ kind: ImageError.Kind, file path: String? = nil, _ body: () throws -> Any,
                      line: UInt = #line) -> ImageError? {
    do {
        _ = try body()
        XCTFail("expected ImageError.\(kind)", line: line)
    } catch let error as ImageError {
        XCTAssertEqual(error.kind, kind, "\(error)", line: line)
        if let path { XCTAssertEqual(error.file, path, line: line) }
        XCTAssertFalse(error.reason.isEmpty, line: line)
        return error
    } catch {
        XCTFail("unexpected error \(error)", line: line)
    }
    return nil
}
