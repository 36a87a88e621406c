/// The same mistake gives the same exit code in every command, and that code is the README's: each command is
/// driven with an unknown layer, a CNN layer's `::cls` (no class token), a missing model, a malformed model, a bad
/// option value and an unwritable output.
import AtlasCore
import AtlasNet
import Foundation
import XCTest

extension CLITests {
    /// The README's exit-code line, e.g. `64 bad usage`, read as phrase → code.
    func readmeExitCodes() throws -> [String: Int32] {
        let readme = try String(contentsOf: CLITests.repo.appendingPathComponent("README.md"), encoding: .utf8)
        let line = try XCTUnwrap(readme.components(separatedBy: "\n\n").first { $0.hasPrefix("Exit codes:") })
            .replacingOccurrences(of: "\n", with: " ")
        var codes: [String: Int32] = [:]
        for phrase in ["bad usage", "bad input data", "input missing", "output not writable"] {
            let pattern = try NSRegularExpression(pattern: "(\\d+) \(phrase)")
            let match = try XCTUnwrap(pattern.firstMatch(in: line, range: NSRange(line.startIndex..., in: line)), phrase)
            codes[phrase] = Int32(line[Range(match.range(at: 1), in: line)!])
        }
        return codes
    }

    func testSameMistakeSameExitCodeInEveryCommand() throws {
        let codes = try readmeExitCodes()
        let usage = codes["bad usage"]!, data = codes["bad input data"]!, missing = codes["input missing"]!,
            unwritable = codes["output not writable"]!
        let dir = try temporaryDirectory()
        let model = CLITests.assets + "/fashion_cnn.onnx", layer = "features.conv4.0"
        let idx = CLITests.assets + "/t10k-2000-images-idx3-ubyte.gz"
        try Data("garbage, not protobuf".utf8).write(to: URL(fileURLWithPath: dir + "/bad.onnx"))
        try Data("a file, not a folder".utf8).write(to: URL(fileURLWithPath: dir + "/file"))
        try NPY.write(Tensor(zeros: [1, 1, 28, 28]), path: dir + "/x.npy")
        try run(["visualize", model, "--layer", layer, "--channel", "0", "--size", "28", "--steps", "1", "--out", dir + "/img.png", "--quiet"])
        let image = dir + "/img.png", blocked = dir + "/file/out"

        /// Each command's arguments for model M, layer L, output O (nil: the command has no such argument).
        let commands: [(String, (String, String, String) -> [String])] = [
            ("run", { m, l, o in ["run", m, "--input-npy", dir + "/x.npy", "--layer", l, "--activations-npy", o + ".npy"] }),
            ("visualize", { m, l, o in ["visualize", m, "--layer", l, "--channel", "0", "--size", "28", "--steps", "1", "--out", o + ".png"] }),
            ("gallery", { m, l, o in ["gallery", m, "--layer", l, "--channels", "0", "--size", "28", "--steps", "1", "--out", o] }),
            ("collect", { m, l, o in ["collect", m, "--images", idx, "--limit", "8", "--layer", l, "--out", o] }),
            ("map", { m, l, o in ["map", m, "--images", idx, "--limit", "8", "--layer", l, "--out", o] }),
            ("activations", { m, l, o in ["activations", m, image, "--layer", l, "--out", o] }),
            ("attribute", { m, l, o in ["attribute", m, image, "--method", "gradcam", "--layer", l, "--out", o] }),
        ]
        for (name, args) in commands {
            let out = dir + "/" + name
            try run(args(model, "no.such.layer", out) + ["--quiet"], expect: usage)
            let (_, cls) = try run(args(model, layer + "::cls", out) + ["--quiet"], expect: usage)
            XCTAssertTrue(cls.contains("'\(layer)::cls' has no class token"), "\(name): \(cls)")
            try run(args(dir + "/missing.onnx", layer, out) + ["--quiet"], expect: missing)
            let (_, err) = try run(args(dir + "/bad.onnx", layer, out) + ["--quiet"], expect: data)
            XCTAssertTrue(err.contains("atlas: error:") && err.contains("bad.onnx"), "\(name): \(err)")
            try run(args(model, layer, out) + ["--threads", "0", "--quiet"], expect: usage)
            try run(args(model, layer, out) + ["--preprocess", "bogus", "--quiet"], expect: usage)
            try run(args(model, layer, blocked) + ["--quiet"], expect: unwritable)
        }
        for args in [["inspect"], ["graph", "--out", dir + "/graph.html"]] {
            try run(args + [dir + "/missing.onnx"], expect: missing)
            try run(args + [dir + "/bad.onnx"], expect: data)
        }
        try run(["graph", model, "--out", blocked + ".html"], expect: unwritable)
        // Fixed sets of values are parsed as such: a typo is a usage error naming the choices.
        for (args, choices) in [(["visualize", model, "--class", "0", "--param", "fftt", "--out", dir + "/p.png"], "fft"),
                                (["map", model, "--images", idx, "--layer", layer, "--reduce", "tsne", "--out", dir + "/m2"], "umap"),
                                (["attribute", model, image, "--method", "gradcamm", "--out", dir + "/a2"], "gradcam"),
                                (["gallery", model, "--classes", "--format", "gif", "--out", dir + "/g2"], "png")] {
            let (_, err) = try run(args, expect: usage)
            XCTAssertTrue(err.contains(choices), err)
        }
    }
}
