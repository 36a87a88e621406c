import AtlasCore
import AtlasTestSupport
import AtlasVis
import Foundation
import XCTest

final class ObjectiveTests: XCTestCase {
    /// Checks the objective's gradient for `layer` (or the image when nil) against central differences of Σ values.
    func check(_ o: Objective, layer: String?, input: Tensor, others: [String: Tensor] = [:], eps: Float = 1e-2,
               tol: Double = 2e-3, file: StaticString = #filePath, line: UInt = #line) {
        func run(_ x: Tensor) -> ObjectiveResult {
            var acts = others
            if let l = layer { acts[l] = x }
            return try! o.evaluate(activations: acts, image: layer == nil ? x : nil)
        }
        let fn = FunctionLayer(
            forwardFn: { Tensor(shape: [1], values: [Float(run($0).values.reduce(0, +))]) },
            backwardFn: { x, _, g in
                let r = run(x)
                let grad = (layer.map { r.gradients[$0]! } ?? r.imageGradient!).copy()
                for i in 0..<grad.count { grad.data[i] *= g.data[0] }
                return grad
            })
        let report = GradientCheck.check(fn, inputs: [input], eps: eps, samples: 150, seed: 5)
        XCTAssertLessThan(report.maxError, tol, "\(o) \(report)", file: file, line: line)
    }

    func testLayerObjectiveGradients() {
        let a = TestData.uniform([3, 5, 4, 6], seed: 1)
        let v: [Float] = [0.5, -1, 0.25, 2, 0.75]
        check(.neuron("l", 2), layer: "l", input: a)
        check(.neuron("l", 4, x: 1, y: 3), layer: "l", input: a)
        check(.channel("l", 3), layer: "l", input: a)
        check(.deepdream("l"), layer: "l", input: a)
        for p: Float in [0, 1, 2, 4] {
            check(.direction("l", v, cossimPower: p), layer: "l", input: a)
            check(.directionNeuron("l", v, cossimPower: p), layer: "l", input: a)
            check(.directionNeuron("l", v, x: 0, y: 1, cossimPower: p), layer: "l", input: a)
        }
        check(.classLogit(7, layer: "logits"), layer: "logits", input: TestData.uniform([2, 10], seed: 2))
        check(.diversity("l"), layer: "l", input: a, tol: 5e-3)
        check(.channel("l", 1) - 0.5 * .deepdream("l") + 2 * .diversity("l"), layer: "l", input: a, tol: 5e-3)
    }

    func testImageObjectiveGradients() {
        // A staircase plus small noise keeps neighbour differences and |x − c| away from the kinks of |·|.
        let img = TestData.uniform([2, 3, 5, 6], in: -0.02...0.02, seed: 3)
        for i in 0..<img.count { img.data[i] += 0.1 * Float(i % 30) + (i % 2 == 0 ? 0.37 : -0.41) }
        check(.totalVariation, layer: nil, input: img)
        check(.l1(constant: 0.05), layer: nil, input: img)
        check(.l2(), layer: nil, input: img)
        check(.l2(constant: 0.5, epsilon: 1e-3), layer: nil, input: img)
    }

