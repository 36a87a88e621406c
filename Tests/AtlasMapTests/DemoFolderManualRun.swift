/// Opt-in manual runs (skipped unless their environment variable is set): a 16384² synthetic pyramid for timing
/// and peak-RSS measurements (`ATLAS_BENCH_PYRAMID=<folder>`; with `ATLAS_BENCH_INPUT=<file.v>` the canvas is read
/// from an uncompressed 3-band uchar libvips `.v` file of that size, 64-byte header, so libvips `dzsave` can be
/// given the same pixels), and a demo gallery folder for the headless browser
/// test (`ATLAS_DEMO_OUT=<folder>`, then `scripts/viewer/browser_test.sh <folder>`).
import AtlasCore
import AtlasImage
import AtlasMap
import Foundation
import XCTest

final class OutputManualRuns: XCTestCase {
    func testBenchmarkPyramid16k() throws {
        guard let out = ProcessInfo.processInfo.environment["ATLAS_BENCH_PYRAMID"] else { throw XCTSkip("ATLAS_BENCH_PYRAMID not set") }
        let side = Int(ProcessInfo.processInfo.environment["ATLAS_BENCH_SIDE"] ?? "") ?? 16384
        let writer = try PyramidWriter(directory: out, width: side, height: side,
                                       options: PyramidOptions(format: .jpeg(quality: 85)))
        let start = DispatchTime.now().uptimeNanoseconds
        if let input = ProcessInfo.processInfo.environment["ATLAS_BENCH_INPUT"] {
            let file = try XCTUnwrap(FileHandle(forReadingAtPath: input))
            let stats = try writer.write { band in
                let w = band.width, h = band.height
                file.seek(toFileOffset: UInt64(64 + band.y0 * w * 3))
                let bytes = [UInt8](file.readData(ofLength: h * w * 3))
                bytes.withUnsafeBufferPointer { src in
                    Parallel.forEach(h) { r in
                        for c in 0..<3 {
                            let row = band.pixels + (c * h + r) * w
                            for x in 0..<w { row[x] = Float(src[(r * w + x) * 3 + c]) * (1 / 255) }
                        }
                    }
                }
            }
            let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
            print("pyramid \(side)² from \(input): \(stats.tilesWritten) tiles, \(stats.tileBytes) bytes, "
                  + "\(String(format: "%.2f", seconds)) s, peak held \(stats.peakHeldBytes / 1_048_576) MiB")
            return
        }
        let stats = try writer.write { band in
            // Gradients plus hash noise, one row per task.
            let w = band.width, h = band.height, y0 = band.y0
            Parallel.forEach(h) { r in
                let y = y0 + r
                for c in 0..<3 {
                    let row = band.pixels + (c * h + r) * w
                    for x in 0..<w {
                        var k = UInt32(truncatingIfNeeded: x &* 73_856_093 ^ y &* 19_349_663 ^ c &* 83_492_791)
                        k = (k ^ (k >> 13)) &* 0x5bd1_e995
                        let noise = Float(k >> 24) / 255 - 0.5
                        row[x] = Float(x + (c == 1 ? y : 0)) / Float(2 * side) + 0.25 * noise + (c == 2 ? 0.3 : 0)
                    }
                }
            }
        }
        let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
        print("pyramid \(side)²: \(stats.tilesWritten) tiles, \(stats.tileBytes) bytes, \(String(format: "%.2f", seconds)) s, "
              + "peak held \(stats.peakHeldBytes / 1_048_576) MiB, threads \(Parallel.threadCount)")
    }

    func testWriteDemoGallery() throws {
        guard let out = ProcessInfo.processInfo.environment["ATLAS_DEMO_OUT"] else { throw XCTSkip("ATLAS_DEMO_OUT not set") }
        var icons: [PlacedIcon] = []
        for i in 0..<60 {
            var image = Image(width: 128, height: 128, channels: 3)
            for c in 0..<3 { for y in 0..<128 { for x in 0..<128 {
                image[c, y, x] = 0.5 + 0.45 * Float(sin(Double(x * (c + 1) + y * (i % 7 + 1)) / 9 + Double(i)))
            } } }
            icons.append(PlacedIcon(image: image, cell: .init(x: i % 10, y: i / 10, channel: i, objective: "mixed4c:\(i)",
                                                               label: "channel \(i)")))
        }
        let layout = GridLayout(id: "channels", label: "channels", columns: 10, rows: 6, cellSize: 144, padding: 8,
                                background: RGB8(hex: "#111111")!, format: .jpeg(quality: 90))
        try Assembly.writeFolder(AtlasIndex(kind: .gallery, title: "Demo gallery", layer: "mixed4c", seed: 1,
                                            settings: ["steps": .int(256)], created: "2025-01-01T00:00:00Z"),
                                 grids: [(layout, icons)], to: out)
    }
}
