import AtlasCore
import AtlasImage
import Foundation

/// `atlas demo --imagenet`: the same tour on a real ImageNet network (Assets/imagenet: EfficientNet-Lite0 and
/// four sample photos), through the commands' own code, into OUT/imagenet/.
struct ImageNetDemo {
    /// Sixteen classes whose feature visualizations are easy to recognize (ImageNet-1k indices).
    static let classes = [1, 130, 84, 301, 323, 327, 340, 599, 607, 949, 950, 951, 953, 937, 985, 980]
    /// The middle block: its channel gallery, and the cat photo's activations there.
    static let block = "_blocks.7"
    static let model = "efficientnet_lite0.onnx"

    let assets: String
    let out: String
    let seed: UInt64
    let quick: Bool
    let quiet: Bool

    /// Runs every step (timings in OUT/imagenet/imagenet.json); returns the summary lines printed by the demo.
    func run() throws -> [String] {
        let model = assets + "/" + ImageNetDemo.model, photos = assets + "/photos", root = out + "/imagenet"
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        let q = quiet ? ["--quiet"] : []
        // Sized for about two minutes on two cores: classes need more steps than mid-layer textures.
        let size = ["--size", quick ? "64" : "112"]
        let classSteps = ["--steps", quick ? "4" : "160"], channelSteps = ["--steps", quick ? "4" : "96"]
        let classList = (quick ? Array(ImageNetDemo.classes.prefix(4)) : ImageNetDemo.classes).map(String.init).joined(separator: ",")
        let channels = quick ? "0..3" : "0..15"
        var made: [[String: Any]] = []
        func step(_ name: String, _ body: () throws -> Void) throws {
            let start = Date()
            try body()
            let seconds = Date().timeIntervalSince(start)
            made.append(["step": name, "seconds": seconds])
            note(String(format: "imagenet: %@ in %.1f s", name, seconds), quiet: quiet)
        }
        try step("classify") {
            try Run.parse([model, photos, "--top", "3"] + q).run()
        }
        try step("classes") {
            try GalleryCommand.parse([model, "--classes", "--channels", classList, "--seed", String(seed), "--batch", "8",
                                      "--title", "EfficientNet-Lite0 classes", "--out", root + "/classes"] + size + classSteps + q).run()
        }
        try step("channels") {
            try GalleryCommand.parse([model, "--layer", ImageNetDemo.block, "--channels", channels, "--seed", String(seed),
                                      "--batch", "8", "--title", "EfficientNet-Lite0 \(ImageNetDemo.block) channels",
                                      "--out", root + "/channels"] + size + channelSteps + q).run()
        }
        for (name, method, extra) in [("gradcam", "gradcam", [String]()),
                                      ("integrated-gradients", "integrated-gradients", ["--steps", quick ? "2" : "16"])] {
            try step(name) {
                try Attribute.parse([model, photos, "--method", method, "--top", "1", "--out", root + "/" + name] + extra + q).run()
            }
        }
        try step("activations") {
            try Activations.parse([model, photos + "/chelsea.jpg", "--layer", ImageNetDemo.block, "--gallery", root + "/channels",
                                   "--out", root + "/chelsea-\(ImageNetDemo.block)"] + q).run()
        }
        try step("graph") {
            try GraphCommand.parse([model, "--gallery", root + "/classes", "--gallery", root + "/channels",
                                    "--out", root + "/graph.html"] + q).run()
        }
        try ImageCodec.writeAtomically(Array(ImageNetDemo.hub.utf8), to: root + "/index.html")
        let data = try JSONSerialization.data(withJSONObject: ["model": ImageNetDemo.model, "steps": made, "quick": quick],
                                              options: [.prettyPrinted, .sortedKeys])
        try ImageCodec.writeAtomically([UInt8](data), to: root + "/imagenet.json")
        return [
            "\(root)/index.html              EfficientNet-Lite0: every page below",
            "\(root)/classes/index.html      \(classList.split(separator: ",").count) ImageNet classes",
            "\(root)/channels/index.html     channels \(channels) of \(ImageNetDemo.block)",
            "\(root)/gradcam/, integrated-gradients/   attributions of the photos",
            "\(root)/chelsea-\(ImageNetDemo.block)/   the cat's activations, linked to the channel gallery",
            "\(root)/graph.html              the network, linked to the galleries",
        ]
    }

    /// OUT/imagenet/index.html: links to every output (`atlas serve OUT/imagenet` opens it).
    static let hub = """
    <!doctype html>
    <html lang="en"><head><meta charset="utf-8"><title>Atlas demo: EfficientNet-Lite0</title>
    <style>body{font:15px/1.5 system-ui,sans-serif;max-width:46em;margin:2em auto;padding:0 1em}</style></head><body>
    <h1>EfficientNet-Lite0 (ImageNet)</h1>
    <ul>
    <li><a href="classes/index.html">Class gallery</a>: one feature visualization per class logit</li>
    <li><a href="channels/index.html">Channel gallery</a> of \(block)</li>
    <li><a href="chelsea-\(block)/index.html">Activations</a> of the cat photo at \(block), linked to its gallery</li>
    <li><a href="gradcam/index.html">Grad-CAM</a> and <a href="integrated-gradients/index.html">integrated gradients</a> on the photos</li>
    <li><a href="graph.html">The network</a>: layers with a gallery link to it</li>
    </ul></body></html>

    """
}
