import AtlasCore

/// An image parameterization: a flat parameter vector per icon that maps to an image in [0, 1].
///
/// Batched: parameters are a `[N, parameterCount]` tensor (icon `i` owns row `i`), images are `[N, C, H, W]`.
/// Every icon's initial parameters depend only on its own seed, so an icon renders the same alone or in a batch.
public protocol ImageParam: Sendable {
    /// Image channels (3 for RGB, 1 for grayscale models).
    var channels: Int { get }
    var height: Int { get }
    var width: Int { get }
    /// Parameters per icon (one row of the parameter tensor).
    var parameterCount: Int { get }

    /// Writes the initial parameters of one icon (`parameterCount` values) drawn from `seed`.
    func initialize(_ params: UnsafeMutablePointer<Float>, seed: UInt64)

    /// The images `[N, C, H, W]` in [0, 1] for parameters `[N, parameterCount]`.
    func image(_ params: Tensor) -> Tensor

    /// Gradient with respect to the parameters, given the parameters, the image `image(params)` returned
    /// and the gradient with respect to that image. Shape `[N, parameterCount]`.
    func backward(_ params: Tensor, image: Tensor, gradImage: Tensor) -> Tensor
}

extension ImageParam {
    /// Initial parameters `[N, parameterCount]` for icons with the given seeds.
    public func initialParameters(seeds: [UInt64]) -> Tensor {
        let t = Tensor(zeros: [seeds.count, parameterCount])
        Parallel.forEach(seeds.count) { i in initialize(t.data + i * parameterCount, seed: seeds[i]) }
        return t
    }
}

/// The random stream that initial parameters are drawn from (`SplitMix64(seed: iconSeed, stream: ParamStream.initial)`);
/// transform draws use `stream: step`, which never reaches this value.
public enum ParamStream {
    public static let initial: UInt64 = 1 << 63
}

/// Lucid's colour decorrelation: the square root of ImageNet's colour correlation, normalised by its largest
/// column norm. A decorrelated pixel `t` becomes RGB `M · t` (Lucid's `t_flat @ color_correlation_normalized.T`).
public enum ColorDecorrelation {
    /// Lucid's `color_correlation_svd_sqrt` (rows = RGB output, columns = decorrelated input).
    public static let svdSqrt: [[Float]] = [[0.26, 0.09, 0.02], [0.27, 0.00, -0.05], [0.27, -0.09, 0.03]]

    /// `svdSqrt / max_j ‖column j‖`, row-major 3×3.
    public static let normalized: [Float] = {
        var maxNorm: Float = 0
        for j in 0..<3 {
            var s: Float = 0
            for i in 0..<3 { s += svdSqrt[i][j] * svdSqrt[i][j] }
            maxNorm = max(maxNorm, s.squareRoot())
        }
        return svdSqrt.flatMap { $0.map { $0 / maxNorm } }
    }()

    /// `out[c] = Σ_j M[c][j] · in[j]` over `plane` pixels per channel (3 channel planes, in place allowed).
    /// With `transpose`, applies `Mᵀ` (the backward of the forward map).
    static func apply(_ x: UnsafeMutablePointer<Float>, plane: Int, transpose: Bool) {
        let n = normalized
        // Entry (row, col) of M, or of Mᵀ when transposing.
        func e(_ row: Int, _ col: Int) -> Float { transpose ? n[col * 3 + row] : n[row * 3 + col] }
        let m00 = e(0, 0), m01 = e(0, 1), m02 = e(0, 2)
        let m10 = e(1, 0), m11 = e(1, 1), m12 = e(1, 2)
        let m20 = e(2, 0), m21 = e(2, 1), m22 = e(2, 2)
        let r = x, g = x + plane, b = x + 2 * plane
        for p in 0..<plane {
            let a0 = r[p], a1 = g[p], a2 = b[p]
            r[p] = m00 * a0 + m01 * a1 + m02 * a2
            g[p] = m10 * a0 + m11 * a1 + m12 * a2
            b[p] = m20 * a0 + m21 * a1 + m22 * a2
        }
    }
}

/// Shared tail of Lucid's `to_valid_rgb`: optional colour decorrelation, then a sigmoid.
enum ValidRGB {
    /// Checks an image parameterization's size and returns whether it decorrelates colour (default: for 3 channels).
    static func resolve(height: Int, width: Int, channels: Int, decorrelate: Bool?) throws -> Bool {
        guard (1...4096).contains(height), (1...4096).contains(width), (1...4).contains(channels) else {
            throw ParamError.badSize(height: height, width: width, channels: channels)
        }
        let dec = decorrelate ?? (channels == 3)
        if dec && channels != 3 { throw ParamError.decorrelationNeedsRGB(channels: channels) }
        return dec
    }

    /// `forward` on every icon of `[N, C, H, W]` linear images, in place; returns them.
    static func forward(batch x: Tensor, decorrelate: Bool) -> Tensor {
        let c = x.shape[1], plane = x.shape[2] * x.shape[3]
        Parallel.forEach(x.shape[0]) { i in forward(x.data + i * c * plane, channels: c, plane: plane, decorrelate: decorrelate) }
        return x
    }

    /// The gradient w.r.t. the linear images `[N, C, H, W]` from the gradient w.r.t. the images (`image` = forward's).
    static func backward(batch gradImage: Tensor, image: Tensor, decorrelate: Bool) -> Tensor {
        let g = gradImage.copy()
        let c = image.shape[1], plane = image.shape[2] * image.shape[3]
        Parallel.forEach(image.shape[0]) { i in
            backward(g.data + i * c * plane, image: image.data + i * c * plane, channels: c, plane: plane, decorrelate: decorrelate)
        }
        return g
    }

    /// In place on one icon's `[C, H, W]` block.
    static func forward(_ x: UnsafeMutablePointer<Float>, channels: Int, plane: Int, decorrelate: Bool) {
        if decorrelate { ColorDecorrelation.apply(x, plane: plane, transpose: false) }
        Sigmoid().applyInPlace(x, count: channels * plane)   // 1 / (1 + e^−x), eight lanes at a time
    }

    /// `grad` (w.r.t. the image) becomes the gradient w.r.t. the pre-colour values, in place; `y` is the image.
    static func backward(_ grad: UnsafeMutablePointer<Float>, image y: UnsafePointer<Float>,
                         channels: Int, plane: Int, decorrelate: Bool) {
        for i in 0..<(channels * plane) { grad[i] *= y[i] * (1 - y[i]) }
        if decorrelate { ColorDecorrelation.apply(grad, plane: plane, transpose: true) }
    }
}
