import Synchronization

/// op(A) packed once for the blocked SGEMM path of one kernel, for products that reuse the same A (a layer's
/// weights): `sgemm(…, packedA:)` then skips packing A, which for a convolution's small column chunks costs
/// as much as a fifth of the product. The packed bits are those `sgemm` would pack, so results are identical.
///
/// Layout: for each depth block (the `depthStep` split of k), all m rows (padded to whole MR panels) as
/// MR-row panels, so the block of rows `ic…` at depth `pc` starts at `paddedRows·pc + ic·kcb`.
public final class PackedA: @unchecked Sendable {
    public let kernel: GEMMKernel
    public let transA: Bool
    public let m: Int
    public let k: Int
    let paddedRows: Int
    let pointer: UnsafeMutablePointer<Float>

    /// Packs op(A) (m×k; stored k×m when `transA`, row stride `lda`) for `kernel`.
    public init(kernel: GEMMKernel, transA: Bool, m: Int, k: Int, a: UnsafePointer<Float>, lda: Int) {
        self.kernel = kernel
        self.transA = transA
        self.m = m
        self.k = k
        paddedRows = (max(m, 1) + kernel.mr - 1) / kernel.mr * kernel.mr
        pointer = .allocate(capacity: max(paddedRows * k, 1))
        let kStep = GEMM.depthStep(k, kc: kernel.kc)
        var pc = 0
        while pc < k {
            let kcb = min(kStep, k - pc)
            GEMM.packA(mr: kernel.mr, transA: transA, a: a, lda: lda, row0: 0, col0: pc, mcb: m, kcb: kcb,
                       into: pointer + paddedRows * pc)
            pc += kcb
        }
    }

    deinit { pointer.deallocate() }

    /// The packed rows `ic…` (a multiple of MR) of the depth block that starts at `pc` and is `kcb` deep.
    @inline(__always)
    func block(row ic: Int, depth pc: Int, kcb: Int) -> UnsafePointer<Float> {
        UnsafePointer(pointer + paddedRows * pc + ic * kcb)
    }

    /// Whether this packing serves a product of op(A) m×k under `kernel`.
    @inline(__always)
    func fits(kernel: GEMMKernel, transA: Bool, m: Int, k: Int) -> Bool {
        kernel == self.kernel && transA == self.transA && m == self.m && k == self.k
    }
}

/// A lazily filled, thread-safe cache of a layer's packed weights, per GEMM kernel and use (im2col: one
/// `PackedA` per group; Winograd: one per tile position ξ, forward or transposed for the input gradient).
public final class PackedWeights: @unchecked Sendable {
    /// What a set of packings serves.
    public enum Use: Hashable, Sendable {
        case im2col
        /// Wᵀ of an im2col or pointwise convolution (one per group), for its input gradient.
        case transposed
        case winograd(WinogradTile, transposed: Bool)
    }

    /// Which weights of a storage a set of packings is for: element offset, shape and groups.
    public struct Window: Hashable, Sendable {
        public let offset: Int
        public let shape: [Int]
        public let groups: Int
        public init(offset: Int, shape: [Int], groups: Int) { self.offset = offset; self.shape = shape; self.groups = groups }
    }

    private struct Key: Hashable {
        let kernel: GEMMKernel
        let use: Use
    }

    /// A plain (unpacked) rearrangement of the weights that a direct kernel reads.
    public enum Arrangement: Hashable, Sendable {
        /// Wᵀ of each group of a pointwise convolution ([C/groups, M/groups]), for its input gradient.
        case pointwiseTransposed
        /// A stem's weights as [tap][M rounded up to 8], zero past M (`ck_conv_direct512`).
        case stem
    }

    private let packs = Mutex<[Key: [PackedA]]>([:])
    private let arranged = Mutex<[Arrangement: Tensor]>([:])

    public init() {}

    /// The weights rearranged by `fill` into `count` floats as `arrangement`, made on first use.
    public func arranged(_ arrangement: Arrangement, count: Int, _ fill: (UnsafeMutablePointer<Float>) -> Void) -> Tensor {
        arranged.withLock { cache in
            if let t = cache[arrangement] { return t }
            let t = Tensor(uninitialized: [count])
            fill(t.data)
            cache[arrangement] = t
            return t
        }
    }

    /// The packings for `kernel` and `use`, made by `make` on first use.
    public func packs(for kernel: GEMMKernel, use: Use = .im2col, _ make: () -> [PackedA]) -> [PackedA] {
        packs.withLock { cache in
            let key = Key(kernel: kernel, use: use)
            if let p = cache[key] { return p }
            let p = make()
            cache[key] = p
            return p
        }
    }
}

extension GEMM {
    /// `C[m×n] = A·B` (row-major, B k×n) with A given only in its packed form (`packedA.m` × `packedA.k`, not
    /// transposed): always the blocked path under the packing's kernel, for any n. C is only written.
    public static func sgemm(packedA: PackedA, n: Int, b: UnsafePointer<Float>, ldb: Int,
                             c: UnsafeMutablePointer<Float>, ldc: Int) {
        precondition(!packedA.transA, "sgemm(packedA:): A must be packed untransposed")
        if n <= 0 || packedA.m <= 0 { return }
        if packedA.k <= 0 {
            scale(m: packedA.m, n: n, beta: 0, c: c, ldc: ldc)
            return
        }
        blocked(kernel: packedA.kernel, transA: false, transB: false, m: packedA.m, n: n, k: packedA.k, alpha: 1,
                a: UnsafePointer(packedA.pointer), lda: packedA.k, b: b, ldb: ldb, beta: 0, c: c, ldc: ldc,
                packedA: packedA)
    }
}

extension GEMM {
    /// Fills one packed panel of B: rows `p0..<p0+kcb` and columns `j0..<j0+cols` (`cols` ≤ `nr`) of op(B), `nr`
    /// floats per p at `panel + (p − p0)·nr`, zero in the columns past `cols`. Called concurrently for different
    /// panels.
    public typealias PanelSource = (_ p0: Int, _ kcb: Int, _ j0: Int, _ cols: Int, _ nr: Int,
                                    _ panel: UnsafeMutablePointer<Float>) -> Void

    /// `C[m×n] = op(A)·B` with op(A) in its packed form and B never stored: `source` writes each packed panel of B as the
    /// product reaches it (a convolution's columns straight from its input, no im2col matrix). Always the blocked
    /// path, so element (i, j) has the same bits as in any other product of the same A with the same column j of B.
    /// `epilogue` runs on every finished block of C, as in `sgemm`. C is only written.
    public static func sgemm(packedA: PackedA, n: Int, source: @escaping PanelSource, c: UnsafeMutablePointer<Float>, ldc: Int,
                             epilogue: Epilogue? = nil) {
        if n <= 0 || packedA.m <= 0 { return }
        if packedA.k <= 0 {
            scale(m: packedA.m, n: n, beta: 0, c: c, ldc: ldc)
            epilogue?(0..<packedA.m, 0..<n)
            return
        }
        // A and B are never read: the packing stands for A, `source` for B.
        blocked(kernel: packedA.kernel, transA: packedA.transA, transB: false, m: packedA.m, n: n, k: packedA.k,
                alpha: 1, a: UnsafePointer(packedA.pointer), lda: packedA.k, b: UnsafePointer(packedA.pointer), ldb: 0,
                beta: 0, c: c, ldc: ldc, packedA: packedA, epilogue: epilogue, source: source)
    }
}

