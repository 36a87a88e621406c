import AtlasCore
import AtlasExplain
import AtlasImage
import AtlasNet
import AtlasTestSupport
import XCTest

final class AttributionTests: XCTestCase {
    /// logit[n, k] of the network for one input (Double accumulation is not needed: the net is tiny).
    func logit(_ net: Network, _ x: Tensor, item: Int, k: Int) throws -> Double {
        let y = try XCTUnwrap(net.forward(x, capture: ["logits"])["logits"])
        return Double(y.data[item * y.shape[1] + k])
    }

    func testSaliencyEqualsFiniteDifferenceGradient() throws {
        let net = try TinyNets.smooth()
        let x = TestData.uniform([2, 3, 5, 5], seed: 5)
        let classes = [2, 0]
        let a = try Attributor(network: net, options: .init(method: .saliency), preprocess: .identity, inputShape: x.shape)
        let saliency = try a.attribute(x, classes: classes).maps
        XCTAssertEqual(saliency.shape, [2, 5, 5])
        let eps: Float = 1e-2
        var worst = 0.0
        for n in 0..<2 {
            for p in 0..<25 {
                var best = 0.0
                for c in 0..<3 {
                    let i = ((n * 3 + c) * 25) + p
                    let saved = x.data[i]
                    x.data[i] = saved + eps
                    let up = try logit(net, x, item: n, k: classes[n])
                    x.data[i] = saved - eps
                    let down = try logit(net, x, item: n, k: classes[n])
                    x.data[i] = saved
                    best = max(best, abs(up - down) / Double(2 * eps))
                }
                worst = max(worst, abs(Double(saliency.data[n * 25 + p]) - best))
            }
        }
        let scale = Double(saliency.toArray().map(abs).max() ?? 1)
        XCTAssertGreaterThan(scale, 1e-3)
        XCTAssertLessThan(worst / scale, 2e-3, "saliency vs central differences")
    }

    func testGradientTimesInputIsTheChannelSumOfInputTimesGradient() throws {
        let net = try TinyNets.smooth()
        let x = TestData.uniform([1, 3, 5, 5], seed: 6)
        let a = try Attributor(network: net, options: .init(method: .gradientTimesInput), preprocess: .identity, inputShape: x.shape)
        let map = try a.attribute(x, classes: [1]).maps
        _ = try net.forward(x, capture: ["logits"], keepForBackward: true)
        let g = try net.backward(from: ["logits": Tensor(shape: [1, 3], values: [0, 1, 0])])
        for p in 0..<25 {
            let expected = (0..<3).reduce(Float(0)) { $0 + x.data[$1 * 25 + p] * g.data[$1 * 25 + p] }
            XCTAssertEqual(map.data[p], expected, accuracy: 1e-5)
        }
    }

    func testIntegratedGradientsAreComplete() throws {
        let net = try TinyNets.smooth()
        let x = TestData.uniform([2, 3, 5, 5], in: 0...1, seed: 7)
        let normalization = Preprocess(scale: [2], shift: [-1])   // pixels [0, 1] → inputs [-1, 1]
        try normalization.apply(to: x)
        for baseline in AttributionBaseline.allCases {
            let a = try Attributor(network: net, options: .init(method: .integratedGradients, steps: 32, baseline: baseline),
                                   preprocess: normalization, inputShape: x.shape)
            let r = try a.attribute(x, classes: [0, 2])
            let x0 = try a.baseline(for: x)
            if baseline == .black { XCTAssertEqual(x0.data[0], -1) }
            for (n, k) in [0, 2].enumerated() {
                let sum = (0..<25).reduce(0.0) { $0 + Double(r.maps.data[n * 25 + $1]) }
                let delta = try logit(net, x, item: n, k: k) - logit(net, x0, item: n, k: k)
                XCTAssertEqual(Double(try XCTUnwrap(r.logitDelta)[n]), delta, accuracy: 1e-5)
                XCTAssertGreaterThan(abs(delta), 0.01, "\(baseline): the test needs a real difference")
                XCTAssertLessThan(abs(sum - delta), 0.01 * abs(delta), "\(baseline) item \(n): Σ attributions \(sum) vs Δlogit \(delta)")
            }
        }
    }

    func testGradCAMLightsUpTheBrightSquare() throws {
        let net = try TinyNets.squareDetector()
        let x = Tensor(zeros: [2, 1, 16, 16])
        let squares = [(top: 10, left: 2), (top: 3, left: 9)]
        for (n, s) in squares.enumerated() {
            for y in s.top..<(s.top + 4) { for xx in s.left..<(s.left + 4) { x.data[n * 256 + y * 16 + xx] = 1 } }
        }
        let a = try Attributor(network: net, options: .init(method: .gradCAM), preprocess: .identity, inputShape: x.shape)
        XCTAssertEqual(a.layer, "r", "default layer: the last one with spatial extent (the ReLU before pooling)")
        XCTAssertEqual(a.logits, "logits", "attribution reads the Softmax's input")
        let r = try a.attribute(x, classes: [0, 0])
        for (n, s) in squares.enumerated() {
            let map = Array(UnsafeBufferPointer(start: r.maps.data + n * 256, count: 256))
            let peak = map.indices.max { map[$0] < map[$1] }!
            XCTAssertTrue((s.top..<(s.top + 4)).contains(peak / 16) && (s.left..<(s.left + 4)).contains(peak % 16), "peak at \(peak)")
            var inside = 0.0, total = 0.0
            for (i, v) in map.enumerated() {
                total += Double(v)
                if (s.top - 1...s.top + 4).contains(i / 16) && (s.left - 1...s.left + 4).contains(i % 16) { inside += Double(v) }
            }
            XCTAssertGreaterThan(inside / total, 0.9, "Grad-CAM mass near the square")
        }
        // The dark-detector class weights only channel 1, which is silent on the square and fires elsewhere.
        let dark = try a.attribute(x, classes: [1, 1])
        let s = squares[0]
        XCTAssertEqual(dark.maps.data[(s.top + 1) * 16 + s.left + 1], 0, accuracy: 1e-6)
        XCTAssertGreaterThan(dark.maps.data[0], 0)
    }

    func testBadOptionsAreTypedErrors() throws {
        let net = try TinyNets.smooth()
        XCTAssertThrowsError(try Attributor(network: net, options: .init(method: .gradCAM, layer: "logits"), preprocess: .identity,
                                            inputShape: [1, 3, 5, 5])) { XCTAssertTrue($0 is AttributionError, "\($0)") }
        XCTAssertThrowsError(try Attributor(network: net, options: .init(method: .integratedGradients, steps: 0), preprocess: .identity,
                                            inputShape: [1, 3, 5, 5]))
        let a = try Attributor(network: net, options: .init(), preprocess: .identity, inputShape: [1, 3, 5, 5])
        XCTAssertThrowsError(try a.attribute(Tensor(zeros: [1, 3, 5, 5]), classes: [3])) {
            XCTAssertEqual($0 as? AttributionError, .invalidOption("class 3 is out of range: the model has 3 classes (0…2)"))
        }
    }
}
