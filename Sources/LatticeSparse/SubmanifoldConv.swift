// Submanifold sparse convolution (spconv SubMConv3d semantics): gather-GEMM-scatter over the
// 27 kernel offsets with a cached rulebook, forward and backward, the kernel-1 fast path with
// spconv's row-major weight reinterpretation (quirk Q1), and the SparseConv3d module.
import CLatticeKernels
import LatticeNN
import LatticeTensor

/// Submanifold 3-D convolution: output sites = input sites.
///
/// `weight` is the checkpoint layout [Cout, k, k, k, Cin] (KRSC) with k = 3 or 1, `bias` [Cout].
/// k = 3: out[p] = b + Σ_d W[:, dx+1, dy+1, dz+1, :] · in[p + d], neighbours never crossing
/// batch items. k = 1: out = feats @ W.view(Cin, Cout) + b (spconv's reinterpretation, Q1).
/// Throws when the weight is not of that layout or its Cin differs from the feature channels.
public func submanifoldConv3d(_ x: SparseTensor, weight: Tensor, bias: Tensor?) throws
    -> SparseTensor
{
    guard weight.rank == 5, weight.shape[1] == weight.shape[2], weight.shape[2] == weight.shape[3],
        weight.shape[1] == 1 || weight.shape[1] == 3
    else {
        throw LatticeError(
            .shapeMismatch,
            "submanifoldConv3d: weight \(weight.shape) must be [Cout, k, k, k, Cin] with k = 1 or 3"
        )
    }
    let cout = weight.shape[0]
    let cin = weight.shape[4]
    guard x.feats.rank == 2, x.channels == cin else {
        throw LatticeError(
            .shapeMismatch,
            "submanifoldConv3d: feats \(x.feats.shape) do not match weight \(weight.shape) (Cin \(cin))"
        )
    }
    if let bias, bias.shape != [cout] {
        throw LatticeError(
            .shapeMismatch, "submanifoldConv3d: bias \(bias.shape) must be [\(cout)]")
    }
    if weight.shape[1] == 1 {
        // Q1: spconv views the [Cout, Cin] buffer as [Cin, Cout] without transposing it.
        let w = weight.contiguous().reshape([cin, cout])  // [Cin, Cout]
        var y = x.feats.matmul(w)  // [N, Cout]
        if let bias { y = y + bias }
        return x.replacing(feats: y)
    }
    let map = x.neighbourMap()
    return x.replacing(feats: SubmConvKernels.apply(x.feats, weight: weight, bias: bias, map: map))
}

/// Differentiable gather-GEMM-scatter over a rulebook.
enum SubmConvKernels {
    /// Centre offset (d = 0): every row maps to itself.
    static let centre = 13

    /// The autodiff op: feats [N, Cin], weight [Cout, 3, 3, 3, Cin], bias [Cout] -> [N, Cout].
    static func apply(_ feats: Tensor, weight: Tensor, bias: Tensor?, map: NeighbourMap) -> Tensor {
        let (xf, wf, bf) = withNoGrad {
            (feats.float().contiguous(), weight.float().contiguous(), bias?.float().contiguous())
        }
        let n = xf.shape[0]
        let cin = xf.shape[1]
        let cout = wf.shape[0]
        let y = Tensor(empty: [n, cout])  // [N, Cout]
        forward(
            x: xf.floats, w: wf.floats, bias: bf?.floats, y: y.floats, n: n, cin: cin, cout: cout,
            map: map)
        var inputs = [feats, weight]
        if let bias { inputs.append(bias) }
        return Tensor.record("submanifoldConv3d", output: y, inputs: inputs) { g in
            let gy = g.float().contiguous()  // [N, Cout]
            var grads: [Tensor?] = []
            if feats.requiresGrad {
                let gx = Tensor(empty: [n, cin])  // [N, Cin]
                inputGradient(
                    gy: gy.floats, w: wf.floats, gx: gx.floats, n: n, cin: cin, cout: cout, map: map
                )
                grads.append(gx)
            } else {
                grads.append(nil)
            }
            if weight.requiresGrad {
                let gw = Tensor(zeros: [cout, 3, 3, 3, cin])
                weightGradient(
                    gy: gy.floats, x: xf.floats, gw: gw.floats, cin: cin, cout: cout, map: map)
                grads.append(gw)
            } else {
                grads.append(nil)
            }
            if bias != nil { grads.append(gy.sum(axes: [0])) }
            return grads
        }
    }

    /// Output rows are split into one range per thread; each range accumulates its rows over
    /// the offsets in order, so results do not depend on the split.
    static func rowRanges(_ n: Int) -> [Range<Int>] {
        let parts = Swift.max(1, Swift.min(Parallel.threadCount, n / 512))
        let step = (n + parts - 1) / Swift.max(parts, 1)
        return (0..<parts).map { p in Swift.min(n, p * step)..<Swift.min(n, (p + 1) * step) }
    }

