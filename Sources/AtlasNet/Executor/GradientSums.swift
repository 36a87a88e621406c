import AtlasCore
import Synchronization

/// The gradients a backward walk accumulates, by value slot. A value read by several steps gets the sum of their
/// contributions in arrival order. A contribution that is zero outside one contiguous run of the value (a `Gather`
/// selecting `qkv[0]`, `qkv[1]`, `qkv[2]`) is kept as that run until the sum is taken: disjoint runs then fill one
/// buffer in a single pass instead of each becoming a zero-padded full tensor added to the others. The sum has the bits
/// of the zero-padded additions: x + 0 is x except that −0 becomes +0, so with two or more contributions each run's
/// values are written as x + 0, and a single one is copied as it is.
struct GradientSums {
    /// One run: its first element's offset in the value and its values (row-major, contiguous).
    typealias Run = (offset: Int, values: Tensor)

    private enum Sum {
        case dense(Tensor)
        /// Pairwise disjoint runs of a value of `shape`, in arrival order.
        case runs(shape: [Int], [Run])
    }

    private var sums: [Int: Sum] = [:]
    /// Slots whose dense sum is a buffer nothing outside holds: made here (a sum, a materialized run) or a
    /// contribution its maker declared `owned`. The caller's seeds never are.
    private var owned: Set<Int> = []

    /// Whether a contribution may be added into a sum nothing else holds instead of into a fresh buffer
    /// (`Network.reusesGradientBuffers`).
    private let inPlace: Bool

    init(_ seeds: [Int: Tensor], inPlace: Bool = true) {
        self.inPlace = inPlace
        for (slot, t) in seeds { sums[slot] = .dense(t) }
    }

    /// The sum at `slot` when it is a full tensor of `shape` nothing else holds, for a contribution to be added
    /// into in place (`AccumulatesInputGradient`); nil otherwise.
    func ownedSum(_ slot: Int, shape: [Int]) -> Tensor? {
        guard inPlace, owned.contains(slot), case .dense(let a) = sums[slot], a.shape == shape else { return nil }
        return a
    }

    /// Adds a full-size contribution to `slot`; `owned` when nothing else holds `r`'s buffer (then the sum may be
    /// overwritten by whoever takes it).
    mutating func add(_ r: Tensor, to slot: Int, owned isOwned: Bool = false) {
        if let a = ownedSum(slot, shape: r.shape) {
            Add.accumulate(r, into: a)   // the sum is this walk's alone: same bits as a fresh a + r
            return
        }
        switch sums[slot] {
        case nil:
            sums[slot] = .dense(r)
            if isOwned { owned.insert(slot) } else { owned.remove(slot) }
        case .dense(let a):
            sums[slot] = .dense(Add().forward([a, r]))
            owned.insert(slot)
        case .runs(let shape, let runs):
            sums[slot] = .dense(Add().forward([GradientSums.materialize(shape, runs), r]))
            owned.insert(slot)
        }
    }

    /// Adds a contribution to `slot` (of `shape`) that is `values` from element `offset` on and zero elsewhere.
    mutating func add(run values: Tensor, at offset: Int, shape: [Int], to slot: Int) {
        guard Network.keepsGradientRuns else { return add(GradientSums.materialize(shape, [(offset, values)]), to: slot) }
        switch sums[slot] {
        case nil: sums[slot] = .runs(shape: shape, [(offset, values)])
        case .runs(let s, let runs) where s == shape && runs.allSatisfy({ !GradientSums.overlap($0, (offset, values)) }):
            sums[slot] = .runs(shape: shape, runs + [(offset, values)])
        default: add(GradientSums.materialize(shape, [(offset, values)]), to: slot, owned: true)
        }
    }

    /// Removes and returns the sum at `slot` (nil when nothing reached it).
    mutating func take(_ slot: Int) -> Tensor? { takeOwned(slot)?.sum }

    /// Removes and returns the sum at `slot` and whether nothing else holds its buffer.
    mutating func takeOwned(_ slot: Int) -> (sum: Tensor, owned: Bool)? {
        let isOwned = owned.remove(slot) != nil
        switch sums.removeValue(forKey: slot) {
        case nil: return nil
        case .dense(let t): return (t, isOwned)
        case .runs(let shape, let runs): return (GradientSums.materialize(shape, runs), true)
        }
    }

    static func overlap(_ a: Run, _ b: Run) -> Bool {
        a.offset < b.offset + b.values.count && b.offset < a.offset + a.values.count
    }

    /// The sum of disjoint runs as one tensor of `shape`: zeros between them; a lone run copied, several written as
    /// x + 0 (what adding the other runs' zeros does to each value).
    static func materialize(_ shape: [Int], _ runs: [Run]) -> Tensor {
        let y = Tensor(uninitialized: shape)
        let dst = y.data
        let sorted = runs.sorted { $0.offset < $1.offset }
        var end = 0
        for r in sorted {
            if r.offset > end { (dst + end).update(repeating: 0, count: r.offset - end) }
            end = r.offset + r.values.count
        }
        if y.count > end { (dst + end).update(repeating: 0, count: y.count - end) }
        let plusZero = runs.count > 1
        for r in runs {
            let src = UnsafePointer(r.values.data), to = dst + r.offset
            Parallel.forRanges(r.values.count, grain: 65_536) { range in
                if plusZero {
                    for i in range { to[i] = src[i] + 0 }
                } else {
                    (to + range.lowerBound).update(from: src + range.lowerBound, count: range.count)
                }
            }
        }
        return y
    }
}

extension Network {
    private static let gradientRuns = Mutex(true)

    /// Whether backward walks keep a contiguous Gather's gradient as its run (`GradientSums`); off, each becomes a
    /// zero-padded tensor at once, the plain sum, for tests and diagnosis to compare against. On by default.
    public static var keepsGradientRuns: Bool {
        get { gradientRuns.withLock { $0 } }
        set { gradientRuns.withLock { $0 = newValue } }
    }

    private static let gradientReuse = Mutex(true)

    /// Whether backward walks let an elementwise step overwrite a gradient sum nothing else holds
    /// (`ElementwiseLayer.backwardInPlace`, the same bits) instead of writing a fresh buffer; off for tests and
    /// diagnosis to compare against. On by default.
    public static var reusesGradientBuffers: Bool {
        get { gradientReuse.withLock { $0 } }
        set { gradientReuse.withLock { $0 = newValue } }
    }
}
