import AtlasCore

/// Per-icon values of an objective and the gradient of their sum w.r.t. everything it read.
public struct ObjectiveResult {
    /// Weighted sum of the terms that apply to each icon.
    public var values: [Double]
    /// d(Σ values)/d(activations), one tensor per layer read (shaped like the activations).
    public var gradients: [String: Tensor]
    /// d(Σ values)/d(image) when image terms are present (the image before transforms, in [0, 1]).
    public var imageGradient: Tensor?
}

extension Objective {
    /// Evaluates the objective on captured activations (`[N, C, H, W]`, or `[N, K…]` for class logits) and,
    /// for image terms, on the `[N, C, H, W]` image. Icons are independent unless a diversity term is present.
    public func evaluate(activations: [String: Tensor], image: Tensor? = nil) throws -> ObjectiveResult {
        guard let n = activations.values.first?.shape.first ?? image?.shape.first else {
            throw ObjectiveError.outOfRange("no activations and no image to evaluate on")
        }
        var values = [Double](repeating: 0, count: n)
        var grads = [String: Tensor]()
        var imageGrad: Tensor?
        for term in terms {
            if let icon = term.icon, icon < 0 || icon >= n {
                throw ObjectiveError.outOfRange("term for icon \(icon) in a batch of \(n)")
            }
            let icons = term.icon.map { [$0] } ?? Array(0..<n)
            let source: Tensor, grad: Tensor
            if let layer = term.kind.layer {
                guard let a = activations[layer] else { throw ObjectiveError.missingLayer(layer) }
                guard a.rank >= 2, a.shape[0] == n else { throw ObjectiveError.badShape(layer: layer, shape: a.shape, need: "batch \(n)") }
                source = a
                if grads[layer] == nil { grads[layer] = Tensor(zeros: a.shape) }
                grad = grads[layer]!
            } else {
                guard let img = image else { throw ObjectiveError.missingImage }
                guard img.rank == 4, img.shape[0] == n else { throw ObjectiveError.badShape(layer: "image", shape: img.shape, need: "[\(n), C, H, W]") }
                source = img
                if imageGrad == nil { imageGrad = Tensor(zeros: img.shape) }
                grad = imageGrad!
            }
            let v = try ObjectiveKernels.evaluate(term.kind, source, grad, icons: icons, weight: term.weight)
            for (k, i) in icons.enumerated() { values[i] += Double(term.weight) * v[k] }
        }
        return ObjectiveResult(values: values, gradients: grads, imageGradient: imageGrad)
    }
}

