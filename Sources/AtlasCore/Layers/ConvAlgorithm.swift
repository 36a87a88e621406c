import Synchronization
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// How `Conv2D` computes the convolutions Winograd can serve (3×3 kernel, stride 1, dilation 1, one group),
/// forward and input gradient. Every other convolution uses its usual kernel (pointwise, depthwise, im2col).
public enum ConvAlgorithm: String, Sendable, CaseIterable {
    /// Winograd where `Conv2D.winogradTile` finds it pays, im2col + GEMM elsewhere (the default).
    case auto
    /// im2col + GEMM for every convolution (`ATLAS_CONV=direct`), for comparison and diagnosis.
    case direct
    /// Winograd F(2×2, 3×3) for every eligible convolution, whatever its size.
    case winograd2
    /// Winograd F(4×4, 3×3) for every eligible convolution, whatever its size.
    case winograd4

    /// `ATLAS_CONV` when it names a case, else `auto`.
    public static func preferred() -> ConvAlgorithm {
        if let text = getenv("ATLAS_CONV").map({ String(cString: $0).lowercased() }),
           let algorithm = ConvAlgorithm(rawValue: text) {
            return algorithm
        }
        return .auto
    }
}

extension Conv2D {
    private static let selected = Mutex<ConvAlgorithm>(ConvAlgorithm.preferred())

    /// The algorithm for eligible convolutions; starts as `ConvAlgorithm.preferred()` (read once).
    public static var algorithm: ConvAlgorithm {
        get { selected.withLock { $0 } }
        set { selected.withLock { $0 = newValue } }
    }

    /// Runs `body` with `algorithm` temporarily set (for tests and benchmarks).
    public static func withAlgorithm<T>(_ algorithm: ConvAlgorithm, _ body: () throws -> T) rethrows -> T {
        let saved = Conv2D.algorithm
        Conv2D.algorithm = algorithm
        defer { Conv2D.algorithm = saved }
        return try body()
    }

    /// The Winograd tile for a convolution, or nil for the other kernels.
    ///
    /// Under `auto`: F(4×4, 3×3) when both channel counts are at least 16 and the output plane is at least 4×4;
    /// below that the transforms cost more than the multiply-adds they save. The same choice serves the input
    /// gradient, whose GEMMs have the two channel counts swapped.
    static func winogradTile(_ g: ConvGeometry) -> WinogradTile? {
        guard g.kernelH == 3, g.kernelW == 3, g.strideH == 1, g.strideW == 1, g.dilationH == 1, g.dilationW == 1,
              g.groups == 1 else { return nil }
        switch algorithm {
        case .direct: return nil
        case .winograd2: return .f2
        case .winograd4: return .f4
        case .auto:
            return g.channels >= 16 && g.outChannels >= 16 && g.outH >= 4 && g.outW >= 4 ? .f4 : nil
        }
    }
}
