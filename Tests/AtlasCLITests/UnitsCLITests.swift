import AtlasMap
import Foundation
import XCTest

/// `atlas units` as a user runs it: a folder with an unreadable file (skipped, listed in --json and units.json),
/// two shards and `atlas merge` giving the single run's bytes, the pages linked to a gallery's icons, exit codes.
final class UnitsCLITests: XCTestCase {
    private let cli = CLITests(name: "runner") { _ in }

    func temporaryDirectory() throws -> String {
        let dir = NSTemporaryDirectory() + "atlas-units-cli-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        addTeardownBlock { try? FileManager.default.removeItem(atPath: dir) }
        return dir
    }
    static let model = CLITests.assets + "/fashion_cnn.onnx"
    static let idx = CLITests.assets + "/t10k-2000-images-idx3-ubyte.gz"

    /// Every file under `dir` but the shard manifests (the scale-out tests' helper).
    func tree(_ dir: String) -> [String: Data] { cli.outputFiles(dir) }

    func testShardsMergeToTheSingleRunAndBadImagesAreListed() throws {
        let scratch = try temporaryDirectory()
        let images = scratch + "/images"
        try FileManager.default.createDirectory(atPath: images, withIntermediateDirectories: true)
        // 12 small PNG files: three gallery icons, four copies each.
        try cli.run(["gallery", Self.model, "--layer", "features.conv2.2", "--channels", "0..2", "--steps", "2", "--size", "28",
                     "--quiet", "--out", scratch + "/gallery"])
        for i in 0..<12 {
            try FileManager.default.copyItem(atPath: scratch + "/gallery/icons/c000\(i % 3).png", toPath: images + "/g\(i).png")
        }
        try Data("garbage".utf8).write(to: URL(fileURLWithPath: images + "/bad.png"))
        let common = [Self.model, "--layer", "features.conv2.2", "--channels", "0..2", "--images", images, "--top", "3",
                      "--part-images", "5", "--icons", scratch + "/gallery", "--quiet"]
        let (json, _) = try cli.run(["units"] + common + ["--out", scratch + "/single", "--json"])
        let summary = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any])
        XCTAssertEqual(summary["images"] as? Int, 12)
        XCTAssertEqual((summary["skipped"] as? [[String: String]])?.map { $0["image"] }, [images + "/bad.png"])
        let index = try UnitsIndex.decode(try Data(contentsOf: URL(fileURLWithPath: scratch + "/single/units.json")))
        XCTAssertEqual(index.skipped.count, 1)
        XCTAssertEqual(index.units.map(\.icon), (0..<3).map { "units/features.conv2.2/icons/c000\($0).png" })
        let page = try String(contentsOfFile: scratch + "/single/units/features.conv2.2/1.html", encoding: .utf8)
        XCTAssertTrue(page.contains("src=\"icons/c0001.png\""))

        for i in 0..<2 { try cli.run(["units"] + common + ["--out", scratch + "/sharded", "--shard", "\(i)/2"]) }
        try cli.run(["merge", scratch + "/sharded", "--quiet"])
        XCTAssertEqual(tree(scratch + "/sharded"), tree(scratch + "/single"))
        // A rerun keeps every part and writes the same bytes.
        let (again, _) = try cli.run(["units"] + common + ["--out", scratch + "/single", "--json"])
        XCTAssertEqual((try JSONSerialization.jsonObject(with: Data(again.utf8)) as? [String: Any])?["reused"] as? Int, 3)
        // Another job into the same folder (fewer channels, smaller top) leaves none of the old pages or crops.
        try cli.run(["units", Self.model, "--layer", "features.conv2.2", "--channels", "1", "--images", images, "--top", "2",
                     "--quiet", "--out", scratch + "/single"])
        let left = try FileManager.default.contentsOfDirectory(atPath: scratch + "/single/units/features.conv2.2").sorted()
        XCTAssertEqual(left, ["1.html", "crops", "heat", "images", "index.html", "units.json"])
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: scratch + "/single/units/features.conv2.2/crops").count, 2)
        // atlas plan writes the same job for a cluster: a shard array then the merge.
        let (plan, _) = try cli.run(["plan", "slurm", "--shards", "2", "--"] + ["units"] + common + ["--out", scratch + "/cluster"])
        XCTAssertTrue(plan.contains("--shard auto") && plan.contains("merge"), plan)
    }

    /// Two layers in one run, then a third into the same folder: every unit page links the same unit in the other
    /// layers, the layer page shows the gallery canvas with a link per unit, and each unit has its diversity set
    /// and its accentuated top exemplar, recorded in units.json.
    func testLayersLinkEachOtherAndPicturesAreRecorded() throws {
        let scratch = try temporaryDirectory()
        let layers = ["features.conv2.2", "features.conv3.2"]
        for l in layers {
            try cli.run(["gallery", Self.model, "--layer", l, "--channels", "0..2", "--steps", "2", "--size", "28", "--quiet",
                         "--out", "\(scratch)/g-\(l)"])
        }
        let out = scratch + "/u"
        let (json, _) = try cli.run(["units", Self.model, "--layer", layers[0], "--layer", layers[1], "--channels", "0..2",
                                     "--images", Self.idx, "--limit", "30", "--top", "3", "--icons", "\(scratch)/g-\(layers[0])",
                                     "--icons", "\(scratch)/g-\(layers[1])", "--diversity", "2", "--accentuate", "--steps", "6",
                                     "--icon-size", "28", "--json", "--quiet", "--out", out])
        let summaries = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [[String: Any]])
        XCTAssertEqual(summaries.map { $0["layer"] as? String }, layers)
        XCTAssertEqual(summaries[0]["index"] as? String, "\(out)/units/\(layers[0])/units.json")
        let latest = try UnitsIndex.decode(try Data(contentsOf: URL(fileURLWithPath: out + "/units.json")))
        XCTAssertEqual(latest.layer, layers[1])
        for l in layers {
            let index = try UnitsIndex.decode(try Data(contentsOf: URL(fileURLWithPath: "\(out)/units/\(l)/units.json")))
            XCTAssertEqual(index.canvas?.image, "units/\(l)/gallery.png")
            guard case .object(let v)? = index.settings["visuals"] else { return XCTFail("no settings.visuals") }
            XCTAssertEqual(v["diversity"], .int(2))
            let layerPage = try String(contentsOfFile: "\(out)/units/\(l)/index.html", encoding: .utf8)
            XCTAssertEqual(layerPage.components(separatedBy: "class=\"gcell\"").count - 1, 3)
            XCTAssertTrue(layerPage.contains("<img class=\"canvas\" src=\"gallery.png\""))
            for u in index.units {
                XCTAssertEqual(u.rect?.count, 4)
                XCTAssertEqual(u.diversity?.icons.count, 2)
                XCTAssertTrue(u.diversity.map { $0.similarity > 0 && $0.similarity < 1 } ?? false)
                for f in (u.diversity?.icons ?? []) + [u.accentuated?.image ?? "missing"] {
                    XCTAssertTrue(FileManager.default.fileExists(atPath: "\(out)/\(f)"), f)
                }
                let other = layers.first { $0 != l }!
                let page = try String(contentsOfFile: "\(out)/\(u.page)", encoding: .utf8)
                XCTAssertTrue(page.contains("href=\"../\(other)/\(u.channel).html\""), "\(l) \(u.channel) links \(other)")
            }
        }
        let root = try String(contentsOfFile: out + "/index.html", encoding: .utf8)
        XCTAssertTrue(layers.allSatisfy { root.contains("href=\"units/\($0)/index.html\"") }, root)
        // A later run of another layer into the same folder: the earlier layers' pages link it too, and their parts stay.
        try cli.run(["units", Self.model, "--layer", "features.conv4.0", "--channels", "1..2", "--images", Self.idx, "--limit", "30",
                     "--top", "3", "--quiet", "--out", out])
        let page = try String(contentsOfFile: "\(out)/units/\(layers[0])/1.html", encoding: .utf8)
        XCTAssertTrue(page.contains("href=\"../features.conv4.0/1.html\"") && page.contains("href=\"../\(layers[1])/1.html\""))
        XCTAssertFalse(try String(contentsOfFile: "\(out)/units/\(layers[0])/0.html", encoding: .utf8).contains("../features.conv4.0/"))
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: out + "/units-parts").sorted(), layers + ["features.conv4.0"].sorted())
        // Pictures need the network when the pages are written: not with --shard.
        try cli.run(["units", Self.model, "--layer", layers[0], "--images", Self.idx, "--diversity", "2", "--shard", "0/2",
                     "--out", scratch + "/s"], expect: 64)
        try cli.run(["units", Self.model, "--layer", layers[0], "--images", Self.idx, "--diversity", "1", "--out", scratch + "/s"], expect: 64)
        // A crop without padding shrinks the layer under the peak cells: refused before the pass.
        try cli.run(["units", Self.model, "--layer", layers[0], "--images", Self.idx, "--accentuate", "--accentuate-transforms", "jitter:2",
                     "--out", scratch + "/s"], expect: 64)
    }

    /// The unit pictures resume: a rerun keeps every stored diversity set and accentuated exemplar whose key
    /// matches (same bytes as rendered), a run with one more channel renders only that one, another seed renders all.
    func testUnitPicturesAreKeptByARerun() throws {
        let out = try temporaryDirectory() + "/u"
        func run(_ channels: String, seed: String = "3") throws -> [String: Any] {
            let (json, _) = try cli.run(["units", Self.model, "--layer", "features.conv3.2", "--channels", channels, "--images", Self.idx,
                                         "--limit", "20", "--top", "2", "--diversity", "2", "--accentuate", "--steps", "4",
                                         "--icon-size", "28", "--seed", seed, "--json", "--quiet", "--out", out])
            return try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any])
        }
        func pictures() throws -> [String: Data] {
            let dir = out + "/units/features.conv3.2"
            var files: [String: Data] = [:]
            for sub in ["diversity", "accentuated"] {
                for name in try FileManager.default.contentsOfDirectory(atPath: dir + "/" + sub) {
                    files[sub + "/" + name] = try Data(contentsOf: URL(fileURLWithPath: "\(dir)/\(sub)/\(name)"))
                }
            }
            return files
        }
        let first = try run("0..1")
        XCTAssertEqual(first["pictures_rendered"] as? Int, 4)
        XCTAssertEqual(first["pictures_reused"] as? Int, 0)
        let rendered = try pictures()
        XCTAssertEqual(rendered.count, 6)
        let again = try run("0..1")
        XCTAssertEqual(again["pictures_rendered"] as? Int, 0)
        XCTAssertEqual(again["pictures_reused"] as? Int, 4)
        XCTAssertEqual(try pictures(), rendered)
        let more = try run("0..2")
        XCTAssertEqual(more["pictures_rendered"] as? Int, 2)
        XCTAssertEqual(more["pictures_reused"] as? Int, 4)
        XCTAssertEqual(try pictures().filter { rendered[$0.key] != nil }, rendered)
        let other = try run("0..2", seed: "4")
        XCTAssertEqual(other["pictures_rendered"] as? Int, 6)
        XCTAssertNotEqual(try pictures()["diversity/0-0.png"], rendered["diversity/0-0.png"])
    }

    func testUsageAndInputErrors() throws {
        let out = try temporaryDirectory()
        try cli.run(["units", Self.model, "--layer", "nope", "--images", Self.idx, "--out", out], expect: 64)
        try cli.run(["units", Self.model, "--layer", "pool", "--images", Self.idx, "--channels", "0..999", "--out", out], expect: 64)
        try cli.run(["units", out + "/missing.onnx", "--layer", "pool", "--images", Self.idx, "--out", out], expect: 66)
        try cli.run(["units", Self.model, "--layer", "pool", "--images", out + "/none", "--out", out], expect: 66)
        try cli.run(["units", Self.model, "--layer", "pool", "--images", Self.idx, "--top", "0", "--out", out], expect: 64)
    }
}
