import AtlasNet
import Benchmark
import Workloads

// Whole-network forward throughput (images/s) of the model zoo's architectures with seeded random weights, batch 8
// at 224², all cores (ATLAS_THREADS to change). Run: `swift package benchmark --target NetworkBenchmarks`.
// `atlas bench --arch A` measures the same work with thread scaling and % of peak.

let batch = 8

let benchmarks: @Sendable () -> Void = {
    for arch in [ZooArchitecture.googlenet, .inceptionv1, .resnet50, .vgg16] {
        forwardBenchmark("\(arch) forward batch \(batch) 224²", batch: batch) { try arch.network(seed: 0) }
    }
}
