import AtlasCore
import AtlasNet
import Benchmark
import Foundation

// Whole-network forward throughput (images/s) of the model zoo's architectures with seeded random weights, batch 8
// at 224², all cores (ATLAS_THREADS to change). Run: `swift package benchmark --target NetworkBenchmarks`.
// `atlas bench --arch A` measures the same work with thread scaling and % of peak.

let imagesPerSecond = BenchmarkMetric.custom("images/s", polarity: .prefersLarger, useScalingFactor: false)
let batch = 8

let benchmarks: @Sendable () -> Void = {
    for arch in [ZooArchitecture.googlenet, .inceptionv1, .resnet50, .vgg16] {
        let configuration = Benchmark.Configuration(metrics: [.wallClock, .peakMemoryResident, imagesPerSecond],
                                                    timeUnits: .milliseconds, warmupIterations: 1,
                                                    maxDuration: .seconds(20), maxIterations: 5)
        Benchmark("\(arch) forward batch \(batch) 224²", configuration: configuration) { benchmark, net in
            let input = ZooArchitecture.randomInput(shape: [batch, 3, 224, 224])
            for _ in benchmark.scaledIterations {
                let start = DispatchTime.now().uptimeNanoseconds
                blackHole(try net.forward(input))
                let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
                benchmark.measurement(imagesPerSecond, Int((Double(batch) / seconds).rounded()))
            }
        } setup: {
            try arch.network(seed: 0)
        }
    }
}
