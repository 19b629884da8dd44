// microsoft/TRELLIS@6b0d647:trellis/modules/sparse/transformer/modulated.py
// (ModulatedSparseTransformerBlock, ModulatedSparseTransformerCrossBlock): the adaLN DiT blocks on
// sparse tensors, with the modulation vectors broadcast over each batch item's rows.
import LatticeNN
import LatticeSparse
import LatticeTensor

/// The six adaLN vectors `[B, C]` in upstream chunk order: shift_msa, scale_msa, gate_msa,
/// shift_mlp, scale_mlp, gate_mlp, each expanded to one row per site `[N, C]` (or left `[1, C]`
/// to broadcast when there is a single item).
func sparseModulation(_ x: SparseTensor, _ m: Tensor, channels c: Int) -> [Tensor] {
    precondition(
        m.rank == 2 && m.shape[0] == x.batchSize && m.shape[1] == 6 * c,
        "adaLN modulation \(m.shape) must be [B=\(x.batchSize), \(6 * c)]")
    // One item: [1, C] rows broadcast over the sites with no [N, 6C] copy.
    if x.batchSize == 1 { return (0..<6).map { m.slice(1, $0 * c, ($0 + 1) * c) } }  // 6 x [1, C]
    // One gather of all six chunks, then column views: [N, 6C].
    let all = m.indexSelect(axis: 0, index: x.batchIndex)
    return (0..<6).map { all.slice(1, $0 * c, ($0 + 1) * c) }  // 6 x [N, C]
}

/// Sparse DiT block (self-attention + FFN) with adaLN modulation of both branches.
/// Keys: `attn.*`, `mlp.mlp.{0,2}.*`, `adaLN_modulation.1.*` (norms have no parameters).
public final class ModulatedSparseTransformerBlock: Module, @unchecked Sendable {
    public let channels: Int
    public let norm1: LayerNorm
    public let norm2: LayerNorm
    public let attn: SparseMultiHeadAttention
    public let mlp: TRELLIS.FeedForwardNet
    /// `adaLN_modulation.1` (index 0 is SiLU); nil with `share_mod`.
    public let adaLNModulation: Linear?

    /// `attnMode` covers upstream's "full" and the swin/shift-window modes; RoPE is not ported.
    public init(
        channels: Int, numHeads: Int, mlpRatio: Double = 4, attnMode: SparseAttentionMode = .full,
        qkRMSNorm: Bool = false, qkvBias: Bool = true, shareMod: Bool = false
    ) {
        self.channels = channels
        norm1 = LayerNorm(channels, eps: 1e-6, affine: false)
        norm2 = LayerNorm(channels, eps: 1e-6, affine: false)
        attn = SparseMultiHeadAttention(
            channels: channels, heads: numHeads, kind: .selfAttention, mode: attnMode,
            qkvBias: qkvBias, qkRMSNorm: qkRMSNorm)
        mlp = TRELLIS.FeedForwardNet(channels: channels, mlpRatio: mlpRatio)
        adaLNModulation = shareMod ? nil : Linear(channels, 6 * channels)
        super.init()
        register("attn", attn)
        register("mlp", mlp)
        if let adaLNModulation { register("adaLN_modulation.1", adaLNModulation) }
    }

    /// `x` feats [N, C]; `mod`: [B, C] timestep embedding, or [B, 6C] already modulated with
    /// `share_mod` -> [N, C] on the same sites.
    public func callAsFunction(_ x: SparseTensor, mod: Tensor) throws -> SparseTensor {
        let m = adaLNModulation.map { $0(mod.silu()) } ?? mod  // [B, 6C]
        let p = sparseModulation(x, m, channels: channels)
        let h = norm1(x.feats) * (p[1] + 1) + p[0]  // [N, C]
        let a = try attn(x.replacing(feats: h)).feats
        var out = x.feats + a * p[2]
        let h2 = norm2(out) * (p[4] + 1) + p[3]
        out = out + mlp(h2) * p[5]
        return x.replacing(feats: out)
    }
}

/// Sparse DiT block: adaLN-modulated self-attention, unmodulated cross-attention to a dense
/// per-item context (norm2 is affine), adaLN-modulated FFN. Keys: `norm2.*`, `self_attn.*`,
/// `cross_attn.*`, `mlp.mlp.{0,2}.*`, `adaLN_modulation.1.*`.
public final class ModulatedSparseTransformerCrossBlock: Module, @unchecked Sendable {
    public let channels: Int
    public let norm1: LayerNorm
    public let norm2: LayerNorm
    public let norm3: LayerNorm
    public let selfAttn: SparseMultiHeadAttention
    public let crossAttn: SparseMultiHeadAttention
    public let mlp: TRELLIS.FeedForwardNet
    /// `adaLN_modulation.1` (index 0 is SiLU); nil with `share_mod`.
    public let adaLNModulation: Linear?

    /// The cross-attention is always full; `qkRMSNormCross` adds q/k RMS norms to it (upstream
    /// crashes with it on a dense context, quirk Q6, so released models leave it off).
    public init(
        channels: Int, contextChannels: Int, numHeads: Int, mlpRatio: Double = 4,
        attnMode: SparseAttentionMode = .full, qkRMSNorm: Bool = false,
        qkRMSNormCross: Bool = false, qkvBias: Bool = true, shareMod: Bool = false
    ) {
        self.channels = channels
        norm1 = LayerNorm(channels, eps: 1e-6, affine: false)
        norm2 = LayerNorm(channels, eps: 1e-6, affine: true)
        norm3 = LayerNorm(channels, eps: 1e-6, affine: false)
        selfAttn = SparseMultiHeadAttention(
            channels: channels, heads: numHeads, kind: .selfAttention, mode: attnMode,
            qkvBias: qkvBias, qkRMSNorm: qkRMSNorm)
        crossAttn = SparseMultiHeadAttention(
            channels: channels, heads: numHeads, contextChannels: contextChannels, kind: .cross,
            mode: .full, qkvBias: qkvBias, qkRMSNorm: qkRMSNormCross)
        mlp = TRELLIS.FeedForwardNet(channels: channels, mlpRatio: mlpRatio)
        adaLNModulation = shareMod ? nil : Linear(channels, 6 * channels)
        super.init()
        register("norm2", norm2)
        register("self_attn", selfAttn)
        register("cross_attn", crossAttn)
        register("mlp", mlp)
        if let adaLNModulation { register("adaLN_modulation.1", adaLNModulation) }
    }

    /// `x` feats [N, C]; `mod`: [B, C] (or [B, 6C] with `share_mod`); `context`: [B, L, Cc]
    /// -> [N, C] on the same sites.
    public func callAsFunction(_ x: SparseTensor, mod: Tensor, context: Tensor) throws
        -> SparseTensor
    {
        let m = adaLNModulation.map { $0(mod.silu()) } ?? mod  // [B, 6C]
        let p = sparseModulation(x, m, channels: channels)
        let h = norm1(x.feats) * (p[1] + 1) + p[0]  // [N, C]
        let a = try selfAttn(x.replacing(feats: h)).feats
        var out = x.feats + a * p[2]
        out = out + (try crossAttn(x.replacing(feats: norm2(out)), context: context)).feats
        let h3 = norm3(out) * (p[4] + 1) + p[3]
        out = out + mlp(h3) * p[5]
        return x.replacing(feats: out)
    }
}
