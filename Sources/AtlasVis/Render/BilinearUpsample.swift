import AtlasCore

/// Bilinear resize of `[N, C, H, W]` tensors with `align_corners = true` (PyTorch's
/// `nn.Upsample(mode: "bilinear", align_corners: True)`, what Lucent applies before the model when icons are
/// smaller than 224 px): output index `o` samples the input at `o · (in − 1) / (out − 1)`.
///
/// The renderer's view of the ONNX `Resize` layer (linear, align_corners): one implementation of the forward
/// and of its exact adjoint, whose fixed per-plane order keeps results independent of the thread count.
public struct BilinearUpsample: Sendable, Equatable {
    public let inputHeight: Int
    public let inputWidth: Int
    public let outputHeight: Int
    public let outputWidth: Int

    public init(from input: (height: Int, width: Int), to output: (height: Int, width: Int)) {
        inputHeight = input.height
        inputWidth = input.width
        outputHeight = output.height
        outputWidth = output.width
    }

    private func layer(batch: Int, channels: Int) -> Resize {
        Resize(outputSize: [batch, channels, outputHeight, outputWidth], mode: .linear, coordinates: .alignCorners)
    }

    /// `[N, C, H, W]` → `[N, C, outputHeight, outputWidth]`.
    public func forward(_ x: Tensor) -> Tensor {
        precondition(x.rank == 4 && x.shape[2] == inputHeight && x.shape[3] == inputWidth, "BilinearUpsample: input \(x.shape)")
        return layer(batch: x.shape[0], channels: x.shape[1]).forward([x])
    }

    /// Gradient w.r.t. the input from the gradient w.r.t. `forward`'s output (the adjoint map).
    public func backward(_ grad: Tensor) -> Tensor {
        precondition(grad.rank == 4 && grad.shape[2] == outputHeight && grad.shape[3] == outputWidth,
                     "BilinearUpsample: gradient \(grad.shape)")
        let n = grad.shape[0], c = grad.shape[1]
        // Resize's backward reads only the input's shape.
        let input = Tensor(zeros: [n, c, inputHeight, inputWidth])
        return layer(batch: n, channels: c).backward([input], output: grad, gradOutput: grad, needsGrad: [true])[0]!
    }
}
