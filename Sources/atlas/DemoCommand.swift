import ArgumentParser
import AtlasCore
import AtlasImage
import AtlasMap
import AtlasNet
import AtlasVis
import Foundation

/// `atlas demo`: the main job on the embedded default (Assets/fashion-mnist): classify the sample, render a
/// class gallery and a channel gallery, and write them as browsable folders.
struct Demo: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run the main job on the embedded default model and images (offline, about two minutes).",
        discussion: """
        Uses Assets/fashion-mnist (a CNN trained on Fashion-MNIST by scripts/train_fashion_mnist.py, and 2000 \
        test images as IDX): classifies the sample and prints the accuracy, renders one feature visualization per \
        class and one per channel of a layer, and writes each as a zoomable gallery with its index and viewer:

          OUT/classes/index.html    one icon per class (pre-softmax logit)
          OUT/channels/index.html   one icon per channel of --layer
          OUT/atlas/index.html      an activation atlas of --layer over the sample (grids 8 and 16)
          OUT/units/index.html      a page per channel of --layer: its icon, a diversity set, top and bottom sample
                                    images and the top one accentuated (atlas units)
          OUT/demo.json             what was made, accuracy, timings

        Browse them with `atlas serve OUT` (or open an index.html from disk).

        Rerunning keeps finished icons (galleries resume). --quick renders fewer steps and channels (for tests).

        --imagenet runs the tour on a real ImageNet network instead (Assets/imagenet: EfficientNet-Lite0, Apache-2.0, \
        and four public-domain photos), into OUT/imagenet/: the photos' top classes, a gallery of 16 classes, a \
        channel gallery of _blocks.7, Grad-CAM and integrated gradients on the photos, the cat photo's activations \
        at _blocks.7 linked to that gallery, and the network diagram linked to both (index.html links them all; \
        atlas serve OUT/imagenet). About two minutes on two cores.
        """
    )

    @Option(help: "Output folder.")
    var out = "atlas-demo"

    @Option(help: "Folder holding fashion_cnn.onnx, labels.txt and the IDX sample (default: Assets/fashion-mnist, found from the working directory or the executable); with --imagenet, the one holding efficientnet_lite0.onnx and photos/ (default: Assets/imagenet).")
    var assets: String?

    @Option(help: "Layer of the channel gallery.")
    var layer = "features.conv4.0"

    @Option(help: "Icon size in pixels.")
    var size = 48

    @Option(help: "Optimization steps per icon (default 256; 24 with --quick).")
    var steps: Int?

    @Option(help: "Random seed.")
    var seed: UInt64 = 0

    @Flag(help: "A reduced run: 24 steps, 8 channels, 200 images, atlas grids 4 and 8 (with --imagenet: 4 steps, 4 classes, 4 channels, 64 px).")
    var quick = false

    @Flag(help: "Run the tour on the embedded ImageNet model (Assets/imagenet, EfficientNet-Lite0) into OUT/imagenet.")
    var imagenet = false

    @OptionGroup var global: GlobalOptions

    func run() throws {
        try global.apply()
        if imagenet { return try runImageNet() }
        let dir = try Demo.locateAssets(assets)
        let modelPath = dir + "/fashion_cnn.onnx"
        let started = Date()
        let net = try ModelSetup.loadNetwork(modelPath)
        let setup = try ModelSetup(network: net, modelPath: modelPath, size: nil, preprocess: "auto", labelsPath: nil)
        try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)

        // 1. Classify the sample.
        let limit = quick ? 200 : nil
        let images = try IDX.images(dir + "/t10k-2000-images-idx3-ubyte.gz", limit: limit)
        let truth = try IDX.labels(dir + "/t10k-2000-labels-idx1-ubyte.gz")
        let t0 = Date()
        let accuracy = try Demo.accuracy(net, setup: setup, images: images, truth: truth, quiet: global.quiet)
        let classifySeconds = Date().timeIntervalSince(t0)
        note(String(format: "classified %d sample images in %.1f s: top-1 accuracy %.2f%%", images.count, classifySeconds,
                    accuracy * 100), quiet: global.quiet)

        // 2. Galleries.
        var render = RenderOptions(size: size, steps: steps ?? (quick ? 24 : 256))
        render.preprocess = setup.choice.preprocess
        let classes = GalleryItem.classes(Array(0..<10), labels: setup.labels)
        let layerShape = try net.forward(Tensor(zeros: [1, setup.channels, setup.size, setup.size]),
                                         capture: [layer])[layer]?.shape ?? []
        guard layerShape.count == 4 else {
            throw CommandFailure(message: "--layer \(layer) is not a 4-D activation", code: AtlasExit.usage)
        }
        let channelCount = quick ? min(8, layerShape[1]) : layerShape[1]
        let channels = GalleryItem.channels(layer, Array(0..<channelCount))
        var made: [[String: Any]] = []
        for (name, items, title, galleryLayer) in [("classes", classes, "Fashion-MNIST classes", nil as String?),
                                                   ("channels", channels, "Fashion-MNIST \(layer) channels", layer)] {
            let settings = GallerySettings(render: render, seed: seed, batch: 8, format: .defaultJPEG,
                                           title: title, preprocessSource: setup.choice.source)
            let bar = ProgressBar(name, total: items.count * render.steps, unit: "icon-steps", quiet: global.quiet)
            let result = try Gallery.build(network: net, modelPath: modelPath, layer: galleryLayer, items: items,
                                           settings: settings, outDir: out + "/" + name) { p in bar.update(p.stepsDone) }
            bar.finish()
            made.append(["gallery": name, "icons": result.itemCount, "rendered": result.rendered, "reused": result.reused,
                         "seconds": result.renderSeconds, "index": "\(name)/index.html"])
        }

        // 3. Activation atlas of the sample at two grid sizes, through the same code as `atlas map`.
        let grids = quick ? "4,8" : "8,16"
        let atlasStart = Date()
        let map = try MapCommand.parse([
            modelPath, "--images", dir + "/t10k-2000-images-idx3-ubyte.gz", "--layer", layer, "--grid", grids,
            "--icon-size", String(size), "--steps", String(quick ? 24 : 128), "--icon-batch", "16", "--seed", String(seed),
            "--title", "Fashion-MNIST \(layer) activation atlas", "--out", out + "/atlas",
        ] + (quick ? ["--limit", "200"] : []) + (global.quiet ? ["--quiet"] : []))
        try map.run()
        let atlasSeconds = Date().timeIntervalSince(atlasStart)
        made.append(["atlas": "atlas", "grids": grids, "seconds": atlasSeconds, "index": "atlas/index.html"])

        // 4. Unit pages of the gallery's layer: each channel's top and bottom sample images beside its icon.
        let unitsStart = Date()
        try UnitsCommand.parse([
            modelPath, "--layer", layer, "--images", dir + "/t10k-2000-images-idx3-ubyte.gz", "--channels", "0..<\(channelCount)",
            "--negative", "--icons", out + "/channels", "--title", "Fashion-MNIST \(layer) units", "--out", out + "/units",
            "--diversity", "2", "--accentuate", "--icon-size", String(size), "--steps", String(min(render.steps, 32)), "--seed", String(seed),
        ] + (quick ? ["--limit", "200"] : []) + (global.quiet ? ["--quiet"] : [])).run()
        made.append(["units": "units", "seconds": Date().timeIntervalSince(unitsStart), "index": "units/units/\(layer)/index.html"])

        let summary: [String: Any] = [
            "model": modelPath, "accuracy": accuracy, "images": images.count, "classify_seconds": classifySeconds,
            "galleries": made, "size": size, "steps": render.steps, "seed": seed, "threads": Parallel.threadCount,
            "seconds": Date().timeIntervalSince(started),
        ]
        let data = try JSONSerialization.data(withJSONObject: summary, options: [.prettyPrinted, .sortedKeys])
        try ImageCodec.writeAtomically([UInt8](data), to: out + "/demo.json")
        print("""
        Atlas demo finished in \(String(format: "%.0f", Date().timeIntervalSince(started))) s:
          accuracy   \(String(format: "%.2f", accuracy * 100))% on \(images.count) Fashion-MNIST test images
          \(out)/classes/index.html    one icon per class
          \(out)/channels/index.html   \(channelCount) channels of \(layer)
          \(out)/atlas/index.html      activation atlas of \(layer), grids \(grids)
          \(out)/units/index.html      a page per unit of \(layer): its icon beside the sample images that excite it most
        Open an index.html in a browser (it works from disk), or browse them all:  atlas serve \(out)
        """)
    }

    /// The ImageNet stage alone (`--imagenet`).
    func runImageNet() throws {
        let started = Date()
        let stage = ImageNetDemo(assets: try Demo.locateAssets(assets, folder: "imagenet", model: ImageNetDemo.model),
                                 out: out, seed: seed, quick: quick, quiet: global.quiet)
        let lines = try stage.run()
        print("Atlas ImageNet demo finished in \(String(format: "%.0f", Date().timeIntervalSince(started))) s:\n  "
              + lines.joined(separator: "\n  ") + "\nBrowse them:  atlas serve \(out)/imagenet")
    }

    /// Top-1 accuracy of `net` on IDX images in batches of 64.
    static func accuracy(_ net: Network, setup: ModelSetup, images: [Image], truth: [Int], quiet: Bool) throws -> Double {
        let pre = setup.preprocessor
        let item = pre.itemShape.reduce(1, *)
        guard let output = net.graph.outputs.first?.name else { throw ModelError.invalidGraph("the model has no outputs") }
        var correct = 0
        var first = 0
        let bar = ProgressBar("classify", total: images.count, unit: "img", quiet: quiet)
        while first < images.count {
            let n = min(64, images.count - first)
            let t = Tensor(zeros: [n] + pre.itemShape)
            let failures: [Bool] = Parallel.mapChunks(n) { i in (try? pre.fill(t.data + i * item, from: images[first + i])) == nil }
            if failures.contains(true) { throw CommandFailure(message: "the sample images could not be preprocessed", code: AtlasExit.dataError) }
            guard let y = try net.forward(t, capture: [output])[output] else { break }
            let classes = y.shape[1]
            for i in 0..<n {
                let row = y.data + i * classes
                let best = (0..<classes).max { row[$0] < row[$1] } ?? 0
                if best == truth[first + i] { correct += 1 }
            }
            first += n
            bar.update(first)
        }
        bar.finish()
        return Double(correct) / Double(max(images.count, 1))
    }

    /// The assets folder: the option, else Assets/`folder` under the working directory, else next to the
    /// package that built this executable (.build/<config>/atlas → ../../Assets); it must hold `model`.
    static func locateAssets(_ given: String?, folder: String = "fashion-mnist", model: String = "fashion_cnn.onnx") throws -> String {
        let fm = FileManager.default
        var candidates = [given].compactMap { $0 }
        if given == nil {
            candidates.append("Assets/" + folder)
            let exe = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath()
            candidates.append(exe.deletingLastPathComponent().appendingPathComponent("../../../Assets/" + folder).standardized.path)
            candidates.append(exe.deletingLastPathComponent().appendingPathComponent("../../Assets/" + folder).standardized.path)
        }
        for c in candidates where fm.fileExists(atPath: c + "/" + model) { return c }
        throw CommandFailure(message: "cannot find the embedded model (\(model)) in \(candidates.joined(separator: ", ")); pass --assets DIR",
                             code: AtlasExit.noInput)
    }
}
