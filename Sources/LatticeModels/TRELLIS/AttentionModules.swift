// microsoft/TRELLIS@6b0d647:trellis/modules/attention/modules.py (MultiHeadRMSNorm,
// MultiHeadAttention with full attention; RoPE and windowed modes are unused by the v1 models).
import Foundation
import LatticeNN
import LatticeTensor

extension TRELLIS {
    /// TRELLIS `MultiHeadRMSNorm`: an L2 normalisation of each head vector, times
    /// `gamma[H, D] * sqrt(D)` (the LatticeNN layer; one implementation for dense and sparse).
    public typealias MultiHeadRMSNorm = LatticeNN.MultiHeadRMSNorm

    /// Multi-head self- (`to_qkv`) or cross- (`to_q`, `to_kv`) attention with optional per-head
    /// q/k RMS norms, then `to_out`.
    public final class MultiHeadAttention: Module, @unchecked Sendable {
        public enum Kind: Sendable { case selfAttention, crossAttention }

        public let kind: Kind
        public let numHeads: Int
        public let toQKV: Linear?
        public let toQ: Linear?
        public let toKV: Linear?
        public let qRMSNorm: MultiHeadRMSNorm?
        public let kRMSNorm: MultiHeadRMSNorm?
        public let toOut: Linear

        public init(
            channels: Int, numHeads: Int, contextChannels: Int? = nil, kind: Kind = .selfAttention,
            qkvBias: Bool = true, qkRMSNorm: Bool = false
        ) {
            precondition(
                channels % numHeads == 0, "channels \(channels) not divisible by \(numHeads) heads")
            self.kind = kind
            self.numHeads = numHeads
            let headDim = channels / numHeads
            switch kind {
            case .selfAttention:
                toQKV = Linear(channels, 3 * channels, bias: qkvBias)
                toQ = nil
                toKV = nil
            case .crossAttention:
                toQKV = nil
                toQ = Linear(channels, channels, bias: qkvBias)
                toKV = Linear(contextChannels ?? channels, 2 * channels, bias: qkvBias)
            }
            qRMSNorm = qkRMSNorm ? MultiHeadRMSNorm(heads: numHeads, headDim: headDim) : nil
            kRMSNorm = qkRMSNorm ? MultiHeadRMSNorm(heads: numHeads, headDim: headDim) : nil
            toOut = Linear(channels, channels)
            super.init()
            if let toQKV { register("to_qkv", toQKV) }
            if let toQ { register("to_q", toQ) }
            if let toKV { register("to_kv", toKV) }
            if let qRMSNorm { register("q_rms_norm", qRMSNorm) }
            if let kRMSNorm { register("k_rms_norm", kRMSNorm) }
            register("to_out", toOut)
        }

        /// `x`: [B, L, C]; `context`: [B, Lc, Cc] for cross-attention -> [B, L, C].
        public func callAsFunction(_ x: Tensor, context: Tensor? = nil) -> Tensor {
            let (b, l, c) = (x.shape[0], x.shape[1], x.shape[2])
            let h = numHeads
            let d = c / h
            var q: Tensor
            var k: Tensor
            let v: Tensor
            if let toQKV {
                let qkv = toQKV(x).reshape([b, l, 3, h, d])  // [B, L, 3, H, D]
                q = qkv.select(2, 0)  // [B, L, H, D]
                k = qkv.select(2, 1)
                v = qkv.select(2, 2)
            } else if let toQ, let toKV, let context {
                let lc = context.shape[1]
                q = toQ(x).reshape([b, l, h, d])  // [B, L, H, D]
                let kv = toKV(context).reshape([b, lc, 2, h, d])  // [B, Lc, 2, H, D]
                k = kv.select(2, 0)  // [B, Lc, H, D]
                v = kv.select(2, 1)
            } else {
                preconditionFailure("cross-attention called without context")
            }
            if let qRMSNorm { q = qRMSNorm(q) }
            if let kRMSNorm { k = kRMSNorm(k) }
            let o = scaledDotProductAttention(
                q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2))  // [B, H, L, D]
            return toOut(o.transpose(1, 2).reshape([b, l, c]))  // [B, L, C]
        }
    }
}
