import CKernels
import Synchronization
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The register-blocked micro-kernels of the packed SGEMM path, and their blocking sizes.
///
/// `avx2` is the portable Swift kernel (6×16 tile of `SIMD8<Float>`: AVX2+FMA on x86-64, NEON elsewhere).
/// `avx512` is a C kernel (12×32 tile of zmm registers, CKernels) used where the CPU and OS support AVX-512F.
/// Each kernel computes every element of C with a fixed order over k, so results are bit-identical at any
/// thread count for a given kernel; the two kernels round differently from each other.
public enum GEMMKernel: String, Sendable, CaseIterable {
    case avx2
    case avx512

    /// Micro-tile rows (A panel height).
    public var mr: Int { self == .avx512 ? Int(CK_SGEMM512_MR) : 6 }
    /// Micro-tile columns (B panel width).
    public var nr: Int { self == .avx512 ? Int(CK_SGEMM512_NR) : 16 }
    /// Rows of A packed per task (the packed block stays in L2).
    public var mc: Int { self == .avx512 ? 96 : 192 }
    /// Depth of one packed block (an NR×KC panel of B: 24 KiB for AVX2, 48 KiB for AVX-512, an L1 of current
    /// cores; 384 rather than 256 made ViT-B/16, ConvNeXt-T and Swin-T 5–8% faster on a 2-core AVX-512 EPYC).
    public var kc: Int { 384 }
    /// Columns of B packed at a time (a multiple of `nr`; the packed block stays in L2/L3).
    public var nc: Int { self == .avx512 ? 4096 : 4080 }

    /// Whether this machine can run the kernel.
    public var isAvailable: Bool {
        switch self {
        case .avx2: return true
        case .avx512: return GEMMKernel.hasAVX512
        }
    }

    private static let hasAVX512: Bool = {
        #if arch(x86_64)
        return ck_cpu_has_avx512f() == 1
        #else
        return false
        #endif
    }()

    /// The kernel used by default: `ATLAS_KERNEL` (`avx2` or `avx512`) when set to an available kernel,
    /// else the fastest available one.
    public static func preferred() -> GEMMKernel {
        if let text = getenv("ATLAS_KERNEL").map({ String(cString: $0).lowercased() }),
           let kernel = GEMMKernel(rawValue: text), kernel.isAvailable {
            return kernel
        }
        return hasAVX512 ? .avx512 : .avx2
    }
}

extension GEMM {
    /// Whether the selected kernel is `avx512`: an atomic flag, since hot paths read it per chunk from every thread
    /// (`RowKernels.isAvailable` in fused SiLU rows: a lock there took 1.1% of EfficientNet-B0's batch-8 forward).
    private static let selectsAVX512 = Atomic<Bool>(GEMMKernel.preferred() == .avx512)

    /// The micro-kernel used by `sgemm` (see `GEMMKernel.preferred()`). Setting a kernel the machine cannot
    /// run selects `avx2`.
    public static var kernel: GEMMKernel {
        get { selectsAVX512.load(ordering: .relaxed) ? .avx512 : .avx2 }
        set { selectsAVX512.store(newValue == .avx512 && newValue.isAvailable, ordering: .relaxed) }
    }

    /// Runs `body` with `kernel` temporarily set (for tests and benchmarks).
    public static func withKernel<T>(_ kernel: GEMMKernel, _ body: () throws -> T) rethrows -> T {
        let saved = GEMM.kernel
        GEMM.kernel = kernel
        defer { GEMM.kernel = saved }
        return try body()
    }
}
