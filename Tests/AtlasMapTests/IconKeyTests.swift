/// Icon keys derive from the one encoding of `RenderOptions`: every field is in it, and changing any field that
/// shapes the pixels re-renders the icon instead of reusing a stale one.
import AtlasCore
import AtlasMap
import AtlasNet
import AtlasOutput
import AtlasVis
import Foundation
import XCTest

final class IconKeyTests: XCTestCase {
    func testEveryRenderOptionIsEncoded() throws {
        // Optionals set, so that the encoder writes them.
        let all = RenderOptions(param: .pixel, size: 16, steps: 2, upsample: 32, thresholds: [1], decorrelate: true)
        let object = try XCTUnwrap(JSONSerialization.jsonObject(with: CanonicalJSON.encode(all)) as? [String: Any])
        XCTAssertEqual(Set(object.keys), Set(Mirror(reflecting: all).children.compactMap(\.label)))
        XCTAssertEqual(try JSONDecoder().decode(RenderOptions.self, from: CanonicalJSON.encode(all)), all)
    }

    func testChangingAnyFieldReRendersTheIcon() throws {
        let folder = try OutputFolder(path: NSTemporaryDirectory() + "atlas-iconkey-" + UUID().uuidString)
        addTeardownBlock { try? FileManager.default.removeItem(atPath: folder.path) }
        let renderer = try Renderer(network: try Network(contentsOf: GalleryTests.modelPath))
        let base = RenderOptions(size: 16, steps: 2, transforms: .none, preprocess: .meanStd([0.286], [0.353]))
        let job = IconJob(id: "c0001", objective: .channel(GalleryTests.layer, 1), seed: 3, index: 0)
        func rendered(_ options: RenderOptions) throws -> Int {
            try IconStore(folder: folder, renderer: renderer, options: options, modelSHA: "m").render([job], batch: 1).rendered
        }
        XCTAssertEqual(try rendered(base), 1)
        XCTAssertEqual(try rendered(base), 0, "same options: reused")

        // One change per field; a field added to RenderOptions must be added here (the label check below).
        var variants: [(String, RenderOptions, Bool)] = []
        func vary(_ label: String, rerenders: Bool = true, _ change: (inout RenderOptions) -> Void) {
            var o = base
            change(&o)
            variants.append((label, o, rerenders))
        }
        vary("param") { $0.param = .pixel }
        vary("size") { $0.size = 20 }
        vary("steps") { $0.steps = 3 }
        vary("learningRate") { $0.learningRate = 0.04 }
        vary("transforms") { $0.transforms = try! TransformPipeline.parse("jitter:1") }
        vary("preprocess") { $0.preprocess = .identity }
        vary("upsample") { $0.upsample = 24 }
        vary("decorrelate") { $0.decorrelate = false }
        vary("thresholds", rerenders: false) { $0.thresholds = [1] }
        XCTAssertEqual(Set(variants.map(\.0)), Set(Mirror(reflecting: base).children.compactMap(\.label)),
                       "every RenderOptions field needs a variant here")
        for (label, options, rerenders) in variants {
            XCTAssertEqual(try rendered(base), 0, "\(label): back to the base icon")
            XCTAssertEqual(try rendered(options), rerenders ? 1 : 0, label)
            _ = try rendered(base)
        }
    }
}
