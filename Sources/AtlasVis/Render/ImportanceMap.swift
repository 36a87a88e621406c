import AtlasCore
import AtlasImage

/// MACO's importance (transparency) map: where the objective's gradient w.r.t. the image was large during the
/// optimization. The renderer accumulates Σ over steps and channels of |∂objective/∂image| per icon pixel;
/// `image` turns one icon's sum into a grayscale picture as horama's `plot_maco` does: values clipped at their
/// 80th percentile and divided by it, so the most important fifth of the pixels is white.
public enum ImportanceMap {
    /// `into[i, y, x] += Σ_c |grad[i, c, y, x]|` (fixed order per pixel: deterministic at any thread count).
    static func accumulate(_ grad: Tensor, into sum: Tensor) {
        let n = grad.shape[0], c = grad.shape[1], plane = grad.shape[2] * grad.shape[3]
        guard sum.count == n * plane else { return }
        Parallel.forEach(n) { i in
            let dst = sum.data + i * plane
            for ch in 0..<c {
                let g = grad.data + (i * c + ch) * plane
                for p in 0..<plane { dst[p] += abs(g[p]) }
            }
        }
    }

    /// Icon `index` of an `[N, H, W]` importance sum as a one-channel image in [0, 1].
    public static func image(_ sum: Tensor, index: Int) throws -> Image {
        let h = sum.shape[1], w = sum.shape[2], plane = h * w
        let values = Array(UnsafeBufferPointer(start: sum.data + index * plane, count: plane))
        let sorted = values.sorted()
        let clip = sorted[Int(0.8 * Double(plane - 1))]
        let pixels = clip > 0 ? values.map { min($0, clip) / clip } : [Float](repeating: 0, count: plane)
        return try Image(width: w, height: h, channels: 1, pixels: pixels)
    }

    /// `dir/icon.png` → `dir/icon.importance.png`: where the importance map of an icon file is written.
    public static func path(besideIcon path: String) -> String {
        let dot = path.lastIndex(of: "."), slash = path.lastIndex(of: "/")
        guard let dot, slash.map({ $0 < dot }) ?? true else { return path + ".importance.png" }
        return String(path[..<dot]) + ".importance.png"
    }
}