    func testValues() throws {
        let a = Tensor(zeros: [1, 2, 3, 3])
        for i in 0..<18 { a.data[i] = Float(i) }
        let acts = ["l": a]
        XCTAssertEqual(try Objective.neuron("l", 1).evaluate(activations: acts).values, [13])  // centre (1, 1)
        XCTAssertEqual(try Objective.channel("l", 0).evaluate(activations: acts).values, [4])
        let dd = (0..<18).map { Double($0 * $0) }.reduce(0, +) / 18
        XCTAssertEqual(try Objective.deepdream("l").evaluate(activations: acts).values[0], dd, accuracy: 1e-9)
        // Direction at (0, 0): a = (0, 9), v = (3, 4): dot = 0·3 + 9·4 = 36; |a| = 9, |v| = 5, cos = 36/45 = 0.8.
        let d = try Objective.directionNeuron("l", [3, 4], x: 0, y: 0, cossimPower: 2).evaluate(activations: acts).values[0]
        let cos = 36 / ((9 + 1e-4) * (5 + 1e-4))
        XCTAssertEqual(d, 36 * cos * cos, accuracy: 1e-4)
        // Floor at 0.1: a = (0, 9), v = (1, -0.1) → cos < 0.1 → value = dot · 0.1^p.
        let floored = try Objective.directionNeuron("l", [1, -0.1], x: 0, y: 0, cossimPower: 3).evaluate(activations: acts).values[0]
        XCTAssertEqual(floored, -0.9 * 0.001, accuracy: 1e-7)
        // Image terms.
        let img = Tensor(shape: [1, 1, 2, 2], values: [0, 1, 3, 7])
        XCTAssertEqual(try Objective.totalVariation.evaluate(activations: [:], image: img).values, [1 + 6 + 3 + 4])
        XCTAssertEqual(try Objective.l1(constant: 1).evaluate(activations: [:], image: img).values, [1 + 0 + 2 + 6])
        XCTAssertEqual(try Objective.l2().evaluate(activations: [:], image: img).values[0], (59 + 1e-6).squareRoot(), accuracy: 1e-6)
    }

    func testBlurIsLucidsStopGradientPenalty() throws {
        let img = TestData.uniform([2, 3, 5, 4], in: 0...1, seed: 8)
        let r = try Objective.blur.evaluate(activations: [:], image: img)
        // Naive reference: 3×3 kernel (1 centre, 0.5 ring), zero padding, divided by the kernel mass inside the image.
        var value = [0.0, 0.0]
        for n in 0..<2 {
            for c in 0..<3 {
                for y in 0..<5 {
                    for x in 0..<4 {
                        var s: Float = 0, m: Float = 0
                        for yy in max(0, y - 1)...min(4, y + 1) {
                            for xx in max(0, x - 1)...min(3, x + 1) {
                                let k: Float = (yy == y && xx == x) ? 1 : 0.5
                                s += k * img[n, c, yy, xx]
                                m += k
                            }
                        }
                        let d = img[n, c, y, x] - s / m
                        value[n] += 0.5 * Double(d * d)
                        XCTAssertEqual(r.imageGradient![n, c, y, x], d, accuracy: 1e-6)
                    }
                }
            }
        }
        XCTAssertEqual(r.values[0], value[0], accuracy: 1e-6)
        XCTAssertEqual(r.values[1], value[1], accuracy: 1e-6)
        let flat = Tensor(shape: [1, 1, 3, 3], repeating: 0.7)
        XCTAssertEqual(try Objective.blur.evaluate(activations: [:], image: flat).values[0], 0, accuracy: 1e-10)
    }

    func testDiversityMatchesLucidFormula() throws {
        let a = TestData.uniform([3, 2, 2, 2], seed: 4)
        let r = try Objective.diversity("l").evaluate(activations: ["l": a])
        func gram(_ i: Int) -> [Double] {
            var g = [Double](repeating: 0, count: 4)
            for p in 0..<2 { for q in 0..<2 { for s in 0..<4 { g[p * 2 + q] += Double(a.data[i * 8 + p * 4 + s] * a.data[i * 8 + q * 4 + s]) } } }
            let norm = g.map { $0 * $0 }.reduce(0, +).squareRoot()
            return g.map { $0 / norm }
        }
        let g = (0..<3).map(gram)
        var total = 0.0
        for i in 0..<3 { for j in 0..<3 where j != i { total += zip(g[i], g[j]).map(*).reduce(0, +) } }
        XCTAssertEqual(r.values.reduce(0, +), total / 3, accuracy: 1e-5)
        XCTAssertTrue(Objective.diversity("l").couplesIcons)
        XCTAssertFalse(Objective.channel("l", 0).couplesIcons)
    }

