// Tests for SGEMM (blocked kernel vs naive twin on every ISA level, threading, determinism) and
// the matmul / linear ops (torch.matmul broadcasting, transposed views, backward rules).
import CLatticeKernels
import LatticeTestSupport
import Testing

@testable import LatticeTensor

/// Deterministic uniform values in [-1, 1).
private func randomFloats(_ n: Int, seed: UInt64) -> [Float] {
    var s = seed &* 0x9E37_79B9_7F4A_7C15 &+ 1
    return (0..<n).map { _ in
        s = s &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
        return Float(Int64(bitPattern: s >> 11) % (1 << 24)) / Float(1 << 23) - 1
    }
}

/// Tolerance for comparing two float32 GEMMs that sum in different orders: rounding is a
/// random walk of K steps of ~6e-8 × the running sum (≈ |alpha|·sqrt(K) for values in [-1, 1]),
/// so the gap is ~1e-7·K·|alpha|. 1e-5·sqrt(K)·(|alpha|·sqrt(K) + |beta| + 1) leaves a wide
/// margin yet is far below the O(1) errors of a wrong index, a missed edge or a lost k-block.
private func gemmTolerance(k: Int, alpha: Float, beta: Float) -> Float {
    let r = Float(k).squareRoot()
    return 1e-5 * r * (abs(alpha) * r + abs(beta) + 1)
}

/// Runs lt_sgemm and lt_sgemm_naive on the same random inputs; returns the max abs difference
/// and the tolerance. Leading dimensions are padded (`pad`) to exercise lda > cols.
private func compareWithNaive(
    m: Int, n: Int, k: Int, transA: Bool, transB: Bool, alpha: Float, beta: Float, pad: Int = 3,
    seed: UInt64
) -> (diff: Float, tolerance: Float) {
    let lda = (transA ? m : k) + pad
    let ldb = (transB ? k : n) + pad
    let ldc = n + pad
    let a = randomFloats((transA ? k : m) * lda, seed: seed)
    let b = randomFloats((transB ? n : k) * ldb, seed: seed + 1)
    // beta == 0 must never read C: fill it with NaN so any read shows up in the result.
    let c0 =
        beta == 0 ? [Float](repeating: .nan, count: m * ldc) : randomFloats(m * ldc, seed: seed + 2)
    var fast = c0
    var slow = c0
    lt_sgemm(
        transA ? 1 : 0, transB ? 1 : 0, Int64(m), Int64(n), Int64(k), alpha, a, Int64(lda), b,
        Int64(ldb), beta, &fast, Int64(ldc))
    lt_sgemm_naive(
        transA ? 1 : 0, transB ? 1 : 0, Int64(m), Int64(n), Int64(k), alpha, a, Int64(lda), b,
        Int64(ldb), beta, &slow, Int64(ldc))
    var diff: Float = 0
    for i in 0..<m {
        for j in 0..<n {
            let d = abs(fast[i * ldc + j] - slow[i * ldc + j])
            diff = max(diff, d.isNaN ? .infinity : d)
        }
        // Padding columns of C are outside the product and must be untouched.
        for j in n..<ldc where !(fast[i * ldc + j].isNaN && c0[i * ldc + j].isNaN) {
            if fast[i * ldc + j] != c0[i * ldc + j] { diff = .infinity }
        }
    }
    return (diff, gemmTolerance(k: k, alpha: alpha, beta: beta))
}

