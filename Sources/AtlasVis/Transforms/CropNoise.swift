import AtlasCore

/// MACO's augmentations (Fel et al. 2023; `optimization_step` of the horama library), one draw per icon and step:
/// - crop: a square box of side `s` ~ U(lo, hi) (fraction of the image side) centred at 0.5 + 0.15·N(0, 1) on each
///   axis, moved inside the image, resampled bilinearly (edge-clamped) back to the full H×W (an `AffineWarp`);
///   horama crops 6 boxes per step from a 1280 px canvas, Atlas one box per icon so a step costs what an FFT
///   step costs;
/// - noise: `sd·N(0, 1) + sd·U(−½, ½)` added to every value, each channel plane from its own stream
///   `SplitMix64(seed: drawSeed, stream: plane)`; the backward is the identity.
enum CropNoise {
    static func drawCrop(lo: Float, hi: Float, _ rng: inout SplitMix64) -> TransformDraw {
        let side = lo + (hi - lo) * rng.nextUniform()
        func centre(_ z: Float) -> Float { min(max(0.5 + 0.15 * z, side / 2), 1 - side / 2) }
        let cx = centre(rng.nextNormal()), cy = centre(rng.nextNormal())
        return .crop(side: side, cx: cx, cy: cy)
    }

    static func addNoise(_ src: UnsafePointer<Float>, _ dst: UnsafeMutablePointer<Float>, count: Int, sd: Float,
                         seed: UInt64, plane: Int) {
        var rng = SplitMix64(seed: seed, stream: UInt64(plane))
        for i in 0..<count { dst[i] = src[i] + sd * (rng.nextNormal() + rng.nextUniform() - 0.5) }
    }
}
