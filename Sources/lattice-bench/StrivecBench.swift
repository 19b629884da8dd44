// Strivec radiance-field rendering (TRELLIS octree renderer, diffoctreerast trivec semantics):
// 20k depth-6 voxels on the sphere shell of baselines.md with the RF decoder's rank 16, dim 8,
// one orbit camera at r = 2, fov 40°: forward at 512² (ssaa 1 and upstream's ssaa 4) and
// forward + backward.
import Foundation
import LatticeGeometry
import LatticeRender
import LatticeTensor

enum StrivecBench {
    /// The shell voxels as a decoded-looking field: trivec 1 + 0.3 n, density 10 + 2 n per rank
    /// (about 90% opacity per voxel crossed), colour features n.
    static func field(count: Int = 20_000) throws -> Strivec {
        let shell = try SparseBench.shell(count: count, channels: 1)
        let coords = shell.coords.toFloats()  // [N, 4] b, x, y, z
        let (rank, dim) = (16, 8)
        let f = try Strivec(
            resolution: 64, aabb: [-0.5, -0.5, -0.5, 1, 1, 1], rank: rank, dim: dim)
        var g = RandomGenerator(seed: 5)
        f.position = Tensor(
            (0..<count).flatMap { i in (1...3).map { (coords[4 * i + $0] + 0.5) / 64 } },
            shape: [count, 3])  // [N, 3]
        f.depth = Tensor(int32: [Int32](repeating: 6, count: count), shape: [count, 1])
        f.trivec = Tensor(
            g.normal(count: count * rank * 3 * dim).map { 1 + 0.3 * $0 },
            shape: [count, rank, 3, dim])
        f.density = Tensor(g.normal(count: count * rank).map { 10 + 2 * $0 }, shape: [count, rank])
        f.featuresDC = Tensor.randn([count, rank, 1, 3], generator: &g)
        return f
    }

    static let benchmarks: [Benchmark] = [
        Benchmark(
            name: "strivec-render-20k-512",
            summary:
                "Strivec render, 20k voxels rank 16 dim 8, 512² (ssaa 1 and 4), fwd and fwd+bwd"
        ) {
            let f = try field()
            let (e, k) = try yawPitchRadiusFovToExtrinsicsIntrinsics(
                yaw: 0.5, pitch: 0.3, radius: 2, fovDegrees: 40)
            var settings = StrivecRenderSettings(ssaa: 1)
            var coverage: Float = 0
            let fwd = Timing.median(warmup: 1, repeats: 5) {
                if let r = try? renderStrivec(f, extrinsics: e, intrinsics: k, settings: settings) {
                    coverage = r.alpha.pixels.reduce(0, +) / Float(512 * 512)
                }
            }
            settings.ssaa = 4
            let ssaa4 = Timing.median(warmup: 0, repeats: 1) {
                _ = try? renderStrivec(f, extrinsics: e, intrinsics: k, settings: settings)
            }
            settings.ssaa = 1
            let fb = Timing.median(warmup: 0, repeats: 3) {
                f.trivec = f.trivec.detach().requiringGrad()
                f.density = f.density.detach().requiringGrad()
                f.featuresDC = f.featuresDC.detach().requiringGrad()
                if let r = try? renderStrivecTensors(
                    f, extrinsics: e, intrinsics: k, settings: settings)
                {
                    (r.rgb.sum() + r.alpha.sum()).backward()
                }
            }
            return [
                BenchResult(
                    name: "strivec-render-20k-512", value: fwd * 1e3, unit: "ms",
                    notes: String(format: "forward, ssaa 1; mean alpha %.2f", coverage)),
                BenchResult(
                    name: "strivec-render-20k-512-ssaa4", value: ssaa4 * 1e3, unit: "ms",
                    notes: "forward at upstream's render_utils default: 2048² rays, filtered down"),
                BenchResult(
                    name: "strivec-render-20k-512-fwd-bwd", value: fb * 1e3, unit: "ms",
                    notes: "forward + backward to trivec, density, features_dc (ssaa 1)"),
            ]
        }
    ]
}
