/// `Preprocessor`: turns a decoded `Image` into a network input — channel layout, resize (shorter side +
/// center crop, or direct), `Preprocess` — producing `[1, C, H, W]` tensors or filling batch items.
import AtlasCore

/// A fixed recipe from image to network input of a known shape.
public struct Preprocessor: Sendable, Equatable {
    /// How the image is brought to the output size.
    public enum Geometry: Sendable, Equatable {
        /// Resize the shorter side to `resize`, then center-crop `width × height` (torchvision's
        /// `Resize(256)` + `CenterCrop(224)` is `.shorterSide(resize: 256, width: 224, height: 224)`).
        case shorterSide(resize: Int, width: Int, height: Int)
        /// Resize to exactly `width × height`, ignoring the aspect ratio.
        case direct(width: Int, height: Int)
    }

    public var geometry: Geometry
    public var preprocess: Preprocess
    /// Channel layout of the output (default RGB; alpha handled by `alpha`).
    public var layout: ChannelLayout
    public var alpha: AlphaHandling

    public init(geometry: Geometry, preprocess: Preprocess = .identity, layout: ChannelLayout = .rgb,
                alpha: AlphaHandling = .drop) {
        self.geometry = geometry
        self.preprocess = preprocess
        self.layout = layout
        self.alpha = alpha
    }

    /// Resize shorter side to `size` and center-crop `crop × crop` (crop defaults to size).
    public static func centerCrop(_ size: Int, resize: Int? = nil, preprocess: Preprocess = .identity) -> Preprocessor {
        Preprocessor(geometry: .shorterSide(resize: resize ?? size, width: size, height: size), preprocess: preprocess)
    }

    /// Output size (width, height).
    public var outputSize: (width: Int, height: Int) {
        switch geometry {
        case let .shorterSide(_, w, h): return (w, h)
        case let .direct(w, h): return (w, h)
        }
    }

    /// Shape of one item: `[C, H, W]`.
    public var itemShape: [Int] { [layout.rawValue, outputSize.height, outputSize.width] }

    /// The image resized/cropped and converted, still in [0, 1].
    public func geometryApplied(_ image: Image) throws -> Image {
        var im = image.converted(to: layout, alpha: alpha)
        switch geometry {
        case let .shorterSide(resize, w, h):
            guard resize > 0, w > 0, h > 0 else {
                throw ImageError(.invalidArgument, file: "<memory>", reason: "preprocess sizes \(resize), \(w)x\(h)")
            }
            // Shorter side to `resize`, scaled up further when a non-square crop would not fit.
            let sw = Double(im.width), sh = Double(im.height)
            let scale = max(Double(resize) / min(sw, sh), Double(w) / sw, Double(h) / sh)
            let nw = max(w, Int((sw * scale).rounded())), nh = max(h, Int((sh * scale).rounded()))
            im = try im.resized(width: nw, height: nh)
            im = try im.centerCropped(width: w, height: h)
        case let .direct(w, h):
            im = try im.resized(width: w, height: h)
        }
        return im
    }

    /// Writes the preprocessed, normalized image to `destination` (`C·H·W` floats, e.g. a batch item).
    public func fill(_ destination: UnsafeMutablePointer<Float>, from image: Image) throws {
        let im = try geometryApplied(image)
        guard let (scale, offset) = preprocess.affine(channels: im.channels) else {
            throw ImageError(.invalidArgument, file: "<memory>", reason: "preprocess \(preprocess) for \(im.channels) channels")
        }
        let n = im.planeSize
        im.pixels.withUnsafeBufferPointer { src in
            for c in 0..<im.channels {
                let s = src.baseAddress! + c * n, d = destination + c * n
                let a = scale[c], b = offset[c]
                for i in 0..<n { d[i] = s[i] * a + b }
            }
        }
    }

    /// The image as a normalized `[1, C, H, W]` network input.
    public func callAsFunction(_ image: Image) throws -> Tensor {
        let t = Tensor(zeros: [1] + itemShape)
        try fill(t.data, from: image)
        return t
    }
}