/// Naive torch.matmul in double precision on row-major copies, with broadcast batch dims.
private func referenceMatmul(_ a: Tensor, _ b: Tensor) -> (values: [Float], shape: [Int]) {
    var aShape = a.shape
    var bShape = b.shape
    if aShape.count == 1 { aShape = [1] + aShape }
    if bShape.count == 1 { bShape = bShape + [1] }
    let av = a.toFloats()
    let bv = b.toFloats()
    let m = aShape[aShape.count - 2]
    let k = aShape[aShape.count - 1]
    let n = bShape[bShape.count - 1]
    let aB = Array(aShape.dropLast(2))
    let bB = Array(bShape.dropLast(2))
    let r = max(aB.count, bB.count)
    let aP = [Int](repeating: 1, count: r - aB.count) + aB
    let bP = [Int](repeating: 1, count: r - bB.count) + bB
    let batch = zip(aP, bP).map { max($0, $1) }
    let count = batch.reduce(1, *)
    var out = [Float](repeating: 0, count: count * m * n)
    for bi in 0..<count {
        var rem = bi
        var ai = 0
        var bj = 0
        var aMul = 1
        var bMul = 1
        for d in stride(from: r - 1, through: 0, by: -1) {
            let idx = rem % batch[d]
            rem /= batch[d]
            ai += (aP[d] == 1 ? 0 : idx) * aMul
            bj += (bP[d] == 1 ? 0 : idx) * bMul
            aMul *= aP[d]
            bMul *= bP[d]
        }
        for i in 0..<m {
            for j in 0..<n {
                var acc = 0.0
                for p in 0..<k {
                    acc += Double(av[ai * m * k + i * k + p]) * Double(bv[bj * k * n + p * n + j])
                }
                out[bi * m * n + i * n + j] = Float(acc)
            }
        }
    }
    var shape = batch
    if a.rank > 1 { shape.append(m) }
    if b.rank > 1 { shape.append(n) }
    return (out, shape)
}

private func maxAbsDiff(_ x: [Float], _ y: [Float]) -> Float {
    zip(x, y).reduce(0) { max($0, abs($1.0 - $1.1)) }
}

@Suite(.serialized) struct GemmTests {
    static let shapes: [(m: Int, n: Int, k: Int)] = [
        (1, 1, 1), (17, 65, 33), (130, 300, 7), (64, 64, 64), (13, 37, 400),
        // k > KC (several k-blocks), n > NC (several column blocks), m > MC (row blocks).
        (25, 45, 800), (5, 1000, 10), (1600, 20, 3),
        // Matrix-vector products (a separate unpacked path).
        (1, 300, 70), (45, 1, 130), (1, 1, 500), (1, 40, 3),
    ]

