import AtlasCore
import AtlasTestSupport
import AtlasVis
import XCTest

final class TransformTests: XCTestCase {
    func testLucidConstants() {
        XCTAssertEqual(TransformPipeline.standardScales,
                       [0.9, 0.92, 0.94, 0.96, 0.98, 1.0, 1.02, 1.04, 1.06, 1.08, 1.1].map { Float($0) })
        XCTAssertEqual(TransformPipeline.standardAngles.count, 26)
        XCTAssertEqual(TransformPipeline.standardAngles.filter { $0 == 0 }.count, 6)
        XCTAssertEqual(Array(TransformPipeline.standardAngles.prefix(21)), (-10...10).map { Float($0) })
        let s = try? TransformPipeline.standard.outputSize(height: 128, width: 128)
        XCTAssertEqual(s?.height, 140)  // 128 + 24 − 8 − 4
        XCTAssertEqual(s?.width, 140)
    }

    /// A single transform with fixed draws, as a plain function for adjoint checks.
    func apply(_ t: Transform, _ x: Tensor, seed: UInt64 = 5) throws -> (Tensor, TransformRecord) {
        let p = TransformPipeline([t])
        return try p.forward(x, seeds: (0..<x.shape[0]).map { UInt64($0) &+ seed }, step: 3)
    }

    func testPadForward() throws {
        let x = Tensor(shape: [1, 1, 1, 3], values: [1, 2, 3])
        // Reflect on the row axis needs height > 2, so check width via a 3×3 image's middle row.
        let sq = Tensor(shape: [1, 1, 3, 3], values: [1, 2, 3, 4, 5, 6, 7, 8, 9])
        let (r, _) = try apply(.pad(2, .reflect), sq)
        XCTAssertEqual(Array(r.toArray()[(3 * 7)..<(4 * 7)]), [6, 5, 4, 5, 6, 5, 4])  // row of 4 5 6 reflected
        XCTAssertEqual(Array(r.toArray()[0..<7]), [9, 8, 7, 8, 9, 8, 7])              // row −2 reflects to row 2
        let (c, _) = try apply(.pad(1, .constant(0.5)), x)
        XCTAssertEqual(c.shape, [1, 1, 3, 5])
        XCTAssertEqual(Array(c.toArray()[5..<10]), [0.5, 1, 2, 3, 0.5])
        XCTAssertThrowsError(try apply(.pad(3, .reflect), sq))
    }

    func testJitterIsLucidRandomCrop() throws {
        let x = TestData.uniform([1, 2, 10, 9], seed: 2)
        let (y, rec) = try apply(.jitter(3), x)
        XCTAssertEqual(y.shape, [1, 2, 7, 6])
        guard case let .offset(dy, dx) = rec.draws[0][0] else { return XCTFail("no offset draw") }
        XCTAssertEqual(y[0, 1, 4, 5], x[0, 1, 4 + dy, 5 + dx])
        // Offsets cover 0…d inclusive on each axis.
        var seen = Set<Int>()
        for s in 0..<200 {
            if case let .offset(a, b) = TransformPipeline([.jitter(3)]).draws(seed: UInt64(s), step: 0)[0] { seen.insert(a * 10 + b) }
        }
        XCTAssertEqual(seen.count, 16)
    }

    func testRotateQuarterTurnIsAPermutation() throws {
        let x = TestData.uniform([1, 1, 4, 4], seed: 3)
        let (y, _) = try TransformPipeline([.rotate([90])]).forward(x, seeds: [0], step: 0)
        // Output (x, y) reads input (cx − (y − cy), cy + (x − cx)).
        for yy in 0..<4 { for xx in 0..<4 { XCTAssertEqual(y[0, 0, yy, xx], x[0, 0, xx, 3 - yy], accuracy: 1e-5) } }
    }

    func testScaleZoomsAboutTheCentre() throws {
        let x = Tensor(zeros: [1, 1, 5, 6])
        for i in 0..<30 { x.data[i] = Float(i % 6) }  // value = column
        let (y, _) = try TransformPipeline([.scale([2])]).forward(x, seeds: [0], step: 0)
        for col in 0..<6 { XCTAssertEqual(y[0, 0, 2, col], 2.5 + (Float(col) - 2.5) / 2, accuracy: 1e-6) }
        // Shrinking clamps to the edge pixel outside the frame.
        let (z, _) = try TransformPipeline([.scale([0.5])]).forward(x, seeds: [0], step: 0)
        XCTAssertEqual(z[0, 0, 1, 0], 0)
        XCTAssertEqual(z[0, 0, 1, 5], 5)
        XCTAssertEqual(z[0, 0, 1, 2], 2.5 + (2 - 2.5) * 2, accuracy: 1e-6)
    }

