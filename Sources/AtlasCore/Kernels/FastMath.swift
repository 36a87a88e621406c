/// Vectorized e^x for the activations and Softmax, where libm's scalar `expf` was the cost of EfficientNet's
/// SiLU (a third of its forward pass).
///
/// Cephes' single-precision method: x = n·ln 2 + r with n = round(x / ln 2) and |r| ≤ ln 2 / 2 (ln 2 split in two
/// for an exact product), e^r by a degree-6 polynomial, then 2ⁿ put into the exponent bits. Within a few ulp of
/// the true value on [−87.34, 88.38] (the normal range, less the top 2.4e38…3.4e38); e^x is 0 below (no
/// subnormals) and +∞ above, and NaN gives NaN: what Sigmoid, SiLU and Softmax need, not a general `expf`. Every lane runs the same instructions, and the scalar form is lane 0 of the vector form, so a
/// value has the same bits wherever it sits in a tensor (the batch and thread invariance the engine promises).
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
}
