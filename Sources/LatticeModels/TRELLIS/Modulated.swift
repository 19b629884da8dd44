// microsoft/TRELLIS@6b0d647:trellis/modules/transformer/modulated.py (ModulatedTransformerCrossBlock).
import LatticeNN
import LatticeTensor

extension TRELLIS {
    /// DiT block with adaLN on self-attention and MLP, and unmodulated cross-attention.
    /// LayerNorm32 computes in float32, which is every LayerNorm here.
    public final class ModulatedTransformerCrossBlock: Module, @unchecked Sendable {
        public let norm1: LayerNorm
        public let norm2: LayerNorm
        public let norm3: LayerNorm
        public let selfAttn: MultiHeadAttention
        public let crossAttn: MultiHeadAttention
        public let mlp: FeedForwardNet
        /// `adaLN_modulation.1` (index 0 is SiLU); nil with `share_mod`.
        public let adaLNModulation: Linear?

        public init(
            channels: Int, contextChannels: Int, numHeads: Int, mlpRatio: Double = 4,
            shareMod: Bool = false, qkRMSNorm: Bool = false, qkRMSNormCross: Bool = false
        ) {
            norm1 = LayerNorm(channels, eps: 1e-6, affine: false)
            norm2 = LayerNorm(channels, eps: 1e-6, affine: true)
            norm3 = LayerNorm(channels, eps: 1e-6, affine: false)
            selfAttn = MultiHeadAttention(
                channels: channels, numHeads: numHeads, kind: .selfAttention, qkRMSNorm: qkRMSNorm)
            crossAttn = MultiHeadAttention(
                channels: channels, numHeads: numHeads, contextChannels: contextChannels,
                kind: .crossAttention, qkRMSNorm: qkRMSNormCross)
            mlp = FeedForwardNet(channels: channels, mlpRatio: mlpRatio)
            adaLNModulation = shareMod ? nil : Linear(channels, 6 * channels)
            super.init()
            register("norm2", norm2)
            register("self_attn", selfAttn)
            register("cross_attn", crossAttn)
            register("mlp", mlp)
            if let adaLNModulation { register("adaLN_modulation.1", adaLNModulation) }
        }

        /// `x`: [B, L, C]; `mod`: [B, C] timestep embedding (or [B, 6C] with share_mod);
        /// `context`: [B, Lc, Cc] -> [B, L, C].
        public func callAsFunction(_ x: Tensor, mod: Tensor, context: Tensor) -> Tensor {
            let m = adaLNModulation.map { $0(mod.silu()) } ?? mod  // [B, 6C]
            // Order: shift_msa, scale_msa, gate_msa, shift_mlp, scale_mlp, gate_mlp.
            let c = x.shape[2]
            let parts = (0..<6).map { m.slice(1, $0 * c, ($0 + 1) * c).unsqueeze(1) }  // 6 x [B, 1, C]
            var h = norm1(x) * (parts[1] + 1) + parts[0]
            var out = x + selfAttn(h) * parts[2]
            out = out + crossAttn(norm2(out), context: context)
            h = norm3(out) * (parts[4] + 1) + parts[3]
            return out + mlp(h) * parts[5]
        }
    }
}
