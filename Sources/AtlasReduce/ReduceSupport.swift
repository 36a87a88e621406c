import AtlasCore

/// Distance used between high-dimensional points.
public enum DistanceMetric: String, Sendable, CaseIterable {
    /// Straight-line distance ‖a − b‖.
    case euclidean
    /// 1 − cos(a, b). A zero vector is at distance 1 from everything.
    case cosine
}

/// Errors of the dimensionality-reduction and layout code (bad shapes, too few points, non-finite values).
public enum ReduceError: Error, CustomStringConvertible, Equatable {
    case invalidShape(String)
    case tooFewPoints(needed: Int, got: Int)
    case invalidParameter(String)
    case nonFinite(String)
    case notPositiveDefinite(String)

    public var description: String {
        switch self {
        case .invalidShape(let s): return "invalid shape: \(s)"
        case .tooFewPoints(let needed, let got): return "too few points: need at least \(needed), got \(got)"
        case .invalidParameter(let s): return "invalid parameter: \(s)"
        case .nonFinite(let s): return "non-finite values: \(s)"
        case .notPositiveDefinite(let s): return "matrix is not positive definite: \(s)"
        }
    }
}

/// Checks that `data` is a finite [N, D] matrix and returns (N, D).
public func checkMatrix(_ data: Tensor, name: String) throws -> (n: Int, d: Int) {
    guard data.rank == 2, data.shape[0] > 0, data.shape[1] > 0 else {
        throw ReduceError.invalidShape("\(name) must be [N, D] with N, D > 0, got \(data.shape)")
    }
    let p = data.data
    for i in 0..<data.count where !p[i].isFinite {
        throw ReduceError.nonFinite("\(name) element \(i) is \(p[i])")
    }
    return (data.shape[0], data.shape[1])
}

/// Rows of a matrix copied with a stride padded to a multiple of 16 floats (zero tail), 64-byte aligned,
/// so distance kernels run whole `SIMD16` steps. Cosine data is stored L2-normalised.
final class PaddedRows: @unchecked Sendable {
    let n: Int
    let dim: Int
    let stride: Int
    let base: UnsafeMutablePointer<Float>

    init(_ src: UnsafePointer<Float>, n: Int, dim: Int, normalize: Bool) {
        self.n = n
        self.dim = dim
        self.stride = (dim + 15) / 16 * 16
        let raw = UnsafeMutableRawPointer.allocate(byteCount: max(1, n * stride) * 4, alignment: 64)
        raw.initializeMemory(as: UInt8.self, repeating: 0, count: max(1, n * stride) * 4)
        base = raw.bindMemory(to: Float.self, capacity: max(1, n * stride))
        let base = self.base, stride = self.stride
        Parallel.forRanges(n, grain: 1024) { range in
            for i in range {
                let dst = base + i * stride
                dst.update(from: src + i * dim, count: dim)
                if normalize {
                    let nrm = dotPadded(dst, dst, stride).squareRoot()
                    if nrm > 0 { for j in 0..<dim { dst[j] /= nrm } }
                }
            }
        }
    }

    deinit { base.deallocate() }

    @inline(__always) func row(_ i: Int) -> UnsafeMutablePointer<Float> { base + i * stride }
}

/// Σ a[i]·b[i] over `len` floats; `len` must be a multiple of 16.
@inline(__always)
func dotPadded(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ len: Int) -> Float {
    let ra = UnsafeRawPointer(a), rb = UnsafeRawPointer(b)
    var acc0 = SIMD16<Float>(), acc1 = SIMD16<Float>()
    var i = 0
    while i + 32 <= len {
        acc0.addProduct(ra.loadUnaligned(fromByteOffset: i * 4, as: SIMD16<Float>.self),
                        rb.loadUnaligned(fromByteOffset: i * 4, as: SIMD16<Float>.self))
        acc1.addProduct(ra.loadUnaligned(fromByteOffset: i * 4 + 64, as: SIMD16<Float>.self),
                        rb.loadUnaligned(fromByteOffset: i * 4 + 64, as: SIMD16<Float>.self))
        i += 32
    }
    if i < len {
        acc0.addProduct(ra.loadUnaligned(fromByteOffset: i * 4, as: SIMD16<Float>.self),
                        rb.loadUnaligned(fromByteOffset: i * 4, as: SIMD16<Float>.self))
    }
    return (acc0 + acc1).sum()
}

/// Σ (a[i] − b[i])² over `len` floats; `len` must be a multiple of 16.
@inline(__always)
func squaredDistancePadded(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ len: Int) -> Float {
    let ra = UnsafeRawPointer(a), rb = UnsafeRawPointer(b)
    var acc0 = SIMD16<Float>(), acc1 = SIMD16<Float>()
    var i = 0
    while i + 32 <= len {
        let d0 = ra.loadUnaligned(fromByteOffset: i * 4, as: SIMD16<Float>.self)
            - rb.loadUnaligned(fromByteOffset: i * 4, as: SIMD16<Float>.self)
        let d1 = ra.loadUnaligned(fromByteOffset: i * 4 + 64, as: SIMD16<Float>.self)
            - rb.loadUnaligned(fromByteOffset: i * 4 + 64, as: SIMD16<Float>.self)
        acc0.addProduct(d0, d0)
        acc1.addProduct(d1, d1)
        i += 32
    }
    if i < len {
        let d0 = ra.loadUnaligned(fromByteOffset: i * 4, as: SIMD16<Float>.self)
            - rb.loadUnaligned(fromByteOffset: i * 4, as: SIMD16<Float>.self)
        acc0.addProduct(d0, d0)
    }
    return (acc0 + acc1).sum()
}

/// A monotone stand-in for a metric used inside searches: squared distance for euclidean,
/// 1 − a·b on normalised rows for cosine. `finish` turns it into the true distance.
protocol ReducedDistance {
    static var normalizesRows: Bool { get }
    static func distance(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ len: Int) -> Float
    static func finish(_ d: Float) -> Float
}

enum SquaredEuclidean: ReducedDistance {
    static var normalizesRows: Bool { false }
    @inline(__always) static func distance(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ len: Int) -> Float {
        squaredDistancePadded(a, b, len)
    }
    @inline(__always) static func finish(_ d: Float) -> Float { max(0, d).squareRoot() }
}

enum CosineOnNormalized: ReducedDistance {
    static var normalizesRows: Bool { true }
    @inline(__always) static func distance(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ len: Int) -> Float {
        max(0, 1 - dotPadded(a, b, len))
    }
    @inline(__always) static func finish(_ d: Float) -> Float { d }
}

/// SplitMix64's output function applied to x + γ: a bijective 64-bit mix.
@inline(__always)
func mixWord(_ x: UInt64) -> UInt64 {
    var z = x &+ 0x9E37_79B9_7F4A_7C15
    z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
    z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
    return z ^ (z >> 31)
}

/// Counter-based 64-bit hash of a few words (a chain of SplitMix64 mixes): random numbers that depend
/// only on their coordinates (seed, round, item…), never on scheduling.
@inline(__always)
func hashWords(_ a: UInt64, _ b: UInt64, _ c: UInt64 = 0, _ d: UInt64 = 0) -> UInt64 {
    mixWord(mixWord(mixWord(mixWord(a) ^ b) ^ c) ^ d)
}
