// Submanifold convolution: equality with a dense conv3d at active sites, the hashed rulebook
// against its O(N²) twin, the gather-GEMM-scatter kernel against its loop twin, the kernel-1
// reinterpretation (Q1), and finite-difference gradients.
import CLatticeKernels
import LatticeTensor
import LatticeTestSupport
import Testing

@testable import LatticeSparse

/// Dense conv3d (padding 1) of each item's voxel grid, read back at the active sites.
private func denseReference(_ x: SparseTensor, weight: Tensor, bias: Tensor, res: Int) -> [Float] {
    let cin = x.channels
    let cout = weight.shape[0]
    let c = x.coords.toInts()
    let f = x.feats.toFloats()
    let wDense = weight.permute([0, 4, 1, 2, 3]).contiguous()  // [Cout, Cin, 3, 3, 3]
    var out = [Float](repeating: 0, count: x.count * cout)
    for b in 0..<x.batchSize {
        var grid = [Float](repeating: 0, count: cin * res * res * res)
        for i in x.layout(b) {
            let cell = (c[4 * i + 1] * res + c[4 * i + 2]) * res + c[4 * i + 3]
            for ch in 0..<cin { grid[ch * res * res * res + cell] = f[i * cin + ch] }
        }
        let y = conv3d(
            Tensor(grid, shape: [1, cin, res, res, res]), weight: wDense, bias: bias, stride: 1,
            padding: 1
        ).toFloats()  // [1, Cout, R, R, R]
        for i in x.layout(b) {
            let cell = (c[4 * i + 1] * res + c[4 * i + 2]) * res + c[4 * i + 3]
            for o in 0..<cout { out[i * cout + o] = y[o * res * res * res + cell] }
        }
    }
    return out
}

@Suite struct SparseConvTests {
    /// Several batch items with overlapping xyz, random densities: the sparse conv must equal
    /// the dense one at active sites. Tolerance 1e-4: both sum ≤ 27·Cin float32 products of
    /// O(1) terms in different orders (~1e-6 relative each).
    @Test(arguments: [(3, 5, 6, 40), (8, 16, 7, 300), (1, 4, 5, 60)])
    func equalsDenseConv3d(cin: Int, cout: Int, res: Int, perItem: Int) throws {
        var g = RandomGenerator(seed: UInt64(cin * 100 + cout))
        let x = try randomSparse(
            counts: [perItem, perItem / 2, 0, perItem / 3], res: res, channels: cin, generator: &g)
        let w = Tensor.randn([cout, 3, 3, 3, cin], generator: &g)
        let b = Tensor.randn([cout], generator: &g)
        let y = try submanifoldConv3d(x, weight: w, bias: b)
        #expect(y.coords.toInts() == x.coords.toInts())
        let ref = denseReference(x, weight: w, bias: b, res: res)
        #expect(maxAbsDiff(y.feats.toFloats(), ref) < 1e-4)
    }