    /// ⟨T x, y⟩ = ⟨x, Tᵀ y⟩ for the (affine part of the) forward map, for many random draws.
    func testBackwardIsTheExactAdjoint() throws {
        let pipelines: [TransformPipeline] = [
            .standard, TransformPipeline([.pad(3, .reflect), .rotate([-7, 13]), .scale([0.83, 1.21]), .jitter(5)]),
        ]
        for p in pipelines {
            for step in 0..<4 {
                let x = TestData.uniform([3, 3, 20, 17], seed: UInt64(step))
                let seeds: [UInt64] = [11, 12, 13]
                let (y, rec) = try p.forward(x, seeds: seeds, step: step)
                let (y0, _) = try p.forward(Tensor(zeros: x.shape), seeds: seeds, step: step)  // constant part (padding)
                let r = TestData.uniform(y.shape, seed: 100 + UInt64(step))
                let lhs = dot(y, r) - dot(y0, r)
                let rhs = dot(x, p.backward(r, record: rec))
                XCTAssertEqual(lhs, rhs, accuracy: 1e-4 * max(1, abs(lhs)), "\(p) step \(step)")
            }
        }
    }

    /// The vectorized bilinear warps give, bit for bit, the plain per-pixel definition: each output sums its four
    /// taps in order (skipping a zero weight, or a tap outside the plane when rotating), the adjoint adds each
    /// output's taps to the input gradient in output order. Widths below, at and past eight and sixteen lanes; the
    /// portable Swift loops and, where the CPU has AVX-512, the C kernels.
    func testWarpsMatchPerPixelDefinitionExactly() throws {
        let kernels = [GEMMKernel.avx2] + (GEMMKernel.avx512.isAvailable ? [.avx512] : [])
        for kernel in kernels { try GEMM.withKernel(kernel) { try checkWarpsAgainstPerPixelDefinition(kernel) } }
    }

    /// Crops (a translation besides the zoom) give the same bits on both paths.
    func testCropWarpSameOnBothPaths() throws {
        guard GEMMKernel.avx512.isAvailable else { throw XCTSkip("no AVX-512") }
        let p = TransformPipeline([.crop(0.6, 1.0)])
        let x = TestData.uniform([3, 3, 37, 41], seed: 5)
        let g = TestData.uniform(x.shape, seed: 6)
        func run(_ k: GEMMKernel) throws -> ([Float], [Float]) {
            try GEMM.withKernel(k) {
                let (y, record) = try p.forward(x, seeds: [4, 5, 6], step: 3)
                return (y.toArray(), p.backward(g, record: record).toArray())
            }
        }
        let (portable, avx512) = (try run(.avx2), try run(.avx512))
        XCTAssertEqual(portable.0, avx512.0)
        XCTAssertEqual(portable.1, avx512.1)
    }

    private func checkWarpsAgainstPerPixelDefinition(_ kernel: GEMMKernel) throws {
        // Scale 2.3 lands several outputs on one input pixel; 0.4 clamps whole rows and columns onto the edge.
        let warps: [(Transform, Bool)] = [(.scale([1.07]), true), (.scale([0.91]), true), (.scale([0.4]), true), (.scale([2.3]), true),
                                          (.rotate([9]), false), (.rotate([-13]), false)]
        for (t, clamp) in warps {
            for (h, w) in [(6, 5), (9, 8), (5, 16), (12, 17), (7, 23), (40, 37)] {
                let x = TestData.uniform([2, 3, h, w], seed: UInt64(h * w))
                let p = TransformPipeline([t])
                let (y, record) = try p.forward(x, seeds: [1, 2], step: 0)
                let g = TestData.uniform(y.shape, seed: UInt64(h + w))
                let gx = p.backward(g, record: record)
                var a: Float = 1, b: Float = 0, c: Float = 0, d: Float = 1
                switch t {
                case let .scale(s): a = 1 / s[0]; d = a
                case let .rotate(deg):
                    let r = Double(deg[0]) * Double.pi / 180
                    a = Float(cos(r)); b = Float(-sin(r)); c = Float(sin(r)); d = Float(cos(r))
                default: break
                }
                var expectY = [Float](repeating: 0, count: x.count), expectG = [Float](repeating: 0, count: x.count)
                let xs = x.toArray(), gs = g.toArray()
                let cx = Float(w - 1) / 2, cy = Float(h - 1) / 2
                for plane in 0..<6 {
                    let base = plane * h * w
                    for oy in 0..<h { for ox in 0..<w {
                        let rx = Float(ox) - cx, ry = Float(oy) - cy
                        let sx = a * rx + b * ry + cx, sy = c * rx + d * ry + cy
                        let fx = sx - sx.rounded(.down), fy = sy - sy.rounded(.down)
                        let o = base + oy * w + ox
                        for (dy, wy) in [(0, 1 - fy), (1, fy)] where wy != 0 {
                            var yy = Int(sy.rounded(.down)) + dy
                            if clamp { yy = min(max(yy, 0), h - 1) } else if yy < 0 || yy >= h { continue }
                            for (dx, wx) in [(0, 1 - fx), (1, fx)] where wx != 0 {
                                var xx = Int(sx.rounded(.down)) + dx
                                if clamp { xx = min(max(xx, 0), w - 1) } else if xx < 0 || xx >= w { continue }
                                expectY[o] += wy * wx * xs[base + yy * w + xx]
                                expectG[base + yy * w + xx] += wy * wx * gs[o]
                            }
                        }
                    } }
                }
                XCTAssertEqual(y.toArray(), expectY, "\(kernel) \(t) \(h)×\(w)")
                XCTAssertEqual(gx.toArray(), expectG, "\(kernel) \(t) \(h)×\(w)")
            }
        }
    }

