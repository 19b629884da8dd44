// Multi-head attention (self and cross) with the projection layouts and qk-norms of the models we
// port: TRELLIS (fused to_qkv / to_q + to_kv, MultiHeadRMSNorm), DINOv2/VGGT (fused qkv, per-head
// LayerNorm qk_norm), CLIP (separate q/k/v projections, causal mask).
import LatticeTensor

/// How q, k and v are projected, with the upstream child names.
public enum AttentionProjection: Sendable, Equatable {
    /// Separate Linear children for q, k, v (CLIP: `q_proj`, `k_proj`, `v_proj`).
    case separate(q: String, k: String, v: String)
    /// One Linear [3C, C] whose output splits as [3, H, D] (TRELLIS `to_qkv`, DINOv2 `qkv`).
    /// Self-attention only.
    case fusedQKV(String)
    /// q from x and one Linear [2C, Cctx] for k|v from the context, split as [2, H, D]
    /// (TRELLIS cross-attention `to_q`, `to_kv`).
    case fusedKV(q: String, kv: String)
}

/// Normalisation applied to q and k per head, after the split to [..., H, D].
public enum QKNorm: Sendable, Equatable {
    /// No normalisation.
    case none
    /// TRELLIS MultiHeadRMSNorm: normalize(x, dim=-1) * gamma[H, D] * sqrt(D). Key: `gamma`.
    case rmsL2
    /// LayerNorm(D) shared across heads (DINOv2/VGGT `qk_norm`). Keys: `weight`, `bias`.
    case layerNorm(eps: Float)
}

/// Multi-head scaled dot-product attention on [B, N, C] tokens.
public final class MultiHeadAttention: Module, @unchecked Sendable {
    /// Model width C.
    public let dim: Int
    /// Number of heads H.
    public let heads: Int
    /// Per-head width D = C / H.
    public let headDim: Int
    /// Width of the context for cross-attention (nil: self-attention).
    public let contextDim: Int?
    /// Projection layout.
    public let projection: AttentionProjection
    /// Logit scale (default 1/sqrt(D)).
    public let scale: Float
    /// Projections by role; which are set depends on `projection`.
    public let toQ: Linear?
    public let toK: Linear?
    public let toV: Linear?
    public let toQKV: Linear?
    public let toKV: Linear?
    /// Output projection C -> C.
    public let toOut: Linear
    /// Per-head norms of q and k (nil for `.none`).
    public let qNorm: Module?
    public let kNorm: Module?

    /// - Parameters:
    ///   - contextDim: set for cross-attention (keys and values come from a context of this width).
    ///   - outName: state_dict name of the output projection (`to_out`, `proj`, `out_proj`).
    ///   - qkNormNames: names of the q/k norm children; defaults to `q_rms_norm`/`k_rms_norm`
    ///     for `.rmsL2` (TRELLIS) and `q_norm`/`k_norm` for `.layerNorm` (DINOv2/VGGT).
    public init(
        dim: Int, heads: Int, contextDim: Int? = nil,
        projection: AttentionProjection = .fusedQKV("to_qkv"), outName: String = "to_out",
        qkvBias: Bool = true, outBias: Bool = true, qkNorm: QKNorm = .none,
        qkNormNames: (String, String)? = nil, scale: Float? = nil
    ) {
        precondition(
            dim % heads == 0, "MultiHeadAttention: dim \(dim) not divisible by \(heads) heads")
        self.dim = dim
        self.heads = heads
        headDim = dim / heads
        self.contextDim = contextDim
        self.projection = projection
        self.scale = scale ?? 1 / Float(dim / heads).squareRoot()
        let kvIn = contextDim ?? dim
        var q: Linear?
        var k: Linear?
        var v: Linear?
        var qkv: Linear?
        var kv: Linear?
        switch projection {
        case .separate:
            q = Linear(dim, dim, bias: qkvBias)
            k = Linear(kvIn, dim, bias: qkvBias)
            v = Linear(kvIn, dim, bias: qkvBias)
        case .fusedQKV:
            precondition(contextDim == nil, "a fused qkv projection cannot do cross-attention")
            qkv = Linear(dim, 3 * dim, bias: qkvBias)
        case .fusedKV:
            q = Linear(dim, dim, bias: qkvBias)
            kv = Linear(kvIn, 2 * dim, bias: qkvBias)
        }
        toQ = q
        toK = k
        toV = v
        toQKV = qkv
        toKV = kv
        toOut = Linear(dim, dim, bias: outBias)
        switch qkNorm {
        case .none:
            qNorm = nil
            kNorm = nil
        case .rmsL2:
            qNorm = MultiHeadRMSNorm(heads: heads, headDim: dim / heads)
            kNorm = MultiHeadRMSNorm(heads: heads, headDim: dim / heads)
        case .layerNorm(let eps):
            qNorm = LayerNorm(dim / heads, eps: eps)
            kNorm = LayerNorm(dim / heads, eps: eps)
        }
        super.init()
        switch projection {
        case .separate(let qn, let kn, let vn):
            if let q, let k, let v {
                register(qn, q)
                register(kn, k)
                register(vn, v)
            }
        case .fusedQKV(let n):
            if let qkv { register(n, qkv) }
        case .fusedKV(let qn, let kvn):
            if let q, let kv {
                register(qn, q)
                register(kvn, kv)
            }
        }
        if let qNorm, let kNorm {
            let names =
                qkNormNames
                ?? (qkNorm == .rmsL2 ? ("q_rms_norm", "k_rms_norm") : ("q_norm", "k_norm"))
            register(names.0, qNorm)
            register(names.1, kNorm)
        }
        register(outName, toOut)
    }