    /// First index in ascending `a` that is >= v.
    static func lowerBound(_ a: UnsafeBufferPointer<Int32>, _ v: Int) -> Int {
        var lo = 0
        var hi = a.count
        while lo < hi {
            let mid = (lo + hi) / 2
            if Int(a[mid]) < v { lo = mid + 1 } else { hi = mid }
        }
        return lo
    }

    /// y = bias + Σ_k scatter(gather(x, in_k) · W_kᵀ, out_k).
    static func forward(
        x: UnsafeMutablePointer<Float>, w: UnsafeMutablePointer<Float>,
        bias: UnsafeMutablePointer<Float>?, y: UnsafeMutablePointer<Float>, n: Int, cin: Int,
        cout: Int, map: NeighbourMap
    ) {
        // The kernel wants W_kᵀ rows [Cin, Cout] contiguous: [27, Cin, Cout].
        let wt = UnsafeMutablePointer<Float>.allocate(capacity: 27 * cin * cout)
        defer { wt.deallocate() }
        for o in 0..<cout {
            for k in 0..<27 {
                for c in 0..<cin { wt[(k * cin + c) * cout + o] = w[(o * 27 + k) * cin + c] }
            }
        }
        accumulate(
            src: x, srcWidth: cin, dst: y, dstWidth: cout, n: n,
            weight: { k in (UnsafePointer(wt + k * cin * cout), cout) }, bias: bias,
            pairs: { k in (map.inputs[k], map.outputs[k]) })
    }

    /// gx = Σ_k scatter(gather(gy, out_k) · W_k, in_k), run output-stationary over the mirrored
    /// offset 26-k, whose pairs are sorted by the row that receives the gradient.
    static func inputGradient(
        gy: UnsafeMutablePointer<Float>, w: UnsafeMutablePointer<Float>,
        gx: UnsafeMutablePointer<Float>, n: Int, cin: Int, cout: Int, map: NeighbourMap
    ) {
        // Offset k pairs (j = i + d, i); the mirror 26-k holds (i, j) sorted by j.
        // W_k read in place as [Cout, Cin] rows of stride 27·Cin.
        accumulate(
            src: gy, srcWidth: cout, dst: gx, dstWidth: cin, n: n,
            weight: { k in (UnsafePointer(w + k * cin), 27 * cin) }, bias: nil,
            pairs: { k in (map.inputs[26 - k], map.outputs[26 - k]) })
    }

    /// dst[r] = bias + Σ_k Σ_{(s, r) in pairs(k)} src[s] · B_k, with B_k = weight(k) a
    /// [srcWidth, dstWidth] matrix. Threads own disjoint dst row ranges; each range is walked in
    /// tiles small enough to stay in cache across the 27 offsets. Every row sums its offsets in
    /// the same order whatever the split, so results do not depend on the thread count.
    static func accumulate(
        src: UnsafeMutablePointer<Float>, srcWidth: Int, dst: UnsafeMutablePointer<Float>,
        dstWidth: Int, n: Int, weight: (Int) -> (UnsafePointer<Float>, Int),
        bias: UnsafeMutablePointer<Float>?, pairs: (Int) -> ([Int32], [Int32])
    ) {
        let ranges = rowRanges(n)
        let lists = (0..<27).map(pairs)
        let weights = (0..<27).map(weight)
        let tile = Swift.max(64, 32768 / Swift.max(dstWidth, 1))  // ~128 KB of output rows
        Parallel.run(chunks: ranges.count) { part in
            let rows = ranges[part]
            if rows.isEmpty { return }
            for r in rows {
                let d = dst + r * dstWidth
                if let bias {
                    d.update(from: bias, count: dstWidth)
                } else {
                    d.update(repeating: 0, count: dstWidth)
                }
            }
            var lo = rows.lowerBound
            while lo < rows.upperBound {
                let hi = Swift.min(rows.upperBound, lo + tile)
                for k in 0..<27 {
                    let (sIdx, dIdx) = lists[k]
                    dIdx.withUnsafeBufferPointer { dp in
                        sIdx.withUnsafeBufferPointer { sp in
                            let a = lowerBound(dp, lo)
                            let b = lowerBound(dp, hi)
                            guard b > a, let s0 = sp.baseAddress, let d0 = dp.baseAddress else {
                                return
                            }
                            lt_sparse_gather_gemm_scatter(
                                src, Int64(srcWidth), s0 + a, d0 + a, Int64(b - a), weights[k].0,
                                Int64(weights[k].1), Int64(srcWidth), Int64(dstWidth), dst,
                                Int64(dstWidth))
                        }
                    }
                }
                lo = hi
            }
        }
    }

    /// Pairs gathered per step of the weight gradient: 256 rows of x and gy (64 KB each at
    /// C = 64) stay in L2 while the tile product walks them.
    static let gradientChunk = 256