    func testBackwardAgainstFiniteDifferences() throws {
        let ts: [Transform] = [.pad(2, .constant(0.5)), .pad(2, .reflect), .jitter(3), .scale([0.9, 1.13]), .rotate([-9, 17])]
        for t in ts {
            let p = TransformPipeline([t])
            let seeds: [UInt64] = [1, 2]
            let layer = FunctionLayer(forwardFn: { try! p.forward($0, seeds: seeds, step: 7).output },
                                      backwardFn: { x, _, g in p.backward(g, record: try! p.forward(x, seeds: seeds, step: 7).record) })
            let report = GradientCheck.check(layer, inputs: [TestData.uniform([2, 2, 9, 8], seed: 4)], eps: 1e-2, seed: 9)
            XCTAssertLessThan(report.maxError, 1e-3, "\(t) \(report)")
        }
    }

    func testDeterministicAndIndependentOfBatch() throws {
        let p = TransformPipeline.standard
        let param = try FFTImageParam(height: 32, width: 32)
        let seeds: [UInt64] = [4, 99, 7]
        let images = param.image(param.initialParameters(seeds: seeds))
        let (a, recA) = try p.forward(images, seeds: seeds, step: 12)
        let (b, _) = try p.forward(images, seeds: seeds, step: 12)
        XCTAssertEqual(bytes(a), bytes(b))
        let one = param.image(param.initialParameters(seeds: [99]))
        let (alone, recAlone) = try p.forward(one, seeds: [99], step: 12)
        XCTAssertEqual(bytes(alone), bytes(a.slice(batch: 1..<2)))
        let g = TestData.uniform(a.shape, seed: 1)
        let gAlone = g.slice(batch: 1..<2).copy()
        XCTAssertEqual(bytes(p.backward(gAlone, record: recAlone)), bytes(p.backward(g, record: recA).slice(batch: 1..<2)))
        let single = try Parallel.withThreads(1) { try p.forward(images, seeds: seeds, step: 12).output }
        XCTAssertEqual(bytes(single), bytes(a))
        // Warps run icon by icon on all planes while there are icons for every thread (1 thread here), else plane by
        // plane (8 threads for 3 icons): the same bits both ways, forward and backward.
        let (planes, recPlanes) = try Parallel.withThreads(8) { try p.forward(images, seeds: seeds, step: 12) }
        XCTAssertEqual(bytes(planes), bytes(a))
        let gPlanes = Parallel.withThreads(8) { p.backward(g, record: recPlanes) }
        XCTAssertEqual(bytes(gPlanes), bytes(Parallel.withThreads(1) { p.backward(g, record: recA) }))
        // Another step draws differently.
        XCTAssertNotEqual(p.draws(seed: 99, step: 12), p.draws(seed: 99, step: 13))
    }

    func testParser() throws {
        XCTAssertEqual(try TransformPipeline.parse("standard"), .standard)
        XCTAssertEqual(try TransformPipeline.parse(" none "), .none)
        XCTAssertEqual(try TransformPipeline.parse("pad:12:0.5, jitter:8, scale:0.9-1.1, rotate:10, jitter:4"), .standard)
        XCTAssertEqual(try TransformPipeline.parse("pad:4:reflect,scale:0.5/2,rotate:-5/5,scale:1-2:3"),
                       TransformPipeline([.pad(4, .reflect), .scale([0.5, 2]), .rotate([-5, 5]), .scale([1, 1.5, 2])]))
        for p in [TransformPipeline.standard, .none, TransformPipeline([.pad(3, .constant(0)), .jitter(2), .rotate([1.5, -2])])] {
            XCTAssertEqual(try TransformPipeline.parse(p.description), p)
        }
        let errors: [(String, Int)] = [("pad:x", 0), ("jitter:8,warp:3", 9), ("jitter:8, scale:1.1-0.9", 10), ("scale:", 0),
                                       ("pad:2:blue", 0), ("rotate:a", 0), ("jitter:2,,pad:1", 9)]
        for (spec, at) in errors {
            XCTAssertThrowsError(try TransformPipeline.parse(spec), spec) { e in
                guard case let .parse(_, position)? = e as? TransformError else { return XCTFail("\(e)") }
                XCTAssertEqual(position, at, spec)
            }
        }
        XCTAssertThrowsError(try TransformPipeline([.jitter(8)]).outputSize(height: 8, width: 20))
    }
}
