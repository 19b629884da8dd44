// Forward and derivative kernels for elementwise ops (no autodiff here: the differentiable
// wrappers and their backward rules live in Autodiff/Elementwise.swift). Loops run in C
// (elementwise.c); this file plans broadcasting and splits work across threads.
import CLatticeKernels

/// Elementwise unary ops with a fused C kernel (raw codes match lt_elementwise.h).
public enum UnaryOp: Int32, Sendable {
    case neg = 0, abs, sign, exp, log, sqrt, rsqrt, tanh, sigmoid, silu, relu, gelu, geluTanh,
        quickGelu, softplus, pow, clamp, square
}

/// Elementwise binary ops (raw codes match lt_elementwise.h).
public enum BinaryOp: Int32, Sendable {
    case add = 0, sub, mul, div, minimum, maximum, pow
}

/// Elementwise comparisons producing `.bool` tensors.
public enum CompareOp: Int32, Sendable {
    case lt = 0, gt, le, ge, eq, ne
}

/// Elements per thread below which splitting work costs more than it saves.
let elementwiseGrain = 1 << 15

/// An elementwise loop over a broadcast shape, with dimensions coalesced so the innermost loop
/// is as long as the operands' layouts allow (a contiguous tensor becomes one flat loop, a
/// `[C]` bias on `[N, C]` becomes N rows of C).
struct BroadcastPlan {
    /// Coalesced extents (never empty).
    let shape: [Int]
    /// Per operand, element strides over `shape` (0 where broadcast).
    let strides: [[Int]]
    let count: Int

    init(shape fullShape: [Int], strides fullStrides: [[Int]]) {
        var s: [Int] = []
        var st = [[Int]](repeating: [], count: fullStrides.count)
        for d in fullShape.indices where fullShape[d] != 1 {
            let mergeable =
                !s.isEmpty
                && fullStrides.indices.allSatisfy { k in
                    st[k][st[k].count - 1] == fullStrides[k][d] * fullShape[d]
                }
            if mergeable {
                s[s.count - 1] *= fullShape[d]
                for k in fullStrides.indices { st[k][st[k].count - 1] = fullStrides[k][d] }
            } else {
                s.append(fullShape[d])
                for k in fullStrides.indices { st[k].append(fullStrides[k][d]) }
            }
        }
        if s.isEmpty {
            s = [1]
            st = st.map { _ in [0] }
        }
        shape = s
        strides = st
        count = Tensor.count(of: fullShape)
    }

    var inner: Int { shape[shape.count - 1] }
    func innerStride(_ k: Int) -> Int { strides[k][strides[k].count - 1] }

    /// Calls `body(outOffset, operandOffsets, length)` for contiguous runs of the innermost
    /// dimension, splitting the flat output range across threads.
    func forEachRun(_ body: (Int, [Int], Int) -> Void) {
        let r = shape.count
        let n = count
        let inner = self.inner
        let innerStrides = strides.map { $0[r - 1] }
        Parallel.forRange(n, grain: elementwiseGrain) { range in
            var pos = range.lowerBound
            var row = pos / inner
            var col = pos % inner
            // Multi-index of `row` over the outer dimensions.
            var idx = [Int](repeating: 0, count: r - 1)
            var rem = row
            for d in stride(from: r - 2, through: 0, by: -1) {
                idx[d] = rem % shape[d]
                rem /= shape[d]
            }
            var offsets = [Int](repeating: 0, count: strides.count)
            while pos < range.upperBound {
                for k in strides.indices {
                    var o = col * innerStrides[k]
                    for d in 0..<(r - 1) { o += idx[d] * strides[k][d] }
                    offsets[k] = o
                }
                let len = Swift.min(inner - col, range.upperBound - pos)
                body(pos, offsets, len)
                pos += len
                col = 0
                row += 1
                var d = r - 2
                while d >= 0 {
                    idx[d] += 1
                    if idx[d] < shape[d] { break }
                    idx[d] = 0
                    d -= 1
                }
            }
        }
    }
}

/// Raw float32 kernels behind the differentiable elementwise ops. Public so benchmarks and
/// callers with preallocated buffers can skip allocation.
public enum ElementwiseKernels {
    /// The C kernels' scalar exp/tanh/erfc approximations (for naive-twin tests).
    static func fastExp(_ x: Float) -> Float { lt_fast_expf(x) }
    static func fastTanh(_ x: Float) -> Float { lt_fast_tanhf(x) }
    static func fastErfc(_ z: Float) -> Float { lt_fast_erfcf(z) }

    /// numpy/PyTorch broadcast shape of `a` and `b`.
    public static func broadcastShape(_ a: [Int], _ b: [Int]) -> [Int] {
        let r = Swift.max(a.count, b.count)
        var out = [Int](repeating: 1, count: r)
        for i in 0..<r {
            let x = i < r - a.count ? 1 : a[i - (r - a.count)]
            let y = i < r - b.count ? 1 : b[i - (r - b.count)]
            precondition(x == y || x == 1 || y == 1, "shapes \(a) and \(b) do not broadcast")
            out[i] = x == 1 ? y : x
        }
        return out
    }

