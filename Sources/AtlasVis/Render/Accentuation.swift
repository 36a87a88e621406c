#if canImport(Glibc)
import Glibc
#else
import Darwin
#endif
import AtlasCore
import AtlasImage
import AtlasNet
import Foundation

/// The regularizer of feature accentuation (Hamblin, Fel et al. 2024): `weight · mean((f(T x) − f(T seed))²)`
/// over the activations `f` at an early `layer`, where `T` is the step's random transform, drawn the same for the
/// image and its seed, so that the two stay aligned. Subtracted from the objective (the render ascends).
struct FeaturePenalty {
    /// The user-given layer name (as objectives name layers).
    let layer: String
    /// The seed images `[N, C, H, W]` in [0, 1] (before transforms).
    let reference: Tensor
    let weight: Float

    func restricted(to range: Range<Int>) -> FeaturePenalty {
        FeaturePenalty(layer: layer, reference: reference.slice(batch: range).copy(), weight: weight)
    }

    /// Per-icon penalty values and their gradient w.r.t. `features` (`[N, …]`, like `reference`).
    func evaluate(_ features: Tensor, reference: Tensor) -> (values: [Double], gradient: Tensor) {
        let n = features.shape[0], per = features.count / n
        let gradient = Tensor(uninitialized: features.shape)
        var values = [Double](repeating: 0, count: n)
        let scale = 2 * weight / Float(per)
        for i in 0..<n {
            let f = features.data + i * per, r = reference.data + i * per, g = gradient.data + i * per
            var sum = 0.0
            for j in 0..<per {
                let d = f[j] - r[j]
                sum += Double(d) * Double(d)
                g[j] = -scale * d   // gradient of −weight·mean(d²), as the render ascends
            }
            values[i] = Double(weight) * sum / Double(per)
        }
        return (values, gradient)
    }
}

/// Feature accentuation (Hamblin, Fel et al. 2024): start from a real image and optimize it toward an objective
/// while `weight · mean((f_layer(T x) − f_layer(T seed))²)` keeps it close to the seed in the network's own
/// early-layer features. The image is a per-pixel parameterization (`PixelImageParam`, decorrelated colour for RGB)
/// initialized to the exact preimage of the seed, so that with an infinite weight the result is the seed.
public struct Accentuation: Sendable {
    /// The layer whose activations the regularizer compares (an early one: the paper uses the first blocks).
    public var layer: String
    /// The regularizer's weight; larger stays closer to the seed.
    public var weight: Float

    public init(layer: String, weight: Float) { self.layer = layer; self.weight = weight }

    /// The default regularizer layer: the output of the network's first convolution (nil without one).
    public static func defaultLayer(of network: Network) -> String? {
        network.graph.nodes.first(where: { $0.opType == "Conv" })?.outputs.first
    }

    /// Parameters of `param` whose image is `seed` (`[C, H, W]` values, clamped to [1e-4, 1 − 1e-4]).
    static func preimage(_ seed: Image, param: PixelImageParam) throws -> Tensor {
        guard seed.width == param.width, seed.height == param.height, seed.channels == param.channels else {
            throw RenderError.invalidOption("seed image \(seed.width)×\(seed.height)×\(seed.channels) for a \(param.width)×\(param.height)×\(param.channels) render")
        }
        let plane = param.width * param.height
        let t = Tensor(zeros: [1, param.parameterCount])
        for i in 0..<(param.channels * plane) {
            let v = min(max(seed.pixels[i], 1e-4), 1 - 1e-4)
            t.data[i] = logf(v / (1 - v))
        }
        if param.decorrelate { ColorDecorrelation.applyInverse(t.data, plane: plane) }
        return t
    }
}

extension ColorDecorrelation {
    /// `x ← M⁻¹ x` per pixel (3 planes), the inverse of `apply(_:plane:transpose: false)`.
    static func applyInverse(_ x: UnsafeMutablePointer<Float>, plane: Int) {
        let m = normalized.map(Double.init)
        let det = m[0] * (m[4] * m[8] - m[5] * m[7]) - m[1] * (m[3] * m[8] - m[5] * m[6]) + m[2] * (m[3] * m[7] - m[4] * m[6])
        let inv: [Double] = [
            (m[4] * m[8] - m[5] * m[7]) / det, (m[2] * m[7] - m[1] * m[8]) / det, (m[1] * m[5] - m[2] * m[4]) / det,
            (m[5] * m[6] - m[3] * m[8]) / det, (m[0] * m[8] - m[2] * m[6]) / det, (m[2] * m[3] - m[0] * m[5]) / det,
            (m[3] * m[7] - m[4] * m[6]) / det, (m[1] * m[6] - m[0] * m[7]) / det, (m[0] * m[4] - m[1] * m[3]) / det,
        ]
        let r = x, g = x + plane, b = x + 2 * plane
        for p in 0..<plane {
            let a0 = Double(r[p]), a1 = Double(g[p]), a2 = Double(b[p])
            r[p] = Float(inv[0] * a0 + inv[1] * a1 + inv[2] * a2)
            g[p] = Float(inv[3] * a0 + inv[4] * a1 + inv[5] * a2)
            b[p] = Float(inv[6] * a0 + inv[7] * a1 + inv[8] * a2)
        }
    }
}

extension Renderer {
    /// Accentuates `objective` in `seedImage` (`options.size` square, the model's channels, values in [0, 1]):
    /// `options.steps` Adam steps on a per-pixel image that starts at the seed, ascending
    /// objective − accentuation regularizer, with `options.transforms` (drawn from `seed`) on both the image and
    /// the seed. `options.param` is ignored. The result's `values` are the objective minus the regularizer at the
    /// last step; `scores` the objective alone on the final image without transforms.
    public func accentuate(_ objective: Objective, seedImage: Image, accentuation: Accentuation, seed: UInt64,
                           options: RenderOptions, progress: ((Int, Int) -> Void)? = nil) throws -> RenderResult {
        var checked = options
        checked.param = .pixel
        try validate([objective], seeds: [seed], options: checked)
        _ = try network.resolve(accentuation.layer)
        guard accentuation.weight >= 0, accentuation.weight.isFinite else {
            throw RenderError.invalidOption("accentuation weight \(accentuation.weight) (≥ 0)")
        }
        let start = DispatchTime.now().uptimeNanoseconds
        let param = try PixelImageParam(height: options.size, width: options.size, channels: inputChannels,
                                        decorrelate: options.decorrelate)
        let params = try Accentuation.preimage(seedImage, param: param)
        let reference = param.image(params)   // the seed as this parameterization represents it
        let penalty = FeaturePenalty(layer: accentuation.layer, reference: reference, weight: accentuation.weight)
        let adam = Adam(shape: params.shape, learningRate: options.learningRate)
        var history: [[Double]] = []
        let importance = Tensor(zeros: [1, options.size, options.size])
        for step in 0..<options.steps {
            let image = param.image(params)
            let r = try run(objective, image: image, seeds: [seed], step: step, options: options, gradient: true, penalty: penalty)
            history.append(r.values)
            ImportanceMap.accumulate(r.gradient!, into: importance)
            adam.ascend(params, grad: param.backward(params, image: image, gradImage: r.gradient!))
            progress?(step + 1, options.steps)
        }
        let final = param.image(params)
        let scores = (try? evaluate([objective], images: final, options: options)) ?? [.nan]
        let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) * 1e-9
        return RenderResult(images: try images(final), tensor: final, values: history.last ?? [], history: history,
                            scores: scores, importance: importance, seconds: seconds)
    }
}
