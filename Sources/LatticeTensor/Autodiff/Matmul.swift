// Matrix products as differentiable ops: `matmul` (torch.matmul semantics) and `linear`, with
// their backward rules. Every product goes through Gemm; a transposed view (last two dims
// swapped) is handed to GEMM as transA/transB instead of being copied.

/// Matrix product with torch.matmul semantics: 1-D·1-D is a dot product, a 1-D operand is
/// promoted to a row (left) or column (right) and the extra dim removed, rank ≥ 3 operands are
/// batches of matrices whose batch dims broadcast. Computes in float32.
public func matmul(_ a: Tensor, _ b: Tensor) -> Tensor {
    precondition(
        a.rank >= 1 && b.rank >= 1, "matmul needs rank ≥ 1 operands, got \(a.shape) and \(b.shape)")
    let af = a.float()
    let bf = b.float()
    if af.rank == 1 && bf.rank == 1 {
        precondition(af.count == bf.count, "matmul: dot of shapes \(a.shape) and \(b.shape)")
        return batchedMatmul(af.unsqueeze(0), bf.unsqueeze(1)).reshape([])
    }
    if af.rank == 1 { return batchedMatmul(af.unsqueeze(0), bf).squeeze(-2) }
    if bf.rank == 1 { return batchedMatmul(af, bf.unsqueeze(1)).squeeze(-1) }
    return batchedMatmul(af, bf)
}

extension Tensor {
    /// `matmul(self, other)` (torch.matmul semantics).
    public func matmul(_ other: Tensor) -> Tensor { LatticeTensor.matmul(self, other) }
}

/// y = x·Wᵀ + bias for x [..., in], weight [out, in] (any float dtype, converted when used),
/// bias [out]: one GEMM reading the weight through transB, the bias pre-filled into the output.
public func linear(_ x: Tensor, weight: Tensor, bias: Tensor?) -> Tensor {
    precondition(weight.rank == 2, "linear: weight must be [out, in], got \(weight.shape)")
    precondition(
        x.rank >= 1 && x.shape[x.rank - 1] == weight.shape[1],
        "linear: input \(x.shape) does not end in in-features of weight \(weight.shape)")
    let outF = weight.shape[0]
    let inF = weight.shape[1]
    if let bias {
        precondition(bias.shape == [outF], "linear: bias \(bias.shape) for weight \(weight.shape)")
    }
    let xf = x.float()
    let bf = bias?.float()
    let rows = xf.shape.dropLast().reduce(1, *)
    let outShape = Array(xf.shape.dropLast()) + [outF]
    // [rows, in]: a view when x's leading dims fold, else a copy.
    let x2 = xf.rank == 2 ? xf : withNoGrad { xf.reshape([rows, inF]) }
    let out = Tensor(empty: outShape)
    let po = out.floats
    var beta: Float = 0
    if let bf {
        let bc = withNoGrad { bf.contiguous() }
        let pb = bc.pointer(as: Float.self)
        for r in 0..<rows { (po + r * outF).update(from: pb, count: outF) }
        beta = 1
    }
    let xOp = MatrixOperand(x2)
    // A half-precision weight that needs no gradient is converted while packing (no float32
    // copy); its float32 value is only made if x's gradient is asked for.
    let halfWeight =
        (weight.dtype == .float16 || weight.dtype == .bfloat16) && weight.isContiguous
        && !(GradMode.isEnabled && weight.requiresGrad)
    if halfWeight && !xOp.trans {
        Gemm.sgemmHalfWeight(
            m: rows, n: outF, k: inF, a: xOp.pointer, lda: xOp.ld,
            w: UnsafePointer(weight.pointer(as: UInt16.self)), ldw: inF,
            bf16: weight.dtype == .bfloat16, beta: beta, c: po, ldc: outF)
        let inputs = bf.map { [xf, $0] } ?? [xf]
        let xShape = xf.shape
        return Tensor.record("linear", output: out, inputs: inputs) { g in
            let g2 = g.reshape([rows, outF])  // [rows, out]
            let gx = xf.requiresGrad ? Tensor.matmulRaw(g2, weight.float()).reshape(xShape) : nil
            guard bf != nil else { return [gx] }
            return [gx, Tensor.sumRows(g2)]
        }
    }
    let w = weight.float()
    let wOp = MatrixOperand(w)
    // B = Wᵀ [in, out]: W stored [out, in] row-major is exactly "B transposed".
    Gemm.sgemm(
        transA: xOp.trans, transB: !wOp.trans, m: rows, n: outF, k: inF, a: xOp.pointer,
        lda: xOp.ld, b: wOp.pointer, ldb: wOp.ld, beta: beta, c: po, ldc: outF)

    let inputs = bf.map { [xf, w, $0] } ?? [xf, w]
    let xShape = xf.shape
    return Tensor.record("linear", output: out, inputs: inputs) { g in
        let g2 = g.reshape([rows, outF])  // [rows, out]
        let gx = xf.requiresGrad ? Tensor.matmulRaw(g2, w).reshape(xShape) : nil
        let gw = w.requiresGrad ? Tensor.matmulRaw(g2.transpose(0, 1), x2) : nil
        guard bf != nil else { return [gx, gw] }
        return [gx, gw, Tensor.sumRows(g2)]
    }
}