    /// gW[:, k, :] = Σ_{(i, o) in pairs(k)} gy[o]ᵀ x[i]; one offset per chunk. Pairs are
    /// gathered `gradientChunk` at a time and accumulated by a register-blocked tile product
    /// (1.8x faster than gathering all of an offset's pairs for one packed GEMM, whose gather
    /// buffers are megabytes). Each offset sums its pairs in order, whatever the thread count.
    static func weightGradient(
        gy: UnsafeMutablePointer<Float>, x: UnsafeMutablePointer<Float>,
        gw: UnsafeMutablePointer<Float>, cin: Int, cout: Int, map: NeighbourMap
    ) {
        Parallel.run(chunks: 27) { k in
            let ins = map.inputs[k]
            let outs = map.outputs[k]
            let m = ins.count
            if m == 0 { return }
            let step = gradientChunk
            let gx = UnsafeMutablePointer<Float>.allocate(capacity: step * cin)  // [step, Cin]
            let gg = UnsafeMutablePointer<Float>.allocate(capacity: step * cout)  // [step, Cout]
            defer {
                gx.deallocate()
                gg.deallocate()
            }
            var p0 = 0
            while p0 < m {
                let rows = Swift.min(step, m - p0)
                for t in 0..<rows {
                    (gx + t * cin).update(from: x + Int(ins[p0 + t]) * cin, count: cin)
                    (gg + t * cout).update(from: gy + Int(outs[p0 + t]) * cout, count: cout)
                }
                // gW_k [Cout, Cin] (rows of stride 27·Cin) += ggᵀ [Cout, rows] · gx [rows, Cin].
                lt_attn_tile_gemm(
                    Int64(cout), Int64(cin), Int64(rows), gg, 1, Int64(cout), gx, Int64(cin),
                    gw + k * cin, Int64(27 * cin), 1)
                p0 += rows
            }
        }
    }

    /// Naive twin of the forward: per site, per offset, per channel loops.
    static func forwardNaive(
        x: [Float], w: [Float], bias: [Float]?, n: Int, cin: Int, cout: Int, map: NeighbourMap
    ) -> [Float] {
        var y = [Float](repeating: 0, count: n * cout)
        for i in 0..<n { for o in 0..<cout { y[i * cout + o] = bias?[o] ?? 0 } }
        for k in 0..<27 {
            for (s, d) in zip(map.inputs[k], map.outputs[k]) {
                for o in 0..<cout {
                    var acc: Float = 0
                    for c in 0..<cin { acc += w[o * 27 * cin + k * cin + c] * x[Int(s) * cin + c] }
                    y[Int(d) * cout + o] += acc
                }
            }
        }
        return y
    }
}

/// TRELLIS `SparseConv3d(in, out, kernel)` with stride 1: a submanifold convolution whose
/// spconv layer is the child `conv` (keys `conv.weight` [Cout, k, k, k, Cin], `conv.bias`).
public final class SparseConv3d: Module, @unchecked Sendable {
    /// The spconv layer holding the parameters.
    public final class SubMConv: Module, @unchecked Sendable {
        public let weight: Parameter
        public let bias: Parameter?
        init(_ cin: Int, _ cout: Int, kernel: Int, bias: Bool) {
            weight = Parameter(Tensor(zeros: [cout, kernel, kernel, kernel, cin]))
            self.bias = bias ? Parameter(Tensor(zeros: [cout])) : nil
            super.init()
            register("weight", weight)
            if let b = self.bias { register("bias", b) }
        }
    }

    public let conv: SubMConv

    /// A submanifold conv from `inChannels` to `outChannels` with kernel 1 or 3.
    public init(_ inChannels: Int, _ outChannels: Int, kernel: Int = 3, bias: Bool = true) {
        precondition(
            kernel == 1 || kernel == 3, "SparseConv3d supports kernel 1 or 3, got \(kernel)")
        conv = SubMConv(inChannels, outChannels, kernel: kernel, bias: bias)
        super.init()
        register("conv", conv)
    }

    /// Convolves `x`; throws on a channel mismatch.
    public func callAsFunction(_ x: SparseTensor) throws -> SparseTensor {
        try submanifoldConv3d(x, weight: conv.weight.value, bias: conv.bias?.value)
    }
}

/// TRELLIS `SparseLinear`: a Linear layer on the features (keys `weight` [out, in], `bias`).
public final class SparseLinear: Module, @unchecked Sendable {
    public let weight: Parameter
    public let bias: Parameter?

    public init(_ inFeatures: Int, _ outFeatures: Int, bias: Bool = true) {
        weight = Parameter(Tensor(zeros: [outFeatures, inFeatures]))
        self.bias = bias ? Parameter(Tensor(zeros: [outFeatures])) : nil
        super.init()
        register("weight", weight)
        if let b = self.bias { register("bias", b) }
    }

    /// Applies the layer to dense rows `[..., in]`.
    public func callAsFunction(_ x: Tensor) -> Tensor {
        linear(x, weight: weight.value, bias: bias?.value)
    }

    /// Applies the layer to the features of `x`.
    public func callAsFunction(_ x: SparseTensor) -> SparseTensor {
        x.replacing(feats: self(x.feats))
    }
}
