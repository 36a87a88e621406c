import AtlasCore
import AtlasImage
import AtlasMap
import AtlasNet
import AtlasReduce
import AtlasVis
import Benchmark
import Foundation

// Activation-atlas stages. Run: `swift package benchmark --target MapBenchmarks` (add `--filter "Pyramid.*"` for one).
// - Collect: images/s of `Collector.run` on the embedded Fashion-MNIST CNN (2000 IDX images, layer features.conv3.0,
//   1 position per image, batch 64, gradient × activation for the top 5 classes).
// - UMAP 50k×512 cosine, n_neighbors 20 (the target size; data as scripts/fixtures/umap_measure.py describes,
//   or ATLAS_UMAP_DATA=<float32 [N, D] .npy> to use that file, e.g. the one umap_measure.py writes for the peer). One
//   iteration: a run takes tens of seconds. Prints trustworthiness@10 on the first 5,000 rows.
// - Pyramid of a 16384² canvas with 256-px JPEG tiles (q85): wall time and peak resident memory; the peer is
//   `vips dzsave --layout google` on the same size (see Benchmarks/peers/pyramid_vips.sh).

let assets = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("Assets/fashion-mnist").path
let trustworthiness = BenchmarkMetric.custom("trustworthiness@10 ×10⁴", polarity: .prefersLarger, useScalingFactor: false)
let imagesPerSecond = BenchmarkMetric.custom("images/s", polarity: .prefersLarger, useScalingFactor: false)

func temporaryFolder(_ name: String) -> String {
    NSTemporaryDirectory() + "atlas-bench-\(name)-\(ProcessInfo.processInfo.processIdentifier)"
}

func collectOnce(batch: Int) throws -> Int {
    let model = assets + "/fashion_cnn.onnx"
    let network = try Network(contentsOf: model)
    let value = try network.resolve("features.conv3.0")
    let logits = try Renderer(network: network).valueName(Objective.networkOutput)
    let source = try ImageSource(inputs: [assets + "/t10k-2000-images-idx3-ubyte.gz"], channels: 1)
    let settings = CollectSettings(layer: "features.conv3.0", value: value, batch: batch, input: [1, 28, 28], preprocess: "bench")
    let sampler = ActivationSampler(network: network, value: value, logits: logits, perImage: 1, top: 5, attribution: .gradxact, seed: 0)
    let pre = Preprocessor(geometry: .direct(width: 28, height: 28), normalization: .meanStd(mean: [0.286], std: [0.353]), layout: .gray)
    let out = temporaryFolder("collect")
    defer { try? FileManager.default.removeItem(atPath: out) }
    let m = try Collector.run(source: source, sampler: sampler, preprocessor: pre, settings: settings,
                              model: .init(file: "fashion_cnn.onnx"), labels: nil, directory: out)
    return m.items
}

/// 50 clusters in 512-D, relu(centre + W_c z + 0.3 noise), z ∈ R^8 (the shape of umap_measure.py's data).
func umapData(n: Int = 50_000, d: Int = 512) throws -> Tensor {
    if let path = ProcessInfo.processInfo.environment["ATLAS_UMAP_DATA"] { return try NPY.read(path: path) }
    var rng = SplitMix64(seed: 2026)
    let c = 50, r = 8
    let centres = (0..<(c * d)).map { _ in rng.nextNormal() }
    let bases = (0..<(c * r * d)).map { _ in rng.nextNormal() / Float(r).squareRoot() }
    let t = Tensor(zeros: [n, d])
    for i in 0..<n {
        let k = rng.nextInt(below: c)
        let z = (0..<r).map { _ in rng.nextNormal() }
        for j in 0..<d {
            var v = centres[k * d + j] + 0.3 * rng.nextNormal()
            for q in 0..<r { v += z[q] * bases[(k * r + q) * d + j] }
            t.data[i * d + j] = max(0, v)
        }
    }
    return t
}

/// Gradients plus hash noise, one band at a time (the canvas is never held whole).
func paint(_ band: CanvasBand, side: Int) {
    let w = band.width, h = band.height, y0 = band.y0
    Parallel.forEach(h) { r in
        let y = y0 + r
        for c in 0..<3 {
            let row = band.pixels + (c * h + r) * w
            for x in 0..<w {
                var k = UInt32(truncatingIfNeeded: x &* 73_856_093 ^ y &* 19_349_663 ^ c &* 83_492_791)
                k = (k ^ (k >> 13)) &* 0x5bd1_e995
                row[x] = Float(x + (c == 1 ? y : 0)) / Float(2 * side) + 0.25 * (Float(k >> 24) / 255 - 0.5) + (c == 2 ? 0.3 : 0)
            }
        }
    }
}

