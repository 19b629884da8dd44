// Normalisation over sparse features: LayerNorm per row and GroupNorm per batch item
// (TRELLIS SparseGroupNorm32 normalises each instance separately over its rows).
import LatticeNN
import LatticeTensor

/// LayerNorm over the channels of every row (rows are independent, so batch items never mix).
public func sparseLayerNorm(_ x: SparseTensor, weight: Tensor?, bias: Tensor?, eps: Float = 1e-5)
    -> SparseTensor
{
    x.replacing(feats: layerNorm(x.feats, weight: weight, bias: bias, eps: eps))
}

/// GroupNorm of each batch item over its rows: groups of C/G channels × N_b rows.
public func sparseGroupNorm(
    _ x: SparseTensor, groups: Int, weight: Tensor?, bias: Tensor?, eps: Float = 1e-5
) -> SparseTensor {
    precondition(x.feats.rank == 2, "sparseGroupNorm expects feats [N, C], got \(x.feats.shape)")
    var parts: [Tensor] = []
    for b in 0..<x.batchSize {
        let r = x.layout(b)
        if r.isEmpty { continue }
        let item = x.feats.slice(0, r.lowerBound, r.upperBound).transpose(0, 1).unsqueeze(0)  // [1, C, N_b]
        let y = groupNorm(item, groups: groups, weight: weight, bias: bias, eps: eps)
        parts.append(y.squeeze(0).transpose(0, 1))  // [N_b, C]
    }
    if parts.isEmpty { return x }
    return x.replacing(feats: parts.count == 1 ? parts[0].contiguous() : Tensor.cat(parts, axis: 0))
}

/// TRELLIS `SparseGroupNorm` / `SparseGroupNorm32` (keys `weight`, `bias`).
public final class SparseGroupNorm: Module, @unchecked Sendable {
    public let groups: Int
    public let eps: Float
    public let weight: Parameter?
    public let bias: Parameter?

    public init(groups: Int, channels: Int, eps: Float = 1e-5, affine: Bool = true) {
        self.groups = groups
        self.eps = eps
        weight = affine ? Parameter(Tensor(full: [channels], value: 1)) : nil
        bias = affine ? Parameter(Tensor(zeros: [channels])) : nil
        super.init()
        if let weight { register("weight", weight) }
        if let bias { register("bias", bias) }
    }

    public func callAsFunction(_ x: SparseTensor) -> SparseTensor {
        sparseGroupNorm(x, groups: groups, weight: weight?.value, bias: bias?.value, eps: eps)
    }
}

/// TRELLIS `SparseLayerNorm` / `LayerNorm32` on sparse features (keys `weight`, `bias`).
public final class SparseLayerNorm: Module, @unchecked Sendable {
    public let eps: Float
    public let weight: Parameter?
    public let bias: Parameter?

    public init(_ channels: Int, eps: Float = 1e-5, affine: Bool = true) {
        self.eps = eps
        weight = affine ? Parameter(Tensor(full: [channels], value: 1)) : nil
        bias = affine ? Parameter(Tensor(zeros: [channels])) : nil
        super.init()
        if let weight { register("weight", weight) }
        if let bias { register("bias", bias) }
    }

    public func callAsFunction(_ x: SparseTensor) -> SparseTensor {
        sparseLayerNorm(x, weight: weight?.value, bias: bias?.value, eps: eps)
    }
}
