/// Tests of `atlas units`' dataset pass: top-k and bottom-k against a brute-force ranking with many ties, the
/// histogram bins, and on the Fashion-MNIST CNN over a folder with an unreadable file: skipped and listed,
/// crops of the receptive-field box, resume after an interruption and a 2-shard merge giving the same bytes.
import AtlasCore
import AtlasImage
import AtlasJobs
import AtlasMap
import AtlasNet
import AtlasOutput
import Foundation
import XCTest

final class UnitsTests: XCTestCase {
    /// Brute force: per channel and image the max (min) and its first row-major position, all images ranked by
    /// (value, item, position) with plain tuple comparison.
    func bruteForce(_ act: Tensor, items: [Int], channel: Int, k: Int, top: Bool) -> [[Int]] {
        let (c, h, w) = (act.shape[1], act.shape[2], act.shape[3])
        var rows: [(v: Float, item: Int, pos: Int)] = []
        for (b, item) in items.enumerated() {
            let plane = Array(UnsafeBufferPointer(start: act.data + (b * c + channel) * h * w, count: h * w))
            let v = top ? plane.max()! : plane.min()!
            rows.append((v, item, plane.firstIndex(of: v)!))
        }
        rows.sort { a, b in
            let ka = (top ? -a.v : a.v, a.item, a.pos), kb = (top ? -b.v : b.v, b.item, b.pos)
            return ka < kb
        }
        return rows.prefix(k).map { [$0.item, $0.pos % w, $0.pos / w, Int($0.v * 2)] }
    }

    func testTopAndBottomMatchBruteForceWithTiesWhateverTheSplit() {
        let (n, c, h, w, k) = (41, 5, 3, 4, 6)
        let act = Tensor(zeros: [n, c, h, w])
        var rng = SplitMix64(seed: 7)
        for i in 0..<act.count {
            let ch = (i / (h * w)) % c
            // Values on a half-step grid: ties everywhere; channel 2 constant, channel 3 never fires.
            act.data[i] = ch == 2 ? 1 : Float(rng.nextInt(below: 4)) * 0.5 - (ch == 3 ? 2 : 0)
        }
        // Item numbers with gaps (skipped images), so ranks must follow item numbers, not batch rows.
        let items = (0..<n).map { $0 * 3 + ($0 % 2) }
        let channels = [4, 0, 2, 3]
        func summarize(_ rows: Range<Int>, batch: Int) -> [ChannelSummary] {
            var acc = UnitAccumulator(channels: channels, k: k, negatives: true)
            for start in stride(from: rows.lowerBound, to: rows.upperBound, by: batch) {
                let r = start..<min(rows.upperBound, start + batch)
                let t = Tensor(zeros: [r.count, c, h, w])
                t.data.update(from: act.data + start * c * h * w, count: r.count * c * h * w)
                acc.add(t, items: Array(items[r]), names: r.map { "img\($0)" })
            }
            return acc.result
        }
        let whole = summarize(0..<n, batch: n)
        for (j, ch) in channels.enumerated() {
            let s = whole[j]
            XCTAssertEqual(s.channel, ch)
            XCTAssertEqual(s.top.map { [$0.item, $0.x, $0.y, Int($0.value * 2)] }, bruteForce(act, items: items, channel: ch, k: k, top: true), "top of \(ch)")
            XCTAssertEqual(s.bottom.map { [$0.item, $0.x, $0.y, Int($0.value * 2)] }, bruteForce(act, items: items, channel: ch, k: k, top: false), "bottom of \(ch)")
            XCTAssertEqual(s.images, n)
            XCTAssertEqual(s.histogram.reduce(0) { $0 + $1[1] }, n)
            XCTAssertEqual(s.fired, bruteForce(act, items: items, channel: ch, k: n, top: true).filter { $0[3] > 0 }.count)
        }
        XCTAssertEqual(whole[2].top.map(\.item), Array(items.prefix(k)), "a constant channel ranks by item, then position 0")
        XCTAssertEqual(whole[3].fired, 0, "channel 3 never fires")
        // Batches of 5 and parts merged in either order give the same summaries.
        let parts = [summarize(0..<17, batch: 5), summarize(17..<30, batch: 4), summarize(30..<n, batch: 7)]
        XCTAssertEqual(ChannelSummary.merge(ChannelSummary.merge(parts[0], parts[1], k: k), parts[2], k: k), whole)
        XCTAssertEqual(ChannelSummary.merge(parts[2], ChannelSummary.merge(parts[1], parts[0], k: k), k: k), whole)
    }

    func testHistogramBinsHoldTheirValues() {
        var rng = SplitMix64(seed: 3)
        for _ in 0..<2000 {
            let v = (rng.nextUniform() - 0.5) * Float(1 << rng.nextInt(below: 30)) * 1e-4
            let r = UnitHistogram.range(UnitHistogram.bin(v))
            XCTAssertTrue(v >= 0 ? (r.lo <= v && v < r.hi) : (r.lo < v && v <= r.hi) || UnitHistogram.bin(v) == 0, "\(v) in \(r)")
        }
        XCTAssertEqual(UnitHistogram.bin(0), 0)
        XCTAssertLessThan(UnitHistogram.bin(1), UnitHistogram.bin(1.3))
        XCTAssertEqual(UnitHistogram.bin(-2), -UnitHistogram.bin(2))
    }

    // MARK: - The dataset pass on the Fashion-MNIST CNN

    static let layer = "features.conv3.2"

    func temporaryFolder() -> String {
        let path = NSTemporaryDirectory() + "atlas-units-tests-" + UUID().uuidString
        addTeardownBlock { try? FileManager.default.removeItem(atPath: path) }
        return path
    }