/// Extra figures on stderr (the harness keeps stdout for its tables).
func report(_ line: String) { FileHandle.standardError.write(Data((line + "\n").utf8)) }

let benchmarks: @Sendable () -> Void = {
    let collectConfig = Benchmark.Configuration(metrics: [.wallClock, imagesPerSecond], timeUnits: .milliseconds,
                                                warmupIterations: 1, maxDuration: .seconds(20), maxIterations: 5)
    Benchmark("Collect fashion_cnn features.conv3.0 gradxact top5, batch 64", configuration: collectConfig) { benchmark in
        for _ in benchmark.scaledIterations {
            let start = DispatchTime.now().uptimeNanoseconds
            let n = try collectOnce(batch: 64)
            benchmark.measurement(imagesPerSecond, Int(Double(n) / (Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9)))
        }
    }

    let umapConfig = Benchmark.Configuration(metrics: [.wallClock, .peakMemoryResident, trustworthiness], timeUnits: .milliseconds,
                                             warmupIterations: 0, maxDuration: .seconds(1), maxIterations: 1)
    Benchmark("UMAP 50k×512 cosine k=20", configuration: umapConfig) { benchmark in
        let data = try umapData()
        let umap = UMAP(nNeighbors: 20, minDist: 0.1, metric: .cosine, seed: 42)
        func now() -> Double { Double(DispatchTime.now().uptimeNanoseconds) / 1e9 }
        benchmark.startMeasurement()
        let t0 = now()
        let table = try umap.neighborTable(data)
        let t1 = now()
        let graph = UMAPGraph.fuzzySimplicialSet(indices: table.indices, distances: table.distances, rows: data.shape[0], k: table.k)
        let t2 = now()
        let embedding = try umap.embed(graph, data: data)
        let t3 = now()
        benchmark.stopMeasurement()
        report(String(format: "UMAP stages, %d threads: kNN %.2f s, graph %.2f s, layout %.2f s, total %.2f s",
                     Parallel.threadCount, t1 - t0, t2 - t1, t3 - t2, t3 - t0))
        let m = min(5000, data.shape[0])
        let tw = try Trustworthiness.score(original: data.slice(batch: 0..<m), embedded: embedding.slice(batch: 0..<m), k: 10, metric: .cosine)
        benchmark.measurement(trustworthiness, Int((tw * 10_000).rounded()))
        report(String(format: "UMAP %d×%d: trustworthiness@10 (first %d rows, cosine) = %.4f", data.shape[0], data.shape[1], m, tw))
    }

    let pyramidConfig = Benchmark.Configuration(metrics: [.wallClock, .peakMemoryResident], timeUnits: .milliseconds,
                                                warmupIterations: 0, maxDuration: .seconds(1), maxIterations: 1)
    Benchmark("Pyramid 16384² JPEG q85 tiles", configuration: pyramidConfig) { benchmark in
        let side = Int(ProcessInfo.processInfo.environment["ATLAS_BENCH_SIDE"] ?? "") ?? 16384
        let out = temporaryFolder("pyramid")
        defer { try? FileManager.default.removeItem(atPath: out) }
        let writer = try PyramidWriter(directory: out, width: side, height: side, options: PyramidOptions(format: .jpeg(quality: 85)))
        // ATLAS_BENCH_INPUT=<file.v>: the canvas from an uncompressed 3-band uchar libvips .v file of that size (64-byte
        // header), so that `vips dzsave` gets the same pixels; otherwise painted gradients plus noise.
        let input = ProcessInfo.processInfo.environment["ATLAS_BENCH_INPUT"].flatMap { FileHandle(forReadingAtPath: $0) }
        benchmark.startMeasurement()
        let stats = try writer.write { band in
            guard let input else { return paint(band, side: side) }
            let w = band.width, h = band.height
            input.seek(toFileOffset: UInt64(64 + band.y0 * w * 3))
            let bytes = [UInt8](input.readData(ofLength: h * w * 3))
            bytes.withUnsafeBufferPointer { src in
                Parallel.forEach(h) { r in
                    for c in 0..<3 {
                        let row = band.pixels + (c * h + r) * w
                        for x in 0..<w { row[x] = Float(src[(r * w + x) * 3 + c]) * (1 / 255) }
                    }
                }
            }
        }
        benchmark.stopMeasurement()
        report("pyramid \(side)²: \(stats.tilesWritten) tiles, \(stats.tileBytes) bytes, peak held \(stats.peakHeldBytes / 1_048_576) MiB")
    }
}
