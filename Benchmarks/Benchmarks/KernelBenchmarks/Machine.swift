import AtlasCore
#if canImport(Glibc)
import Glibc
#endif

/// The FP32 peak used for "% peak" figures.
enum Machine {
    /// FLOP per cycle and core for AVX2+FMA code: two 8-wide FMA units × 2 FLOP.
    static let flopsPerCycle = 32.0

    /// "cpu MHz" of the first processor in /proc/cpuinfo, in GHz (0 when unreadable).
    static let nominalGHz: Double = {
        guard let file = fopen("/proc/cpuinfo", "r") else { return 0 }
        defer { fclose(file) }
        var line: UnsafeMutablePointer<CChar>?
        var size = 0
        defer { free(line) }
        while getline(&line, &size, file) > 0 {
            let text = String(cString: line!)
            if text.hasPrefix("cpu MHz"), let value = text.split(separator: ":").last,
               let mhz = Double(value.filter { !$0.isWhitespace }) {
                return mhz / 1000
            }
        }
        return 0
    }()

    static let probeIterations = 20_000_000
    /// 12 chains × 8 lanes × 2 FLOP per iteration.
    static var probeFlops: Double { Double(probeIterations) * 12 * 16 }

    /// A register-only loop of twelve independent FMA chains: runs at the core's FMA throughput at its current
    /// clock. The operands come in as arguments so the optimizer keeps the 8-wide vectors in ymm registers.
    @inline(never)
    static func fmaLoop(_ iterations: Int = probeIterations, _ x: SIMD8<Float> = SIMD8(repeating: 1e-3),
                        _ y: SIMD8<Float> = SIMD8(repeating: 1e-3)) -> Float {
        var a0 = x, a1 = x + y, a2 = x - y, a3 = y, a4 = x * y, a5 = -x, a6 = -y, a7 = x + x
        var a8 = y + y, a9 = x * x, a10 = y * y, a11 = x - y - y
        for _ in 0..<iterations {
            a0.addProduct(x, y); a1.addProduct(x, y); a2.addProduct(x, y); a3.addProduct(x, y)
            a4.addProduct(x, y); a5.addProduct(x, y); a6.addProduct(x, y); a7.addProduct(x, y)
            a8.addProduct(x, y); a9.addProduct(x, y); a10.addProduct(x, y); a11.addProduct(x, y)
        }
        return (a0 + a1 + a2 + a3 + a4 + a5 + a6 + a7 + a8 + a9 + a10 + a11).sum()
    }

    /// Measured single-core FMA throughput in GFLOPS per CPU second (best of three runs).
    static let probeGFLOPS: Double = {
        var best = 0.0
        for _ in 0..<3 {
            var r: Float = 0
            let s = Clocks.time { r = fmaLoop() }.cpu
            if r.isNaN { return 0 }
            best = max(best, probeFlops / s / 1e9)
        }
        return best
    }()

    /// Peak GFLOPS of one core for 8-wide (AVX2) code: the larger of nominal clock × 32 and the measured FMA throughput.
    static let peakPerCore: Double = max(nominalGHz * flopsPerCycle, probeGFLOPS)

    /// Peak GFLOPS of one core for a GEMM kernel: the AVX2 peak scaled by its vector width (16 lanes for
    /// AVX-512, assuming two 512-bit FMA units at the AVX2 clock, as on Xeon Scalable).
    static func peakPerCore(_ kernel: GEMMKernel) -> Double {
        kernel == .avx512 ? 2 * peakPerCore : peakPerCore
    }
}

/// Wall-clock and process CPU time of a piece of work.
enum Clocks {
    static func now(_ clock: clockid_t) -> Double {
        var t = timespec()
        clock_gettime(clock, &t)
        return Double(t.tv_sec) + Double(t.tv_nsec) * 1e-9
    }

    /// (wall seconds, CPU seconds of all threads of this process) spent in `body`.
    static func time(_ body: () -> Void) -> (wall: Double, cpu: Double) {
        let w0 = now(CLOCK_MONOTONIC), c0 = now(CLOCK_PROCESS_CPUTIME_ID)
        body()
        return (now(CLOCK_MONOTONIC) - w0, now(CLOCK_PROCESS_CPUTIME_ID) - c0)
    }
}
