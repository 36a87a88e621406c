import AtlasCore
import AtlasImage
import Benchmark
import Foundation

// PNG / JPEG encode and decode throughput on a 4096×4096 RGB image, in MB/s of raw RGB8 pixels (50.3 MB), through
// the public API (including the planar Float32 ↔ 8-bit conversion). Content: smooth colour fields plus ±2% noise,
// photo-like for JPEG and hard for PNG. Run: `swift package benchmark --target CodecBenchmarks`.

let megabytesPerSecond = BenchmarkMetric.custom("MB/s (raw RGB8)", polarity: .prefersLarger, useScalingFactor: false)
let side = 4096
let rawMB = Double(side * side * 3) / 1e6

/// The test image, made once.
let photo: Image = {
    var image = Image(width: side, height: side, channels: 3)
    var state: UInt64 = 11
    let plane = side * side
    for c in 0..<3 {
        for y in 0..<side {
            let fy = Double(y) / Double(side)
            for x in 0..<side {
                let fx = Double(x) / Double(side)
                state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
                let noise = (Double(state >> 40) / Double(1 << 24) - 0.5) * 0.04
                let v = 0.5 + 0.35 * sin(2 * .pi * (fx * Double(c + 1) + 0.5 * fy)) + 0.1 * cos(4 * .pi * fy) + noise
                image.pixels[c * plane + y * side + x] = Float(min(1, max(0, v)))
            }
        }
    }
    return image
}()

func codecBenchmark(_ name: String, _ body: @escaping () throws -> Void) {
    let configuration = Benchmark.Configuration(metrics: [.wallClock, megabytesPerSecond], timeUnits: .milliseconds,
                                                warmupIterations: 1, maxDuration: .seconds(10), maxIterations: 5)
    Benchmark("\(name) \(side)² RGB", configuration: configuration) { benchmark in
        for _ in benchmark.scaledIterations {
            let start = DispatchTime.now().uptimeNanoseconds
            try body()
            let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
            benchmark.measurement(megabytesPerSecond, Int((rawMB / seconds).rounded()))
        }
    }
}

let benchmarks: @Sendable () -> Void = {
    let png6 = try? ImageCodec.encodePNG(photo, level: 6, filter: .all)
    let jpeg = try? ImageCodec.encodeJPEG(photo, quality: 90)
    codecBenchmark("PNG encode level 6 all filters") { blackHole(try ImageCodec.encodePNG(photo, level: 6, filter: .all)) }
    codecBenchmark("PNG encode level 1 SUB/UP") { blackHole(try ImageCodec.encodePNG(photo, level: 1, filter: .fast)) }
    codecBenchmark("PNG decode") { blackHole(try ImageCodec.decode(png6 ?? [])) }
    codecBenchmark("JPEG encode q90 4:2:0") { blackHole(try ImageCodec.encodeJPEG(photo, quality: 90)) }
    codecBenchmark("JPEG encode q95 4:4:4") { blackHole(try ImageCodec.encodeJPEG(photo, quality: 95, subsampling: .none444)) }
    codecBenchmark("JPEG decode q90 4:2:0") { blackHole(try ImageCodec.decode(jpeg ?? [])) }
    codecBenchmark("Resize to 224² (area)") { blackHole(try photo.resized(width: 224, height: 224)) }
}
