/// Tests of activation collection on the Fashion-MNIST CNN: IDX input, a folder with bad images, resume after an
/// interruption (same bytes), and gradient × activation attributions against a finite difference on the network
/// cut at the layer.
import AtlasCore
import AtlasImage
import AtlasJobs
import AtlasMap
import AtlasNet
import AtlasOutput
import AtlasVis
import Foundation
import XCTest

final class CollectTests: XCTestCase {
    static let assets = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("Assets/fashion-mnist").path
    static let modelPath = assets + "/fashion_cnn.onnx"
    static let idxPath = assets + "/t10k-2000-images-idx3-ubyte.gz"
    static let layer = "features.conv3.0"
    static let preprocessor = Preprocessor(geometry: .direct(width: 28, height: 28), preprocess: .meanStd([0.286], [0.353]),
                                           layout: .gray)

    func temporaryFolder() -> String {
        let path = NSTemporaryDirectory() + "atlas-collect-tests-" + UUID().uuidString
        addTeardownBlock { try? FileManager.default.removeItem(atPath: path) }
        return path
    }

    /// Collects `inputs` into `out`; `stopAfterParts` throws out of the run once that many parts are listed.
    @discardableResult
    func collect(_ inputs: [String], out: String, limit: Int? = 40, partImages: Int = 16, attribution: AttributionMode = .gradxact,
                 perImage: Int = 2, stopAfterParts: Int? = nil) throws -> CollectManifest {
        struct Stop: Error {}
        let network = try Network(contentsOf: Self.modelPath)
        let value = try network.resolve(Self.layer)
        let logits = try Renderer(network: network).valueName(Objective.networkOutput)
        let source = try ImageSource(inputs: inputs, channels: 1, limit: limit)
        let settings = CollectSettings(layer: Self.layer, value: value, perImage: perImage, limit: limit, batch: 7, partImages: partImages,
                                       top: 3, attribution: attribution, seed: 5, input: [1, 28, 28], preprocess: "test")
        let sampler = ActivationSampler(network: network, value: value, logits: logits, perImage: perImage, top: 3,
                                        attribution: attribution, seed: 5)
        return try Collector.run(source: source, sampler: sampler, preprocessor: Self.preprocessor, settings: settings,
                                 model: .init(file: "fashion_cnn.onnx", sha256: SHA256.hex(file: Self.modelPath)), labels: nil,
                                 directory: out) { p in
            if let stopAfterParts, p.itemsDone >= stopAfterParts * partImages + 1, p.itemsDone < p.itemsTotal { throw Stop() }
        }
    }

    func files(_ dir: String) throws -> [String: Data] {
        var out: [String: Data] = [:]
        for name in try FileManager.default.contentsOfDirectory(atPath: dir) {
            out[name] = FileManager.default.contents(atPath: dir + "/" + name)
        }
        return out
    }

    func testIDXCollectionRecordsRowsPositionsAndClasses() throws {
        let out = temporaryFolder()
        let m = try collect([Self.idxPath], out: out)
        XCTAssertTrue(m.complete)
        XCTAssertEqual(m.items, 40)
        XCTAssertEqual(m.parts.map(\.count), [16, 16, 8])
        XCTAssertEqual(m.rows, 80)
        XCTAssertEqual(m.spatial.count, 2)
        let set = try ActivationSet(directory: out, verify: true)
        XCTAssertEqual(set.activations.shape, [80, m.channels])
        XCTAssertEqual(set.records[3].item, 1)
        XCTAssertEqual(set.records[3].image, "t10k-2000-images-idx3-ubyte.gz#1")
        // Positions depend only on (seed, item).
        let p = ActivationSampler.positions(seed: 5, item: 1, count: 2, width: m.spatial[1], height: m.spatial[0])
        XCTAssertEqual([set.records[2].x, set.records[2].y, set.records[3].x, set.records[3].y], [p[0].x, p[0].y, p[1].x, p[1].y])
        // Row = the layer's activation at that position; classes = the top logits.
        let network = try Network(contentsOf: Self.modelPath)
        let images = try IDX.images(Self.idxPath, limit: 2)
        let x = Tensor(zeros: [1, 1, 28, 28])
        try Self.preprocessor.fill(x.data, from: images[1])
        let value = try network.resolve(Self.layer)
        let a = try network.forward(x, capture: [value])[value]!
        let (h, w) = (a.shape[2], a.shape[3])
        for c in 0..<m.channels {
            XCTAssertEqual(set.activations.data[3 * m.channels + c], a.data[c * h * w + p[1].y * w + p[1].x], accuracy: 1e-5)
        }
        let logits = try network.forward(x)
        let y = logits.values.first!
        let best = (0..<y.count).max { y.data[$0] < y.data[$1] }!
        XCTAssertEqual(set.records[3].classes.first, best)
        XCTAssertEqual(set.records[3].classes.count, 3)
    }

