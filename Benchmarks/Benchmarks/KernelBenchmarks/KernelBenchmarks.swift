import AtlasCore
import Benchmark
#if canImport(Glibc)
import Glibc
#endif

// SGEMM and convolution throughput (3×3 layers also under im2col, for Winograd's gain). Each benchmark reports
// wall clock plus two custom metrics per iteration: GFLOPS (2 FLOP per multiply-add) and "% peak" against the FP32
// peak of the cores it uses.
// Peak per core = 32 FLOP/cycle (two 256-bit FMA units, AVX2+FMA code) × clock, where the clock is the
// larger of /proc/cpuinfo's "cpu MHz" and what a register-only FMA loop measures (turbo); see `Machine`.
// The machine is shared: compare the best iteration (p100 of GFLOPS), not the median; the CPU-time metrics
// (flops per CPU second of the process) stay meaningful when other processes compete for the cores.

let gflops = BenchmarkMetric.custom("GFLOPS", polarity: .prefersLarger, useScalingFactor: false)
let percentPeak = BenchmarkMetric.custom("% peak", polarity: .prefersLarger, useScalingFactor: false)
/// Per-core rate from process CPU time: robust when other processes share the cores (no speedup information).
let cpuGflops = BenchmarkMetric.custom("GFLOPS per CPU-s", polarity: .prefersLarger, useScalingFactor: false)
let cpuPercentPeak = BenchmarkMetric.custom("% core peak (CPU time)", polarity: .prefersLarger, useScalingFactor: false)

func configuration(seconds: Int = 3) -> Benchmark.Configuration {
    .init(metrics: [.wallClock, gflops, percentPeak, cpuGflops, cpuPercentPeak], timeUnits: .milliseconds, warmupIterations: 1,
          maxDuration: .seconds(seconds), maxIterations: 40)
}

/// Times `body` once per iteration and records GFLOPS and % of the peak of `threads` cores, from wall clock
/// and from process CPU time. The GEMM kernel (and so the peak) is `kernel`, default the machine's preferred.
func measure(_ benchmark: Benchmark, flops: Double, threads: Int, kernel: GEMMKernel = GEMMKernel.preferred(),
             _ body: () -> Void) {
    let peakPerCore = kernel.isAvailable ? Machine.peakPerCore(kernel) : Machine.peakPerCore
    GEMM.withKernel(kernel) { Parallel.withThreads(threads) {
        for _ in benchmark.scaledIterations {
            let t = Clocks.time(body)
            let rate = flops / t.wall / 1e9, cpuRate = flops / t.cpu / 1e9
            benchmark.measurement(gflops, Int(rate.rounded()))
            benchmark.measurement(percentPeak, Int((100 * rate / (peakPerCore * Double(threads))).rounded()))
            benchmark.measurement(cpuGflops, Int(cpuRate.rounded()))
            benchmark.measurement(cpuPercentPeak, Int((100 * cpuRate / peakPerCore).rounded()))
        }
    } }
}

func random(_ shape: [Int], seed: UInt64) -> Tensor {
    var rng = SplitMix64(seed: seed, stream: 1)
    let t = Tensor(zeros: shape)
    for i in 0..<t.count { t.data[i] = rng.nextUniform() * 2 - 1 }
    return t
}

/// SGEMM under one micro-kernel (nothing is registered for a kernel this machine cannot run).
func sgemmBenchmark(_ label: String, m: Int, n: Int, k: Int, threads: Int, kernel: GEMMKernel = GEMMKernel.preferred()) {
    guard kernel.isAvailable else { return }
    Benchmark("SGEMM \(kernel) \(label) \(m)×\(n)×\(k) \(threads)T", configuration: configuration()) { benchmark in
        let a = random([m, k], seed: 1), b = random([k, n], seed: 2), c = Tensor(zeros: [m, n])
        measure(benchmark, flops: 2 * Double(m * n * k), threads: threads, kernel: kernel) {
            GEMM.sgemm(transA: false, transB: false, m: m, n: n, k: k, alpha: 1, a: a.data, lda: k, b: b.data, ldb: n,
                       beta: 0, c: c.data, ldc: n)
        }
    }
}

