/// What an attribution map measures, and the reference input that integrated gradients starts from.
import AtlasCore

/// The four attribution methods of `atlas attribute`.
public enum AttributionMethod: String, CaseIterable, Sendable {
    /// max over channels of |∂ logit / ∂ input| (Simonyan et al. 2013).
    case saliency
    /// Σ over channels of input · ∂ logit / ∂ input (signed).
    case gradientTimesInput = "gradxinput"
    /// Σ over channels of (x − x₀) · the mean gradient on the straight path from x₀ to x (Sundararajan et al.
    /// 2017, midpoint rule); the map sums to ≈ logit(x) − logit(x₀).
    case integratedGradients = "integrated-gradients"
    /// ReLU(Σ_c α_c A_c) at a spatial layer, α_c the spatial mean of ∂ logit / ∂ A_c (Selvaraju et al. 2017),
    /// upsampled bilinearly to the input.
    case gradCAM = "gradcam"

    /// Whether the map can be negative (overlays then show its magnitude).
    public var isSigned: Bool { self == .gradientTimesInput || self == .integratedGradients }
}

/// The reference input x₀ of integrated gradients.
public enum AttributionBaseline: String, CaseIterable, Sendable {
    /// A black image (0 in [0, 1] pixel space), preprocessed like the input.
    case black
    /// An all-zero network input.
    case zero
    /// The input blurred with a Gaussian (σ = an eighth of its shorter side): keeps colours, removes detail.
    case blur
}

/// Settings of an attribution run.
public struct AttributionOptions: Sendable {
    public var method: AttributionMethod
    /// Integration steps (integrated gradients).
    public var steps: Int
    public var baseline: AttributionBaseline
    /// Grad-CAM's layer (value name or alias); nil = the last layer with spatial extent.
    public var layer: String?

    public init(method: AttributionMethod = .saliency, steps: Int = 32, baseline: AttributionBaseline = .black,
                layer: String? = nil) {
        self.method = method; self.steps = steps; self.baseline = baseline; self.layer = layer
    }
}

/// Why attributions cannot be computed.
public enum AttributionError: Error, CustomStringConvertible, Equatable {
    /// A setting is out of range (steps, class index, a layer without spatial extent).
    case invalidOption(String)
    /// The model does not fit (no output, no spatial layer, output not [N, classes]).
    case model(String)

    public var description: String {
        switch self {
        case let .invalidOption(m): return m
        case let .model(m): return m
        }
    }
}