    /// 23 PNGs from the IDX stack and one unreadable file, in a folder.
    func imageFolder() throws -> String {
        let dir = temporaryFolder()
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        for (i, im) in try IDX.images(CollectTests.idxPath, limit: 23).enumerated() {
            try ImageCodec.write(im, to: String(format: "%@/f%02d.png", dir, i))
        }
        try Data("not a png".utf8).write(to: URL(fileURLWithPath: dir + "/f07b.png"))
        return dir
    }

    func scan(_ images: String, out: String, shard: ShardSpec? = nil, batch: Int = 5, stopAfter: Int? = nil) throws -> UnitScanResult {
        struct Stop: Error {}
        let network = try Network(contentsOf: CollectTests.modelPath)
        let value = try network.resolve(Self.layer)
        let pre = CollectTests.preprocessor
        let source = try ImageSource(inputs: [images], channels: 1)
        let shape = try UnitsRecipe.layerShape(network: network, value: value, input: pre.itemShape)
        let recipe = UnitsRecipe(model: .init(file: "fashion_cnn.onnx", sha256: SHA256.hex(file: CollectTests.modelPath)), layer: Self.layer,
                                 value: value, channels: [3, 0, 9, 17], layerChannels: shape.channels, spatial: shape.spatial, top: 4,
                                 negative: true, partImages: 8, limit: nil, preprocessor: pre, preprocess: "test", source: source,
                                 field: shape.field, icons: nil, title: nil)
        return try UnitScan.run(recipe: recipe, network: network, source: source, preprocessor: pre, batch: batch,
                                directory: out, shard: shard) { p in
            if let stopAfter, p.itemsDone >= stopAfter, p.itemsDone < p.itemsTotal { throw Stop() }
        }
    }

    /// Every file under `dir` but the shard manifests (ShardMergeTests' helper).
    func tree(_ dir: String) throws -> [String: Data] { try ShardMergeTests(name: "runner") { _ in }.outputFiles(dir) }

    func testScanSkipsBadImagesCropsTheFieldAndResumesAndMergesToTheSameBytes() throws {
        let images = try imageFolder()
        let single = temporaryFolder()
        let r = try scan(images, out: single)
        let index = try XCTUnwrap(r.index)
        XCTAssertEqual(r.partsTotal, 3)
        XCTAssertEqual(index.candidates, 24)
        XCTAssertEqual(index.images, 23)
        XCTAssertEqual(index.skipped.map(\.image), [images + "/f07b.png"])
        XCTAssertEqual(index.units.map(\.channel), [3, 0, 9, 17])
        XCTAssertEqual(index.field.size, [10, 10])
        XCTAssertEqual(index.field.stride, [2, 2])
        for u in index.units {
            XCTAssertEqual(u.top.count, 4)
            XCTAssertEqual(u.bottom?.count, 4)
            XCTAssertEqual(u.images, 23)
            XCTAssertTrue(FileManager.default.fileExists(atPath: "\(single)/\(u.page)"))
            for e in u.top + (u.bottom ?? []) {
                XCTAssertEqual(e.box, index.field.box(x: e.x, y: e.y, width: 28, height: 28))
                let crop = try ImageCodec.decode(file: "\(single)/\(e.crop)")
                XCTAssertEqual([crop.width, crop.height], [e.box[2] - e.box[0] + 1, e.box[3] - e.box[1] + 1])
                XCTAssertTrue(FileManager.default.fileExists(atPath: "\(single)/\(e.full)"))
                XCTAssertFalse(e.image.hasPrefix("/"))
            }
            XCTAssertTrue(zip(u.top, u.top.dropFirst()).allSatisfy { $0.value >= $1.value })
            // The map of a top exemplar peaks (255) at its cell, when the channel fires there.
            let e = u.top[0], map = try ImageCodec.decode(file: "\(single)/\(try XCTUnwrap(e.heat))")
            XCTAssertEqual([map.width, map.height, map.channels], [14, 14, 4])
            let alpha = Array(map.pixels[(3 * 196)...])
            if e.value > 0 { XCTAssertEqual(alpha[e.y * 14 + e.x], 1); XCTAssertEqual(alpha.max(), 1) }
            XCTAssertEqual(Set(map.pixels[..<196]), [1], "one colour")
        }
        let page = try String(contentsOfFile: "\(single)/units/features.conv3.2/9.html", encoding: .utf8)
        XCTAssertEqual(page.components(separatedBy: "class=\"exemplar\"").count - 1, 8)
        XCTAssertTrue(page.contains("href=\"0.html\" rel=\"prev\"") && page.contains("href=\"17.html\" rel=\"next\""))
        let expected = try tree(single)

        // Interrupted after the first part, then resumed: the same bytes, one part kept.
        let resumed = temporaryFolder()
        XCTAssertThrowsError(try scan(images, out: resumed, stopAfter: 9))
        XCTAssertNil(FileManager.default.contents(atPath: resumed + "/units.json"))
        let again = try scan(images, out: resumed, batch: 3)
        XCTAssertEqual(again.reused, 1)
        XCTAssertEqual(try tree(resumed), expected)

        // Two shards into one folder, then the merge.
        let sharded = temporaryFolder()
        for i in [1, 0] { XCTAssertNil(try scan(images, out: sharded, shard: try ShardSpec(index: i, count: 2), batch: 4).index) }
        XCTAssertNil(FileManager.default.contents(atPath: sharded + "/units.json"))
        let merged = try ShardMerge.merge(sharded, assemblers: [UnitsShardAssembler()])
        XCTAssertEqual(merged.kind, "units")
        XCTAssertEqual(try tree(sharded), expected)
    }
}