    func testFolderWithBadImagesSkipsAndListsThem() throws {
        let dir = temporaryFolder()
        try FileManager.default.createDirectory(atPath: dir + "/img/sub", withIntermediateDirectories: true)
        let images = try IDX.images(Self.idxPath, limit: 5)
        for (i, image) in images.enumerated() {
            try ImageCodec.write(image, to: dir + (i % 2 == 0 ? "/img/" : "/img/sub/") + "i\(i).png")
        }
        try Data("not a png".utf8).write(to: URL(fileURLWithPath: dir + "/img/broken.png"))
        try Data([0xFF, 0xD8, 0xFF, 0xE0, 0, 1, 2]).write(to: URL(fileURLWithPath: dir + "/img/sub/cut.jpg"))
        let m = try collect([dir + "/img"], out: dir + "/acts", limit: nil, partImages: 4, perImage: 1)
        XCTAssertEqual(m.items, 7)
        XCTAssertEqual(m.skipped.map(\.image).sorted(), [dir + "/img/broken.png", dir + "/img/sub/cut.jpg"])
        XCTAssertEqual(m.rows, 5)
        let set = try ActivationSet(directory: dir + "/acts")
        XCTAssertEqual(Set(set.records.map(\.image)), ["i0.png", "i2.png", "i4.png", "sub/i1.png", "sub/i3.png"])
    }

    func testResumeAfterInterruptionGivesIdenticalBytes() throws {
        let whole = temporaryFolder(), resumed = temporaryFolder()
        try collect([Self.idxPath], out: whole)
        XCTAssertThrowsError(try collect([Self.idxPath], out: resumed, stopAfterParts: 1))
        let partial = try CollectManifest.read(directory: resumed)
        XCTAssertEqual(partial.parts.count, 1)
        XCTAssertFalse(partial.complete)
        let m = try collect([Self.idxPath], out: resumed)
        XCTAssertTrue(m.complete)
        XCTAssertEqual(try files(resumed), try files(whole))
        // Other settings in the same folder are refused.
        XCTAssertThrowsError(try collect([Self.idxPath], out: resumed, perImage: 1)) { error in
            guard case let JobError.otherJob(_, kind, differences) = error else { return XCTFail("\(error)") }
            XCTAssertEqual([kind] + differences, ["collect", "perImage (1 vs 2)"])
        }
    }

    /// ⟨∂ logit_k / ∂ a(x, y), a(x, y)⟩ is the derivative of logit_k along a(x, y) scaled at its position:
    /// d/dt logit_k(a + t·a(x, y)·δ_(x,y)) at t = 0, taken by central differences on the head of the network
    /// (a graph whose input is the layer's value).
    func testGradientTimesActivationMatchesFiniteDifference() throws {
        let out = temporaryFolder()
        let m = try collect([Self.idxPath], out: out, limit: 6, attribution: .gradxact)
        let set = try ActivationSet(directory: out)
        let network = try Network(contentsOf: Self.modelPath)
        let value = try network.resolve(Self.layer)
        let head = try Self.head(of: network, from: value, shape: [m.channels] + m.spatial)
        let images = try IDX.images(Self.idxPath, limit: 6)
        var checked = 0
        for row in [0, 3, 5, 6, 8, 11] {
            let r = set.records[row]
            let x = Tensor(zeros: [1, 1, 28, 28])
            try Self.preprocessor.fill(x.data, from: images[r.item])
            let a = try network.forward(x, capture: [value])[value]!
            let (c, h, w) = (a.shape[1], a.shape[2], a.shape[3])
            func logits(_ t: Float) throws -> Tensor {
                let moved = a.copy()
                for j in 0..<c { moved.data[j * h * w + r.y * w + r.x] *= 1 + t }
                return try head.forward(moved).values.first!
            }
            let eps: Float = 1e-2   // the network is piecewise linear: no curvature error, only kinks
            let plus = try logits(eps), base = try logits(0), minus = try logits(-eps)
            for (k, cls) in r.classes.enumerated() {
                let forward = (Double(plus.data[cls]) - Double(base.data[cls])) / Double(eps)
                let backward = (Double(base.data[cls]) - Double(minus.data[cls])) / Double(eps)
                // One-sided slopes that disagree straddle a ReLU kink or a max-pool switch: not comparable.
                guard abs(forward - backward) <= 1e-3 * max(1, abs(forward)) else { continue }
                let numeric = (forward + backward) / 2
                XCTAssertEqual(Double(r.values[k]), numeric, accuracy: 1e-3 * max(1, abs(numeric)), "row \(row) class \(cls)")
                checked += 1
            }
        }
        XCTAssertGreaterThanOrEqual(checked, 12)   // of 18
        XCTAssertTrue(set.records.contains { $0.values.contains { abs($0) > 1e-3 } }, "attributions are all zero")
    }

    /// The part of `network` downstream of `value`, as a network whose input is `value` (shape `[1] + shape`).
    static func head(of network: Network, from value: String, shape: [Int]) throws -> Network {
        var graph = network.graph
        let producers = graph.producers
        var upstream = Set<Int>(), stack = [value]
        while let v = stack.popLast() {
            guard let p = producers[v], upstream.insert(p).inserted else { continue }
            stack += graph.nodes[p].inputs
        }
        graph.nodes = graph.nodes.enumerated().filter { !upstream.contains($0.offset) }.map(\.element)
        graph.inputs = [ValueInfo(name: value, shape: ([1] + shape).map { .fixed($0) })]
        var model = network.model
        model.graph = graph
        return try Network(model: model)
    }
}
