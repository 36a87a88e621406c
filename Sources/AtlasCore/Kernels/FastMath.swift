/// Vectorized e^x and erf for the activations and Softmax, where libm's scalar `expf` was the cost of EfficientNet's
/// SiLU (a third of its forward pass) and `erff` 12% of ViT-B/16's (its GELUs).
///
/// Cephes' single-precision method: x = n·ln 2 + r with n = round(x / ln 2) and |r| ≤ ln 2 / 2 (ln 2 split in two
/// for an exact product), e^r by a degree-6 polynomial, then 2ⁿ put into the exponent bits. Within a few ulp of
/// the true value on [−87.34, 88.38] (the normal range, less the top 2.4e38…3.4e38); e^x is 0 below (no
/// subnormals) and +∞ above, and NaN gives NaN: what Sigmoid, SiLU and Softmax need, not a general `expf`.
/// Every lane runs the same instructions, and the scalar form is lane 0 of the vector form, so a value has the same
/// bits wherever it sits in a tensor (the batch and thread invariance the engine promises).
public enum FastMath {
    /// e^x lane by lane (see the type's note for range and accuracy).
    @inline(__always)
    public static func exp(_ v: SIMD8<Float>) -> SIMD8<Float> {
        typealias V = SIMD8<Float>
        // Comparisons with NaN are false, so NaN passes the clamps and the arithmetic below.
        let low = V(repeating: -87.336_54), high = V(repeating: 88.376_26)
        let x = v.replacing(with: low, where: v .< low).replacing(with: high, where: v .> high)
        // n = round(x·log₂e) by the 1.5·2²³ trick: the sum's low mantissa bits hold n.
        let shifter = V(repeating: 12_582_912)
        let big = shifter.addingProduct(x, V(repeating: 1.442_695_04))
        let n = big - shifter
        // r = x − n·ln 2, with ln 2 = 0.693359375 − 2.12194440e-4 (the first part exact in 8 bits).
        let r = x.addingProduct(n, V(repeating: -0.693_359_375)).addingProduct(n, V(repeating: 2.121_944_4e-4))
        var p = V(repeating: 1.987_569_15e-4)
        p = V(repeating: 1.398_199_950_7e-3).addingProduct(p, r)
        p = V(repeating: 8.333_451_907_3e-3).addingProduct(p, r)
        p = V(repeating: 4.166_579_589_4e-2).addingProduct(p, r)
        p = V(repeating: 1.666_666_545_9e-1).addingProduct(p, r)
        p = V(repeating: 5.000_000_120_1e-1).addingProduct(p, r)
        let e = (r + 1).addingProduct(p, r * r)
        // 2ⁿ: shift n from the low bits of `big` into the exponent field and add the bias.
        let bits = unsafeBitCast(big, to: SIMD8<UInt32>.self) &<< 23 &+ SIMD8<UInt32>(repeating: 127 << 23)
        return (e * unsafeBitCast(bits, to: V.self)).replacing(with: .infinity, where: v .> high)
            .replacing(with: 0, where: v .< low)
    }

    /// e^x for one value: lane 0 of the vector form, so it has the vector form's bits.
    @inline(__always)
    public static func exp(_ x: Float) -> Float { exp(SIMD8<Float>(repeating: x))[0] }

    /// erf(x) lane by lane: x·P(x²)/Q(x²) on [−4, 4] (a rational minimax fit of degrees 13/8), ±1 beyond, clamped to
    /// [−1, 1]; within 4e-7 of the true value everywhere (6.5e-8 in exact arithmetic; FastMathTests). NaN gives NaN.
    @inline(__always)
    public static func erf(_ v: SIMD8<Float>) -> SIMD8<Float> {
        typealias V = SIMD8<Float>
        let four = V(repeating: 4)
        let x = v.replacing(with: -four, where: v .< -four).replacing(with: four, where: v .> four)
        let x2 = x * x
        var p = V(repeating: -2.726_142_258_013_06e-10)
        p = V(repeating: 2.770_681_424_959_02e-08).addingProduct(p, x2)
        p = V(repeating: -2.101_024_020_825_08e-06).addingProduct(p, x2)
        p = V(repeating: -5.692_506_394_623_46e-05).addingProduct(p, x2)
        p = V(repeating: -7.349_906_303_268_55e-04).addingProduct(p, x2)
        p = V(repeating: -2.954_599_808_540_25e-03).addingProduct(p, x2)
        p = V(repeating: -1.609_603_332_624_15e-02).addingProduct(p, x2)
        var q = V(repeating: -1.456_607_184_649_96e-05)
        q = V(repeating: -2.133_740_552_789_05e-04).addingProduct(q, x2)
        q = V(repeating: -1.682_826_974_382_03e-03).addingProduct(q, x2)
        q = V(repeating: -7.373_329_167_204_68e-03).addingProduct(q, x2)
        q = V(repeating: -1.426_473_905_141_89e-02).addingProduct(q, x2)
        let r = x * p / q
        let one = V(repeating: 1)
        return r.replacing(with: -one, where: r .< -one).replacing(with: one, where: r .> one)
    }

    /// erf(x) for one value: lane 0 of the vector form.
    @inline(__always)
    public static func erf(_ x: Float) -> Float { erf(SIMD8<Float>(repeating: x))[0] }
}