    /// Projects tokens to per-head q, k, v, qk-norm applied: x [..., N, C], context
    /// [..., M, Cctx] (nil: x) -> q [..., N, H, D], k and v [..., M, H, D]. Exposed so sparse
    /// and rotary variants can reuse the weights with their own attention kernel.
    public func projectQKV(_ x: Tensor, context: Tensor? = nil) -> (q: Tensor, k: Tensor, v: Tensor)
    {
        precondition(x.shape.last == dim, "MultiHeadAttention(\(dim)): input shape \(x.shape)")
        let src = context ?? x
        precondition(
            src.shape.last == (context == nil ? dim : contextDim ?? dim),
            "MultiHeadAttention: context shape \(src.shape), expected last dim \(contextDim ?? dim)"
        )
        let lead = Array(x.shape.dropLast())
        let srcLead = Array(src.shape.dropLast())
        var q: Tensor
        var k: Tensor
        var v: Tensor
        if let toQKV {
            let qkv = toQKV(x).reshape(lead + [3, heads, headDim])  // [..., N, 3, H, D]
            q = qkv.select(-3, 0)  // [..., N, H, D]
            k = qkv.select(-3, 1)
            v = qkv.select(-3, 2)
        } else if let toQ, let toKV {
            q = toQ(x).reshape(lead + [heads, headDim])  // [..., N, H, D]
            let kv = toKV(src).reshape(srcLead + [2, heads, headDim])  // [..., M, 2, H, D]
            k = kv.select(-3, 0)  // [..., M, H, D]
            v = kv.select(-3, 1)
        } else if let toQ, let toK, let toV {
            q = toQ(x).reshape(lead + [heads, headDim])  // [..., N, H, D]
            k = toK(src).reshape(srcLead + [heads, headDim])  // [..., M, H, D]
            v = toV(src).reshape(srcLead + [heads, headDim])
        } else {
            preconditionFailure("MultiHeadAttention: no projection configured")
        }
        if let qNorm, let kNorm {
            q = Self.applyNorm(qNorm, q)
            k = Self.applyNorm(kNorm, k)
        }
        return (q, k, v)
    }

    private static func applyNorm(_ m: Module, _ x: Tensor) -> Tensor {
        if let n = m as? MultiHeadRMSNorm { return n(x) }
        if let n = m as? LayerNorm { return n(x) }
        preconditionFailure("unsupported qk norm \(type(of: m))")
    }

    /// Output projection of per-head values: [..., N, H, D] -> [..., N, C].
    public func projectOut(_ o: Tensor) -> Tensor {
        toOut(o.reshape(Array(o.shape.dropLast(2)) + [dim]))  // [..., N, C]
    }

    /// Self-attention on x [B, N, C], or cross-attention to context [B, M, Cctx]. `mask` is
    /// additive, broadcastable to [B, H, N, M] (see `causalMask`).
    public func callAsFunction(_ x: Tensor, context: Tensor?, mask: Tensor? = nil) -> Tensor {
        precondition(x.rank == 3, "MultiHeadAttention: expected [B, N, C], got \(x.shape)")
        let (q, k, v) = projectQKV(x, context: context)
        let o = scaledDotProductAttention(
            q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2),  // [B, H, N, D]
            mask: mask, scale: scale)  // [B, H, N, D]
        return projectOut(o.transpose(1, 2))  // [B, N, C]
    }

    /// Self-attention on x [B, N, C].
    public func callAsFunction(_ x: Tensor) -> Tensor { callAsFunction(x, context: nil) }

    /// Additive causal mask [N, N]: 0 on and below the diagonal, -inf above (CLIP text).
    public static func causalMask(_ n: Int) -> Tensor {
        var values = [Float](repeating: 0, count: n * n)
        for i in 0..<n { for j in (i + 1)..<n { values[i * n + j] = -.infinity } }
        return Tensor(values, shape: [n, n])
    }
}
