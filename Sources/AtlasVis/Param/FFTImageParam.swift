import AtlasCore
import Foundation

/// Why a parameterization cannot be built.
public enum ParamError: Error, CustomStringConvertible, Equatable {
    case badSize(height: Int, width: Int, channels: Int)
    case decorrelationNeedsRGB(channels: Int)

    public var description: String {
        switch self {
        case let .badSize(h, w, c): return "image parameterization: unsupported size \(c)×\(h)×\(w) (1…4096 px, 1…4 channels)"
        case let .decorrelationNeedsRGB(c): return "colour decorrelation needs 3 channels, not \(c)"
        }
    }
}

/// Lucid's `fft_image` + `to_valid_rgb`: an image stored as its 2-D real spectrum.
///
/// Per channel the spectrum has `height × K` complex coefficients, `K = width / 2 + 1` (numpy's `rfft2` layout:
/// row `ky` is frequency `fftfreq(height)[ky]`, column `kx` is frequency `kx / width`).
/// Image = sigmoid(M · irfft2(spectrum ⊙ scale) / 4), where
/// - `scale[ky, kx] = sqrt(h·w) / max(freq, 1 / max(h, w))^decayPower`, `freq = sqrt(fy² + fx²)`;
/// - `irfft2` is numpy's `irfft2(·, s: (h, w))` with its 1/(h·w) normalisation: the imaginary parts of the DC column
///   (and of the Nyquist column for even widths) enter only through the column transform, exactly as in numpy;
/// - `M` is `ColorDecorrelation.normalized` (only when `decorrelate`).
///
/// Parameter layout of one icon: `[C][2][H][K]`: channel-major; inside a channel all real parts (row-major over
/// `ky`, `kx`), then all imaginary parts. Initial values are N(0, sd²) in that order from
/// `SplitMix64(seed: iconSeed, stream: ParamStream.initial)`.
///
/// Odd widths: Lucid keeps one extra spectrum column and crops one pixel of an irfft of width `w + 1`;
/// Lucent (and this type) use numpy's exact odd-width inverse of `K = w / 2 + 1` columns instead.
/// The inverse transform runs as an FFT over ky (`RowFFT`, down the rows, every column at once) and two small matrix
/// products with precomputed cos/sin tables over kx.
public struct FFTImageParam: ImageParam {
    public let channels: Int
    public let height: Int
    public let width: Int
    public let decorrelate: Bool
    public let decayPower: Double
    public let sd: Float
    private let tables: SpectrumTables

    /// Spectrum columns `K = width / 2 + 1`.
    public var frequencyColumns: Int { width / 2 + 1 }
    public var parameterCount: Int { channels * 2 * height * frequencyColumns }

    /// `decorrelate` defaults to true for 3 channels (Lucid's default) and must be false otherwise.
    public init(height: Int, width: Int, channels: Int = 3, decorrelate: Bool? = nil,
                decayPower: Double = 1, sd: Float = 0.01) throws {
        let dec = try ValidRGB.resolve(height: height, width: width, channels: channels, decorrelate: decorrelate)
        self.channels = channels
        self.height = height
        self.width = width
        self.decorrelate = dec
        self.decayPower = decayPower
        self.sd = sd
        self.tables = SpectrumTables(height: height, width: width, decayPower: decayPower)
    }

    /// A one-channel (grayscale) FFT image for models with a single input channel; no colour decorrelation.
    public static func grayscale(height: Int, width: Int, decayPower: Double = 1, sd: Float = 0.01) throws -> FFTImageParam {
        try FFTImageParam(height: height, width: width, channels: 1, decorrelate: false, decayPower: decayPower, sd: sd)
    }

    /// The spectrum scale per (ky, kx), row-major `[H][K]` (includes the `sqrt(h·w)` factor).
    public var spectrumScale: [Float] { Array(UnsafeBufferPointer(start: tables.scale, count: height * frequencyColumns)) }

    public func initialize(_ params: UnsafeMutablePointer<Float>, seed: UInt64) {
        var rng = SplitMix64(seed: seed, stream: ParamStream.initial)
        for i in 0..<parameterCount { params[i] = rng.nextNormal() * sd }
    }

    /// The image before colour decorrelation and sigmoid (`irfft2(spectrum ⊙ scale) / 4`), `[N, C, H, W]`.
    public func linearImage(_ params: Tensor) -> Tensor {
        let n = params.shape[0]
        let out = Tensor(uninitialized: [n, channels, height, width])   // each job writes its whole plane
        let t = tables, h = height, w = width, k = frequencyColumns, per = 2 * h * k
        Parallel.forEach(n * channels) { job in Scratch.with(.layer, count: 2 * per) { scratch in
            let spec = scratch, z = scratch + per
            let src = params.data + job * per
            let half = h * k   // real then imaginary parts, both scaled by [H][K]
            for i in 0..<half { spec[i] = src[i] * t.scale[i]; spec[half + i] = src[half + i] * t.scale[i] }
            t.inverse(spec, scratch: z, into: out.data + job * h * w)
        } }
        return out
    }

    public func image(_ params: Tensor) -> Tensor { ValidRGB.forward(batch: linearImage(params), decorrelate: decorrelate) }

