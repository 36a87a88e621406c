import AtlasCore
import CKernels
import Foundation

/// The machine's FP32 peak for "% of peak" figures: cores × vector lanes × 2 FMA units × 2 FLOP × clock.
///
/// Cores: logical processors the process may use. Lanes: 16 with AVX-512F (CKernels' run-time check), else 8 (AVX2,
/// which Atlas is built for on x86-64) or 4 (NEON). Two FMA pipes per core is the common server figure (some
/// AVX-512 parts have one; their % is then understated by half). Clock: the highest "cpu MHz" in /proc/cpuinfo when
/// present, else one timed by a register-only FMA loop; the larger of the two when both exist, since the nominal
/// figure under-reports turbo.
struct MachinePeak: Codable, Sendable {
    let cores: Int
    let vector: String
    let lanes: Int
    let flopsPerCycle: Int
    /// Clock used for the peak, GHz.
    let gigahertz: Double
    /// How the clock was found.
    let clockSource: String
    /// GFLOPS one core sustained in the FMA probe loop (AVX2 8-wide chains).
    let probeGFLOPSPerCore: Double
    /// Peak GFLOPS of one core.
    let peakGFLOPSPerCore: Double
    /// GFLOPS of the probe running on every core at once, summed: near `cores` × `probeGFLOPSPerCore` when the cores
    /// are real and idle, lower when they are busy or share FMA units (SMT siblings behind a VM's "cores").
    let probeGFLOPSAllCores: Double

    /// Peak GFLOPS with `threads` threads (capped at the core count).
    func peakGFLOPS(threads: Int) -> Double { peakGFLOPSPerCore * Double(min(threads, cores)) }

    static func detect() -> MachinePeak {
        let cores = ProcessInfo.processInfo.activeProcessorCount
        #if arch(x86_64)
        let (vector, lanes) = ck_cpu_has_avx512f() != 0 ? ("AVX-512", 16) : ("AVX2", 8)
        #else
        let (vector, lanes) = ("NEON", 4)
        #endif
        let flopsPerCycle = lanes * 2 * 2
        let probe = probeGFLOPS()
        // The probe runs 8-wide FMAs: its GFLOPS ÷ (8 lanes × 2 FLOP × 2 FMA pipes) is the clock it ran at.
        let probeGHz = probe / Double(min(lanes, 8) * 2 * 2)
        let nominal = cpuinfoGHz()
        let ghz: Double, source: String
        if let nominal, nominal >= probeGHz {
            (ghz, source) = (nominal, "/proc/cpuinfo cpu MHz")
        } else {
            (ghz, source) = (probeGHz, "an FMA probe loop" + (nominal.map { String(format: " (cpuinfo: %.2f GHz)", $0) } ?? ""))
        }
        return MachinePeak(cores: cores, vector: vector, lanes: lanes, flopsPerCycle: flopsPerCycle, gigahertz: ghz,
                           clockSource: source, probeGFLOPSPerCore: probe, peakGFLOPSPerCore: ghz * Double(flopsPerCycle),
                           probeGFLOPSAllCores: concurrentProbeGFLOPS(cores))
    }

    /// Highest "cpu MHz" over processors in /proc/cpuinfo, in GHz.
    static func cpuinfoGHz() -> Double? {
        guard let text = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8) else { return nil }
        let mhz = text.split(separator: "\n").compactMap { line -> Double? in
            guard line.hasPrefix("cpu MHz"), let v = line.split(separator: ":").last else { return nil }
            return Double(v.trimmingCharacters(in: .whitespaces))
        }
        return mhz.max().map { $0 / 1000 }
    }

    /// Single-thread FMA throughput: ten independent 8-wide accumulator chains (enough to cover FMA latency × pipes),
    /// best of three ~50 ms runs, in GFLOPS.
    static func probeGFLOPS() -> Double {
        let n = 3_000_000
        var best = 0.0
        for _ in 0..<3 {
            let start = DispatchTime.now().uptimeNanoseconds
            let sink = fmaChains(n, SIMD8(repeating: 0.999), SIMD8(repeating: 1e-4))
            let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) * 1e-9
            if sink.isNaN || seconds <= 0 { continue }
            best = max(best, Double(n) * 10 * 8 * 2 / seconds / 1e9)
        }
        return best
    }

    /// The probe on `threads` threads at once (each its own best of three), summed.
    static func concurrentProbeGFLOPS(_ threads: Int) -> Double {
        let results = UnsafeMutableBufferPointer<Double>.allocate(capacity: threads)
        defer { results.deallocate() }
        DispatchQueue.concurrentPerform(iterations: threads) { results[$0] = probeGFLOPS() }
        return results.reduce(0, +)
    }

    @inline(never)
    static func fmaChains(_ n: Int, _ m: SIMD8<Float>, _ a: SIMD8<Float>) -> Float {
        var acc = [SIMD8<Float>](repeating: a, count: 10)
        var c0 = acc[0], c1 = acc[1], c2 = acc[2], c3 = acc[3], c4 = acc[4]
        var c5 = acc[5], c6 = acc[6], c7 = acc[7], c8 = acc[8], c9 = acc[9]
        for _ in 0..<n {
            c0 = a.addingProduct(c0, m); c1 = a.addingProduct(c1, m); c2 = a.addingProduct(c2, m)
            c3 = a.addingProduct(c3, m); c4 = a.addingProduct(c4, m); c5 = a.addingProduct(c5, m)
            c6 = a.addingProduct(c6, m); c7 = a.addingProduct(c7, m); c8 = a.addingProduct(c8, m)
            c9 = a.addingProduct(c9, m)
        }
        acc = [c0, c1, c2, c3, c4, c5, c6, c7, c8, c9]
        return acc.reduce(SIMD8(repeating: 0), +).sum()
    }
}
