import AtlasCore
import AtlasTestSupport
import XCTest

final class GEMMTests: XCTestCase {
    /// Stored operands for one product: A is m×k (k×m when transposed), B is k×n (n×k when transposed).
    struct Case {
        let transA: Bool, transB: Bool, m: Int, n: Int, k: Int
        var alpha: Float = 1, beta: Float = 0
        var padA = 0, padB = 0, padC = 0
    }

    /// Runs `sgemm` on random operands and compares with a double-accumulating naive product.
    /// Returns the worst |error| / (Σ|alpha·a·b| + |beta·c| + tiny) over C.
    @discardableResult
    func check(_ t: Case, seed: UInt64, file: StaticString = #filePath, line: UInt = #line) -> Double {
        let aRows = t.transA ? t.k : t.m, aCols = t.transA ? t.m : t.k
        let bRows = t.transB ? t.n : t.k, bCols = t.transB ? t.k : t.n
        let lda = aCols + t.padA, ldb = bCols + t.padB, ldc = t.n + t.padC
        let a = TestData.uniform([max(aRows * lda, 1)], seed: seed)
        let b = TestData.uniform([max(bRows * ldb, 1)], seed: seed + 1)
        let c0 = TestData.uniform([max(t.m * ldc, 1)], seed: seed + 2)
        let c = c0.copy()
        if t.beta == 0 { c.fill(.nan) }  // beta = 0 must not read C.
        GEMM.sgemm(transA: t.transA, transB: t.transB, m: t.m, n: t.n, k: t.k, alpha: t.alpha,
                   a: a.data, lda: lda, b: b.data, ldb: ldb, beta: t.beta, c: c.data, ldc: ldc)
        var worst = 0.0
        for i in 0..<t.m {
            for j in 0..<t.n {
                var s = 0.0, mag = 0.0
                for p in 0..<t.k {
                    let av = Double(t.transA ? a.data[p * lda + i] : a.data[i * lda + p])
                    let bv = Double(t.transB ? b.data[j * ldb + p] : b.data[p * ldb + j])
                    s += av * bv
                    mag += abs(av * bv)
                }
                var ref = Double(t.alpha) * s
                mag *= abs(Double(t.alpha))
                if t.beta != 0 {
                    ref += Double(t.beta) * Double(c0.data[i * ldc + j])
                    mag += abs(Double(t.beta) * Double(c0.data[i * ldc + j]))
                }
                let err = abs(Double(c.data[i * ldc + j]) - ref) / (mag + 1e-6)
                if !(err <= worst) { worst = err.isNaN ? .infinity : err }
            }
            // Padding columns of C are untouched.
            for j in t.n..<ldc where t.beta != 0 {
                XCTAssertEqual(c.data[i * ldc + j], c0.data[i * ldc + j], file: file, line: line)
            }
        }
        XCTAssertLessThan(worst, 1e-5, "\(t)", file: file, line: line)
        return worst
    }

    /// Runs `body` once under every micro-kernel this machine can run (AVX-512 is skipped without it).
    func forEachKernel(_ body: (GEMMKernel) -> Void) {
        for kernel in GEMMKernel.allCases where kernel.isAvailable {
            GEMM.withKernel(kernel) { body(kernel) }
        }
    }

    func testAllTransposesOddSizes() {
        forEachKernel { _ in allTransposesOddSizes() }
    }

    func allTransposesOddSizes() {
        let sizes: [(Int, Int, Int)] = [(1, 1, 1), (1, 5, 17), (5, 17, 63), (17, 5, 3), (63, 17, 200), (200, 63, 17),
                                        (37, 129, 300), (130, 70, 520)]
        var seed: UInt64 = 10
        for (m, n, k) in sizes {
            for transA in [false, true] {
                for transB in [false, true] {
                    check(Case(transA: transA, transB: transB, m: m, n: n, k: k), seed: seed)
                    seed += 3
                }
            }
        }
    }

    func testAlphaBetaAndLeadingDimensions() {
        forEachKernel { _ in alphaBetaAndLeadingDimensions() }
    }

    func alphaBetaAndLeadingDimensions() {
        var seed: UInt64 = 100
        for (m, n, k) in [(3, 9, 4), (29, 41, 33), (200, 45, 70)] {
            for transA in [false, true] {
                for transB in [false, true] {
                    check(Case(transA: transA, transB: transB, m: m, n: n, k: k, alpha: -0.75, beta: 0.5,
                               padA: 3, padB: 5, padC: 7), seed: seed)
                    check(Case(transA: transA, transB: transB, m: m, n: n, k: k, alpha: 2, beta: 0,
                               padA: 1, padB: 0, padC: 2), seed: seed + 1)
                    seed += 3
                }
            }
        }
    }

    func testWideAndDegenerateShapes() {
        forEachKernel { _ in wideAndDegenerateShapes() }
    }