    func testPerIconTermsAndIndependence() throws {
        let a = TestData.uniform([3, 4, 3, 3], seed: 6)
        let o = Objective.perIcon([.channel("l", 0), .neuron("l", 1), .channel("l", 2) - 0.1 * .deepdream("l")])
        let r = try o.evaluate(activations: ["l": a])
        for i in 0..<3 {
            let single = [Objective.channel("l", 0), .neuron("l", 1), .channel("l", 2) - 0.1 * .deepdream("l")][i]
            let s = try single.evaluate(activations: ["l": a.slice(batch: i..<(i + 1)).copy()])
            XCTAssertEqual(r.values[i], s.values[0], accuracy: 1e-12)
            XCTAssertEqual(bytes(r.gradients["l"]!.slice(batch: i..<(i + 1))), bytes(s.gradients["l"]!))
        }
        XCTAssertThrowsError(try Objective.perIcon([.channel("l", 0)]).evaluate(activations: ["l": Tensor(zeros: [0, 4, 3, 3])]))
    }

    func testErrors() {
        let acts = ["l": Tensor(zeros: [2, 4, 3, 3])]
        XCTAssertEqual(error(try Objective.channel("m", 0).evaluate(activations: acts)), .missingLayer("m"))
        XCTAssertNotNil(error(try Objective.channel("l", 4).evaluate(activations: acts)))
        XCTAssertNotNil(error(try Objective.neuron("l", 0, x: 3, y: 0).evaluate(activations: acts)))
        XCTAssertNotNil(error(try Objective.direction("l", [1, 2]).evaluate(activations: acts)))
        XCTAssertEqual(error(try Objective.totalVariation.evaluate(activations: acts)), .missingImage)
        XCTAssertNotNil(error(try Objective.classLogit(3, layer: "l").evaluate(activations: ["l": Tensor(zeros: [2, 3])])))
    }

    func error(_ body: @autoclosure () throws -> ObjectiveResult) -> ObjectiveError? {
        do { _ = try body(); return nil } catch { return error as? ObjectiveError }
    }

    func testParser() throws {
        XCTAssertEqual(try Objective.parse("mixed4a:97 - 0.5*mixed3b:12"), .channel("mixed4a", 97) - 0.5 * .channel("mixed3b", 12))
        XCTAssertEqual(try Objective.parse("class:3"), .classLogit(3))
        XCTAssertEqual(try Objective.parse("mixed4a:97 - tv*1e-3"), .channel("mixed4a", 97) - 1e-3 * .totalVariation)
        XCTAssertEqual(try Objective.parse("neuron(mixed4a:97:3:3)"), .neuron("mixed4a", 97, x: 3, y: 3))
        XCTAssertEqual(try Objective.parse("neuron(mixed4a:97:_:2)"), .neuron("mixed4a", 97, x: nil, y: 2))
        XCTAssertEqual(try Objective.parse("-(a:1 + 2*b:2)/4"), -0.25 * (.channel("a", 1) + 2 * .channel("b", 2)))
        XCTAssertEqual(try Objective.parse("dirneuron(mixed4c:[1,-2.5,3e-1]:1:2, 4)"),
                       .directionNeuron("mixed4c", [1, -2.5, 0.3], x: 1, y: 2, cossimPower: 4))
        XCTAssertEqual(try Objective.parse("\"/inception4a/Concat_output_0\":5"), .channel("/inception4a/Concat_output_0", 5))
        XCTAssertEqual(try Objective.parse("/inception4a/Concat_output_0:5"), .channel("/inception4a/Concat_output_0", 5))
        XCTAssertEqual(try Objective.parse("icon(1, l:2)"), Objective(terms: [ObjectiveTerm(kind: .channel(layer: "l", channel: 2), icon: 1)]))
        let vec = try Objective.parse("dir(l:@v.txt)", loadVector: { XCTAssertEqual($0, "v.txt"); return [1, 2] })
        XCTAssertEqual(vec, .direction("l", [1, 2]))

        let roundTrips: [Objective] = [
            .channel("mixed4a", 97) - 0.5 * .channel("mixed3b", 12),
            .neuron("l", 1) + .neuron("l.x/y", 2, x: 0, y: nil) - .classLogit(4) + 3 * .classLogit(1, layer: "fc"),
            .direction("l", [0.1, -2], cossimPower: 2) + .directionNeuron("l", [1e-7, 3], x: 1, y: 1),
            .deepdream("l") - 1e-3 * .totalVariation - .l1() - 0.5 * .l1(constant: 0.5) - .l2() - .l2(constant: 0.5, epsilon: 1e-4),
            -Objective.blur + .diversity("with space") + .channel("class", 2) + .channel("q\"uote", 1),
            .perIcon([.channel("a", 1), .channel("b", 2)]),
        ]
        for o in roundTrips { XCTAssertEqual(try Objective.parse(o.description), o, o.description) }

        let errors: [(String, Int)] = [("mixed4a:", 8), ("foo", 0), ("a:1 * b:2", 4), ("2 + a:1", 2), ("neuron(a)", 8),
                                       ("a:1 +", 5), ("dir(l:[1,x])", 9), ("a:1)", 3), ("frob(a:1)", 0), ("3", 0), ("a:1/0", 3)]
        for (text, at) in errors {
            XCTAssertThrowsError(try Objective.parse(text), text) { e in
                guard case let .parse(_, position)? = e as? ObjectiveError else { return XCTFail("\(text): \(e)") }
                XCTAssertEqual(position, at, text)
            }
        }
    }