/// Rank ≥ 2 product with broadcast batch dims, recorded for autodiff.
func batchedMatmul(_ a: Tensor, _ b: Tensor) -> Tensor {
    let out = Tensor.matmulRaw(a, b)
    return Tensor.record("matmul", output: out, inputs: [a, b]) { g in
        var ga: Tensor? = nil
        var gb: Tensor? = nil
        if a.requiresGrad {
            ga = Tensor.matmulRaw(g, b.transpose(-1, -2)).sumTo(a.shape)
        }
        if b.requiresGrad {
            let k = a.shape[a.rank - 1]
            let n = b.shape[b.rank - 1]
            if b.rank == 2 && a.rank > 2 && k > 0 {
                // Σ over the batch of aᵀ·g is one GEMM over the folded rows: [K, B·M]·[B·M, N].
                let a2 = a.reshape([-1, k])
                gb = Tensor.matmulRaw(a2.transpose(0, 1), g.reshape([-1, n]))
            } else {
                gb = Tensor.matmulRaw(a.transpose(-1, -2), g).sumTo(b.shape)
            }
        }
        return [ga, gb]
    }
}

/// A float32 matrix (last two dims of a tensor) as a GEMM operand: stored row-major, or
/// transposed (`trans`: the storage is the matrix transposed), with its leading dimension.
struct MatrixOperand {
    let pointer: UnsafePointer<Float>
    let trans: Bool
    let ld: Int
    /// Keeps a contiguous copy alive when the view's layout was not GEMM-able.
    let tensor: Tensor

    init(_ t: Tensor) {
        if let layout = t.gemmLayout() {
            tensor = t
            trans = layout.trans
            ld = layout.ld
        } else {
            tensor = t.rawContiguous()
            trans = false
            ld = Swift.max(t.shape[t.rank - 1], 1)
        }
        pointer = UnsafePointer(tensor.pointer(as: Float.self))
    }
}

extension Tensor {
    /// How the last two dims map onto a GEMM operand: rows contiguous (`trans` false, ld = row
    /// stride) or columns contiguous (`trans` true, ld = column stride); nil when neither.
    func gemmLayout() -> (trans: Bool, ld: Int)? {
        precondition(dtype == .float32 && rank >= 2, "gemmLayout on \(dtype) \(shape)")
        let r = shape[rank - 2]
        let c = shape[rank - 1]
        let s0 = strides[rank - 2]
        let s1 = strides[rank - 1]
        if (c <= 1 || s1 == 1) && (r <= 1 || s0 >= Swift.max(c, 1)) {
            return (false, r <= 1 ? Swift.max(c, 1) : s0)
        }
        if (r <= 1 || s0 == 1) && (c <= 1 || s1 >= Swift.max(r, 1)) {
            return (true, c <= 1 ? Swift.max(r, 1) : s1)
        }
        return nil
    }

