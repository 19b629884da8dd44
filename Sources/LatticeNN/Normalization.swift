// Normalisation layers: LayerNorm, GroupNorm, RMSNorm and TRELLIS's per-head MultiHeadRMSNorm.
// All compute in float32 (the ops convert), as TRELLIS's LayerNorm32/GroupNorm32 do.
import LatticeTensor

/// LayerNorm over the last dimension. Keys: `weight` [dim], `bias` [dim] when affine.
public final class LayerNorm: Module, @unchecked Sendable {
    /// Normalised (last) dimension.
    public let dim: Int
    /// Added to the variance.
    public let eps: Float
    /// [dim], when affine.
    public let weight: Parameter?
    /// [dim], when affine.
    public let bias: Parameter?

    public init(_ dim: Int, eps: Float = 1e-5, affine: Bool = true) {
        self.dim = dim
        self.eps = eps
        weight = affine ? Parameter(Tensor(full: [dim], value: 1)) : nil
        bias = affine ? Parameter(Tensor(zeros: [dim])) : nil
        super.init()
        if let weight, let bias {
            register("weight", weight)
            register("bias", bias)
        }
    }

    /// [..., dim] -> [..., dim]
    public func callAsFunction(_ x: Tensor) -> Tensor {
        precondition(x.shape.last == dim, "LayerNorm(\(dim)): input shape \(x.shape)")
        return layerNorm(x, weight: weight?.value, bias: bias?.value, eps: eps)
    }

    /// Normalises over the channel dimension of a channels-first tensor [N, C, *], as TRELLIS's
    /// ChannelLayerNorm32 (SS VAE): permute channels last, normalise, permute back.
    public func channelsFirst(_ x: Tensor) -> Tensor {
        precondition(
            x.rank >= 2 && x.shape[1] == dim,
            "LayerNorm(\(dim)).channelsFirst: input shape \(x.shape)")
        let toLast = [0] + Array(2..<x.rank) + [1]
        var toFirst = [0, x.rank - 1]
        toFirst += Array(1..<(x.rank - 1))
        return self(x.permute(toLast)).permute(toFirst)  // [N, *, C] -> [N, C, *]
    }

    override public func resetParameters(generator: inout RandomGenerator) {
        if let weight { Initializer.constant(weight, 1) }
        if let bias { Initializer.constant(bias, 0) }
    }
}

/// GroupNorm over [N, C, *]. Keys: `weight` [C], `bias` [C] when affine.
public final class GroupNorm: Module, @unchecked Sendable {
    /// Number of channel groups.
    public let groups: Int
    /// Channels C.
    public let channels: Int
    /// Added to the variance.
    public let eps: Float
    /// [C], when affine.
    public let weight: Parameter?
    /// [C], when affine.
    public let bias: Parameter?

    public init(groups: Int, channels: Int, eps: Float = 1e-5, affine: Bool = true) {
        precondition(
            groups > 0 && channels % groups == 0,
            "GroupNorm: \(channels) channels do not split into \(groups) groups")
        self.groups = groups
        self.channels = channels
        self.eps = eps
        weight = affine ? Parameter(Tensor(full: [channels], value: 1)) : nil
        bias = affine ? Parameter(Tensor(zeros: [channels])) : nil
        super.init()
        if let weight, let bias {
            register("weight", weight)
            register("bias", bias)
        }
    }

    /// [N, C, *] -> [N, C, *]
    public func callAsFunction(_ x: Tensor) -> Tensor {
        precondition(
            x.rank >= 2 && x.shape[1] == channels, "GroupNorm(\(channels)): input shape \(x.shape)")
        return groupNorm(x, groups: groups, weight: weight?.value, bias: bias?.value, eps: eps)
    }

    override public func resetParameters(generator: inout RandomGenerator) {
        if let weight { Initializer.constant(weight, 1) }
        if let bias { Initializer.constant(bias, 0) }
    }
}

/// RMSNorm over the last dimension: x / sqrt(mean(x²) + eps) * weight. Key: `weight` [dim].
public final class RMSNorm: Module, @unchecked Sendable {
    /// Normalised (last) dimension.
    public let dim: Int
    /// Added to the mean square.
    public let eps: Float
    /// [dim], when affine.
    public let weight: Parameter?

    public init(_ dim: Int, eps: Float = 1e-6, affine: Bool = true) {
        self.dim = dim
        self.eps = eps
        weight = affine ? Parameter(Tensor(full: [dim], value: 1)) : nil
        super.init()
        if let weight { register("weight", weight) }
    }

    /// [..., dim] -> [..., dim]
    public func callAsFunction(_ x: Tensor) -> Tensor {
        precondition(x.shape.last == dim, "RMSNorm(\(dim)): input shape \(x.shape)")
        return rmsNorm(x, weight: weight?.value, eps: eps)
    }

    override public func resetParameters(generator: inout RandomGenerator) {
        if let weight { Initializer.constant(weight, 1) }
    }
}

/// TRELLIS MultiHeadRMSNorm: normalize(x, dim=-1) * gamma * sqrt(D) on [..., H, D].
/// Key: `gamma` [H, D]. (An L2 normalisation, not a mean-square one: no eps inside the root
/// beyond F.normalize's 1e-12 clamp.)
public final class MultiHeadRMSNorm: Module, @unchecked Sendable {
    /// Heads H.
    public let heads: Int
    /// Head dimension D.
    public let headDim: Int
    /// [H, D]
    public let gamma: Parameter

    public init(heads: Int, headDim: Int) {
        self.heads = heads
        self.headDim = headDim
        gamma = Parameter(Tensor(full: [heads, headDim], value: 1))
        super.init()
        register("gamma", gamma)
    }

    /// [..., H, D] -> [..., H, D]
    public func callAsFunction(_ x: Tensor) -> Tensor {
        precondition(
            x.rank >= 2 && Array(x.shape.suffix(2)) == [heads, headDim],
            "MultiHeadRMSNorm(\(heads), \(headDim)): input shape \(x.shape)")
        // Same product order as upstream: (normalize(x) * gamma) * sqrt(D).
        return x.float().l2Normalize(axis: -1) * gamma.value.float() * Float(headDim).squareRoot()
    }

    override public func resetParameters(generator: inout RandomGenerator) {
        Initializer.constant(gamma, 1)
    }
}
