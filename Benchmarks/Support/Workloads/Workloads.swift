import AtlasNet
import AtlasVis
import Benchmark
import Foundation

// The measured bodies the benchmark targets share, so that a forward or vis figure means the same in each:
// NetworkBenchmarks (zoo forward), VisBenchmarks (zoo icon-steps/s), LucentExportBenchmarks (exported file vs zoo).

public let imagesPerSecond = BenchmarkMetric.custom("images/s", polarity: .prefersLarger, useScalingFactor: false)
public let iconStepsPerSecond = BenchmarkMetric.custom("icon-steps/s", polarity: .prefersLarger, useScalingFactor: false)

func configuration(_ rate: BenchmarkMetric) -> Benchmark.Configuration {
    Benchmark.Configuration(metrics: [.wallClock, .peakMemoryResident, rate], timeUnits: .milliseconds,
                            warmupIterations: 1, maxDuration: .seconds(20), maxIterations: 5)
}

/// Registers `name`: whole forward passes of `batch` seeded random images at `size`², images/s per pass.
public func forwardBenchmark(_ name: String, batch: Int, size: Int = 224, network: @escaping () throws -> Network) {
    Benchmark(name, configuration: configuration(imagesPerSecond)) { benchmark, net in
        let input = ZooArchitecture.randomInput(shape: try net.inputShape(size: size, batch: batch))
        for _ in benchmark.scaledIterations {
            let start = DispatchTime.now().uptimeNanoseconds
            blackHole(try net.forward(input))
            let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
            benchmark.measurement(imagesPerSecond, Int((Double(batch) / seconds).rounded()))
        }
    } setup: {
        try network()
    }
}

/// Registers `name`: `steps` optimization steps of the workload from scratch per iteration, icon-steps/s.
public func iconBenchmark(_ name: String, steps: Int, workload: @escaping () throws -> IconThroughput) {
    Benchmark(name, configuration: configuration(iconStepsPerSecond)) { benchmark, work in
        for _ in benchmark.scaledIterations {
            let seconds = try work.run(steps: steps)
            benchmark.measurement(iconStepsPerSecond, Int(work.rate(steps: steps, seconds: seconds).rounded()))
        }
    } setup: {
        try workload()
    }
}
