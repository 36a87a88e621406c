import Synchronization
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// How `Conv2D` computes the convolutions Winograd can serve (3×3 kernel, stride 1, dilation 1, one group),
/// forward and input gradient. Every other convolution uses its usual kernel (pointwise, depthwise, im2col).
public enum ConvAlgorithm: String, Sendable, CaseIterable {
    /// Winograd F(4×4, 3×3) or F(2×2, 3×3) where `Conv2D.winogradTile` finds it pays, im2col + GEMM elsewhere
    /// (the default).
    case auto
    /// F(2×2, 3×3) Winograd wherever `auto` picks Winograd, im2col + GEMM elsewhere: results within float32 rounding
    /// of im2col's (measured 3e-7 of the output scale per layer), where F(4×4)'s larger transforms lose up to ~1e-2
    /// of an input gradient's scale over a deep network. What commands whose output *is* a gradient use
    /// (`Conv2D.withAccurateGradients`).
    case accurate
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

    /// Runs `body` under `.accurate` (attribution, `atlas run --gradient-of`, collect's attribution: outputs that are
    /// gradients) unless `ATLAS_CONV` names an algorithm, which then applies everywhere.
    public static func withAccurateGradients<T>(_ body: () throws -> T) rethrows -> T {
        if getenv("ATLAS_CONV") != nil { return try body() }
        return try withAlgorithm(.accurate, body)
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
    /// Under `auto` (measured on one Zen 5 core, forward and input gradient of 3×3 layers with 3 to 512 channels):
    /// - both channel counts at least 8 (below, the GEMMs are too thin: 3→64 ran slower than im2col);
    /// - F(4×4, 3×3) when one image's output plane has at least 9 tiles of 4×4 and they cover at most
    ///   a third more than the plane: 2.3–3.5× im2col on 14² to 56² planes at batch 8;
    /// - else F(2×2, 3×3) when it has at least 16 tiles of 2×2: 7×7 and 8×8 planes, where F(4×4)'s 4 tiles per
    ///   image leave its GEMMs too narrow to pay for streaming the 4×-larger transformed weights, and planes such
    ///   as 9×9, 10×10 or 13×13 that F(4×4) would pad by 44–78% (ResNet-50's 9×9 layer3 in feature
    ///   visualization at 140 px: F(2×2) 18 ms against F(4×4) 27 ms, forward and input gradient alike);
    /// - else im2col.
    /// The choice depends on one image's geometry only, never on the batch, so an image gets the same bits alone
    /// or inside any batch. The same choice serves the input gradient, whose GEMMs have the channel counts swapped.
    static func winogradTile(_ g: ConvGeometry) -> WinogradTile? {
        guard g.kernelH == 3, g.kernelW == 3, g.strideH == 1, g.strideW == 1, g.dilationH == 1, g.dilationW == 1,
              g.groups == 1 else { return nil }
        switch algorithm {
        case .direct: return nil
        case .winograd2: return .f2
        case .winograd4: return .f4
        case .auto, .accurate:
            guard min(g.channels, g.outChannels) >= 8 else { return nil }
            func tiles(_ m: Int) -> Int { ((g.outH + m - 1) / m) * ((g.outW + m - 1) / m) }
            if tiles(4) >= 9, tiles(4) * 16 * 3 <= g.outH * g.outW * 4 { return algorithm == .accurate ? .f2 : .f4 }
            if tiles(2) >= 16 { return .f2 }
            return nil
        }
    }
}