/// Value and gradient kernels of the objective terms. Each adds `weight · d(value_i)/d(source)` into `grad`.
enum ObjectiveKernels {
    static func evaluate(_ kind: ObjectiveKind, _ a: Tensor, _ g: Tensor, icons: [Int], weight w: Float) throws -> [Double] {
        let n = a.shape[0], per = a.count / n
        func spatial(_ layer: String) throws -> (c: Int, h: Int, w: Int) {
            guard a.rank == 4 else { throw ObjectiveError.badShape(layer: layer, shape: a.shape, need: "[N, C, H, W]") }
            return (a.shape[1], a.shape[2], a.shape[3])
        }
        func position(_ layer: String, _ x: Int?, _ y: Int?, _ s: (c: Int, h: Int, w: Int)) throws -> Int {
            let px = x ?? s.w / 2, py = y ?? s.h / 2
            guard px >= 0, px < s.w, py >= 0, py < s.h else {
                throw ObjectiveError.outOfRange("position (\(px), \(py)) outside \(layer)'s \(s.w)×\(s.h)")
            }
            return py * s.w + px
        }
        func checkChannel(_ layer: String, _ ch: Int, _ c: Int) throws {
            guard ch >= 0, ch < c else { throw ObjectiveError.outOfRange("channel \(ch) of \(layer), which has \(c)") }
        }
        switch kind {
        case let .neuron(layer, ch, x, y):
            let s = try spatial(layer)
            try checkChannel(layer, ch, s.c)
            let p = try position(layer, x, y, s)
            return icons.map { i in
                let o = i * per + ch * s.h * s.w + p
                g.data[o] += w
                return Double(a.data[o])
            }
        case let .channel(layer, ch):
            let s = try spatial(layer)
            try checkChannel(layer, ch, s.c)
            let plane = s.h * s.w, inv = 1 / Float(plane)
            return icons.map { i in
                let base = i * per + ch * plane
                var sum = 0.0
                for p in 0..<plane { sum += Double(a.data[base + p]); g.data[base + p] += w * inv }
                return sum / Double(plane)
            }
        case let .direction(layer, v, power), let .directionNeuron(layer, v, _, _, power):
            let s = try spatial(layer)
            guard v.count == s.c else {
                throw ObjectiveError.outOfRange("direction of length \(v.count) for \(layer)'s \(s.c) channels")
            }
            var positions = Array(0..<(s.h * s.w))
            if case let .directionNeuron(_, _, x, y, _) = kind { positions = [try position(layer, x, y, s)] }
            return icons.map { i in
                dotCossim(a.data + i * per, g.data + i * per, channels: s.c, plane: s.h * s.w,
                          positions: positions, vector: v, power: power, weight: w)
            }
        case let .classLogit(layer, k):
            guard k >= 0, k < per else { throw ObjectiveError.outOfRange("class \(k) of \(layer), which has \(per)") }
            return icons.map { i in
                g.data[i * per + k] += w
                return Double(a.data[i * per + k])
            }
        case let .deepdream(layer):
            _ = try spatial(layer)
            let scale = 2 * w / Float(per)
            return icons.map { i in
                var sum = 0.0
                for j in (i * per)..<((i + 1) * per) {
                    let x = a.data[j]
                    sum += Double(x) * Double(x)
                    g.data[j] += scale * x
                }
                return sum / Double(per)
            }
        case .totalVariation:
            return icons.map { i in totalVariation(a, g, icon: i, weight: w) }
        case let .l1(c):
            return icons.map { i in
                var sum = 0.0
                for j in (i * per)..<((i + 1) * per) {
                    let d = a.data[j] - c
                    sum += Double(abs(d))
                    g.data[j] += d > 0 ? w : (d < 0 ? -w : 0)
                }
                return sum
            }
        case let .l2(c, eps):
            return icons.map { i in
                var sum = Double(eps)
                for j in (i * per)..<((i + 1) * per) { let d = Double(a.data[j] - c); sum += d * d }
                let norm = sum.squareRoot()
                for j in (i * per)..<((i + 1) * per) { g.data[j] += w * Float(Double(a.data[j] - c) / norm) }
                return norm
            }
        case .blur:
            return icons.map { i in blurPenalty(a, g, icon: i, weight: w) }
        case let .diversity(layer):
            let s = try spatial(layer)
            guard icons.count == n else { throw ObjectiveError.outOfRange("diversity applies to a whole batch, not to one icon") }
            return Diversity.evaluate(a, g, channels: s.c, plane: s.h * s.w, weight: w)
        }
    }