    /// Strides of `t` read at the broadcast `shape` (0 on broadcast dimensions).
    static func broadcastStrides(_ t: Tensor, to shape: [Int]) -> [Int] {
        let lead = shape.count - t.rank
        return (0..<shape.count).map { i in
            i < lead || t.shape[i - lead] == 1 ? 0 : t.strides[i - lead]
        }
    }

    /// `out = op(x)` for contiguous float32 `x` and `out` of the same count.
    public static func unary(
        _ op: UnaryOp, _ x: Tensor, into out: Tensor, _ a: Float = 0, _ b: Float = 0
    ) {
        precondition(x.count == out.count, "unary \(op): \(x.shape) into \(out.shape)")
        let px = x.floats
        let py = out.floats
        Parallel.forRange(x.count, grain: elementwiseGrain) { r in
            lt_unary_f32(
                op.rawValue, px + r.lowerBound, py + r.lowerBound, Int64(r.count), a, b)
        }
    }

    /// `op(x)` as a new tensor (x must be contiguous float32).
    static func unary(_ op: UnaryOp, _ x: Tensor, _ a: Float = 0, _ b: Float = 0) -> Tensor {
        let out = Tensor(empty: x.shape)
        unary(op, x, into: out, a, b)
        return out
    }

    /// `g · op'(x)` given the forward input `x` and output `y` (all contiguous, same shape).
    static func unaryBackward(
        _ op: UnaryOp, x: Tensor, y: Tensor, grad g: Tensor, _ a: Float = 0, _ b: Float = 0
    ) -> Tensor {
        let gc = g.float().rawContiguous()
        precondition(gc.shape == x.shape, "\(op) backward: grad \(gc.shape) vs input \(x.shape)")
        let out = Tensor(empty: x.shape)
        let px = x.floats
        let py = y.floats
        let pg = gc.floats
        let po = out.floats
        Parallel.forRange(x.count, grain: elementwiseGrain) { r in
            let lo = r.lowerBound
            lt_unary_bwd_f32(op.rawValue, px + lo, py + lo, pg + lo, po + lo, Int64(r.count), a, b)
        }
        return out
    }

    /// `a op b` with broadcasting; operands may be any strided float32 views.
    static func binary(_ op: BinaryOp, _ a: Tensor, _ b: Tensor) -> Tensor {
        let shape = broadcastShape(a.shape, b.shape)
        let out = Tensor(empty: shape)
        let plan = BroadcastPlan(
            shape: shape, strides: [broadcastStrides(a, to: shape), broadcastStrides(b, to: shape)])
        let pa = a.pointer(as: Float.self)
        let pb = b.pointer(as: Float.self)
        let po = out.pointer(as: Float.self)
        let sa = Int64(plan.innerStride(0))
        let sb = Int64(plan.innerStride(1))
        plan.forEachRun { o, offs, len in
            lt_binary_f32(op.rawValue, pa + offs[0], sa, pb + offs[1], sb, po + o, Int64(len))
        }
        return out
    }

    /// `a cmp b` with broadcasting, as a `.bool` tensor.
    static func compare(_ op: CompareOp, _ a: Tensor, _ b: Tensor) -> Tensor {
        let shape = broadcastShape(a.shape, b.shape)
        let out = Tensor(empty: shape, dtype: .bool)
        let plan = BroadcastPlan(
            shape: shape, strides: [broadcastStrides(a, to: shape), broadcastStrides(b, to: shape)])
        let pa = a.pointer(as: Float.self)
        let pb = b.pointer(as: Float.self)
        let po = out.pointer(as: UInt8.self)
        let sa = Int64(plan.innerStride(0))
        let sb = Int64(plan.innerStride(1))
        plan.forEachRun { o, offs, len in
            lt_compare_f32(op.rawValue, pa + offs[0], sa, pb + offs[1], sb, po + o, Int64(len))
        }
        return out
    }

    /// `cond ? a : b` with three-way broadcasting; `cond` is `.bool`/`.uint8`.
    static func select(_ cond: Tensor, _ a: Tensor, _ b: Tensor) -> Tensor {
        let shape = broadcastShape(broadcastShape(cond.shape, a.shape), b.shape)
        let out = Tensor(empty: shape)
        let plan = BroadcastPlan(
            shape: shape,
            strides: [
                broadcastStrides(cond, to: shape), broadcastStrides(a, to: shape),
                broadcastStrides(b, to: shape),
            ])
        let pc = cond.pointer(as: UInt8.self)
        let pa = a.pointer(as: Float.self)
        let pb = b.pointer(as: Float.self)
        let po = out.pointer(as: Float.self)
        let sc = Int64(plan.innerStride(0))
        let sa = Int64(plan.innerStride(1))
        let sb = Int64(plan.innerStride(2))
        plan.forEachRun { o, offs, len in
            lt_where_f32(
                pc + offs[0], sc, pa + offs[1], sa, pb + offs[2], sb, po + o, Int64(len))
        }
        return out
    }
}
