// Basic layers: Linear, Embedding, activations, MLP (FeedForward), adaLN `modulate`, and the
// seeded PyTorch-style initialisers the other layer files share.
import LatticeTensor

// MARK: Initialisation

/// Parameter initialisers matching PyTorch's defaults, drawn from an explicit generator.
public enum Initializer {
    /// Uniform in [-bound, bound): PyTorch's Linear/Conv default is bound = 1/sqrt(fan_in)
    /// (kaiming_uniform with a = sqrt(5) reduces to exactly that for the weight).
    public static func uniform(
        _ parameter: Parameter, bound: Float, generator: inout RandomGenerator
    ) {
        parameter.assign(
            Tensor.rand(parameter.shape, low: -bound, high: bound, generator: &generator))
    }

    /// Normal(0, std) samples (PyTorch's Embedding default is std 1).
    public static func normal(
        _ parameter: Parameter, std: Float = 1, generator: inout RandomGenerator
    ) {
        parameter.assign(Tensor.randn(parameter.shape, generator: &generator) * std)
    }

    /// Fills with a constant (norm weights 1, biases 0).
    public static func constant(_ parameter: Parameter, _ value: Float) {
        parameter.assign(Tensor(full: parameter.shape, value: value))
    }
}

// MARK: Activations

/// Element-wise activation functions used by MLPs and blocks.
public enum Activation: String, Sendable, Codable {
    /// Exact (erf) GELU, PyTorch `nn.GELU()`.
    case gelu
    /// GELU with the tanh approximation, PyTorch `nn.GELU(approximate="tanh")` (TRELLIS).
    case geluTanh
    /// x * sigmoid(1.702 x), CLIP's QuickGELU.
    case quickGelu
    /// x * sigmoid(x).
    case silu
    /// max(x, 0).
    case relu

    /// Applies the activation.
    public func callAsFunction(_ x: Tensor) -> Tensor {
        switch self {
        case .gelu: return x.gelu()
        case .geluTanh: return x.gelu(approximate: .tanh)
        case .quickGelu: return x.quickGelu()
        case .silu: return x.silu()
        case .relu: return x.relu()
        }
    }
}

// MARK: Linear

/// y = x Wᵀ + b over the last dimension. Keys: `weight` [out, in], `bias` [out].
public final class Linear: Module, @unchecked Sendable {
    /// Input features (last dimension of x).
    public let inFeatures: Int
    /// Output features.
    public let outFeatures: Int
    /// [out, in]
    public let weight: Parameter
    /// [out], when the layer has a bias.
    public let bias: Parameter?

    /// A layer with zero weights; call `resetParameters(generator:)` or `load` to fill it.
    public init(_ inFeatures: Int, _ outFeatures: Int, bias: Bool = true) {
        self.inFeatures = inFeatures
        self.outFeatures = outFeatures
        weight = Parameter(Tensor(zeros: [outFeatures, inFeatures]))
        self.bias = bias ? Parameter(Tensor(zeros: [outFeatures])) : nil
        super.init()
        register("weight", weight)
        if let b = self.bias { register("bias", b) }
    }

    /// [..., in] -> [..., out]
    public func callAsFunction(_ x: Tensor) -> Tensor {
        precondition(
            x.shape.last == inFeatures,
            "Linear(\(inFeatures), \(outFeatures)): input shape \(x.shape) has wrong last dimension"
        )
        return linear(x, weight: weight.value, bias: bias?.value)
    }

    override public func resetParameters(generator: inout RandomGenerator) {
        let bound = 1 / Float(inFeatures).squareRoot()
        Initializer.uniform(weight, bound: bound, generator: &generator)
        if let bias { Initializer.uniform(bias, bound: bound, generator: &generator) }
    }
}

// MARK: Embedding

/// A lookup table of `count` vectors of size `dim`. Key: `weight` [count, dim].
public final class Embedding: Module, @unchecked Sendable {
    /// Number of rows.
    public let count: Int
    /// Vector size.
    public let dim: Int
    /// [count, dim]
    public let weight: Parameter

    public init(_ count: Int, _ dim: Int) {
        self.count = count
        self.dim = dim
        weight = Parameter(Tensor(zeros: [count, dim]))
        super.init()
        register("weight", weight)
    }

    /// Integer ids of any shape [*] -> [*, dim].
    public func callAsFunction(_ ids: Tensor) -> Tensor {
        precondition(
            !ids.dtype.isFloatingPoint, "Embedding expects integer ids, got \(ids.dtype)")
        let flat = ids.reshape([-1])  // [M]
        let rows = weight.value.indexSelect(axis: 0, index: flat)  // [M, dim]
        return rows.reshape(ids.shape + [dim])  // [*, dim]
    }

    override public func resetParameters(generator: inout RandomGenerator) {
        Initializer.normal(weight, std: 1, generator: &generator)
    }
}

// MARK: MLP

/// Linear -> activation -> Linear, with the two child names configurable so upstream keys load
/// as is: ("fc1", "fc2") for DINOv2/CLIP/VGGT, ("mlp.0", "mlp.2") for TRELLIS FeedForwardNet.
public final class MLP: Module, @unchecked Sendable {
    /// First projection (in -> hidden).
    public let fc1: Linear
    /// Second projection (hidden -> out).
    public let fc2: Linear
    /// Activation between the projections.
    public let activation: Activation

    /// `names` are the state_dict names of the two Linear children.
    public init(
        _ inFeatures: Int, hidden: Int, out outFeatures: Int? = nil,
        activation: Activation = .gelu, bias: Bool = true,
        names: (String, String) = ("fc1", "fc2")
    ) {
        fc1 = Linear(inFeatures, hidden, bias: bias)
        fc2 = Linear(hidden, outFeatures ?? inFeatures, bias: bias)
        self.activation = activation
        super.init()
        register(names.0, fc1)
        register(names.1, fc2)
    }

    /// [..., in] -> [..., out]
    public func callAsFunction(_ x: Tensor) -> Tensor {
        fc2(activation(fc1(x)))
    }
}

/// TRELLIS calls its MLP `FeedForwardNet`; the same layer under a descriptive name.
public typealias FeedForward = MLP

// MARK: adaLN

/// adaLN modulation (TRELLIS/DiT convention): x [B, N, C], shift/scale [B, C]
/// -> x * (1 + scale) + shift, broadcast over the N tokens.
public func modulate(_ x: Tensor, shift: Tensor, scale: Tensor) -> Tensor {
    precondition(
        shift.rank == 2 && scale.rank == 2 && x.rank == 3 && shift.shape == scale.shape
            && shift.shape == [x.shape[0], x.shape[2]],
        "modulate: x \(x.shape) needs shift/scale [B, C], got \(shift.shape) and \(scale.shape)")
    return x * (scale.unsqueeze(1) + 1) + shift.unsqueeze(1)  // [B, N, C]
}