    func testVectorFiles() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("atlasvis-\(getpid())")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        // A version-1 .npy of three little-endian float32 values, header padded to 64 bytes as numpy does.
        var header = "{'descr': '<f4', 'fortran_order': False, 'shape': (3,), }"
        while (10 + header.count + 1) % 64 != 0 { header += " " }
        header += "\n"
        var data = Data([0x93] + Array("NUMPY".utf8) + [1, 0, UInt8(header.count), 0]) + Data(header.utf8)
        for v: Float in [1.5, -2, 0.25] { withUnsafeBytes(of: v.bitPattern.littleEndian) { data.append(contentsOf: $0) } }
        let npy = dir.appendingPathComponent("v.npy")
        try data.write(to: npy)
        XCTAssertEqual(try VectorFile.load(npy.path), [1.5, -2, 0.25])
        let txt = dir.appendingPathComponent("v.txt")
        try "1, 2\n3e-1 -4\n".write(to: txt, atomically: true, encoding: .utf8)
        XCTAssertEqual(try VectorFile.load(txt.path), [1, 2, 0.3, -4])
        XCTAssertEqual(try Objective.parse("dir(l:@\(npy.path),2)"), .direction("l", [1.5, -2, 0.25], cossimPower: 2))
        XCTAssertThrowsError(try VectorFile.load(dir.appendingPathComponent("missing.npy").path))
        try Data([1, 2, 3]).write(to: dir.appendingPathComponent("bad.npy"))
        XCTAssertThrowsError(try VectorFile.load(dir.appendingPathComponent("bad.npy").path))
    }

    func testAdamMatchesTensorFlowFormula() {
        let params = Tensor(shape: [1, 2], values: [0.3, -1])
        let adam = Adam(shape: [1, 2])
        var ref: [Double] = [0.3, -1], m = [0.0, 0.0], v = [0.0, 0.0]
        let grads: [[Float]] = [[1, -0.5], [0.2, 0.1], [-3, 0.01]]
        for (t, g) in grads.enumerated() {
            adam.ascend(params, grad: Tensor(shape: [1, 2], values: g))
            let lr = 0.05 * (1 - pow(0.999, Double(t + 1))).squareRoot() / (1 - pow(0.9, Double(t + 1)))
            for i in 0..<2 {
                m[i] = 0.9 * m[i] + 0.1 * Double(g[i])
                v[i] = 0.999 * v[i] + 0.001 * Double(g[i]) * Double(g[i])
                ref[i] += lr * m[i] / (v[i].squareRoot() + 1e-8)
            }
        }
        assertClose(params.toArray(), ref.map(Float.init), tol: 1e-6)
        XCTAssertEqual(adam.step, 3)
    }
}
