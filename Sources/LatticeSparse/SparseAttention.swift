// Sparse attention: full self-attention per batch item (varlen), shifted-window attention with
// upstream's window partition (quirk Q4), cross-attention to a dense per-item context, the
// per-head RMS norm on q/k, and the SparseMultiHeadAttention module with upstream key names.
import LatticeNN
import LatticeTensor

/// The windows of a shifted-window partition: rows sorted by window code, window lengths.
public struct WindowPartition: Sendable {
    /// Row order grouping windows (ascending window code; rows keep their order inside one).
    public let order: [Int32]
    /// Inverse of `order`: position of each row in the grouped order.
    public let inverse: [Int32]
    /// Rows per non-empty window, in ascending code order.
    public let seqLens: [Int]
    /// Rank of each row's window among the non-empty windows.
    public let windowOrdinal: [Int32]

    /// Cumulative sequence lengths (0, l0, l0+l1, ...).
    public var cuSeqlens: [Int] {
        var cu = [0]
        for l in seqLens { cu.append(cu[cu.count - 1] + l) }
        return cu
    }
}

extension SparseTensor {
    /// Upstream `calc_window_partition`: c' = xyz + shift, window = c' // windowSize, window
    /// code = b·Wx·Wy·Wz + wx·Wy·Wz + wy·Wz + wz with W = ceil((max c' + 1) / windowSize)
    /// over the whole batch; no cyclic wrap. Cached per scale, window and shift.
    public func windowPartition(windowSize ws: Int, shift: Int) -> WindowPartition {
        precondition(ws >= 1, "windowPartition: window size \(ws) must be positive")
        let key = "\(ws),\(shift)"
        cache.lock.lock()
        defer { cache.lock.unlock() }
        let e = cache.entry(scale)
        if let p = e.windows[key] { return p }
        let n = count
        let c = coordPointer
        var maxC = [0, 0, 0]
        for i in 0..<n {
            for a in 0..<3 { maxC[a] = Swift.max(maxC[a], Int(c[4 * i + 1 + a]) + shift) }
        }
        let w = maxC.map { ($0 + 1 + ws - 1) / ws }
        var codes = [Int](repeating: 0, count: n)
        for i in 0..<n {
            let wx = (Int(c[4 * i + 1]) + shift) / ws
            let wy = (Int(c[4 * i + 2]) + shift) / ws
            let wz = (Int(c[4 * i + 3]) + shift) / ws
            codes[i] = ((Int(c[4 * i]) * w[0] + wx) * w[1] + wy) * w[2] + wz
        }
        // Stable sort: (code, row) keys.
        let order = (0..<n).sorted { codes[$0] != codes[$1] ? codes[$0] < codes[$1] : $0 < $1 }
        var inverse = [Int32](repeating: 0, count: n)
        var ordinal = [Int32](repeating: 0, count: n)
        var lens: [Int] = []
        var last = Int.min
        for (pos, i) in order.enumerated() {
            inverse[i] = Int32(pos)
            if codes[i] != last {
                last = codes[i]
                lens.append(0)
            }
            lens[lens.count - 1] += 1
            ordinal[i] = Int32(lens.count - 1)
        }
        let p = WindowPartition(
            order: order.map { Int32($0) }, inverse: inverse, seqLens: lens, windowOrdinal: ordinal)
        e.windows[key] = p
        return p
    }
}

/// How a sparse self-attention groups tokens.
public enum SparseAttentionMode: Sendable, Equatable {
    /// Each batch item attends over all its rows.
    case full
    /// Shifted windows of `size` voxels, boundaries moved by `shift` on all axes.
    case windowed(size: Int, shift: Int)
}

/// Self-attention over the rows of each batch item: q, k, v [N, H, D] -> [N, H, D].
public func sparseFullAttention(_ x: SparseTensor, q: Tensor, k: Tensor, v: Tensor) -> Tensor {
    varlenAttention(q, k, v, cuSeqlensQ: x.offsets, cuSeqlensK: x.offsets)
}

/// Attention inside the shifted windows of `x`: q, k, v [N, H, D] -> [N, H, D] in row order.
public func sparseWindowedAttention(
    _ x: SparseTensor, q: Tensor, k: Tensor, v: Tensor, windowSize: Int, shift: Int
) -> Tensor {
    let p = x.windowPartition(windowSize: windowSize, shift: shift)
    let n = x.count
    let order = Tensor(int32: p.order, shape: [n])
    let inverse = Tensor(int32: p.inverse, shape: [n])
    let cu = p.cuSeqlens
    let o = varlenAttention(
        q.indexSelect(axis: 0, index: order), k.indexSelect(axis: 0, index: order),
        v.indexSelect(axis: 0, index: order), cuSeqlensQ: cu, cuSeqlensK: cu)  // [N, H, D] grouped
    return o.indexSelect(axis: 0, index: inverse)
}

/// Cross-attention of each item's rows to its dense context: q [N, H, D], k/v [B, L, H, D].
public func sparseCrossAttention(_ x: SparseTensor, q: Tensor, k: Tensor, v: Tensor) -> Tensor {
    precondition(
        k.rank == 4 && k.shape[0] == x.batchSize,
        "sparseCrossAttention: context keys \(k.shape) must be [B=\(x.batchSize), L, H, D]")
    let (b, l) = (k.shape[0], k.shape[1])
    let kf = k.reshape([b * l, k.shape[2], k.shape[3]])  // [B·L, H, D]
    let vf = v.reshape([b * l, v.shape[2], v.shape[3]])  // [B·L, H, Dv]
    return varlenAttention(
        q, kf, vf, cuSeqlensQ: x.offsets, cuSeqlensK: (0...b).map { $0 * l })
}