    /// Shapes around both kernels' tiles (6×16, 12×32) and depth blocks (384): every edge-tile row and column
    /// count, several depth blocks, beta ≠ 0 with padded C (masked stores must not touch the padding).
    func testEdgeTilesAndDepthBlocks() {
        forEachKernel { kernel in
            var seed: UInt64 = 500
            for (m, n, k) in [(11, 31, 385), (13, 33, 769), (25, 47, 100), (12, 32, 384), (6, 16, 1), (23, 65, 7),
                              (35, 95, 390), (49, 17, 1200), (200, 97, 41)] {
                for (transA, transB) in [(false, false), (true, false), (false, true), (true, true)] {
                    check(Case(transA: transA, transB: transB, m: m, n: n, k: k, alpha: 1.5, beta: -0.5,
                               padA: 2, padB: 3, padC: 5), seed: seed)
                    seed += 3
                }
                check(Case(transA: false, transB: false, m: m, n: n, k: k), seed: seed)
                seed += 3
            }
            // The kernel stayed selected for the whole run.
            XCTAssertEqual(GEMM.kernel, kernel)
        }
    }

    /// A pre-packed A gives the same bits as packing inside `sgemm` (several row and depth blocks, both layouts),
    /// and is ignored when it does not fit the product.
    /// The epilogue sees every element of C exactly once, after its last depth block, on the packed path (several row
    /// blocks, column groups and depth blocks, both kernels) and on the small-product path.
    func testEpilogueCoversEachBlockOnceWhenFinished() {
        for kernel in GEMMKernel.allCases where kernel.isAvailable {
            GEMM.withKernel(kernel) {
                for (m, n, k, invariant) in [(200, 600, 300, true), (3, 5, 7, false)] {
                    let a = TestData.uniform([m, k], seed: 1), b = TestData.uniform([k, n], seed: 2)
                    let plain = Tensor(zeros: [m, n]), hooked = Tensor(zeros: [m, n])
                    var seen = [Int](repeating: 0, count: m * n)
                    GEMM.sgemm(transA: false, transB: false, m: m, n: n, k: k, alpha: 1, a: a.data, lda: k, b: b.data, ldb: n,
                               beta: 0, c: plain.data, ldc: n, rowInvariant: invariant)
                    let c = hooked.data
                    seen.withUnsafeMutableBufferPointer { counts in
                        let counts = counts.baseAddress!
                        Parallel.withThreads(1) {
                            GEMM.sgemm(transA: false, transB: false, m: m, n: n, k: k, alpha: 1, a: a.data, lda: k, b: b.data,
                                       ldb: n, beta: 0, c: c, ldc: n, rowInvariant: invariant) { rows, cols in
                                for r in rows { for j in cols { counts[r * n + j] += 1; c[r * n + j] += 1 } }
                            }
                        }
                    }
                    XCTAssertEqual(Set(seen), [1], "\(kernel) \(m)×\(n)×\(k)")
                    XCTAssertEqual(hooked.toArray(), plain.toArray().map { $0 + 1 }, "\(kernel) \(m)×\(n)×\(k)")
                }
            }
        }
    }

    func testPrepackedAGivesTheSameBits() {
        forEachKernel { kernel in
            for (m, n, k, transA) in [(200, 300, 700, false), (37, 129, 520, true), (13, 40, 9, false), (101, 600, 800, false),
                                       (50, 530, 300, true)] {
                let a = TestData.uniform([m * k], seed: 40), b = TestData.uniform([k * n], seed: 41)
                let lda = transA ? m : k
                let packed = PackedA(kernel: kernel, transA: transA, m: m, k: k, a: a.data, lda: lda)
                // Another shape (k + 1), read from a buffer large enough for it either way round.
                let o = TestData.uniform([(k + 1) * max(m, k + 1)], seed: 42)
                let other = PackedA(kernel: kernel, transA: transA, m: m, k: k + 1, a: o.data, lda: k + 1)
                var results = [[UInt32]]()
                for p in [nil, packed, other] {
                    let c = Tensor(zeros: [m, n])
                    GEMM.sgemm(transA: transA, transB: false, m: m, n: n, k: k, alpha: 1, a: a.data, lda: lda, b: b.data,
                               ldb: n, beta: 0, c: c.data, ldc: n, packedA: p)
                    results.append(c.toArray().map(\.bitPattern))
                }
                XCTAssertEqual(results[0], results[1], "\(kernel) \(m)×\(n)×\(k)")
                XCTAssertEqual(results[0], results[2], "a packing of another shape must be ignored")
            }
        }
    }

