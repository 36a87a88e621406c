import Foundation

/// What `atlas bench` measured; `--json` prints it as is (schema "atlas-bench/1", documented on each field).
struct BenchReport: Codable {
    /// One thread count's forward runs.
    struct ThreadRun: Codable {
        let threads: Int
        /// Wall-clock seconds of each timed forward pass.
        let seconds: [Double]
        /// Images per second of the fastest pass, and of the median pass.
        let imagesPerSecond: Double
        let imagesPerSecondMedian: Double
        /// Achieved GFLOPS of the fastest pass (`flops_per_image` × batch / seconds).
        let gflops: Double
        /// `gflops` as a percentage of the machine's peak at this thread count.
        let percentOfPeak: Double
        /// Best images/s over the best images/s at the smallest thread count measured.
        let speedup: Double
        /// `speedup` ÷ (threads ÷ smallest thread count), 1 = perfect scaling.
        let parallelEfficiency: Double
    }

    /// Feature-visualization throughput (`--vis`).
    struct Visualization: Codable {
        let layer: String
        /// Parameterization (`fft`, `pixel`, `maco`), rendered with its default transforms.
        let param: String
        /// Milliseconds per icon-step spent in the parameterization and transforms alone (forward and backward).
        let paramMillisecondsPerIconStep: Double
        let size: Int
        /// Side the network sees (Lucent upsamples to 224), nil when icons go in at their own size.
        let upsample: Int?
        let batch: Int
        let steps: Int
        let threads: Int
        let seconds: Double
        /// Icons × steps / seconds.
        let iconStepsPerSecond: Double
    }

    /// Input-gradient throughput (`--gradient-of`): a forward pass kept for backward, then the gradient of a value's
    /// mean (of one channel) with respect to the input, as `atlas run --gradient-of` computes it.
    struct InputGradient: Codable {
        let value: String
        let threads: Int
        /// Seconds of the fastest forward + backward, and its two parts.
        let seconds: Double
        let forwardSeconds: Double
        let backwardSeconds: Double
        /// Batch / `seconds`.
        let imagesPerSecond: Double
        /// Highest bytes held by tensors during these runs (what the forward keeps for backward included).
        let peakMemoryBytes: Int
    }

    let schema: String
    let version: String
    /// The ONNX file, or nil for a built-in architecture.
    let model: String?
    /// The built-in architecture (`--arch`), or nil for a model file.
    let arch: String?
    let seed: UInt64?
    let batch: Int
    let inputShape: [Int]
    /// 2 × multiply-adds of Conv, Gemm and MatMul layers, per image.
    let flopsPerImage: Double
    /// The headline forward figure: best images/s at the largest thread count measured (the last of `threads`).
    let imagesPerSecond: Double
    /// Per thread count, ascending.
    let threads: [ThreadRun]
    /// Highest bytes held by tensors during the forward runs (AtlasCore MemoryStats), weights included.
    let peakMemoryBytes: Int
    let warmup: Int
    let iterations: Int
    let machine: MachinePeak
    let visualization: Visualization?
    let inputGradient: InputGradient?

    static func encoder() -> JSONEncoder {
        let e = JSONEncoder()
        e.keyEncodingStrategy = .convertToSnakeCase
        e.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        return e
    }

    /// The human-readable report.
    var text: String {
        var lines: [String] = []
        let what = arch.map { "\($0) (seed \(seed ?? 0))" } ?? model ?? "?"
        lines.append("\(what), input \(inputShape.map(String.init).joined(separator: "×")), "
                     + String(format: "%.2f GFLOP/image", flopsPerImage / 1e9))
        lines.append(String(format: "Machine: %d cores, %@, %.2f GHz from %@: peak %.1f GFLOPS/core",
                            machine.cores, machine.vector, machine.gigahertz, machine.clockSource, machine.peakGFLOPSPerCore))
        lines.append(String(format: "FMA probe (AVX2/NEON build): %.1f GFLOPS on one core, %.1f on all %d at once",
                            machine.probeGFLOPSPerCore, machine.probeGFLOPSAllCores, machine.cores))
        lines.append("")
        lines.append("threads   img/s best   img/s median   GFLOPS   % peak   speed-up   efficiency")
        for r in threads {
            lines.append(String(format: "%7d   %10.2f   %12.2f   %6.1f   %6.1f   %8.2f   %9.0f%%", r.threads, r.imagesPerSecond,
                                r.imagesPerSecondMedian, r.gflops, r.percentOfPeak, r.speedup, r.parallelEfficiency * 100))
        }
        lines.append("")
        lines.append(String(format: "Forward: %.2f images/s (best of %d, batch %d), peak tensor memory %.1f MB",
                            imagesPerSecond, iterations, batch, Double(peakMemoryBytes) / 1e6))
        if let v = visualization {
            lines.append(String(format: "Feature vis: %.2f icon-steps/s (%@, %@, %d px%@, batch %d, %d steps, %d threads); "
                                + "parameterization + transforms %.3f ms per icon-step",
                                v.iconStepsPerSecond, v.layer, v.param, v.size, v.upsample.map { " → \($0)" } ?? "", v.batch, v.steps,
                                v.threads, v.paramMillisecondsPerIconStep))
        }
        if let g = inputGradient {
            lines.append(String(format: "Input gradient of mean(%@): %.3f s per batch of %d (forward %.3f s + backward %.3f s, "
                                + "best of %d, %d threads), %.2f images/s, peak tensor memory %.1f MB",
                                g.value, g.seconds, batch, g.forwardSeconds, g.backwardSeconds, iterations, g.threads,
                                g.imagesPerSecond, Double(g.peakMemoryBytes) / 1e6))
        }
        return lines.joined(separator: "\n")
    }
}
