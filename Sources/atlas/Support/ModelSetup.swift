import AtlasCore
import AtlasExplain
import AtlasImage
import AtlasNet
import AtlasOutput
import AtlasVis
import Foundation

/// What a command needs to feed images to a model: channels, input size, preprocessing and class labels.
///
/// Defaults come from the model's declared input shape and from optional sidecar files next to the model:
/// `MODEL.json` or `model.json` (`{"input": [C, H, W]}`; its preprocessing is read by `Preprocess.sidecar`, as for rendering)
/// and `labels.txt` (one class name per line).
struct ModelSetup {
    let channels: Int
    let size: Int
    /// The preprocessing every command resolves the same way (`Preprocess.parse`).
    let choice: PreprocessChoice
    let labels: [String]?

    /// Builds the setup; `preprocess` is a `--preprocess` value (see `Preprocess.parse`).
    init(network: Network, modelPath: String, size requestedSize: Int?, preprocess: String, labelsPath: String?) throws {
        let sidecar = ModelSetup.sidecar(for: modelPath)
        let sidecarInput = sidecar?["input"] as? [Int]
        let declared = try? network.inputShape(size: nil, batch: 1)
        channels = try ModelSetup.inputChannels(network, modelPath: modelPath)
        if let requestedSize {
            guard requestedSize > 0 && requestedSize <= 8192 else {
                throw CommandFailure(message: "--size must be between 1 and 8192", code: AtlasExit.usage)
            }
            size = requestedSize
        } else if let d = declared, d.count == 4, d[2] > 0 {
            size = d[2]
        } else {
            size = sidecarInput.map { $0.count == 3 ? $0[1] : 224 } ?? 224
        }
        choice = try Preprocess.parse(preprocess, modelPath: modelPath, channels: channels)
        let labelFile = labelsPath ?? ModelSetup.sibling(modelPath, "labels.txt")
        if let labelFile, FileManager.default.fileExists(atPath: labelFile) {
            guard let text = try? String(contentsOfFile: labelFile, encoding: .utf8) else {
                throw CommandFailure(message: "cannot read labels file \(labelFile)", code: AtlasExit.noInput)
            }
            labels = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init).filter { !$0.isEmpty }
        } else if let labelsPath {
            throw CommandFailure(message: "labels file \(labelsPath) not found", code: AtlasExit.noInput)
        } else {
            labels = nil
        }
    }

    /// Images → network input: shorter side to size·8/7 and center crop for ImageNet-style models; tiny
    /// inputs (≤ 64 px, e.g. 28×28 Fashion-MNIST) are resized directly.
    var preprocessor: Preprocessor {
        let geometry: Preprocessor.Geometry = size <= 64
            ? .direct(width: size, height: size)
            : .shorterSide(resize: Int((Double(size) * 8 / 7).rounded()), width: size, height: size)
        return Preprocessor(geometry: geometry, preprocess: choice.preprocess, layout: channels == 1 ? .gray : .rgb)
    }

    /// The setup for `--size` and `--preprocess` as given.
    init(network: Network, modelPath: String, input: ModelInputOptions, labelsPath: String?) throws {
        try self.init(network: network, modelPath: modelPath, size: input.size, preprocess: input.preprocess, labelsPath: labelsPath)
    }

    /// The model's image channels (1 or 3): its declared input, else its model.json `input`, else 3. Every
    /// command asks here, so `--preprocess auto` resolves alike in all of them.
    static func inputChannels(_ network: Network, modelPath: String) throws -> Int {
        let declared = try? network.inputShape(size: nil, batch: 1)
        let channels = declared.flatMap { $0.count == 4 ? $0[1] : nil } ?? (sidecar(for: modelPath)?["input"] as? [Int])?.first ?? 3
        guard channels == 1 || channels == 3 else {
            throw CommandFailure(message: "the model's input has \(channels) channels; images need 1 or 3", code: AtlasExit.dataError)
        }
        return channels
    }

    /// Loads the model every command names; errors about its content name the file (codes come from ErrorReport).
    /// `digest`: the command records the file's SHA-256 (`SHA256.hex(file:)`), which is then computed on another
    /// thread while the model is parsed.
    static func loadNetwork(_ path: String, options: Network.Options = Network.Options(), digest: Bool = false) throws -> Network {
        if digest { SHA256.prefetch(file: path) }
        do { return try Network(contentsOf: path, options: options) } catch let e as ModelError {
            switch e {
            case .notFound, .io: throw e
            default: throw InContext(path, e)
            }
        }
    }

    /// The images per pass for a requested `--batch`: `requested`, or 1 when the graph fixes its batch at 1 (a
    /// model exported without a dynamic batch axis keeps the batch in its Reshape shapes): planned at batch 2 its
    /// output fails where batch 1 plans. Prints a note when it falls back.
    func runnableBatch(_ net: Network, requested: Int, quiet: Bool) -> Int {
        guard requested > 1, let output = net.graph.outputs.first?.name else { return requested }
        func plans(_ n: Int) -> Bool { (try? net.plan(for: [n, channels, size, size])).map { $0.errors[output] == nil } ?? false }
        guard !plans(2), plans(1) else { return requested }
        note("the model's graph fixes the batch at 1 (exported without a dynamic batch axis): one image per pass", quiet: quiet)
        return 1
    }

    /// The label of class `index`, or its number.
    func label(_ index: Int) -> String {
        guard let labels, index < labels.count else { return "\(index)" }
        return labels[index]
    }

    /// The input shape to plan at: the declared one (spatial dims set to `size` when given); a model with free
    /// spatial dimensions is planned at `fallbackSize`.
    static func plannedInputShape(_ net: Network, modelPath: String, size: Int?) throws -> [Int] {
        try net.inputShape(size: size ?? fallbackSize(for: net, modelPath: modelPath, size: size))
    }

    /// The size to plan `net` at when the user gave none: nil when the file declares its spatial size, else the
    /// size its model.json sidecar names, else 224.
    static func fallbackSize(for net: Network, modelPath: String?, size: Int?) -> Int? {
        guard (try? net.inputShape(size: size)) == nil else { return nil }
        return modelPath.flatMap { (sidecar(for: $0)?["input"] as? [Int]).flatMap { $0.count == 3 ? $0[1] : nil } } ?? 224
    }

    /// The first sidecar JSON object next to the model (the files `Preprocess.sidecarFiles` names).
    static func sidecar(for modelPath: String) -> [String: Any]? {
        for path in Preprocess.sidecarFiles(forModel: modelPath) {
            if let data = FileManager.default.contents(atPath: path),
               let object = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] { return object }
        }
        return nil
    }

    static func sibling(_ path: String, _ name: String) -> String? {
        let dir = (path as NSString).deletingLastPathComponent
        return ((dir.isEmpty ? "." : dir) as NSString).appendingPathComponent(name)
    }
}

/// One of an image's best classes.
struct Scored: Encodable {
    let index: Int
    let label: String
    let probability: Float
}

extension ModelSetup {
    /// The `k` most probable classes of row `row` of a `[N, classes]` output (softmax unless it already sums to 1).
    func topK(_ y: Tensor, row: Int, k: Int) -> [Scored] {
        let n = y.count / max(1, y.shape[0])
        let p = ClassScores.probabilities(Array(UnsafeBufferPointer(start: y.data + row * n, count: n)))
        return ClassScores.top(p, k: k).map { Scored(index: $0, label: label($0), probability: p[$0]) }
    }
}