    /// A C too large for the cache between depth blocks takes `blockedByRows` (each row block through every depth
    /// block): the same bits as the depth-block sweep (which a prepacked A always takes), both transposes, with an
    /// epilogue that sees every block once, and close to the double-precision product.
    func testRowBlockOrderGivesTheSameBits() {
        forEachKernel { kernel in
            let m = 8 * kernel.mc + 37, n = max(2_100_000 / m + 1, 700), k = 2 * kernel.kc + 45
            for (transA, transB) in [(false, false), (true, true)] {
                let a = TestData.uniform([m * k], seed: 80), b = TestData.uniform([k * n], seed: 81)
                let lda = transA ? m : k, ldb = transB ? k : n
                let packed = PackedA(kernel: kernel, transA: transA, m: m, k: k, a: a.data, lda: lda)
                let c0 = TestData.uniform([m * n], seed: 82)
                var results = [[UInt32]]()
                let seen = UnsafeMutableBufferPointer<Int32>.allocate(capacity: m * n)   // blocks write disjoint parts
                seen.initialize(repeating: 0)
                defer { seen.deallocate() }
                for p in [nil, packed] {
                    let c = c0.copy()
                    GEMM.sgemm(transA: transA, transB: transB, m: m, n: n, k: k, alpha: 0.5, a: a.data, lda: lda,
                               b: b.data, ldb: ldb, beta: 0.25, c: c.data, ldc: n, packedA: p,
                               epilogue: p != nil ? nil : { rows, cols in
                                   for i in rows { for j in cols { seen[i * n + j] += 1 } }
                               })
                    results.append(c.toArray().map(\.bitPattern))
                }
                XCTAssertEqual(results[0], results[1], "\(kernel) transA \(transA) \(m)×\(n)×\(k)")
                XCTAssertEqual(Set(seen), [1], "every block's epilogue runs exactly once")
                for (i, j) in [(0, 0), (m - 1, n - 1), (m / 2, n / 3), (kernel.mc, 257)] {
                    var s = 0.0
                    for p in 0..<k {
                        let av = Double(transA ? a.data[p * lda + i] : a.data[i * lda + p])
                        let bv = Double(transB ? b.data[j * ldb + p] : b.data[p * ldb + j])
                        s += av * bv
                    }
                    let want = 0.5 * s + 0.25 * Double(c0.data[i * n + j])
                    XCTAssertEqual(Double(Float(bitPattern: results[0][i * n + j])), want, accuracy: 1e-4 * Double(k))
                }
            }
        }
    }

    func testKernelSelection() throws {
        defer { unsetenv("ATLAS_KERNEL") }
        setenv("ATLAS_KERNEL", "avx2", 1)
        XCTAssertEqual(GEMMKernel.preferred(), .avx2)
        setenv("ATLAS_KERNEL", "AVX512", 1)
        XCTAssertEqual(GEMMKernel.preferred(), GEMMKernel.avx512.isAvailable ? .avx512 : .avx2)
        GEMM.withKernel(.avx2) { XCTAssertEqual(GEMM.kernel, .avx2) }
        try XCTSkipUnless(GEMMKernel.avx512.isAvailable, "no AVX-512F on this CPU: the forced AVX-512 case is skipped")
        unsetenv("ATLAS_KERNEL")
        XCTAssertEqual(GEMMKernel.preferred(), .avx512)
        GEMM.withKernel(.avx512) { XCTAssertEqual(GEMM.kernel, .avx512) }
    }

    func wideAndDegenerateShapes() {
        // More columns than one NC block, and a single-row / single-column product.
        check(Case(transA: false, transB: false, m: 7, n: 4100, k: 9, beta: 1), seed: 300)
        check(Case(transA: true, transB: true, m: 1, n: 1000, k: 300), seed: 301)
        check(Case(transA: false, transB: false, m: 300, n: 1, k: 77), seed: 302)
        // k = 0: C = beta·C.
        let c = Tensor(shape: [2, 3], repeating: 2)
        let dummy = Tensor(zeros: [1])
        GEMM.sgemm(transA: false, transB: false, m: 2, n: 3, k: 0, alpha: 1, a: dummy.data, lda: 1, b: dummy.data,
                   ldb: 3, beta: 0.5, c: c.data, ldc: 3)
        XCTAssertEqual(c.toArray(), [Float](repeating: 1, count: 6))
    }

    func testBitIdenticalAcrossThreadCounts() {
        forEachKernel { _ in bitIdenticalAcrossThreadCounts() }
    }

    func bitIdenticalAcrossThreadCounts() {
        // The last two are narrow enough that 16 and more threads cut their column groups and row blocks.
        for (m, n, k, tA, tB) in [(211, 333, 700, false, false), (97, 1100, 150, true, true), (3, 900, 600, false, true),
                                  (128, 200, 300, false, false), (50, 64, 70, true, false)] {
            let a = TestData.uniform([m * k], seed: 7), b = TestData.uniform([k * n], seed: 8)
            var results = [[UInt32]]()
            for threads in [1, 2, 7, 16, 40] {
                let c = Tensor(zeros: [m, n])
                Parallel.withThreads(threads) {
                    GEMM.sgemm(transA: tA, transB: tB, m: m, n: n, k: k, alpha: 1, a: a.data, lda: tA ? m : k,
                               b: b.data, ldb: tB ? k : n, beta: 0, c: c.data, ldc: n)
                }
                results.append(c.toArray().map(\.bitPattern))
            }
            for t in 1..<results.count { XCTAssertEqual(results[0], results[t], "thread count #\(t), \(m)×\(n)×\(k)") }
        }
    }
}