    /// Lucid's `_dot_cossim` averaged over `positions` of one icon; adds its gradient into `g`.
    static func dotCossim(_ a: UnsafePointer<Float>, _ g: UnsafeMutablePointer<Float>, channels c: Int, plane: Int,
                          positions: [Int], vector v: [Float], power: Float, weight w: Float) -> Double {
        let eps = 1e-4
        var vnorm = 0.0
        for x in v { vnorm += Double(x) * Double(x) }
        vnorm = vnorm.squareRoot()
        let inv = 1 / Double(positions.count)
        var total = 0.0
        for p in positions {
            var dot = 0.0, aa = 0.0
            for ch in 0..<c {
                let x = Double(a[ch * plane + p])
                dot += x * Double(v[ch])
                aa += x * x
            }
            if power == 0 {
                total += dot
                for ch in 0..<c { g[ch * plane + p] += Float(Double(w) * inv * Double(v[ch])) }
                continue
            }
            let anorm = aa.squareRoot(), pw = Double(power)
            let denom = (eps + anorm) * (eps + vnorm)
            let cos = dot / denom
            if cos <= 0.1 {
                let f = pow(0.1, pw)
                total += dot * f
                for ch in 0..<c { g[ch * plane + p] += Float(Double(w) * inv * f * Double(v[ch])) }
                continue
            }
            let cp = pow(cos, pw)
            total += dot * cp
            // d/da [dot · cos^p] = v·cos^p + dot·p·cos^(p−1)·(v/denom − dot·a / (|a| (eps+|a|)² (eps+|v|)))
            let k1 = cp + dot * pw * pow(cos, pw - 1) / denom
            let k2 = anorm > 0 ? dot * pw * pow(cos, pw - 1) * dot / (anorm * (eps + anorm) * (eps + anorm) * (eps + vnorm)) : 0
            for ch in 0..<c {
                let x = Double(a[ch * plane + p])
                g[ch * plane + p] += Float(Double(w) * inv * (k1 * Double(v[ch]) - k2 * x))
            }
        }
        return total * inv
    }

    /// `tf.image.total_variation` of one icon; adds `w · sign` gradients.
    static func totalVariation(_ a: Tensor, _ g: Tensor, icon i: Int, weight w: Float) -> Double {
        let c = a.shape[1], h = a.shape[2], wd = a.shape[3], plane = h * wd
        var sum = 0.0
        for ch in 0..<c {
            let x = a.data + (i * c + ch) * plane, gx = g.data + (i * c + ch) * plane
            for y in 0..<h {
                for col in 0..<wd {
                    let p = y * wd + col
                    @inline(__always) func pair(_ q: Int) {
                        let d = x[q] - x[p]
                        sum += Double(abs(d))
                        let s: Float = d > 0 ? w : (d < 0 ? -w : 0)
                        gx[q] += s
                        gx[p] -= s
                    }
                    if y + 1 < h { pair(p + wd) }
                    if col + 1 < wd { pair(p + 1) }
                }
            }
        }
        return sum
    }

    /// Lucid's 3×3 border-normalised blur of one plane.
    static func blur(_ x: UnsafePointer<Float>, _ out: UnsafeMutablePointer<Float>, height h: Int, width w: Int) {
        for y in 0..<h {
            for col in 0..<w {
                var s: Float = 0, norm: Float = 0
                for dy in -1...1 {
                    let yy = y + dy
                    if yy < 0 || yy >= h { continue }
                    for dx in -1...1 {
                        let xx = col + dx
                        if xx < 0 || xx >= w { continue }
                        let k: Float = (dy == 0 && dx == 0) ? 1 : 0.5
                        s += k * x[yy * w + xx]
                        norm += k
                    }
                }
                out[y * w + col] = s / norm
            }
        }
    }

    /// Lucid's `blur_input_each_step` value for one icon; adds `w · (x − blur(x))`.
    static func blurPenalty(_ a: Tensor, _ g: Tensor, icon i: Int, weight w: Float) -> Double {
        let c = a.shape[1], h = a.shape[2], wd = a.shape[3], plane = h * wd
        let b = UnsafeMutablePointer<Float>.allocate(capacity: plane)
        defer { b.deallocate() }
        var sum = 0.0
        for ch in 0..<c {
            let x = a.data + (i * c + ch) * plane, gx = g.data + (i * c + ch) * plane
            blur(x, b, height: h, width: wd)
            for p in 0..<plane {
                let d = x[p] - b[p]
                sum += 0.5 * Double(d) * Double(d)
                gx[p] += w * d
            }
        }
        return sum
    }
}

#if canImport(Glibc)
import Glibc
#else
import Darwin
#endif
