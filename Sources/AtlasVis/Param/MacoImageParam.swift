#if canImport(Glibc)
import Glibc
#else
import Darwin
#endif
import AtlasCore
import Foundation

/// MACO (Fel et al., NeurIPS 2023): an image whose Fourier magnitude is fixed to that of natural images and
/// whose phase alone is optimized.
///
/// Per channel the half spectrum (numpy `rfft2` layout, `K = width / 2 + 1` columns, as `FFTImageParam`) is
/// `X[ky, kx] = m[ky, kx] · e^{iφ'[ky, kx]}`, and image = sigmoid(M · irfft2(X) / 4), with
/// - `m`: `MacoSpectrum` (natural-image magnitudes in Lucid's decorrelated colour space) sampled at this size,
///   scaled once so that the linear image `irfft2(X) / 4` has unit RMS over the icon whatever the phase
///   (Parseval: the magnitudes fix the energy), which stands in for MACO's per-step standardization;
/// - `φ'`: the parameters, except in the columns `kx = 0` (and `kx = W/2` for even widths), whose coefficients
///   must pair up as complex conjugates for the image to be the exact inverse transform: there
///   `φ'[ky] = (φ[ky] − φ[−ky]) / 2`. The (at most four) bins that are their own conjugate (the DC, and the
///   Nyquist bins) have `m = 0`, so every coefficient of the image's spectrum has magnitude `m` exactly;
/// - `M`: `ColorDecorrelation.normalized` when `decorrelate` (3 channels), else none.
///
/// Parameter layout of one icon: `[C][H][K]` phases in radians, initialized uniform in [−π, π) from
/// `SplitMix64(seed: iconSeed, stream: ParamStream.initial)`. The inverse transform reuses the FFT param's exact
/// cos/sin tables; forward and backward cost what the FFT param's do plus one sin/cos per coefficient.
public struct MacoImageParam: ImageParam {
    public let channels: Int
    public let height: Int
    public let width: Int
    public let decorrelate: Bool
    private let tables: SpectrumTables
    private let magnitudes: MacoMagnitudes

    public var frequencyColumns: Int { width / 2 + 1 }
    public var parameterCount: Int { channels * height * frequencyColumns }

    /// `decorrelate` defaults to true for 3 channels and must be false otherwise.
    public init(height: Int, width: Int, channels: Int = 3, decorrelate: Bool? = nil) throws {
        let dec = try ValidRGB.resolve(height: height, width: width, channels: channels, decorrelate: decorrelate)
        self.channels = channels
        self.height = height
        self.width = width
        self.decorrelate = dec
        self.tables = SpectrumTables(height: height, width: width, decayPower: 1)
        self.magnitudes = MacoMagnitudes(height: height, width: width, channels: channels)
    }

    /// The fixed magnitudes `|X|` of the linear image's spectrum (`rfft2(4 · linearImage)`), `[C][H][K]`.
    public var magnitude: [Float] { Array(UnsafeBufferPointer(start: magnitudes.values, count: parameterCount)) }

    public func initialize(_ params: UnsafeMutablePointer<Float>, seed: UInt64) {
        var rng = SplitMix64(seed: seed, stream: ParamStream.initial)
        for i in 0..<parameterCount { params[i] = Float.pi * (2 * rng.nextUniform() - 1) }
    }

    /// Columns whose coefficients pair `ky` with `−ky` (DC column, and the Nyquist column for even widths).
    private var pairedColumns: [Int] { width % 2 == 0 && width > 1 ? [0, width / 2] : [0] }

    /// The effective phases `φ'` of one channel (`[H][K]`), from the parameters.
    private func effectivePhase(_ src: UnsafePointer<Float>, _ dst: UnsafeMutablePointer<Float>) {
        let h = height, k = frequencyColumns
        dst.update(from: src, count: h * k)
        for kx in pairedColumns {
            for ky in 0..<h { dst[ky * k + kx] = 0.5 * (src[ky * k + kx] - src[((h - ky) % h) * k + kx]) }
        }
    }

    /// The image before colour decorrelation and sigmoid (`irfft2(X) / 4`), `[N, C, H, W]`.
    public func linearImage(_ params: Tensor) -> Tensor {
        let n = params.shape[0]
        let out = Tensor(uninitialized: [n, channels, height, width])   // each job writes its whole plane
        let t = tables, mags = magnitudes, h = height, w = width, k = frequencyColumns, half = h * k
        Parallel.forEach(n * channels) { job in Scratch.with(.layer, count: 5 * half) { scratch in
            let phase = scratch, spec = scratch + half, z = scratch + 3 * half
            effectivePhase(params.data + job * half, phase)
            let m = mags.values + (job % channels) * half
            for i in 0..<half {
                spec[i] = m[i] * cosf(phase[i])
                spec[half + i] = m[i] * sinf(phase[i])
            }
            t.inverse(spec, scratch: z, into: out.data + job * h * w)
        } }
        return out
    }

    public func image(_ params: Tensor) -> Tensor { ValidRGB.forward(batch: linearImage(params), decorrelate: decorrelate) }

    public func backward(_ params: Tensor, image: Tensor, gradImage: Tensor) -> Tensor {
        linearBackward(params, gradLinear: ValidRGB.backward(batch: gradImage, image: image, decorrelate: decorrelate))
    }