/// A convolution layer at a given batch: forward and input gradient, under one `ConvAlgorithm` (`auto`: Winograd for
/// 3×3 stride-1 layers; `direct`: im2col + GEMM, the same layer for comparison). GFLOPS count direct multiply-adds.
/// `groups == c` is a depthwise layer (channel multiplier m / c).
func convBenchmarks(_ label: String, batch: Int, c: Int, size: Int, m: Int, kernel: Int, stride: Int, pad: Int,
                    groups: Int = 1, algorithm: ConvAlgorithm = .auto) {
    let threads = Parallel.cpuCount
    let conv = Conv2D(weight: random([m, c / groups, kernel, kernel], seed: 3), bias: random([m], seed: 4),
                      stride: [stride, stride], pads: [pad, pad, pad, pad], dilation: [1, 1], groups: groups)
    let shape = [batch, c, size, size]
    let flops = 2 * Double(conv.multiplyAdds([shape]))
    let suffix = algorithm == .auto ? "" : " \(algorithm)"
    Benchmark("Conv forward \(label) b\(batch) \(threads)T\(suffix)", configuration: configuration()) { benchmark in
        let x = random(shape, seed: 5)
        Conv2D.withAlgorithm(algorithm) {
            measure(benchmark, flops: flops, threads: threads) { blackHole(conv.forward([x])) }
        }
    }
    Benchmark("Conv input-grad \(label) b\(batch) \(threads)T\(suffix)", configuration: configuration()) { benchmark in
        let x = random(shape, seed: 5)
        Conv2D.withAlgorithm(algorithm) {
            let y = conv.forward([x])
            let dy = random(y.shape, seed: 6)
            measure(benchmark, flops: flops, threads: threads) {
                blackHole(conv.backward([x], output: y, gradOutput: dy, needsGrad: [true]))
            }
        }
    }
}

let benchmarks: @Sendable () -> Void = {
    Benchmark("Peak probe (register FMA loop) 1T", configuration: configuration(seconds: 1)) { benchmark in
        measure(benchmark, flops: Machine.probeFlops, threads: 1, kernel: .avx2) { blackHole(Machine.fmaLoop()) }
    }
    for kernel in GEMMKernel.allCases {
        sgemmBenchmark("square", m: 1024, n: 1024, k: 1024, threads: 1, kernel: kernel)
        sgemmBenchmark("square", m: 1024, n: 1024, k: 1024, threads: 2, kernel: kernel)
    }
    sgemmBenchmark("conv3x3-56", m: 192, n: 3136, k: 576, threads: 1)
    sgemmBenchmark("stem", m: 64, n: 12544, k: 147, threads: 1)
    sgemmBenchmark("conv3x3-28", m: 128, n: 784, k: 864, threads: 1)
    convBenchmarks("7x7/2 3→64 224²", batch: 16, c: 3, size: 224, m: 64, kernel: 7, stride: 2, pad: 3)
    convBenchmarks("3x3 64→192 56²", batch: 16, c: 64, size: 56, m: 192, kernel: 3, stride: 1, pad: 1)
    convBenchmarks("1x1 192→64 28²", batch: 16, c: 192, size: 28, m: 64, kernel: 1, stride: 1, pad: 0)
    convBenchmarks("3x3 96→128 28²", batch: 16, c: 96, size: 28, m: 128, kernel: 3, stride: 1, pad: 1)
    // Winograd (auto) against im2col (direct) on the feature-visualization workload's 3×3 layers (InceptionV1, batch 8).
    for algorithm in [ConvAlgorithm.auto, .direct] {
        convBenchmarks("3x3 64→192 56²", batch: 8, c: 64, size: 56, m: 192, kernel: 3, stride: 1, pad: 1, algorithm: algorithm)
        convBenchmarks("3x3 128→192 28²", batch: 8, c: 128, size: 28, m: 192, kernel: 3, stride: 1, pad: 1, algorithm: algorithm)
    }
    // EfficientNet-Lite0's depthwise layers (plus a 4×4 plane and a RegNet-style grouped layer), batch 1 and 8.
    for batch in [1, 8] {
        for (c, size, kernel, stride) in [(32, 112, 3, 1), (96, 112, 3, 2), (144, 56, 3, 1), (144, 56, 5, 2), (240, 28, 5, 1),
                                          (480, 14, 3, 1), (672, 14, 5, 2), (1152, 7, 5, 1), (1152, 4, 3, 1)] {
            convBenchmarks("dw\(kernel)x\(kernel)/\(stride) \(c)ch \(size)²", batch: batch, c: c, size: size, m: c,
                           kernel: kernel, stride: stride, pad: kernel / 2, groups: c)
        }
        convBenchmarks("3x3 g8 224→224 28²", batch: batch, c: 224, size: 28, m: 224, kernel: 3, stride: 1, pad: 1, groups: 8)
    }
}