    /// out [batch..., M, N] = a [..., M, K] · b [..., K, N] (float32, any strides, batch dims
    /// broadcast), not recorded. Batches that fold into rows become one GEMM; many small
    /// products run one per thread.
    static func matmulRaw(_ a: Tensor, _ b: Tensor) -> Tensor {
        precondition(
            a.dtype == .float32 && b.dtype == .float32 && a.rank >= 2 && b.rank >= 2
                && a.shape[a.rank - 1] == b.shape[b.rank - 2],
            "matmul: shapes \(a.shape) and \(b.shape) (\(a.dtype), \(b.dtype)) do not multiply")
        let m = a.shape[a.rank - 2]
        let k = a.shape[a.rank - 1]
        let n = b.shape[b.rank - 1]
        let aBatch = Array(a.shape.dropLast(2))
        let bBatch = Array(b.shape.dropLast(2))
        let batch = matmulBroadcast(aBatch, bBatch, a.shape, b.shape)
        let out = Tensor(empty: batch + [m, n])  // [batch..., M, N]
        let count = Tensor.count(of: batch)
        if count == 0 || m == 0 || n == 0 { return out }

        let aOp = MatrixOperand(a)
        let bOp = MatrixOperand(b)
        let aStrides = batchStrides(aOp.tensor, batch)
        let bStrides = batchStrides(bOp.tensor, batch)
        let po = out.floats

        // b shared by every batch and a's rows evenly spaced across batches: one tall GEMM.
        if bStrides.allSatisfy({ $0 == 0 }) && !aOp.trans {
            var expected = m * aOp.ld
            var folds = true
            for d in stride(from: batch.count - 1, through: 0, by: -1) where batch[d] != 1 {
                if aStrides[d] != expected {
                    folds = false
                    break
                }
                expected *= batch[d]
            }
            if folds {
                Gemm.sgemm(
                    transA: false, transB: bOp.trans, m: count * m, n: n, k: k, a: aOp.pointer,
                    lda: aOp.ld, b: bOp.pointer, ldb: bOp.ld, c: po, ldc: n)
                return out
            }
        }

        // Element offsets of every batch's matrices.
        var aOff = [Int](repeating: 0, count: count)
        var bOff = [Int](repeating: 0, count: count)
        var idx = [Int](repeating: 0, count: batch.count)
        var ao = 0
        var bo = 0
        for i in 0..<count {
            aOff[i] = ao
            bOff[i] = bo
            var d = batch.count - 1
            while d >= 0 {
                idx[d] += 1
                ao += aStrides[d]
                bo += bStrides[d]
                if idx[d] < batch[d] { break }
                ao -= aStrides[d] * batch[d]
                bo -= bStrides[d] * batch[d]
                idx[d] = 0
                d -= 1
            }
        }
        let one = { (i: Int, threaded: Bool) in
            let pa = aOp.pointer + aOff[i]
            let pb = bOp.pointer + bOff[i]
            let pc = po + i * m * n
            if threaded {
                Gemm.sgemm(
                    transA: aOp.trans, transB: bOp.trans, m: m, n: n, k: k, a: pa, lda: aOp.ld,
                    b: pb, ldb: bOp.ld, c: pc, ldc: n)
            } else {
                Gemm.sgemmSerial(
                    transA: aOp.trans, transB: bOp.trans, m: m, n: n, k: k, a: pa, lda: aOp.ld,
                    b: pb, ldb: bOp.ld, c: pc, ldc: n)
            }
        }
        // Small products: one thread per group of batches (results do not depend on the split,
        // since threaded and serial GEMMs are bit-identical).
        if count > 1 && m * n * Swift.max(k, 1) < (1 << 22) {
            Parallel.forRange(count, grain: 1) { r in
                for i in r { one(i, false) }
            }
        } else {
            for i in 0..<count { one(i, true) }
        }
        return out
    }

    /// Column sums of a [rows, cols] tensor (the bias gradient), as [cols].
    static func sumRows(_ g: Tensor) -> Tensor {
        let gc = g.float().contiguous()
        let rows = gc.shape[0]
        let cols = gc.shape[1]
        let out = Tensor(zeros: [cols])
        let po = out.floats
        let pg = gc.floats
        for r in 0..<rows {
            let row = pg + r * cols
            for j in 0..<cols { po[j] += row[j] }
        }
        return out
    }

    /// Strides of this tensor's batch dims aligned to the broadcast batch shape (0 where the
    /// dim is missing or broadcast).
    private static func batchStrides(_ t: Tensor, _ batch: [Int]) -> [Int] {
        let own = t.rank - 2
        let lead = batch.count - own
        return (0..<batch.count).map { d in
            if d < lead { return 0 }
            let e = t.shape[d - lead]
            return e == 1 ? 0 : t.strides[d - lead]
        }
    }
}

/// Broadcast of two batch shapes (numpy rules), with the full shapes for the error message.
private func matmulBroadcast(_ x: [Int], _ y: [Int], _ xs: [Int], _ ys: [Int]) -> [Int] {
    let r = Swift.max(x.count, y.count)
    var out = [Int](repeating: 1, count: r)
    for i in 0..<r {
        let a = i < r - x.count ? 1 : x[i - (r - x.count)]
        let b = i < r - y.count ? 1 : y[i - (r - y.count)]
        precondition(
            a == b || a == 1 || b == 1, "matmul: batch dims of \(xs) and \(ys) do not broadcast")
        out[i] = a == 1 ? b : a
    }
    return out
}
