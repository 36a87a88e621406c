import AtlasNet
import AtlasVis
import Benchmark
import Workloads

// Feature-visualization throughput (issue #5): icon-steps/s of channel objectives at InceptionV1 mixed4a (Lucent's
// architecture, seeded random weights), 128 px icons, Lucid's standard transforms and FFT parameterization, batch 1,
// 8 and 32, all cores (ATLAS_THREADS to change). Each measured iteration renders 4 steps from scratch.
// Run: `swift package benchmark --target VisBenchmarks`. Benchmarks/peers/lucent_icons.py is the Lucent side
// (it feeds the network 224 px; the "→224" variants match that).

let steps = 4

let benchmarks: @Sendable () -> Void = {
    for upsample in [nil, 224] as [Int?] {
        for batch in [1, 8, 32] {
            let name = "InceptionV1 mixed4a 128 px\(upsample.map { "→\($0)" } ?? "") batch \(batch)"
            iconBenchmark(name, steps: steps) {
                try IconThroughput(network: try ZooArchitecture.inceptionv1.network(seed: 0), layer: "mixed4a", batch: batch,
                                   options: RenderOptions(size: 128, upsample: upsample))
            }
        }
    }
}
