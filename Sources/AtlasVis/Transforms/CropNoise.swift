import AtlasCore

/// MACO's augmentations (Fel et al. 2023; `optimization_step` of the horama library), one draw per icon and step:
/// - crop: a square box of side `s` ~ U(lo, hi) (fraction of the image side) centred at 0.5 + 0.15·N(0, 1) on each
///   axis, moved inside the image, resampled bilinearly (edge-clamped) back to the full H×W (an `AffineWarp`);
///   horama crops 6 boxes per step from a 1280 px canvas, Atlas one box per icon so a step costs what an FFT
///   step costs;
/// - noise: `sd·Z + sd·U(−½, ½)` added to every value (horama adds a normal and a uniform sample), each channel plane
///   from its own stream `SplitMix64(seed: drawSeed, stream: plane)`; `Z` is the Irwin–Hall approximation of N(0, 1)
///   (four 16-bit uniforms of one draw, centred and scaled to unit variance: one generator call per value instead of
///   Box–Muller's logarithm and cosine, for augmentation noise). The backward is the identity.
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
        let unit: Float = 1 / 65536, normal = Float(3).squareRoot()   // Var(Σ of 4 U(0,1)) = 1/3
        for i in 0..<count {
            let r = rng.next(), u = rng.next()
            let s = Float(r & 0xFFFF) + Float((r >> 16) & 0xFFFF) + Float((r >> 32) & 0xFFFF) + Float(r >> 48)
            let z = (s * unit - 2) * normal
            dst[i] = src[i] + sd * (z + Float(u >> 40) * (1 / 16_777_216) - 0.5)
        }
    }
}
