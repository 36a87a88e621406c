/// A by-hand throughput measurement, not a test: skipped unless ATLAS_BENCH_CODECS=1. Run in release:
///   ATLAS_BENCH_CODECS=1 swift test -c release --disable-swift-testing --filter CodecBenchmark
/// Prints MB/s of raw RGB8 pixels (4096×4096×3 bytes) for PNG/JPEG encode and decode through the public API
/// (including the planar Float32 ↔ interleaved 8-bit conversion). With ATLAS_BENCH_DUMP=<dir> the encoded files
/// and the raw RGB8 pixels are written there, to time another decoder on the same data.
import AtlasCore
import AtlasImage
import Foundation
import XCTest

final class CodecBenchmark: XCTestCase {
    func testThroughput4096() throws {
        guard ProcessInfo.processInfo.environment["ATLAS_BENCH_CODECS"] == "1" else {
            throw XCTSkip("set ATLAS_BENCH_CODECS=1 to measure codec throughput")
        }
        let side = 4096
        // Photo-like content: smooth colour fields plus a little deterministic noise.
        var image = Synthetic.smooth(width: side, height: side)
        let noise = Synthetic.bytesImage(width: side, height: side, channels: 3, seed: 11)
        for i in 0..<image.pixels.count { image.pixels[i] = min(1, max(0, image.pixels[i] + (noise.pixels[i] - 0.5) * 0.04)) }
        let rawMB = Double(side * side * 3) / 1e6

        func time(_ label: String, repeats: Int = 3, _ body: () throws -> Void) rethrows {
            var best = Double.infinity
            for _ in 0..<repeats {
                let start = DispatchTime.now().uptimeNanoseconds
                try body()
                best = min(best, Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9)
            }
            print(String(format: "%-34@ %8.3f s  %8.1f MB/s", label as NSString, best, rawMB / best))
        }
        print("codec throughput, \(side)x\(side) RGB (\(rawMB) MB raw), threads \(Parallel.threadCount), best of 3")
        var png6: [UInt8] = [], png1: [UInt8] = [], jpg: [UInt8] = [], jpg444: [UInt8] = []
        try time("PNG encode level 6, all filters") { png6 = try ImageCodec.encodePNG(image, level: 6, filter: .all) }
        try time("PNG encode level 1, SUB/UP") { png1 = try ImageCodec.encodePNG(image, level: 1, filter: .fast) }
        try time("PNG decode (level 6 file)") { _ = try ImageCodec.decode(png6) }
        try time("JPEG encode q90 4:2:0") { jpg = try ImageCodec.encodeJPEG(image, quality: 90) }
        try time("JPEG encode q95 4:4:4") { jpg444 = try ImageCodec.encodeJPEG(image, quality: 95, subsampling: .none444) }
        try time("JPEG decode (q90 4:2:0 file)") { _ = try ImageCodec.decode(jpg) }
        try time("JPEG decode (q95 4:4:4 file)") { _ = try ImageCodec.decode(jpg444) }
        time("interleave to RGB8 only") { _ = image.interleavedBytes() }
        try time("resize 4096² → 224² (area)") { _ = try image.resized(width: 224, height: 224) }
        if let dump = ProcessInfo.processInfo.environment["ATLAS_BENCH_DUMP"] {  // for timing a peer on the same files
            try ImageCodec.writeAtomically(png6, to: dump + "/bench.png")
            try ImageCodec.writeAtomically(jpg, to: dump + "/bench.jpg")
            try ImageCodec.writeAtomically(image.interleavedBytes(), to: dump + "/bench.rgb")
        }
        print("sizes: PNG6 \(png6.count) B, PNG1 \(png1.count) B, JPEG q90 \(jpg.count) B, JPEG q95 444 \(jpg444.count) B")
    }
}