    public func backward(_ params: Tensor, image: Tensor, gradImage: Tensor) -> Tensor {
        linearBackward(ValidRGB.backward(batch: gradImage, image: image, decorrelate: decorrelate), count: params.shape[0])
    }

    /// Gradient w.r.t. the parameters given the gradient w.r.t. `linearImage`.
    public func linearBackward(_ gradLinear: Tensor, count n: Int) -> Tensor {
        let t = tables, h = height, w = width, k = frequencyColumns, per = 2 * h * k
        let out = Tensor(uninitialized: [n, parameterCount])   // each job writes its whole spectrum
        Parallel.forEach(n * channels) { job in Scratch.with(.layer, count: per) { gz in
            let dst = out.data + job * per
            t.inverseAdjoint(gradLinear.data + job * h * w, scratch: gz, into: dst)
            let half = h * k
            for i in 0..<half { dst[i] *= t.scale[i]; dst[half + i] *= t.scale[i] }
        } }
        return out
    }
}

/// Precomputed spectrum scale, the transform over ky (an FFT down the rows) and the real inverse-DFT matrices over
/// kx for one image size (computed in double precision).
final class SpectrumTables: @unchecked Sendable {
    let scale: UnsafeMutablePointer<Float>   // [H][K]
    let rows: RowFFT                         // over ky: Z[y] = Σ_ky X[ky] e^(2πi y ky / H)
    let bc: UnsafeMutablePointer<Float>      // [K][W]:  c_kx cos(2π kx x / W) / (4 H W)
    let bs: UnsafeMutablePointer<Float>      // [K][W]: -c_kx sin(2π kx x / W) / (4 H W)
    let bcT: UnsafeMutablePointer<Float>     // [W][K]
    let bsT: UnsafeMutablePointer<Float>
    let height: Int, columns: Int, width: Int

    init(height h: Int, width w: Int, decayPower: Double) {
        let k = w / 2 + 1
        height = h; columns = k; width = w
        rows = RowFFT(length: h)
        scale = .allocate(capacity: h * k)
        bc = .allocate(capacity: k * w)
        bs = .allocate(capacity: k * w)
        bcT = .allocate(capacity: k * w)
        bsT = .allocate(capacity: k * w)
        let floorFreq = 1 / Double(max(h, w)), root = Double(h * w).squareRoot()
        for ky in 0..<h {
            let fy = Double(ky < (h + 1) / 2 ? ky : ky - h) / Double(h)
            for kx in 0..<k {
                let fx = Double(kx) / Double(w)
                let f = max((fx * fx + fy * fy).squareRoot(), floorFreq)
                scale[ky * k + kx] = Float(root / pow(f, decayPower))
            }
        }
        let norm = 1 / (4 * Double(h * w))
        for kx in 0..<k {
            let weight: Double = (kx == 0 || (w % 2 == 0 && kx == w / 2)) ? 1 : 2
            for x in 0..<w {
                let phase = 2 * Double.pi * Double((kx * x) % w) / Double(w)
                let c = Float(weight * norm * cos(phase)), s = Float(-weight * norm * sin(phase))
                bc[kx * w + x] = c
                bs[kx * w + x] = s
                bcT[x * k + kx] = c
                bsT[x * k + kx] = s
            }
        }
    }

    deinit {
        for p in [scale, bc, bs, bcT, bsT] { p.deallocate() }
    }

    /// `image[H][W] = irfft2(spec) / 4` for an unscaled half spectrum `spec = [re[H][K]; im[H][K]]`;
    /// `scratch` holds `2·H·K` floats.
    func inverse(_ spec: UnsafePointer<Float>, scratch z: UnsafeMutablePointer<Float>, into image: UnsafeMutablePointer<Float>) {
        let h = height, k = columns, w = width
        // Zr + i·Zi = Σ_ky (Xr + i·Xi) e^(2πi y ky / H)   (transform over ky)
        rows.transform(spec, spec + h * k, into: z, z + h * k, width: k, sign: 1)
        // image = Zr · Bc + Zi · Bs                   (real inverse over kx)
        VisKernels.matmul(m: h, n: w, k: k, z, lda: k, bc, ldb: w, image, ldc: w)
        VisKernels.matmul(m: h, n: w, k: k, z + h * k, lda: k, bs, ldb: w, image, ldc: w, accumulate: true)
    }

    /// The adjoint of `inverse`: the gradient w.r.t. `[re; im]` from the gradient w.r.t. the image.
    func inverseAdjoint(_ gradImage: UnsafePointer<Float>, scratch gz: UnsafeMutablePointer<Float>,
                        into gradSpec: UnsafeMutablePointer<Float>) {
        let h = height, k = columns, w = width
        VisKernels.matmul(m: h, n: k, k: w, gradImage, lda: w, bcT, ldb: k, gz, ldc: k)
        VisKernels.matmul(m: h, n: k, k: w, gradImage, lda: w, bsT, ldb: k, gz + h * k, ldc: k)
        // The transform over ky is unitary up to H, so its adjoint is the conjugate transform.
        rows.transform(gz, gz + h * k, into: gradSpec, gradSpec + h * k, width: k, sign: -1)
    }
}
