import ArgumentParser
import AtlasCore
import AtlasNet
import Foundation

/// `atlas run MODEL.onnx`: classify images (files, folders, IDX stacks) in parallel batches, or run one forward
/// pass (and optionally one backward pass to the input) on a tensor input, writing `.npy` files.
struct Run: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Classify images, or run a model on a tensor and write outputs, activations or an input gradient.",
        discussion: """
        Images: give files and/or folders (searched recursively; PNG and JPEG are recognised by their bytes) or \
        IDX image stacks (MNIST format, gzip or plain). They are decoded in parallel, preprocessed (--preprocess) \
        and classified in batches; the top --top classes per image are printed, with names from --labels or a \
        labels.txt next to the model. Unreadable files are skipped and listed at the end; the run still succeeds. \
        --truth (IDX labels or one class index per line, in input order) adds the accuracy.

        \(PreprocessHelp.discussion)

          atlas run Assets/fashion-mnist/fashion_cnn.onnx Assets/fashion-mnist/t10k-2000-images-idx3-ubyte.gz \
              --truth Assets/fashion-mnist/t10k-2000-labels-idx1-ubyte.gz
          atlas run resnet18.onnx photos/ --top 3 --json > predictions.json

        Tensors: --input-npy is a float32 C-order .npy array in the model's layout (NCHW for images). --layer and \
        --gradient-of take ONNX value names or the aliases that `atlas inspect` lists. The gradient is that of \
        the mean of the named value, or with NAME:CHANNEL of the mean of one channel over batch and space, \
        with respect to the input. Gradients and the forward under them use the accurate convolution path \
        (Winograd F(2x2) or im2col: within float32 rounding of a float64 reference) rather than the faster \
        F(4x4) Winograd that feature visualization uses; ATLAS_CONV=auto|direct|winograd2|winograd4 overrides.
        """
    )

    @Argument(help: "The ONNX model file.")
    var model: String

    @Argument(help: "Images, folders of images, or IDX image files to classify.")
    var images: [String] = []


    @OptionGroup var input: ModelInputOptions

    @Option(help: "Class names, one per line (default: labels.txt next to the model).")
    var labels: String?

    @Option(help: "Classes to list per image.")
    var top = 5

    @Option(help: "Images per forward pass.")
    var batch = 16

    @Option(help: "True classes in input order (IDX labels file, or one index per line): prints the accuracy.")
    var truth: String?

    @Option(help: "Refuse images with more pixels than this (checked before decoding).")
    var maxPixels = 100_000_000

    @Flag(help: "Print one JSON document (predictions, skipped files, timing) instead of text.")
    var json = false

    @Flag(name: .shortAndLong, help: "No progress bar.")
    var quiet = false

    @Option(help: "Input tensor (.npy, float32, C order) instead of images.")
    var inputNpy: String?

    @Option(help: "Write the model's (first) output here (.npy).")
    var outputNpy: String?

    @Option(help: "A layer (value name or alias) whose activations to write with --activations-npy.")
    var layer: String?

    @Option(help: "Write the activations of --layer here (.npy).")
    var activationsNpy: String?

    @Option(help: "NAME or NAME:CHANNEL: the value whose mean (of one channel) to differentiate.")
    var gradientOf: String?

    @Option(help: "Write the gradient with respect to the input here (.npy).")
    var gradientNpy: String?

    @Option(help: "Worker threads (default: ATLAS_THREADS or all cores).")
    var threads: Int?

    @Flag(help: "Print per-layer timings and peak tensor memory.")
    var stats = false

    func validate() throws {
        if images.isEmpty == (inputNpy == nil) { throw ValidationError("give images (files, folders, IDX) or --input-npy, not both") }
        if top < 1 || batch < 1 { throw ValidationError("--top and --batch must be positive") }
        if maxPixels < 1 { throw ValidationError("--max-pixels must be positive") }
        if (layer == nil) != (activationsNpy == nil) { throw ValidationError("--layer and --activations-npy go together") }
        if (gradientOf == nil) != (gradientNpy == nil) { throw ValidationError("--gradient-of and --gradient-npy go together") }
        if let threads, threads < 1 { throw ValidationError("--threads must be positive") }
        if inputNpy == nil, outputNpy != nil || layer != nil || gradientOf != nil {
            throw ValidationError("--output-npy, --layer/--activations-npy and --gradient-of/--gradient-npy work on an "
                                  + "--input-npy tensor; for images, `atlas collect` writes a layer's activations and "
                                  + "`atlas attribute` input gradients")
        }
        if inputNpy != nil, input.preprocess != "auto" {
            throw ValidationError("--preprocess applies to images; an --input-npy tensor goes to the model as it is")
        }
    }

    func run() throws {
        try Parallel.withThreads(threads ?? Parallel.threadCount) {
            if inputNpy == nil { try classify() } else { try execute() }
        }
    }

    /// The input batch of tensor mode.
    func loadInput() throws -> Tensor { try NPY.read(path: inputNpy ?? "") }

    func execute() throws {
        let net = try ModelSetup.loadNetwork(model)
        let input = try loadInput()
        guard let outputName = net.graph.outputs.first?.name else { throw ModelError.invalidGraph("the model has no outputs") }
        let gradient = try gradientOf.map { try MeanObjective(parsing: $0, names: net.names) }

        var capture = Set<String>()
        if outputNpy != nil || (layer == nil && gradient == nil) { capture.insert(outputName) }
        if let layer { capture.insert(layer) }
        if let gradient { capture.insert(gradient.value) }
        let values = try Conv2D.withAccurateGradients {
            try net.forward(input, capture: capture, keepForBackward: gradient != nil)
        }

        if let outputNpy, let y = values[outputName] { try NPY.write(y, path: outputNpy) }
        if let layer, let activationsNpy, let a = values[layer] {
            try NPY.write(a, path: activationsNpy)
            print("\(layer): \(a.shape) → \(activationsNpy)")
        }
        if let gradient, let gradientNpy, let v = values[gradient.value] {
            let seed = try gradient.seed(like: v)
            let g = try Conv2D.withAccurateGradients { try net.backward(from: [gradient.value: seed]) }
            try NPY.write(g, path: gradientNpy)
            print("d mean(\(gradientOf ?? "")) / d input: \(g.shape) → \(gradientNpy)")
        }
        if let y = values[outputName] { print(Run.summary(outputName, y)) }
        if stats { print(Run.statsText(net.stats)) }
    }

    /// Output shape plus, for [N, classes] outputs, the top-5 classes of each item.
    static func summary(_ name: String, _ y: Tensor) -> String {
        var lines = ["\(name): \(y.shape)"]
        if y.shape.count == 2, y.shape[1] > 1 {
            for n in 0..<min(y.shape[0], 8) {
                let row = (0..<y.shape[1]).map { y[n, $0] }
                let top = row.indices.sorted { row[$0] > row[$1] || (row[$0] == row[$1] && $0 < $1) }.prefix(5)
                lines.append("  [\(n)] " + top.map { "\($0): \(String(format: "%.4g", row[$0]))" }.joined(separator: "  "))
            }
        }
        return lines.joined(separator: "\n")
    }

    static func statsText(_ s: NetworkStats) -> String {
        var lines = ["forward \(String(format: "%.1f", s.forwardSeconds * 1e3)) ms, backward \(String(format: "%.1f", s.backwardSeconds * 1e3)) ms, peak tensor memory \(String(format: "%.1f", Double(s.peakBytes) / 1_048_576)) MiB"]
        for l in s.layers.sorted(by: { $0.forwardSeconds + $0.backwardSeconds > $1.forwardSeconds + $1.backwardSeconds }).prefix(15) {
            lines.append(String(format: "  %8.2f ms fwd %8.2f ms bwd  %@ %@", l.forwardSeconds * 1e3, l.backwardSeconds * 1e3, l.op, l.output))
        }
        // Per op kind.
        var byOp: [String: (forward: Double, backward: Double, count: Int)] = [:]
        for l in s.layers {
            let t = byOp[l.op, default: (0, 0, 0)]
            byOp[l.op] = (t.forward + l.forwardSeconds, t.backward + l.backwardSeconds, t.count + 1)
        }
        lines.append("by op (fused activations count with their layer):")
        let total = { (t: (forward: Double, backward: Double, count: Int)) in t.forward + t.backward }
        for (op, t) in byOp.sorted(by: { (total($0.value), $1.key) > (total($1.value), $0.key) }) where total(t) > 0 {
            lines.append(String(format: "  %8.2f ms fwd %8.2f ms bwd  %@ ×%d", t.forward * 1e3, t.backward * 1e3, op, t.count))
        }
        return lines.joined(separator: "\n")
    }
}
