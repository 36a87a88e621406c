import AtlasMap
import AtlasOutput
import Foundation
import XCTest

/// Runs the built `atlas` executable as a user would: the demo on a reduced setting, classification of the
/// embedded sample, and the documented exit codes for bad input.
final class CLITests: XCTestCase {
    static let repo = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static let assets = repo.appendingPathComponent("Assets/fashion-mnist").path

    /// The `atlas` binary that `swift test` built beside this test bundle (.build/<triple>/<config>/atlas).
    var atlas: URL {
        let bundle = Bundle(for: CLITests.self).bundleURL
        let candidates = [bundle.appendingPathComponent("atlas"), bundle.deletingLastPathComponent().appendingPathComponent("atlas")]
        return candidates.first { FileManager.default.isExecutableFile(atPath: $0.path) } ?? candidates[1]
    }

    @discardableResult
    func run(_ arguments: [String], expect code: Int32 = 0, environment: [String: String] = [:], file: StaticString = #filePath,
             line: UInt = #line) throws -> (out: String, err: String) {
        guard FileManager.default.isExecutableFile(atPath: atlas.path) else {
            XCTFail("atlas binary not found at \(atlas.path)", file: file, line: line)
            return ("", "")
        }
        let p = Process()
        p.executableURL = atlas
        p.arguments = arguments
        p.environment = ProcessInfo.processInfo.environment.merging(["ATLAS_THREADS": "2"].merging(environment) { $1 }) { $1 }
        let out = Pipe(), err = Pipe()
        p.standardOutput = out
        p.standardError = err
        try p.run()
        let o = out.fileHandleForReading.readDataToEndOfFile(), e = err.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        let result = (String(decoding: o, as: UTF8.self), String(decoding: e, as: UTF8.self))
        XCTAssertEqual(p.terminationStatus, code, "atlas \(arguments.joined(separator: " ")):\n\(result.1)", file: file, line: line)
        return result
    }

    /// Asserts that folders `a` and `b` hold the same file names with the same bytes.
    func assertSameFiles(_ a: String, _ b: String, file: StaticString = #filePath, line: UInt = #line) throws {
        let names = try FileManager.default.contentsOfDirectory(atPath: a).sorted()
        XCTAssertEqual(names, try FileManager.default.contentsOfDirectory(atPath: b).sorted(), file: file, line: line)
        for name in names {
            XCTAssertEqual(FileManager.default.contents(atPath: a + "/" + name), FileManager.default.contents(atPath: b + "/" + name), name,
                           file: file, line: line)
        }
    }

    func temporaryDirectory() throws -> String {
        let dir = NSTemporaryDirectory() + "atlas-cli-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        addTeardownBlock { try? FileManager.default.removeItem(atPath: dir) }
        return dir
    }