    @Test func blockedMatchesNaiveOnEveryISALevel() {
        let hardware = lt_cpu_level()
        defer { lt_cpu_force_level(-1) }
        for level in 0...hardware {
            lt_cpu_force_level(Int32(level))
            #expect(lt_cpu_level() == level)
            var seed: UInt64 = 1
            for s in Self.shapes {
                for (transA, transB) in [
                    (false, false), (true, false), (false, true), (true, true),
                ] {
                    for (alpha, beta) in [(Float(1), Float(0)), (0.5, 2), (1, 1), (-1.5, 0)] {
                        seed += 3
                        let r = compareWithNaive(
                            m: s.m, n: s.n, k: s.k, transA: transA, transB: transB, alpha: alpha,
                            beta: beta, seed: seed)
                        #expect(
                            r.diff <= r.tolerance,
                            "level \(level) \(s) tA \(transA) tB \(transB) α \(alpha) β \(beta)")
                    }
                }
            }
        }
    }

    /// B packed once (in two column ranges, as two threads would) and multiplied by
    /// lt_sgemm_packed gives the same bits as lt_sgemm, on every ISA level.
    @Test func prepackedBMatchesUnpackedBitwise() {
        let hardware = lt_cpu_level()
        for level in 0...hardware {
            for (m, n, k, tA, tB) in [
                (37, 70, 500, false, false), (12, 33, 9, true, true), (50, 100, 40, false, true),
            ] {
                let a = randomFloats(m * k, seed: 31)
                let b = randomFloats(k * n, seed: 32)
                let lda = tA ? m : k
                let ldb = tB ? k : n
                var direct = randomFloats(m * n, seed: 33)
                var viaPacked = direct
                lt_cpu_force_level(Int32(level))
                lt_sgemm(
                    tA ? 1 : 0, tB ? 1 : 0, Int64(m), Int64(n), Int64(k), 0.75, a, Int64(lda), b,
                    Int64(ldb), 0.5, &direct, Int64(n))
                lt_cpu_force_level(-1)
                let size = lt_sgemm_packed_b_size(Int32(level), Int64(k), Int64(n))
                var packed = [Float](repeating: .nan, count: size)
                lt_sgemm_pack_b(
                    Int32(level), tB ? 1 : 0, Int64(k), Int64(n), b, Int64(ldb), 0, 32, &packed)
                lt_sgemm_pack_b(
                    Int32(level), tB ? 1 : 0, Int64(k), Int64(n), b, Int64(ldb), 32, Int64(n),
                    &packed)
                lt_sgemm_packed(
                    Int32(level), tA ? 1 : 0, Int64(m), Int64(n), Int64(k), 0.75, a, Int64(lda),
                    packed, 0.5, &viaPacked, Int64(n))
                #expect(direct == viaPacked, "level \(level) \(m)x\(k)x\(n) tA \(tA) tB \(tB)")
            }
        }
    }

    @Test func zeroKOrAlphaScalesC() {
        var c: [Float] = [1, 2, 3, 4]
        let a: [Float] = [1, 1]
        lt_sgemm(0, 0, 2, 2, 0, 1, a, 1, a, 2, 0.5, &c, 2)
        #expect(c == [0.5, 1, 1.5, 2])
        lt_sgemm(0, 0, 2, 2, 1, 0, a, 1, a, 2, 0, &c, 2)
        #expect(c == [0, 0, 0, 0])
    }

    /// Threaded and serial calls are bit-identical: each element's accumulation order does not
    /// depend on which thread computes its block. Covers the row split (M ≥ N) and the column
    /// split (N > M), with transposes.
    @Test func threadedEqualsSerialAndIsDeterministic() {
        for (m, n, k, tA, tB) in [
            (300, 200, 500, false, false), (100, 900, 70, true, false), (1000, 64, 96, false, true),
            (128, 512, 64, true, true), (1, 3000, 700, true, false), (3000, 1, 700, false, true),
            // K·N above the kept shared-buffer size: packed B is allocated for the call.
            (64, 64, 70000, false, false),
        ] {
            let a = randomFloats(m * k, seed: 11)
            let b = randomFloats(k * n, seed: 12)
            var serial = [Float](repeating: 0, count: m * n)
            var threaded1 = serial
            var threaded2 = serial
            let lda = tA ? m : k
            let ldb = tB ? k : n
            Gemm.sgemmSerial(
                transA: tA, transB: tB, m: m, n: n, k: k, a: a, lda: lda, b: b, ldb: ldb,
                c: &serial, ldc: n)
            Gemm.sgemm(
                transA: tA, transB: tB, m: m, n: n, k: k, a: a, lda: lda, b: b, ldb: ldb,
                c: &threaded1, ldc: n)
            Gemm.sgemm(
                transA: tA, transB: tB, m: m, n: n, k: k, a: a, lda: lda, b: b, ldb: ldb,
                c: &threaded2, ldc: n)
            #expect(serial == threaded1, "\(m)x\(k)x\(n)")
            #expect(threaded1 == threaded2, "\(m)x\(k)x\(n)")
        }
    }

    /// Against a double-precision reference; K ≤ 40 here, so float32 error stays < 1e-5 and
    /// 1e-4 absolute catches any wrong broadcast or layout.
    @Test func matmulBroadcastingMatchesReference() {
        var g = RandomGenerator(seed: 5)
        let cases: [([Int], [Int], [Int])] = [
            ([7], [7], []), ([5], [5, 3], [3]), ([4, 5], [5], [4]), ([3, 4], [4, 6], [3, 6]),
            ([2, 3, 4], [4, 5], [2, 3, 5]), ([4], [2, 4, 5], [2, 5]), ([2, 3, 4], [4], [2, 3]),
            ([2, 1, 3, 4], [5, 4, 6], [2, 5, 3, 6]), ([3, 4], [2, 4, 5], [2, 3, 5]),
            ([2, 3, 40], [2, 40, 33], [2, 3, 33]), ([1, 6, 8], [3, 8, 2], [3, 6, 2]),
        ]
        for (sa, sb, expected) in cases {
            let a = Tensor.randn(sa, generator: &g)
            let b = Tensor.randn(sb, generator: &g)
            let y = matmul(a, b)
            let ref = referenceMatmul(a, b)
            #expect(y.shape == expected && ref.shape == expected, "\(sa) x \(sb)")
            #expect(maxAbsDiff(y.toFloats(), ref.values) < 1e-4, "\(sa) x \(sb)")
        }
    }

    /// Transposed and sliced views take the transA/transB or copy paths; same tolerance as above.
    @Test func matmulOnViewsMatchesReference() {
        var g = RandomGenerator(seed: 9)
        let at = Tensor.randn([2, 6, 5], generator: &g).transpose(-1, -2)  // [2, 5, 6]
        let bt = Tensor.randn([2, 7, 6], generator: &g).transpose(1, 2)  // [2, 6, 7]
        let sliced = Tensor.randn([2, 6, 14], generator: &g).slice(2, 0, 14, step: 2)  // [2, 6, 7]
        let expandedA = Tensor.randn([1, 5, 6], generator: &g).expand([3, 5, 6])
        let pairs: [(Tensor, Tensor)] = [
            (at, bt), (at, sliced), (expandedA, Tensor.randn([3, 6, 2], generator: &g)),
            (at.select(0, 1), bt.select(0, 0)),
            (Tensor.randn([4, 3, 6], generator: &g).permute([1, 0, 2]), bt.select(0, 1)),
        ]
        for (a, b) in pairs {
            let y = a.matmul(b)
            let ref = referenceMatmul(a.contiguous(), b.contiguous())
            #expect(y.shape == ref.shape)
            #expect(
                maxAbsDiff(y.toFloats(), ref.values) < 1e-4, "\(a.shape) \(a.strides) x \(b.shape)")
        }
    }

    /// Same tolerance rationale as the broadcasting test; the f16 weight is compared with its own
    /// float conversion, so only summation order differs.
    @Test func linearMatchesMatmulPlusBias() {
        var g = RandomGenerator(seed: 3)
        let x = Tensor.randn([2, 3, 8], generator: &g)
        let w = Tensor.randn([5, 8], generator: &g)
        let bias = Tensor.randn([5], generator: &g)
        let y = linear(x, weight: w, bias: bias)
        #expect(y.shape == [2, 3, 5])
        let ref = referenceMatmul(x, w.transpose(0, 1).contiguous()).values
        let bv = bias.toFloats()
        let expected = ref.enumerated().map { $0.element + bv[$0.offset % 5] }
        #expect(maxAbsDiff(y.toFloats(), expected) < 1e-4)
        let noBias = linear(x, weight: w, bias: nil)
        #expect(maxAbsDiff(noBias.toFloats(), ref) < 1e-4)
        let half = w.to(.float16)
        let yHalf = linear(x, weight: half, bias: nil)
        let refHalf = referenceMatmul(x, half.float().transpose(0, 1).contiguous()).values
        #expect(maxAbsDiff(yHalf.toFloats(), refHalf) < 1e-4)
        // A 2-D transposed input and a transposed weight view take the strided paths.
        let xt = Tensor.randn([8, 4], generator: &g).transpose(0, 1)  // [4, 8]
        let wt = Tensor.randn([8, 5], generator: &g).transpose(0, 1)  // [5, 8]
        let y2 = linear(xt, weight: wt, bias: bias)
        let ref2 = referenceMatmul(xt.contiguous(), wt.transpose(0, 1).contiguous()).values
        let exp2 = ref2.enumerated().map { $0.element + bv[$0.offset % 5] }
        #expect(maxAbsDiff(y2.toFloats(), exp2) < 1e-4)
    }

    /// A half-precision weight is converted while packing; the packed values and the kernel are
    /// the same as for its float32 conversion, so the outputs agree bit for bit.
    @Test func halfWeightLinearMatchesConvertedWeight() {
        var g = RandomGenerator(seed: 41)
        for dtype in [DType.float16, .bfloat16] {
            for (rows, inF, outF) in [(37, 70, 45), (300, 500, 64), (5, 9, 130), (64, 1000, 33)] {
                let x = Tensor.randn([rows, inF], generator: &g)
                let w = Tensor.randn([outF, inF], generator: &g).to(dtype)
                let bias = Tensor.randn([outF], generator: &g)
                let fast = linear(x, weight: w, bias: bias)
                let reference = linear(x, weight: w.float(), bias: bias)
                #expect(fast.toFloats() == reference.toFloats(), "\(dtype) \(rows)x\(inF)x\(outF)")
            }
        }
        let wHalf = Tensor.randn([5, 4], generator: &g).to(.bfloat16)
        gradCheck([Tensor.randn([2, 3, 4], generator: &g), Tensor.randn([5], generator: &g)]) {
            linear($0[0], weight: wHalf, bias: $0[1])
        }
    }

    // Gradient checks use gradCheck's default tolerance (see GradCheck.swift for its rationale).

    @Test func matmulGradients2D() {
        var g = RandomGenerator(seed: 21)
        gradCheck([Tensor.randn([3, 4], generator: &g), Tensor.randn([4, 5], generator: &g)]) {
            matmul($0[0], $0[1])
        }
        gradCheck([Tensor.randn([4], generator: &g), Tensor.randn([4], generator: &g)]) {
            matmul($0[0], $0[1])
        }
        gradCheck([Tensor.randn([4], generator: &g), Tensor.randn([2, 4, 3], generator: &g)]) {
            matmul($0[0], $0[1])
        }
        gradCheck([Tensor.randn([2, 3, 4], generator: &g), Tensor.randn([4], generator: &g)]) {
            matmul($0[0], $0[1])
        }
    }

    @Test func matmulGradientsBatchedWithBroadcast() {
        var g = RandomGenerator(seed: 22)
        gradCheck([
            Tensor.randn([2, 1, 3, 4], generator: &g), Tensor.randn([3, 4, 2], generator: &g),
        ]) {
            matmul($0[0], $0[1])
        }
        // Batched a with a shared 2-D b (folded GEMM forward, folded weight gradient).
        gradCheck([Tensor.randn([2, 3, 4], generator: &g), Tensor.randn([4, 5], generator: &g)]) {
            matmul($0[0], $0[1])
        }
        // 2-D a broadcast against batched b.
        gradCheck([Tensor.randn([3, 4], generator: &g), Tensor.randn([2, 4, 5], generator: &g)]) {
            matmul($0[0], $0[1])
        }
    }

    @Test func matmulGradientsThroughTransposedInputs() {
        var g = RandomGenerator(seed: 23)
        let at = Tensor.randn([2, 4, 3], generator: &g).transpose(1, 2)  // [2, 3, 4], non-contiguous
        let bt = Tensor.randn([5, 4], generator: &g).transpose(0, 1)  // [4, 5], non-contiguous
        #expect(!at.isContiguous && !bt.isContiguous)
        gradCheck([at, bt]) { matmul($0[0], $0[1]) }
        // Transposes taken inside the function: the product sees strided views directly.
        gradCheck([
            Tensor.randn([2, 4, 3], generator: &g), Tensor.randn([2, 5, 4], generator: &g),
        ]) {
            matmul($0[0].transpose(1, 2), $0[1].transpose(1, 2))
        }
    }

    @Test func linearGradients() {
        var g = RandomGenerator(seed: 24)
        gradCheck([
            Tensor.randn([2, 3, 4], generator: &g), Tensor.randn([5, 4], generator: &g),
            Tensor.randn([5], generator: &g),
        ]) { linear($0[0], weight: $0[1], bias: $0[2]) }
        gradCheck([Tensor.randn([3, 4], generator: &g), Tensor.randn([2, 4], generator: &g)]) {
            linear($0[0], weight: $0[1], bias: nil)
        }
        // Non-contiguous 3-D input and transposed weight.
        gradCheck([
            Tensor.randn([3, 2, 4], generator: &g), Tensor.randn([4, 5], generator: &g),
            Tensor.randn([5], generator: &g),
        ]) { linear($0[0].transpose(0, 1), weight: $0[1].transpose(0, 1), bias: $0[2]) }
    }
}