    /// The hashed, threaded rulebook is exactly the naive all-pairs one.
    @Test func neighbourMapMatchesNaive() throws {
        var g = RandomGenerator(seed: 11)
        let x = try randomSparse(counts: [200, 150, 90], res: 8, channels: 1, generator: &g)
        let fast = x.neighbourMap()
        let naive = NeighbourMap.buildNaive(coords: x.coords.toInts(), count: x.count)
        #expect(fast.inputs == naive.inputs)
        #expect(fast.outputs == naive.outputs)
        #expect(fast.inputs[SubmConvKernels.centre].count == x.count)
        // Built once per coordinate set: the same object comes back, also after replacing feats.
        #expect(x.replacing(feats: x.feats * 2).neighbourMap() === fast)

        // Far from the origin the bounding grid is too large for the dense table: the hash path.
        var far = x.coords.toInts()
        for i in 0..<x.count { for a in 1...3 { far[4 * i + a] += 1000 + a } }
        let y = try SparseTensor(
            coords: Tensor(int32: far.map { Int32($0) }, shape: [x.count, 4]), feats: x.feats)
        let hashed = y.neighbourMap()
        #expect(hashed.inputs == naive.inputs)
        #expect(hashed.outputs == naive.outputs)
        // Duplicates are found on both paths.
        for base in [0, 1000] {
            let c: [Int32] = [0, 1, 2, 3, 0, 1, 2, 4, 0, 1, 2, 3].map {
                $0 == 0 ? 0 : $0 + Int32(base)
            }
            #expect(throws: LatticeError.self) {
                try SparseTensor(
                    coords: Tensor(int32: c, shape: [3, 4]), feats: Tensor(zeros: [3, 1]))
            }
        }
    }

    /// The blocked gather-GEMM-scatter kernel against its loop twin (more rows than one
    /// 256-row block, so blocking and thread ranges are exercised). Tolerance 1e-4: different
    /// summation order of ≤ 27·Cin O(1) products.
    @Test func kernelMatchesNaiveTwin() throws {
        var g = RandomGenerator(seed: 12)
        let x = try randomSparse(counts: [1500, 900], res: 14, channels: 9, generator: &g)
        let w = Tensor.randn([7, 3, 3, 3, 9], generator: &g)
        let b = Tensor.randn([7], generator: &g)
        let fast = try submanifoldConv3d(x, weight: w, bias: b).feats.toFloats()
        let naive = SubmConvKernels.forwardNaive(
            x: x.feats.toFloats(), w: w.toFloats(), bias: b.toFloats(), n: x.count, cin: 9,
            cout: 7, map: x.neighbourMap())
        #expect(maxAbsDiff(fast, naive) < 1e-4)
    }

    /// The dispatched indirect-GEMM kernel (AVX-512 where available) against its portable loop,
    /// with column tails (12, 70, 40), several 64-column blocks (130), pair counts that are not
    /// multiples of the 6-row tile, and enough pairs (100) for the AVX2 kernel's prefetch of
    /// the next block. Tolerance 1e-4: k ≤ 40 O(1) products summed in another order.
    @Test(arguments: [(9, 12, 13), (40, 64, 61), (17, 70, 6), (5, 130, 29), (23, 40, 100)])
    func indirectGemmMatchesPortableLoop(k: Int, n: Int, pairs: Int) {
        var g = RandomGenerator(seed: UInt64(k * n))
        let rows = 50
        let input = Tensor.randn([rows, k], generator: &g)
        let w = Tensor.randn([k, n + 3], generator: &g)  // ldw = n + 3: a strided weight view
        let start = Tensor.randn([rows, n], generator: &g).toFloats()
        let src = (0..<pairs).map { _ in Int32(g.next4().0 % UInt32(rows)) }
        let dst = (0..<pairs).map { _ in Int32(g.next4().0 % UInt32(rows)) }  // repeats allowed
        var fast = start
        var slow = start
        fast.withUnsafeMutableBufferPointer { o in
            lt_sparse_gather_gemm_scatter(
                input.floats, Int64(k), src, dst, Int64(pairs), w.floats, Int64(n + 3), Int64(k),
                Int64(n), o.baseAddress, Int64(n))
        }
        slow.withUnsafeMutableBufferPointer { o in
            lt_sparse_gather_gemm_scatter_portable(
                input.floats, Int64(k), src, dst, Int64(pairs), w.floats, Int64(n + 3), Int64(k),
                Int64(n), o.baseAddress, Int64(n))
        }
        #expect(maxAbsDiff(fast, slow) < 1e-4)
    }

    /// Same inputs, 1 or 2 threads: bit-identical forward and input gradient (rows sum their
    /// offsets in a fixed order whatever the split).
    @Test func threadCountDoesNotChangeBits() throws {
        var g = RandomGenerator(seed: 17)
        let x = try randomSparse(counts: [1800, 700], res: 15, channels: 20, generator: &g)
        let w = Tensor.randn([18, 3, 3, 3, 20], generator: &g)
        let gy = Tensor.randn([x.count, 18], generator: &g)
        func run(_ threads: Int) throws -> ([Float], [Float]) {
            let saved = Parallel.threadCount
            defer { Parallel.threadCount = saved }
            Parallel.threadCount = threads
            let xf = x.feats.detach().requiringGrad()
            let y = try submanifoldConv3d(x.replacing(feats: xf), weight: w, bias: nil).feats
            y.backward(gy)
            return (y.toFloats(), try #require(xf.grad).toFloats())
        }
        let one = try run(1)
        let two = try run(2)
        #expect(one.0 == two.0)
        #expect(one.1 == two.1)
    }

    /// Q1: kernel 1 multiplies by the [Cout, Cin] buffer read as [Cin, Cout], not by Wᵀ.
    @Test func kernelOneReinterpretsTheBuffer() throws {
        var g = RandomGenerator(seed: 13)
        let x = try randomSparse(counts: [20, 10], res: 5, channels: 3, generator: &g)
        let w = Tensor.randn([4, 1, 1, 1, 3], generator: &g)
        let y = try submanifoldConv3d(x, weight: w, bias: nil).feats.toFloats()
        let f = x.feats.toFloats()
        let wv = w.toFloats()
        var ref = [Float](repeating: 0, count: x.count * 4)
        for i in 0..<x.count {
            for o in 0..<4 {
                for c in 0..<3 { ref[i * 4 + o] += f[i * 3 + c] * wv[c * 4 + o] }
            }
        }
        // Tolerance 1e-5: three products of O(1) values.
        #expect(maxAbsDiff(y, ref) < 1e-5)
    }

    /// Backward of feats, weight and bias by central differences, several batch items.
    @Test func gradientsMatchFiniteDifferences() throws {
        var g = RandomGenerator(seed: 14)
        let x = try randomSparse(counts: [14, 9], res: 3, channels: 2, generator: &g)
        let w = Tensor.randn([3, 3, 3, 3, 2], generator: &g)
        let b = Tensor.randn([3], generator: &g)
        gradCheck([x.feats, w, b]) { t in
            (try? submanifoldConv3d(x.replacing(feats: t[0]), weight: t[1], bias: t[2]).feats)
                ?? Tensor(zeros: [1])
        }
        // Kernel 1 goes through matmul's rules; a transposed (non-contiguous) feats input.
        let w1 = Tensor.randn([2, 1, 1, 1, 3], generator: &g)
        let ft = Tensor.randn([3, x.count], generator: &g).transpose(0, 1)  // [N, 3] strided
        gradCheck([ft, w1]) { t in
            (try? submanifoldConv3d(x.replacing(feats: t[0]), weight: t[1], bias: nil).feats)
                ?? Tensor(zeros: [1])
        }
    }

    /// The larger backward kernels (blocked, threaded) against finite differences of a few
    /// weight entries would be slow; instead check the adjoint identity <conv(x), gy> =
    /// <x, convᵀ(gy)> on a big set. Tolerance 1e-3 relative: sums of ~1e5 float32 products.
    @Test func backwardIsTheAdjointOnLargeSets() throws {
        var g = RandomGenerator(seed: 15)
        let x = try randomSparse(counts: [2000, 1200], res: 16, channels: 6, generator: &g)
        let w = Tensor.randn([5, 3, 3, 3, 6], generator: &g).requiringGrad()
        let xf = x.feats.detach().requiringGrad()
        let y = try submanifoldConv3d(x.replacing(feats: xf), weight: w, bias: nil).feats
        let gy = Tensor.randn(y.shape, generator: &g)
        y.backward(gy)
        let lhs = zip(y.toFloats(), gy.toFloats()).reduce(0.0) { $0 + Double($1.0 * $1.1) }
        let gx = try #require(xf.grad).toFloats()
        let viaX = zip(x.feats.toFloats(), gx).reduce(0.0) { $0 + Double($1.0 * $1.1) }
        let gw = try #require(w.grad).toFloats()
        let viaW = zip(w.toFloats(), gw).reduce(0.0) { $0 + Double($1.0 * $1.1) }
        #expect(abs(lhs - viaX) <= 1e-3 * max(1, abs(lhs)))
        #expect(abs(lhs - viaW) <= 1e-3 * max(1, abs(lhs)))
    }

    /// The chunked weight-gradient kernel against a per-pair loop, on a set with more pairs per
    /// offset than one gather chunk (and odd channel counts for the tile product's tails).
    /// Tolerance 1e-3 relative to the largest entry: ~1e3 O(1) products summed in another order.
    @Test func weightGradientMatchesPairLoop() throws {
        var g = RandomGenerator(seed: 18)
        let x = try randomSparse(counts: [1700, 600], res: 14, channels: 11, generator: &g)
        let (cin, cout) = (11, 13)
        let map = x.neighbourMap()
        #expect(map.inputs[SubmConvKernels.centre].count > SubmConvKernels.gradientChunk)
        let xf = x.feats.contiguous()
        let gy = Tensor.randn([x.count, cout], generator: &g)
        let gw = Tensor(zeros: [cout, 3, 3, 3, cin])
        SubmConvKernels.weightGradient(
            gy: gy.floats, x: xf.floats, gw: gw.floats, cin: cin, cout: cout, map: map)
        let xs = xf.toFloats()
        let gs = gy.toFloats()
        var ref = [Float](repeating: 0, count: cout * 27 * cin)
        for k in 0..<27 {
            for (i, o) in zip(map.inputs[k], map.outputs[k]) {
                for a in 0..<cout {
                    for c in 0..<cin {
                        ref[(a * 27 + k) * cin + c] += gs[Int(o) * cout + a] * xs[Int(i) * cin + c]
                    }
                }
            }
        }
        let scale = ref.reduce(Float(1)) { max($0, abs($1)) }
        #expect(maxAbsDiff(gw.toFloats(), ref) < 1e-3 * scale)
    }

    /// A channel mismatch or a malformed weight is a LatticeError, not a crash.
    @Test func badWeightsThrow() throws {
        var g = RandomGenerator(seed: 16)
        let x = try randomSparse(counts: [5], res: 3, channels: 4, generator: &g)
        #expect(throws: LatticeError.self) {
            try submanifoldConv3d(x, weight: Tensor(zeros: [2, 3, 3, 3, 5]), bias: nil)
        }
        #expect(throws: LatticeError.self) {
            try submanifoldConv3d(x, weight: Tensor(zeros: [2, 3, 3, 4]), bias: nil)
        }
        #expect(throws: LatticeError.self) {
            try submanifoldConv3d(
                x, weight: Tensor(zeros: [2, 3, 3, 3, 4]), bias: Tensor(zeros: [3]))
        }
        #expect(throws: LatticeError.self) { try SparseConv3d(3, 2)(x) }
    }
}