    func testDemoQuickWritesGalleriesWithValidIndexes() throws {
        let out = try temporaryDirectory() + "/demo"
        let (stdout, _) = try run(["demo", "--quick", "--quiet", "--out", out, "--assets", CLITests.assets])
        XCTAssertTrue(stdout.contains("accuracy"), stdout)
        for (name, count) in [("classes", 10), ("channels", 8)] {
            let data = try Data(contentsOf: URL(fileURLWithPath: "\(out)/\(name)/atlas.json"))
            let index = try AtlasIndex.decode(data)
            XCTAssertEqual(index.grids.first?.cells.count, count, name)
            for file in ["index.html", "viewer.js", "viewer.css", "atlas.js", "atlas.png", "tiles"] {
                XCTAssertTrue(FileManager.default.fileExists(atPath: "\(out)/\(name)/\(file)"), "\(name)/\(file)")
            }
            // The index names the preprocessing sidecar by file name, never by where the assets lie.
            if case .string(let p)? = index.settings?["preprocess"] { XCTAssertFalse(p.contains("/"), p) }
        }
        // The activation atlas of the 200 quick-run images, at grid sizes 4 and 8.
        let atlas = try AtlasIndex.decode(Data(contentsOf: URL(fileURLWithPath: "\(out)/atlas/atlas.json")))
        XCTAssertEqual(atlas.kind, .atlas)
        XCTAssertEqual(atlas.grids.map(\.id), ["g4", "g8"])
        for grid in atlas.grids {
            XCTAssertFalse(grid.cells.isEmpty, grid.id)
            let counts = grid.cells.compactMap(\.n)
            XCTAssertEqual(counts.count, grid.cells.count, "every atlas cell has its sample count")
            XCTAssertLessThanOrEqual(counts.reduce(0, +), 200)
            XCTAssertGreaterThanOrEqual(counts.min() ?? 0, 3, "cells under --min-count are dropped")
            for cell in grid.cells {
                XCTAssertTrue(FileManager.default.fileExists(atPath: "\(out)/atlas/\(cell.icon ?? "?")"), "\(grid.id) icon")
            }
            XCTAssertTrue(FileManager.default.fileExists(atPath: "\(out)/atlas/\(grid.id).dzi"))
            XCTAssertTrue(FileManager.default.fileExists(atPath: "\(out)/atlas/tiles/\(grid.id)/0/0/0.jpg"))
        }
        let summary = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: out + "/demo.json"))) as? [String: Any]
        // 200 sample images at 93.9% on the full 2000: the quick run's accuracy must be in the same range.
        XCTAssertGreaterThan(summary?["accuracy"] as? Double ?? 0, 0.88)
    }

    func testRunClassifiesTheSampleWithTheTrainedAccuracy() throws {
        let (stdout, _) = try run(["run", CLITests.assets + "/fashion_cnn.onnx", CLITests.assets + "/t10k-2000-images-idx3-ubyte.gz",
                                   "--truth", CLITests.assets + "/t10k-2000-labels-idx1-ubyte.gz", "--json", "--top", "2"])
        let report = try JSONSerialization.jsonObject(with: Data(stdout.utf8)) as? [String: Any]
        XCTAssertEqual(report?["images"] as? Int, 2000)
        // PyTorch measured 93.90% on these 2000 images (Assets/fashion-mnist/model.json: sample_accuracy).
        XCTAssertEqual(report?["accuracy"] as? Double ?? 0, 0.939, accuracy: 0.0015)
    }

    func testImageFolderWithBadFilesIsClassifiedAndTheBadOnesListed() throws {
        let dir = try temporaryDirectory()
        let fixtures = CLITests.repo.appendingPathComponent("Tests/AtlasImageTests/Fixtures")
        let good = try FileManager.default.contentsOfDirectory(atPath: fixtures.path).filter { $0.hasSuffix(".png") }.sorted().prefix(3)
        for name in good { try FileManager.default.copyItem(atPath: fixtures.path + "/" + name, toPath: dir + "/" + name) }
        try Data("not an image".utf8).write(to: URL(fileURLWithPath: dir + "/broken.png"))
        try Data().write(to: URL(fileURLWithPath: dir + "/empty.jpg"))
        let (stdout, _) = try run(["run", CLITests.assets + "/fashion_cnn.onnx", dir, "--json"])
        let report = try JSONSerialization.jsonObject(with: Data(stdout.utf8)) as? [String: Any]
        XCTAssertEqual(report?["images"] as? Int, good.count)
        let skipped = (report?["skipped"] as? [[String: String]] ?? []).compactMap { $0["file"] }.map { ($0 as NSString).lastPathComponent }
        XCTAssertEqual(Set(skipped), ["broken.png", "empty.jpg"])
    }

    func testExitCodesForBadInput() throws {
        let dir = try temporaryDirectory()
        let model = CLITests.assets + "/fashion_cnn.onnx"
        try run(["run", dir + "/missing.onnx", "--input-npy", dir + "/x.npy"], expect: 66)
        try Data("garbage, not protobuf".utf8).write(to: URL(fileURLWithPath: dir + "/bad.onnx"))
        let (_, err) = try run(["inspect", dir + "/bad.onnx"], expect: 65)
        XCTAssertTrue(err.contains("atlas: error:"), err)
        try run(["gallery", model, "--layer", "no.such.layer", "--out", dir + "/g"], expect: 64)
        try run(["visualize", model, "--layer", "features.conv4.0", "--channel", "640", "--out", dir + "/v.png"], expect: 64)
        try run(["run", model], expect: 64)
        // The tensor outputs work on --input-npy; with images they are refused rather than ignored.
        let images = CLITests.assets + "/t10k-2000-images-idx3-ubyte.gz"
        let (_, refused) = try run(["run", model, images, "--layer", "features.conv4.0", "--activations-npy", dir + "/a.npy"],
                                   expect: 64)
        XCTAssertTrue(refused.contains("--input-npy"), refused)
        try run(["run", model, images, "--output-npy", dir + "/y.npy"], expect: 64)
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir + "/a.npy"))
    }

    /// `atlas bench --json` on the sample model: the documented fields, speed-up 1 at the first thread count, FLOPs equal
    /// to 2 × the Conv/Gemm multiply-adds `atlas inspect` lists, a --vis figure; and its usage / input errors.
    func testBenchReportsThroughputScalingAndFlops() throws {
        let model = CLITests.assets + "/fashion_cnn.onnx"
        let (out, _) = try run(["bench", "--model", model, "--batch", "4", "--threads", "2,1", "--iterations", "2", "--warmup", "0",
                                "--vis", "--vis-layer", "features.conv3.0", "--vis-size", "28", "--vis-batch", "2",
                                "--vis-steps", "2", "--gradient-of", "features.conv4.2:3", "--json", "--quiet"])
        let report = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(out.utf8)) as? [String: Any])
        XCTAssertEqual(report["schema"] as? String, "atlas-bench/1")
        XCTAssertGreaterThan(report["images_per_second"] as? Double ?? 0, 0)
        let threads = try XCTUnwrap(report["threads"] as? [[String: Any]])
        XCTAssertEqual(threads.map { $0["threads"] as? Int }, [1, 2])
        XCTAssertEqual(threads.first?["speedup"] as? Double, 1)
        XCTAssertEqual((threads.last?["seconds"] as? [Double])?.count, 2)
        XCTAssertEqual(report["images_per_second"] as? Double, threads.last?["images_per_second"] as? Double)
        XCTAssertGreaterThan(report["peak_memory_bytes"] as? Int ?? 0, 0)
        let vis = try XCTUnwrap(report["visualization"] as? [String: Any])
        XCTAssertGreaterThan(vis["icon_steps_per_second"] as? Double ?? 0, 0)
        // --gradient-of: the fastest forward + backward and its parts, at the last thread count.
        let gradient = try XCTUnwrap(report["input_gradient"] as? [String: Any])
        XCTAssertEqual(gradient["value"] as? String, "features.conv4.2:3")
        XCTAssertEqual(gradient["threads"] as? Int, 2)
        let (f, b, total) = (gradient["forward_seconds"] as? Double ?? 0, gradient["backward_seconds"] as? Double ?? 0,
                             gradient["seconds"] as? Double ?? 0)
        XCTAssertGreaterThan(f, 0)
        XCTAssertGreaterThan(b, 0)
        XCTAssertEqual(total, f + b, accuracy: 1e-12)
        XCTAssertEqual(gradient["images_per_second"] as? Double ?? 0, 4 / total, accuracy: 1e-9 * 4 / total)
        try run(["bench", "--model", model, "--batch", "2", "--iterations", "1", "--gradient-of", "no.such.layer", "--quiet"],
                expect: 64)

        let (listing, _) = try run(["inspect", model, "--json"])
        let layers = try XCTUnwrap((try JSONSerialization.jsonObject(with: Data(listing.utf8)) as? [String: Any])?["layers"] as? [[String: Any]])
        let madds = layers.filter { ["Conv", "Gemm", "MatMul"].contains($0["op"] as? String ?? "") }
            .map { $0["multiplyAdds"] as? Int ?? 0 }.reduce(0, +)
        XCTAssertGreaterThan(madds, 0)
        XCTAssertEqual(report["flops_per_image"] as? Double, Double(2 * madds))

        // --layers: one more pass timed layer by layer; its table names every Conv layer's op and the totals per op.
        let (text, _) = try run(["bench", "--model", model, "--batch", "2", "--threads", "1", "--iterations", "1", "--layers", "--quiet",
                                 "--vis", "--vis-layer", "features.conv3.0", "--vis-size", "28", "--vis-batch", "2", "--vis-steps", "2"])
        let parts = text.components(separatedBy: "feature visualization, every step")
        XCTAssertEqual(parts.count, 2, text)
        // The visualization's table has input-gradient time on its conv layers.
        XCTAssertNotNil(parts[1].range(of: #"ms fwd +[0-9.]*[1-9][0-9.]* ms bwd  Conv "#, options: .regularExpression), parts[1])
        let table = try XCTUnwrap(parts[0].components(separatedBy: "\nforward ").last)
        let convRows = table.split(separator: "\n").filter { $0.contains(" Conv ") && !$0.contains("×") }
        XCTAssertEqual(convRows.count, layers.filter { $0["op"] as? String == "Conv" }.count, table)
        XCTAssertTrue(table.contains("by op"), table)
        XCTAssertNotNil(table.range(of: #"ms bwd  Conv ×\d+"#, options: .regularExpression), table)

        try run(["bench", "--model", model, "--threads", "0"], expect: 64)
        try run(["bench", "--model", model, "--arch", "googlenet"], expect: 64)
        try run(["bench", "--model", model + ".missing", "--quiet"], expect: 66)
    }
}
