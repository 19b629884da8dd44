// Sparse engine benchmarks: submanifold conv and its neighbour map on the 20k-voxel sphere
// shell of baselines.md, and full / shifted-window sparse attention against SDPA on the same
// tokens in the same run.
import Foundation
import LatticeModels

enum SparseBench {
    /// The `count` voxels of a 64³ grid nearest the sphere of radius 28 around the centre
    /// (baselines.md's "shell" set), one batch item, in (x, y, z) order.
    static func shell(count: Int = 20_000, channels: Int, seed: UInt64 = 1) throws -> SparseTensor {
        var cells: [(Double, Int)] = []
        for x in 0..<64 {
            for y in 0..<64 {
                for z in 0..<64 {
                    let d =
                        ((Double(x) - 31.5) * (Double(x) - 31.5) + (Double(y) - 31.5)
                        * (Double(y) - 31.5)
                        + (Double(z) - 31.5) * (Double(z) - 31.5)).squareRoot()
                    cells.append((abs(d - 28), (x * 64 + y) * 64 + z))
                }
            }
        }
        cells.sort { $0.0 != $1.0 ? $0.0 < $1.0 : $0.1 < $1.1 }
        let chosen = cells.prefix(count).map(\.1).sorted()
        var coords: [Int32] = []
        for c in chosen { coords += [0, Int32(c / 4096), Int32(c / 64 % 64), Int32(c % 64)] }
        var g = RandomGenerator(seed: seed)
        return try SparseTensor(
            coords: Tensor(int32: coords, shape: [count, 4]),
            feats: Tensor.randn([count, channels], generator: &g))
    }

