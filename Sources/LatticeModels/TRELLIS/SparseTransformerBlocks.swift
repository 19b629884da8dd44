// microsoft/TRELLIS@6b0d647:trellis/modules/sparse/transformer/blocks.py (SparseTransformerBlock,
// SparseTransformerCrossBlock). Upstream's SparseFeedForwardNet is TRELLIS.FeedForwardNet applied
// to the features (same keys `mlp.0`, `mlp.2`, GELU-tanh), so it has no type of its own here.
import LatticeNN
import LatticeSparse
import LatticeTensor

extension TRELLIS {
    /// Pre-norm sparse transformer block (self-attention + FFN) used by the SLat VAE trunks:
    /// `x += attn(norm1(x)); x += mlp(norm2(x))`, LayerNorm32 eps 1e-6 without affine by default.
    public final class SparseTransformerBlock: Module, @unchecked Sendable {
        public let norm1: LayerNorm
        public let norm2: LayerNorm
        public let attn: SparseMultiHeadAttention
        /// Upstream `SparseFeedForwardNet` (keys `mlp.mlp.0`, `mlp.mlp.2`).
        public let mlp: FeedForwardNet

        /// `mode` is `.full` or `.windowed(size:shift:)` (upstream attn_mode "full" / "windowed").
        public init(
            channels: Int, numHeads: Int, mlpRatio: Double = 4, mode: SparseAttentionMode = .full,
            qkRMSNorm: Bool = false, qkvBias: Bool = true, lnAffine: Bool = false
        ) {
            norm1 = LayerNorm(channels, eps: 1e-6, affine: lnAffine)
            norm2 = LayerNorm(channels, eps: 1e-6, affine: lnAffine)
            attn = SparseMultiHeadAttention(
                channels: channels, heads: numHeads, kind: .selfAttention, mode: mode,
                qkvBias: qkvBias, qkRMSNorm: qkRMSNorm)
            mlp = FeedForwardNet(channels: channels, mlpRatio: mlpRatio)
            super.init()
            if lnAffine {
                register("norm1", norm1)
                register("norm2", norm2)
            }
            register("attn", attn)
            register("mlp", mlp)
        }

        /// `x`: feats [N, C] -> [N, C] on the same sites.
        public func callAsFunction(_ x: SparseTensor) throws -> SparseTensor {
            let h = try attn(x.replacing(feats: norm1(x.feats)))
            let y = x + h
            return y + y.replacing(feats: mlp(norm2(y.feats)))
        }
    }

    /// Sparse block with self-attention, full cross-attention to a dense per-item context
    /// [B, L, Cctx] and an FFN, each pre-normed (LayerNorm32 eps 1e-6, no affine by default).
    public final class SparseTransformerCrossBlock: Module, @unchecked Sendable {
        public let norm1: LayerNorm
        public let norm2: LayerNorm
        public let norm3: LayerNorm
        public let selfAttn: SparseMultiHeadAttention
        public let crossAttn: SparseMultiHeadAttention
        public let mlp: FeedForwardNet

        public init(
            channels: Int, contextChannels: Int, numHeads: Int, mlpRatio: Double = 4,
            mode: SparseAttentionMode = .full, qkRMSNorm: Bool = false,
            qkRMSNormCross: Bool = false, qkvBias: Bool = true, lnAffine: Bool = false
        ) {
            norm1 = LayerNorm(channels, eps: 1e-6, affine: lnAffine)
            norm2 = LayerNorm(channels, eps: 1e-6, affine: lnAffine)
            norm3 = LayerNorm(channels, eps: 1e-6, affine: lnAffine)
            selfAttn = SparseMultiHeadAttention(
                channels: channels, heads: numHeads, kind: .selfAttention, mode: mode,
                qkvBias: qkvBias, qkRMSNorm: qkRMSNorm)
            crossAttn = SparseMultiHeadAttention(
                channels: channels, heads: numHeads, contextChannels: contextChannels,
                kind: .cross, mode: .full, qkvBias: qkvBias, qkRMSNorm: qkRMSNormCross)
            mlp = FeedForwardNet(channels: channels, mlpRatio: mlpRatio)
            super.init()
            if lnAffine {
                register("norm1", norm1)
                register("norm2", norm2)
                register("norm3", norm3)
            }
            register("self_attn", selfAttn)
            register("cross_attn", crossAttn)
            register("mlp", mlp)
        }

        /// `x`: feats [N, C]; `context`: [B, L, Cctx] -> [N, C].
        public func callAsFunction(_ x: SparseTensor, context: Tensor) throws -> SparseTensor {
            var y = x + (try selfAttn(x.replacing(feats: norm1(x.feats))))
            y = y + (try crossAttn(y.replacing(feats: norm2(y.feats)), context: context))
            return y + y.replacing(feats: mlp(norm3(y.feats)))
        }
    }
}
