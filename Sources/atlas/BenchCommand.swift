import ArgumentParser
import AtlasCore
import AtlasNet
import AtlasVis
import Foundation

extension ZooArchitecture: ExpressibleByArgument {}

/// `atlas bench`: forward throughput, achieved GFLOPS against the machine's peak, thread scaling, peak memory and
/// (with --vis) feature-visualization icon-steps/s, on a model file or a built-in architecture.
struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Benchmark forward throughput, thread scaling and feature visualization on this machine.",
        discussion: """
        Times whole forward passes of a batch (after --warmup untimed passes) at each thread count of --threads \
        and reports images/s (best and median of --iterations), achieved GFLOPS (2 × the multiply-adds of Conv, \
        Gemm and MatMul layers computed directly: an effective rate, since Winograd 3×3 convolutions do fewer), the percentage of the machine's FP32 peak (cores × vector lanes × 2 FMA pipes \
        × 2 FLOP × clock; the report says how the clock was found), speed-up and parallel efficiency against the \
        smallest thread count, and the peak of tensor memory, weights included.

        Without --model it builds --arch (googlenet, inceptionv1, resnet50, vgg16; default googlenet) in memory with \
        seeded random weights, so it runs anywhere with nothing to download. VGG16 needs --size 224.

        --vis also renders --vis-batch channel objectives (channels 0, 1, …) at --vis-layer (default mixed4a for \
        inceptionv1, a middle layer otherwise) for --vis-steps steps at the largest thread count and reports \
        icon-steps/s. Lucent feeds 224 px to the network: add --vis-upsample 224 to compare with it.

        --json prints one object (schema atlas-bench/1): images_per_second is the best forward images/s at the \
        largest thread count; threads[] has the per-count figures, machine the peak estimate, visualization the \
        --vis figures.

        Example:
          atlas bench --arch resnet50 --batch 16 --threads 1,2 --iterations 5
          atlas bench --model googlenet.onnx --json --quiet
          atlas bench --arch inceptionv1 --vis --vis-batch 8 --threads 2
        """
    )

    @Option(help: "An ONNX model file to benchmark (instead of --arch).") var model: String?
    @Option(help: "Built-in architecture with random weights: googlenet, inceptionv1, resnet50, vgg16.")
    var arch: ZooArchitecture?
    @Option(help: "Seed of the built-in architecture's weights and of the input.") var seed: UInt64 = 0
    @Option(help: "Images per forward pass.") var batch = 16
    @Option(help: "Input height and width (default: the model's declared size, model.json's, or 224).") var size: Int?
    @Option(help: "Comma-separated thread counts (default: 1, 2, 4, … up to all cores).") var threads: String?
    @Option(help: "Timed forward passes per thread count.") var iterations = 5
    @Option(help: "Untimed forward passes before timing, per thread count.") var warmup = 1
    @Flag(help: "Also measure feature-visualization icon-steps/s.") var vis = false
    @Option(help: "Layer of the --vis channel objectives.") var visLayer: String?
    @Option(help: "Icons rendered as one batch with --vis.") var visBatch = 8
    @Option(help: "Icon size with --vis.") var visSize = 128
    @Option(help: "Timed optimization steps with --vis.") var visSteps = 8
    @Option(help: "Resize icons to N×N before the network with --vis (Lucent: 224).") var visUpsample: Int?
    @Option(help: "Parameterization with --vis: fft, pixel or maco (each with its default transforms).") var visParam: ParamKind = .fft
    @Option(help: "Also time the input gradient of this value's mean (NAME or NAME:CHANNEL), forward kept for backward plus backward, as `atlas run --gradient-of` computes it (--iterations timed after one untimed).")
    var gradientOf: String?
    @Flag(help: "Print the report as JSON on stdout.") var json = false
    @Flag(help: "Also time one more (warm) forward pass layer by layer and print where the time goes, with --vis the layers of the visualization steps and with --gradient-of those of the last gradient run (on stderr with --json).")
    var layers = false
    @Flag(name: .shortAndLong, help: "No progress on stderr.") var quiet = false

    func validate() throws {
        guard model == nil || arch == nil else { throw ValidationError("give --model or --arch, not both") }
        guard batch >= 1, iterations >= 1, warmup >= 0 else { throw ValidationError("--batch and --iterations must be ≥ 1, --warmup ≥ 0") }
        if let size, !(8...4096).contains(size) { throw ValidationError("--size must be between 8 and 4096") }
        guard visBatch >= 1, visSteps >= 1, (8...4096).contains(visSize) else {
            throw ValidationError("--vis-batch and --vis-steps must be ≥ 1, --vis-size 8…4096")
        }
        _ = try threadCounts()
    }

    func threadCounts() throws -> [Int] {
        guard let threads else {
            let cores = ProcessInfo.processInfo.activeProcessorCount
            return Array(Set(sequence(first: 1) { $0 * 2 < cores ? $0 * 2 : nil } + [cores])).sorted()
        }
        let counts = try threads.split(separator: ",").map { part -> Int in
            guard let n = Int(part.trimmingCharacters(in: .whitespaces)), (1...1024).contains(n) else {
                throw ValidationError("--threads takes counts like 1,2,4 (each 1…1024), got '\(part)'")
            }
            return n
        }
        guard !counts.isEmpty else { throw ValidationError("--threads is empty") }
        return Array(Set(counts)).sorted()
    }

    func run() throws {
        let counts = try threadCounts()
        let built = arch ?? (model == nil ? .googlenet : nil)
        note("Preparing \(model ?? built?.rawValue ?? "?")…", quiet: quiet)
        let net = try built.map { try $0.network(seed: seed) } ?? ModelSetup.loadNetwork(model ?? "")
        let side = size ?? ModelSetup.fallbackSize(for: net, modelPath: model, size: size)
        let shape = try net.inputShape(size: side, batch: batch)
        // A file may fix the batch dimension; the figures use the batch that actually runs.
        let batch = shape.first ?? self.batch
        if batch != self.batch { note("The model fixes the batch at \(batch); timing that.", quiet: quiet) }
        let plan = try net.plan(for: shape)
        if let out = net.graph.outputs.first?.name, let e = plan.errors[out] {
            throw CommandFailure(message: "the model cannot run at input \(shape): \(e)", code: AtlasExit.dataError)
        }
        let flops = Double(ZooArchitecture.flops(of: plan)) / Double(batch)
        let input = ZooArchitecture.randomInput(shape: shape, seed: seed)
        let machine = MachinePeak.detect()

        MemoryStats.resetPeak()
        let bar = ProgressBar("forward", total: counts.count * (warmup + iterations), unit: "passes", quiet: quiet)
        var times: [(threads: Int, seconds: [Double])] = []
        for t in counts {
            Parallel.threadCount = t
            for _ in 0..<warmup {
                _ = try net.forward(input)
                bar.advance()
            }
            var seconds: [Double] = []
            for _ in 0..<iterations {
                let start = DispatchTime.now().uptimeNanoseconds
                _ = try net.forward(input)
                seconds.append(Double(DispatchTime.now().uptimeNanoseconds - start) * 1e-9)
                bar.advance()
            }
            times.append((t, seconds))
        }
        bar.finish()
        let peakBytes = MemoryStats.peak
        var layerTable: String?
        if layers {
            net.resetStats()
            _ = try net.forward(input)
            layerTable = Run.statsText(net.stats)
        }
        let runs = Self.threadRuns(times, batch: batch, flopsPerImage: flops, machine: machine)

        var visReport: BenchReport.Visualization?
        var visTable: String?
        if vis {
            net.resetStats()
            visReport = try visualize(net, threads: counts.last ?? 1)
            if layers { visTable = "feature visualization, every step (forward and input gradient):\n" + Run.statsText(net.stats) }
        }
        let gradientReport = try gradientOf.map { try inputGradient(net, input: input, of: $0, threads: counts.last ?? 1) }
        let gradientTable = gradientOf != nil && layers
            ? "input gradient, the last run (forward kept for backward, and backward):\n" + Run.statsText(net.stats) : nil
        let report = BenchReport(schema: "atlas-bench/1", version: Atlas.version, model: model, arch: built?.rawValue,
                                 seed: built == nil ? nil : seed, batch: batch, inputShape: shape, flopsPerImage: flops,
                                 imagesPerSecond: runs[runs.count - 1].imagesPerSecond, threads: runs,
                                 peakMemoryBytes: peakBytes, warmup: warmup, iterations: iterations, machine: machine,
                                 visualization: visReport, inputGradient: gradientReport)
        print(json ? String(decoding: try BenchReport.encoder().encode(report), as: UTF8.self) : report.text)
        for table in [layerTable, visTable, gradientTable].compactMap({ $0 }) {
            if json { FileHandle.standardError.write(Data((table + "\n").utf8)) } else { print("\n" + table) }
        }
    }

    /// Per-thread-count figures; speed-up and efficiency against the first (smallest) count.
    static func threadRuns(_ times: [(threads: Int, seconds: [Double])], batch: Int, flopsPerImage: Double,
                           machine: MachinePeak) -> [BenchReport.ThreadRun] {
        guard let base = times.first else { return [] }
        let baseBest = Double(batch) / (base.seconds.min() ?? 1)
        return times.map { t, seconds in
            let sorted = seconds.sorted()
            let best = Double(batch) / sorted[0]
            let median = Double(batch) / sorted[sorted.count / 2]
            let gflops = best * flopsPerImage / 1e9
            let peak = machine.peakGFLOPS(threads: t)
            let speedup = best / baseBest
            return BenchReport.ThreadRun(threads: t, seconds: seconds, imagesPerSecond: best, imagesPerSecondMedian: median,
                                         gflops: gflops, percentOfPeak: peak > 0 ? 100 * gflops / peak : 0, speedup: speedup,
                                         parallelEfficiency: speedup / (Double(t) / Double(base.threads)))
        }
    }

    /// The fastest of `--iterations` forward-kept-for-backward + backward passes, after one untimed.
    func inputGradient(_ net: Network, input: Tensor, of text: String, threads: Int) throws -> BenchReport.InputGradient {
        Parallel.threadCount = threads
        let objective = try MeanObjective(parsing: text, names: net.names)
        MemoryStats.resetPeak()
        var best: (forward: Double, backward: Double)?
        for i in 0...max(iterations, 1) {
            net.resetStats()   // the --layers table shows the last run
            let t0 = DispatchTime.now().uptimeNanoseconds
            let values = try Conv2D.withAccurateGradients {
                try net.forward(input, capture: [objective.value], keepForBackward: true)
            }
            guard let v = values[objective.value] else { throw ModelError.unknownLayer(text) }
            let t1 = DispatchTime.now().uptimeNanoseconds
            let seed = try objective.seed(like: v)
            _ = try Conv2D.withAccurateGradients { try net.backward(from: [objective.value: seed]) }
            let t2 = DispatchTime.now().uptimeNanoseconds
            let run = (Double(t1 - t0) * 1e-9, Double(t2 - t1) * 1e-9)
            if i > 0, best.map({ run.0 + run.1 < $0.forward + $0.backward }) ?? true { best = run }
        }
        let b = best ?? (0, 0)
        let batch = input.shape.first ?? 1
        return BenchReport.InputGradient(value: text, threads: threads, seconds: b.forward + b.backward,
                                         forwardSeconds: b.forward, backwardSeconds: b.backward,
                                         imagesPerSecond: Double(batch) / max(b.forward + b.backward, 1e-12),
                                         peakMemoryBytes: MemoryStats.peak)
    }

    /// Icon-steps/s of `--vis-batch` channel objectives: one untimed step (plans, buffers), then `--vis-steps` timed.
    func visualize(_ net: Network, threads: Int) throws -> BenchReport.Visualization {
        Parallel.threadCount = threads
        let layer = visLayer ?? arch?.visualizationLayer ?? (model == nil ? ZooArchitecture.googlenet.visualizationLayer : nil)
        guard let layer else { throw ValidationError("--vis with --model needs --vis-layer") }
        let work = try IconThroughput(network: net, layer: layer, batch: visBatch,
                                      options: RenderOptions(param: visParam, size: visSize,
                                                             transforms: .defaults(for: visParam), upsample: visUpsample))
        _ = try work.run(steps: 1)
        let bar = ProgressBar("vis", total: visSteps * visBatch, unit: "icon-steps", quiet: quiet)
        let seconds = try work.run(steps: visSteps) { step, _ in bar.update(step * work.batch) }
        bar.finish()
        // The parameterization and transforms alone (image, transforms, their adjoints, parameter gradient), per icon-step.
        let options = work.options, param = try work.renderer.makeParam(options)
        let params = param.initialParameters(seeds: work.seeds)
        let t0 = DispatchTime.now().uptimeNanoseconds
        for step in 0..<visSteps {
            let image = param.image(params)
            let (x, record) = try options.transforms.forward(image, seeds: work.seeds, step: step)
            _ = param.backward(params, image: image, gradImage: options.transforms.backward(x, record: record))
        }
        let paramSeconds = Double(DispatchTime.now().uptimeNanoseconds - t0) * 1e-9
        return BenchReport.Visualization(layer: layer, param: visParam.rawValue,
                                         paramMillisecondsPerIconStep: 1000 * paramSeconds / Double(visSteps * visBatch), size: visSize, upsample: visUpsample, batch: visBatch, steps: visSteps,
                                         threads: threads, seconds: seconds,
                                         iconStepsPerSecond: work.rate(steps: visSteps, seconds: seconds))
    }
}