    static let benchmarks: [Benchmark] = [
        Benchmark(
            name: "subm-conv3-64x64-20k",
            summary:
                "submanifold conv 3x3x3 C64->64 on 20k shell voxels: forward, and neighbour-map build"
        ) {
            let x = try shell(channels: 64)
            var g = RandomGenerator(seed: 2)
            let w = Tensor.randn([64, 3, 3, 3, 64], generator: &g) * 0.02
            let b = Tensor.randn([64], generator: &g)
            let map = x.neighbourMap()
            var sink = 0
            let build = Timing.median(warmup: 1, repeats: 7) {
                sink &+= NeighbourMap.build(for: x).pairCount
            }
            let fwd = Timing.median(warmup: 1, repeats: 7) {
                withNoGrad { sink &+= (try? submanifoldConv3d(x, weight: w, bias: b))?.count ?? 0 }
            }
            let flops = 2.0 * Double(map.pairCount) * 64 * 64
            // Forward + backward (feats and weight gradients).
            let gy = Tensor.randn([x.count, 64], generator: &g)
            let fb = Timing.median(warmup: 1, repeats: 3) {
                let xf = x.feats.detach().requiringGrad()
                let wg = w.detach().requiringGrad()
                if let y = try? submanifoldConv3d(x.replacing(feats: xf), weight: wg, bias: b) {
                    y.feats.backward(gy)
                }
            }
            let fbx = Timing.median(warmup: 1, repeats: 3) {
                let xf = x.feats.detach().requiringGrad()
                if let y = try? submanifoldConv3d(x.replacing(feats: xf), weight: w, bias: nil) {
                    y.feats.backward(gy)
                }
            }
            // Same-run yardstick: one contiguous GEMM with the same multiply-adds.
            let a = Tensor.randn([map.pairCount, 64], generator: &g)
            let c = Tensor(empty: [map.pairCount, 64])
            let wm = w.reshape([64, 27 * 64]).slice(1, 0, 64).contiguous()
            let gemm = Timing.median(warmup: 1, repeats: 7) {
                Gemm.sgemm(
                    transB: true, m: map.pairCount, n: 64, k: 64, a: a.floats, lda: 64,
                    b: wm.floats, ldb: 64, c: c.floats, ldc: 64)
            }
            let note =
                "\(map.pairCount) pairs (\(String(format: "%.1f", Double(map.pairCount) / 2e4)) per voxel), "
                + "\(String(format: "%.0f", flops / fwd * 1e-9)) GFLOPS; a plain GEMM with the same FLOPs "
                + "took \(String(format: "%.1f", gemm * 1e3)) ms in this run; sink \(sink % 2)"
            return [
                BenchResult(
                    name: "subm-conv3-64x64-20k", value: fwd * 1e3, unit: "ms",
                    baseline: "PyTorch gather-GEMM-scatter (baselines.md)", baselineValue: 25,
                    notes: note),
                BenchResult(
                    name: "subm-conv3-64x64-20k-fwd-bwd", value: fb * 1e3, unit: "ms",
                    notes:
                        "forward + backward to feats and weight (feats only: \(String(format: "%.1f", fbx * 1e3)) ms)"
                ),
                BenchResult(
                    name: "subm-neighbour-map-20k", value: build * 1e3, unit: "ms",
                    baseline: "PyTorch dense 64³ lookup table (baselines.md)", baselineValue: 7.9,
                    notes: "coordinate index (dense 64³ table here) + 27-offset rulebook, uncached"),
            ]
        },
        Benchmark(
            name: "sparse-attn-full-8192-h16d64",
            summary: "full sparse self-attention, one item of 8192 tokens, 16 heads x 64, vs SDPA"
        ) {
            var g = RandomGenerator(seed: 3)
            let x = try shell(count: 8192, channels: 1)
            let q = Tensor.randn([8192, 16, 64], generator: &g)
            let k = Tensor.randn([8192, 16, 64], generator: &g)
            let v = Tensor.randn([8192, 16, 64], generator: &g)
            let t = Timing.median(warmup: 0, repeats: 1) {
                _ = withNoGrad { sparseFullAttention(x, q: q, k: k, v: v) }
            }
            let (qd, kd, vd) = (
                q.permute([1, 0, 2]).unsqueeze(0), k.permute([1, 0, 2]).unsqueeze(0),
                v.permute([1, 0, 2]).unsqueeze(0)
            )  // [1, 16, 8192, 64] views
            let ref = Timing.median(warmup: 0, repeats: 1) {
                _ = withNoGrad { scaledDotProductAttention(qd, kd, vd) }
            }
            return [
                BenchResult(
                    name: "sparse-attn-full-8192-h16d64", value: t * 1e3, unit: "ms",
                    baseline: "scaledDotProductAttention on the same tokens, same run",
                    baselineValue: ref * 1e3)
            ]
        },
        Benchmark(
            name: "sparse-attn-swin8-20k-h16d64",
            summary:
                "shifted-window (8, shift 4) attention on 20k shell voxels, 16 heads x 64, vs one SDPA per window"
        ) {
            var g = RandomGenerator(seed: 4)
            let x = try shell(channels: 1)
            let q = Tensor.randn([x.count, 16, 64], generator: &g)
            let k = Tensor.randn([x.count, 16, 64], generator: &g)
            let v = Tensor.randn([x.count, 16, 64], generator: &g)
            let p = x.windowPartition(windowSize: 8, shift: 4)
            let t = Timing.median(warmup: 1, repeats: 3) {
                _ = withNoGrad {
                    sparseWindowedAttention(x, q: q, k: k, v: v, windowSize: 8, shift: 4)
                }
            }
            // Upstream's sdpa backend: gather each window and run one SDPA on it.
            let order = Tensor(int32: p.order, shape: [x.count])
            let cu = p.cuSeqlens
            let ref = Timing.median(warmup: 1, repeats: 3) {
                withNoGrad {
                    let (qs, ks, vs) = (
                        q.indexSelect(axis: 0, index: order), k.indexSelect(axis: 0, index: order),
                        v.indexSelect(axis: 0, index: order)
                    )
                    for w in 0..<(cu.count - 1) {
                        let f = { (t: Tensor) in
                            t.slice(0, cu[w], cu[w + 1]).permute([1, 0, 2]).unsqueeze(0)
                        }  // [1, 16, n, 64]
                        _ = scaledDotProductAttention(f(qs), f(ks), f(vs))
                    }
                }
            }
            return [
                BenchResult(
                    name: "sparse-attn-swin8-20k-h16d64", value: t * 1e3, unit: "ms",
                    baseline: "one scaledDotProductAttention per window, same run",
                    baselineValue: ref * 1e3,
                    notes: "\(p.seqLens.count) windows, longest \(p.seqLens.max() ?? 0)")
            ]
        },
    ]
}
