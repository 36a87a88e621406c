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

/// A lazily filled, thread-safe cache of packed weights per GEMM kernel (one `PackedA` per group).
public final class PackedWeights: @unchecked Sendable {
    private let packs = Mutex<[GEMMKernel: [PackedA]]>([:])

    public init() {}

    /// The packings for `kernel`, made by `make` on first use.
    public func packs(for kernel: GEMMKernel, _ make: () -> [PackedA]) -> [PackedA] {
        packs.withLock { cache in
            if let p = cache[kernel] { return p }
            let p = make()
            cache[kernel] = p
            return p
        }
    }
}