    /// Gradient w.r.t. the phases given the gradient w.r.t. `linearImage`.
    public func linearBackward(_ params: Tensor, gradLinear: Tensor) -> Tensor {
        let n = params.shape[0]
        let t = tables, mags = magnitudes, h = height, w = width, k = frequencyColumns, half = h * k
        let out = Tensor(uninitialized: [n, parameterCount])   // each job writes its whole block
        let paired = pairedColumns
        Parallel.forEach(n * channels) { job in Scratch.with(.layer, count: 5 * half) { scratch in
            let phase = scratch, gspec = scratch + half, gz = scratch + 3 * half
            effectivePhase(params.data + job * half, phase)
            t.inverseAdjoint(gradLinear.data + job * h * w, scratch: gz, into: gspec)
            // dφ' = m (−sin φ' · gRe + cos φ' · gIm), kept in `gz`.
            let m = mags.values + (job % channels) * half
            for i in 0..<half {
                gz[i] = m[i] * (cosf(phase[i]) * gspec[half + i] - sinf(phase[i]) * gspec[i])
            }
            let dst = out.data + job * half
            dst.update(from: gz, count: half)
            // Adjoint of the antisymmetrization (I − P) / 2 (P swaps ky and −ky, so it is its own transpose).
            for kx in paired {
                for ky in 0..<h { dst[ky * k + kx] = 0.5 * (gz[ky * k + kx] - gz[((h - ky) % h) * k + kx]) }
            }
        } }
        return out
    }
}

/// The natural-image magnitude spectrum `MacoImageParam` keeps fixed, decoded from the embedded table
/// (`MacoSpectrumData`, made by scripts/maco/make_spectrum.py from the sample photos).
public enum MacoSpectrum {
    /// `[3][side][side/2+1]` magnitudes (decorrelated channels; numpy `rfft2` layout of a `side`² image).
    public static let base: [Float] = {
        guard let data = Data(base64Encoded: MacoSpectrumData.base64, options: .ignoreUnknownCharacters),
              data.count == 3 * MacoSpectrumData.side * MacoSpectrumData.columns * 4 else { return [] }
        return data.withUnsafeBytes { raw in
            (0..<(data.count / 4)).map { Float(bitPattern: UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: 4 * $0, as: UInt32.self))) }
        }
    }()

    /// The magnitude of decorrelated channel `channel` at signed frequency (`fy`, `fx`) in cycles per pixel
    /// (|f| ≤ ½), bilinear between the table's bins (rows wrap around as numpy's `fftfreq` does).
    static func sample(channel: Int, fy: Double, fx: Double) -> Double {
        let b = MacoSpectrumData.side, kb = MacoSpectrumData.columns
        let table = base
        guard !table.isEmpty else { return 0 }
        let uy = fy * Double(b), ux = min(abs(fx) * Double(b), Double(kb - 1))
        let y0 = Int(uy.rounded(.down)), x0 = Int(ux.rounded(.down))
        let ty = uy - Double(y0), tx = ux - Double(x0)
        func at(_ y: Int, _ x: Int) -> Double {
            let yy = ((y % b) + b) % b, xx = min(x, kb - 1)
            return Double(table[(channel * b + yy) * kb + xx])
        }
        return (1 - ty) * ((1 - tx) * at(y0, x0) + tx * at(y0, x0 + 1))
            + ty * ((1 - tx) * at(y0 + 1, x0) + tx * at(y0 + 1, x0 + 1))
    }
}

/// `MacoSpectrum` resampled to one icon size, conjugate pairs equalized, real bins zeroed, scaled to unit RMS.
final class MacoMagnitudes: @unchecked Sendable {
    let values: UnsafeMutablePointer<Float>   // [C][H][K]

    init(height h: Int, width w: Int, channels c: Int) {
        let k = w / 2 + 1, half = h * k
        var m = [Double](repeating: 0, count: c * half)
        for ch in 0..<c {
            let source = c == 3 ? ch : 0   // grayscale models: the luminance channel's spectrum
            for ky in 0..<h {
                let fy = Double(ky < (h + 1) / 2 ? ky : ky - h) / Double(h)
                for kx in 0..<k { m[ch * half + ky * k + kx] = MacoSpectrum.sample(channel: source, fy: fy, fx: Double(kx) / Double(w)) }
            }
            let paired = w % 2 == 0 && w > 1 ? [0, w / 2] : [0]
            for kx in paired {
                for ky in 0..<h {
                    let mirror = (h - ky) % h
                    if mirror == ky { m[ch * half + ky * k + kx] = 0; continue }   // a real bin: no phase to optimize
                    if mirror < ky { continue }
                    let mean = 0.5 * (m[ch * half + ky * k + kx] + m[ch * half + mirror * k + kx])
                    m[ch * half + ky * k + kx] = mean
                    m[ch * half + mirror * k + kx] = mean
                }
            }
        }
        // Parseval for image = irfft2(X)/4: Σ image² = Σ_full |X|² / (16 H W), the full spectrum counting every
        // column but the paired ones twice. Scale so that the mean of image² over C·H·W values is 1.
        var energy = 0.0
        for ch in 0..<c {
            for ky in 0..<h {
                for kx in 0..<k {
                    let weight: Double = (kx == 0 || (w % 2 == 0 && kx == w / 2)) ? 1 : 2
                    energy += weight * m[ch * half + ky * k + kx] * m[ch * half + ky * k + kx]
                }
            }
        }
        let hw = Double(h * w)
        let s = energy > 0 ? (16 * Double(c) * hw * hw / energy).squareRoot() : 0
        values = .allocate(capacity: c * half)
        for i in 0..<(c * half) { values[i] = Float(m[i] * s) }
    }

    deinit { values.deallocate() }
}
