import AtlasNet
import AtlasVis
import Benchmark
import Foundation
import Workloads

// The exported Lucent InceptionV1 (torch.onnx.export of lucent.modelzoo.inceptionv1(pretrained=False), opset 17,
// dynamic batch) against the built-in `ZooArchitecture.inceptionv1`, the same architecture built in memory:
// forward images/s at batch 16, 224², and feature-vis icon-steps/s of channel objectives at mixed4a, 128 px icons,
// batch 8, without upsampling and at 224 px (Lucent's input). The file should run within 10% of the built-in one.
// The file comes from Benchmarks/peers/exported.py (it writes /tmp/atlas-peers/inceptionv1.onnx):
//   ATLAS_LUCENT_ONNX=/tmp/atlas-peers/inceptionv1.onnx swift package benchmark --target LucentExportBenchmarks
// Without ATLAS_LUCENT_ONNX (or when the file is missing) nothing is registered and a note says why.
// All cores (ATLAS_THREADS to change); ATLAS_LUCENT_LAYER overrides the vis layer (a value name or alias).

let forwardBatch = 16, visBatch = 8, visSteps = 4

/// The two sides: the exported file and the built-in architecture (seeded random weights; the file's are torch's).
let sides: [(name: String, load: @Sendable () throws -> Network)] = {
    let env = ProcessInfo.processInfo.environment
    guard let path = env["ATLAS_LUCENT_ONNX"], FileManager.default.fileExists(atPath: path) else {
        let why = env["ATLAS_LUCENT_ONNX"].map { "\($0) does not exist" } ?? "ATLAS_LUCENT_ONNX is not set"
        FileHandle.standardError.write(Data(("LucentExportBenchmarks: skipped (\(why)); make the file with " +
            "Benchmarks/peers/exported.py --models inceptionv1 --measure forward\n").utf8))
        return []
    }
    return [("file", { try Network(contentsOf: path) }), ("arch", { try ZooArchitecture.inceptionv1.network(seed: 0) })]
}()

let benchmarks: @Sendable () -> Void = {
    let layer = ProcessInfo.processInfo.environment["ATLAS_LUCENT_LAYER"] ?? "mixed4a"
    for side in sides {
        forwardBenchmark("Lucent InceptionV1 \(side.name) forward batch \(forwardBatch) 224²", batch: forwardBatch,
                         network: side.load)
        for upsample in [nil, 224] as [Int?] {
            let name = "Lucent InceptionV1 \(side.name) \(layer) 128 px\(upsample.map { "→\($0)" } ?? "") batch \(visBatch)"
            iconBenchmark(name, steps: visSteps) {
                try IconThroughput(network: try side.load(), layer: layer, batch: visBatch,
                                   options: RenderOptions(size: 128, upsample: upsample))
            }
        }
    }
}