/// TRELLIS `SparseMultiHeadRMSNorm`: normalize(x, dim=-1) · gamma[H, D] · √D on [N, H, D].
public typealias SparseMultiHeadRMSNorm = MultiHeadRMSNorm

/// TRELLIS `SparseMultiHeadAttention` (self: `to_qkv`; cross: `to_q`, `to_kv`; then `to_out`;
/// optional `q_rms_norm` / `k_rms_norm`). Plain softmax attention, scale 1/√D, no masks.
public final class SparseMultiHeadAttention: Module, @unchecked Sendable {
    public enum Kind: Sendable { case selfAttention, cross }

    public let channels: Int
    public let heads: Int
    public let kind: Kind
    public let mode: SparseAttentionMode
    public let toQKV: SparseLinear?
    public let toQ: SparseLinear?
    public let toKV: SparseLinear?
    public let qNorm: SparseMultiHeadRMSNorm?
    public let kNorm: SparseMultiHeadRMSNorm?
    public let toOut: SparseLinear

    /// `contextChannels` is used by cross-attention (defaults to `channels`).
    public init(
        channels: Int, heads: Int, contextChannels: Int? = nil, kind: Kind = .selfAttention,
        mode: SparseAttentionMode = .full, qkvBias: Bool = true, qkRMSNorm: Bool = false
    ) {
        precondition(
            channels % heads == 0,
            "SparseMultiHeadAttention: \(channels) channels not divisible by \(heads) heads")
        self.channels = channels
        self.heads = heads
        self.kind = kind
        self.mode = mode
        let d = channels / heads
        switch kind {
        case .selfAttention:
            toQKV = SparseLinear(channels, 3 * channels, bias: qkvBias)
            toQ = nil
            toKV = nil
        case .cross:
            toQKV = nil
            toQ = SparseLinear(channels, channels, bias: qkvBias)
            toKV = SparseLinear(contextChannels ?? channels, 2 * channels, bias: qkvBias)
        }
        qNorm = qkRMSNorm ? SparseMultiHeadRMSNorm(heads: heads, headDim: d) : nil
        kNorm = qkRMSNorm ? SparseMultiHeadRMSNorm(heads: heads, headDim: d) : nil
        toOut = SparseLinear(channels, channels)
        super.init()
        if let toQKV { register("to_qkv", toQKV) }
        if let toQ { register("to_q", toQ) }
        if let toKV { register("to_kv", toKV) }
        if let qNorm { register("q_rms_norm", qNorm) }
        if let kNorm { register("k_rms_norm", kNorm) }
        register("to_out", toOut)
    }

    /// Self-attention of `x`; throws on a channel mismatch or when called on a cross module.
    public func callAsFunction(_ x: SparseTensor) throws -> SparseTensor {
        guard let toQKV, kind == .selfAttention else {
            throw LatticeError(
                .invalidArgument, "SparseMultiHeadAttention: cross-attention needs a context")
        }
        try checkChannels(x)
        let n = x.count
        let d = channels / heads
        let qkv = toQKV(x.feats).reshape([n, 3, heads, d])  // [N, 3, H, D]
        var q = qkv.select(1, 0)  // [N, H, D]
        var k = qkv.select(1, 1)
        let v = qkv.select(1, 2).contiguous()
        if let qNorm, let kNorm {
            q = qNorm(q)
            k = kNorm(k)
        }
        q = q.contiguous()
        k = k.contiguous()
        let h: Tensor
        switch mode {
        case .full: h = sparseFullAttention(x, q: q, k: k, v: v)
        case .windowed(let size, let shift):
            h = sparseWindowedAttention(x, q: q, k: k, v: v, windowSize: size, shift: shift)
        }
        return x.replacing(feats: toOut(h.reshape([n, channels])))
    }

    /// Cross-attention of `x` to a dense per-item context [B, L, Cctx].
    public func callAsFunction(_ x: SparseTensor, context: Tensor) throws -> SparseTensor {
        guard let toQ, let toKV, kind == .cross else {
            throw LatticeError(
                .invalidArgument, "SparseMultiHeadAttention: self-attention takes no context")
        }
        try checkChannels(x)
        let cctx = toKV.weight.shape[1]
        guard context.rank == 3, context.shape[0] == x.batchSize, context.shape[2] == cctx else {
            throw LatticeError(
                .shapeMismatch,
                "SparseMultiHeadAttention: context \(context.shape) must be [B=\(x.batchSize), L, \(cctx)]"
            )
        }
        let n = x.count
        let d = channels / heads
        let (b, l) = (context.shape[0], context.shape[1])
        var q = toQ(x.feats).reshape([n, heads, d])  // [N, H, D]
        let kv = toKV(context).reshape([b, l, 2, heads, d])  // [B, L, 2, H, D]
        var k = kv.select(2, 0)  // [B, L, H, D]
        let v = kv.select(2, 1).contiguous()
        if let qNorm, let kNorm {
            q = qNorm(q)
            k = kNorm(k)
        }
        let h = sparseCrossAttention(x, q: q.contiguous(), k: k.contiguous(), v: v)
        return x.replacing(feats: toOut(h.reshape([n, channels])))
    }

    private func checkChannels(_ x: SparseTensor) throws {
        guard x.feats.rank == 2, x.channels == channels else {
            throw LatticeError(
                .shapeMismatch,
                "SparseMultiHeadAttention: feats \(x.feats.shape) must be [N, \(channels)]")
        }
    }
}
