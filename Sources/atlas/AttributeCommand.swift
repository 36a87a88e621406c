import ArgumentParser
import AtlasCore
import AtlasExplain
import AtlasImage
import AtlasMap
import AtlasNet
import AtlasOutput
import Foundation

/// `atlas attribute`: which pixels drove a prediction — heatmap overlays, raw maps and a contact sheet.
struct Attribute: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Explain predictions: per-image attribution heatmaps (saliency, gradient×input, integrated gradients, Grad-CAM).",
        discussion: """
        Classifies each image (files, folders, IDX stacks, as for atlas run) and computes, for its --top best \
        classes or for --class K, a map of how much each input position drives that class's pre-softmax score:
          saliency              max over colour channels of |d logit / d input|
          gradxinput            sum over channels of input × d logit / d input (signed)
          integrated-gradients  (x - baseline) × mean gradient over --steps points from --baseline to x; the map
                                sums to about logit(x) - logit(baseline) (both are in the --json summary)
          gradcam               ReLU of the layer's channels weighted by their mean gradient, at --layer (default:
                                the last layer with spatial extent; on transformers the last token grid, or with
                                a class token the last one before the last attention), upsampled to the input
        Gradients are taken with respect to the network input (after preprocessing). Images go through the \
        network --batch at a time, one forward and backward pass per class rank (and per step).

        OUT gets, per image, NNNN-name.input.png (what the model saw), NNNN-name.kK.png (overlay of the map for \
        class K on the grey input, colormap legend with the value range underneath; signed maps show their \
        magnitude; the range tops at the 99.5th percentile for pixel methods, marked + when larger values are \
        saturated) and NNNN-name.kK.npy (the raw float32 map, input height × width), and an index.html contact \
        sheet that opens offline. Unreadable images are skipped and listed.

        Long runs resume: OUT/job.json records the settings (model by SHA-256) and each finished image gets \
        NNNN-name.json (NNNN: its position in the input list), written after its pictures and maps. Rerunning the \
        same command after an interruption loads the finished images and computes the rest, giving the same files \
        as an uninterrupted run (for the same --batch); a folder made with other settings is refused (exit 65).

          atlas attribute Assets/fashion-mnist/fashion_cnn.onnx Assets/fashion-mnist/t10k-2000-images-idx3-ubyte.gz \\
              --limit 16 --method integrated-gradients --out attributions/
          atlas attribute resnet18.onnx photos/ --method gradcam --top 3 --out cams/

        Transformers: a block's alias (encoder.layers.encoder_layer_11, features.5) names its tokens as a \
        [batch, channels, h, w] grid over the patches (class token dropped), which Grad-CAM reads like a CNN layer.

        Convolutions run on the accurate path here (Winograd F(2x2) or im2col, within float32 rounding of a \
        float64 reference), since the output is a gradient; ATLAS_CONV overrides.
        """
    )

    @Argument(help: "The ONNX model.") var model: String
    @Argument(help: "Images, folders of images, or IDX image files.") var images: [String] = []
    @Option(help: "Explain this class index for every image (instead of the predicted ones).") var `class`: Int?
    @Option(help: "Explain each image's N most probable classes (default 1).") var top: Int?
    @Option(help: "Attribution method (see above).") var method: AttributionMethod = .saliency
    @Option(help: "Grad-CAM's layer (value name or alias; default: the last layer with spatial extent).") var layer: String?
    @Option(help: "Integrated gradients: integration steps.") var steps = 32
    @Option(help: "Integrated gradients' baseline.") var baseline: AttributionBaseline = .black
    @OptionGroup var input: ModelInputOptions
    @OptionGroup var heatmap: HeatmapImageOptions
    @Option(help: "Output folder.") var out: String
    @Flag(help: "Print a JSON summary (per image: classes, map ranges, files; skipped files) on stdout.") var json = false
    @OptionGroup var global: GlobalOptions

    func validate() throws {
        if images.isEmpty { throw ValidationError("give images, folders or IDX files") }
        if `class` != nil && top != nil { throw ValidationError("give --class or --top, not both") }
        if let top, !(1...100).contains(top) { throw ValidationError("--top must be 1…100") }
        if let c = `class`, c < 0 { throw ValidationError("--class must be ≥ 0") }
    }

    func run() throws {
        try global.apply()
        let base = baseline, cmap = heatmap.colormap
        if layer != nil && method != .gradCAM { throw CommandFailure(message: "--layer is for --method gradcam", code: AtlasExit.usage) }
        ImageLimits.current = ImageLimits(maxPixels: heatmap.maxPixels)
        let net = try ModelSetup.loadNetwork(model, digest: true)
        let setup = try ModelSetup(network: net, modelPath: model, input: input, labelsPath: heatmap.labels)
        let options = AttributionOptions(method: method, steps: steps, baseline: base, layer: layer)
        let attributor = try Attributor(network: net, options: options, preprocess: setup.choice.preprocess,
                                        inputShape: [1, setup.channels, setup.size, setup.size])
        try Attribute.makeFolder(out)
        let source = try ImageSource(inputs: images, channels: setup.channels, limit: heatmap.limit)
        let ig = method == .integratedGradients
        let job = AttributeJob(method: method.rawValue, classes: `class`.map { "class \($0)" } ?? "top \(top ?? 1)", layer: attributor.layer,
                               steps: ig ? steps : nil, baseline: ig ? base.rawValue : nil)
        let resuming = try ImageJob.prepare(try ImageJobInputs(model: model, setup: setup, colormap: cmap), job, kind: "attribute", out: out)
        let writer = AttributionWriter(out: out, setup: setup, method: method, overlay: HeatmapOverlay(colormap: Colormap(cmap)),
                                       ranks: top ?? 1, fixedClass: `class`)
        let batch = setup.runnableBatch(net, requested: heatmap.batch, quiet: global.quiet)
        let progress = ProgressBar("attribute", total: source.total, unit: "img", quiet: global.quiet || json)
        let start = Date()
        let (records, failed, reused) = try ImageJob.run(source, batch: batch, preprocessor: setup.preprocessor, out: out, resuming: resuming,
                                                         progress: progress) { tensor, items in
            try writer.process(tensor, items: items, names: items.map { source.name($0) }, attributor: attributor)
        }
        progress.finish()
        let skipped = source.inputProblems + failed.map { SkippedFile(path: source.name($0.item), error: $0.error) }
        let seconds = Date().timeIntervalSince(start)
        var settings: [(String, String)] = [("model", (model as NSString).lastPathComponent), ("method", method.rawValue),
                                            ("classes", `class`.map { "class \($0)" } ?? "top \(top ?? 1)"),
                                            ("preprocess", setup.choice.summary), ("size", "\(setup.size)"), ("colormap", cmap.rawValue)]
        if ig { settings += [("steps", "\(steps)"), ("baseline", base.rawValue)] }
        if let l = attributor.layer { settings.append(("layer", net.names.aliasOf[l] ?? l)) }
        let page = ContactSheet.html(title: "Attributions · \(method.rawValue) · \((model as NSString).lastPathComponent)", settings: settings,
                                     entries: records.map(\.entry), skipped: skipped.map { ($0.path, $0.error.reason) })
        try Attribute.write(Array(page.utf8), to: out + "/index.html")
        try report(records, reused: reused, skipped: skipped, seconds: seconds, settings: settings)
    }

    func report(_ records: [AttributionRecord], reused: Int, skipped: [SkippedFile], seconds: Double, settings: [(String, String)]) throws {
        if json {
            let summary: [String: Any] = [
                "out": out, "index": out + "/index.html", "images": records.count, "reused": reused, "seconds": seconds,
                "settings": Dictionary(settings, uniquingKeysWith: { a, _ in a }),
                "results": records.map(\.json), "skipped": skipped.map { ["file": $0.path, "reason": $0.error.description] },
            ]
            let data = try JSONSerialization.data(withJSONObject: summary, options: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes])
            FileHandle.standardOutput.write(data + Data("\n".utf8))
        } else {
            let resumed = reused > 0 ? " (\(reused) reused from an earlier run)" : ""
            note("\(records.count) images\(resumed) in \(String(format: "%.2f", seconds)) s → \(out)/index.html", quiet: global.quiet)
        }
        if !skipped.isEmpty && !json {
            note("skipped \(skipped.count) file(s):")
            for s in skipped { note("  \(s.path): \(s.error.reason)") }
        }
    }

    static func makeFolder(_ path: String) throws {
        do { try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true) }
        catch { throw CommandFailure(message: "cannot create \(path): \(error.localizedDescription)", code: AtlasExit.cannotCreate) }
    }

    static func write(_ bytes: [UInt8], to path: String) throws {
        do { try ImageCodec.writeAtomically(bytes, to: path) }
        catch { throw CommandFailure(message: "cannot write \(path): \(error)", code: AtlasExit.cannotCreate) }
    }
}
