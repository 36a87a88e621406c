/// A network operation with its forward pass and its gradient with respect to its inputs, side by side.
///
/// Layers never compute weight gradients: feature visualization and attribution only need the gradient
/// with respect to the network input. Weights and constant attributes live in the layer value; runtime
/// inputs arrive as tensors.
public protocol Layer {
    /// Short op name for messages and stats ("Conv", "Relu", ...).
    var name: String { get }

    /// Output shape for the given input shapes, or a `ShapeError` explaining why they do not fit.
    func outputShape(_ inputs: [[Int]]) throws -> [Int]

    /// Computes the output. Input shapes have been validated with `outputShape`.
    func forward(_ inputs: [Tensor]) -> Tensor

    /// Gradient of the loss with respect to each input whose `needsGrad` flag is set (nil elsewhere),
    /// given the forward inputs, the forward output and the gradient of the loss with respect to that output.
    func backward(_ inputs: [Tensor], output: Tensor, gradOutput: Tensor, needsGrad: [Bool]) -> [Tensor?]

    /// Multiply-adds for one forward pass on these input shapes (for `inspect` and GFLOPS figures).
    func multiplyAdds(_ inputs: [[Int]]) -> Int

    /// Which forward values `backward` reads. A forward run kept for backward holds only these, and `backward`
    /// gets shape-only placeholders (`Tensor(placeholder:)`) for the rest. Defaults to inputs and output.
    var backwardReads: BackwardReads { get }
}

extension Layer {
    public func multiplyAdds(_ inputs: [[Int]]) -> Int { 0 }
    public var backwardReads: BackwardReads { [.inputs, .output] }
}

/// The forward values a layer's `backward` reads (beyond their shapes).
public struct BackwardReads: OptionSet, Sendable {
    public let rawValue: Int
    public init(rawValue: Int) { self.rawValue = rawValue }
    public static let inputs = BackwardReads(rawValue: 1)
    public static let output = BackwardReads(rawValue: 2)
}

/// Why a layer cannot accept the given input shapes.
public struct ShapeError: Error, CustomStringConvertible, Sendable {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// A layer whose gradient with respect to its first input can be added straight into a gradient sum already held
/// for that input (one pass over the sum instead of a fresh tensor and then an addition), with the bits of
/// `sum + backward(…)[0]`.
public protocol AccumulatesInputGradient: Layer {
    /// Adds the gradient with respect to input 0 into `sum` (a tensor of input 0's shape nothing else holds).
    func backward(_ inputs: [Tensor], output: Tensor, gradOutput: Tensor, adding sum: Tensor)
}

/// A layer that can note, while it runs forward, what its backward would otherwise have to work out again (MaxPool:
/// each window's first maximum), kept on its output's storage (`TensorStorage.note`). The executor calls it for runs
/// kept for backward; the output is `forward`'s, bit for bit, and a backward that finds no note computes as before.
public protocol RecordsForBackward: Layer {
    func forwardRecording(_ inputs: [Tensor]) -> Tensor
}
