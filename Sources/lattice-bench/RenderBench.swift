// Gaussian splatting benchmarks: 100,000 random Gaussians rendered at 512x512, forward and
// backward (gsplat 1.5.3 semantics; one camera, SH degree 3).
import Foundation
import LatticeGeometry
import LatticeRender
import LatticeTensor

enum RenderBench {
    /// A random scene of `n` Gaussians in [-0.6, 0.6]^3 and an orbit camera at radius 2.5.
    static func scene(_ n: Int) throws -> (GaussianScene, [SplatCamera]) {
        var state: UInt64 = 2024
        func next() -> Float {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return Float(state >> 40) / Float(1 << 24)
        }
        let k = 16
        let scene = try GaussianScene(
            means: (0..<(n * 3)).map { _ in next() * 1.2 - 0.6 },
            quats: (0..<(n * 4)).map { _ in next() * 2 - 1 },
            scales: (0..<(n * 3)).map { _ in 0.002 + 0.02 * next() },
            opacities: (0..<n).map { _ in 0.05 + 0.9 * next() },
            shCoefficients: (0..<(n * k * 3)).map { _ in next() - 0.5 }, shDegree: 3)
        let (e, _) = try yawPitchRadiusFovToExtrinsicsIntrinsics(
            yaw: 0.5, pitch: 0.3, radius: 2.5, fovDegrees: 40)
        let f = Float(256 / tan(20 * Double.pi / 180))
        let camera = try SplatCamera(
            viewmat: e, k: [f, 0, 256, 0, f, 256, 0, 0, 1], width: 512, height: 512)
        return (scene, [camera])
    }

    static func run() throws -> [BenchResult] {
        let (scene, cameras) = try scene(100_000)
        var render = try rasterizeGaussians(scene, cameras: cameras)
        let forward = Timing.median(warmup: 1, repeats: 5) {
            if let r = try? rasterizeGaussians(scene, cameras: cameras) { render = r }
        }
        let grad = [Float](repeating: 1, count: 512 * 512 * 3)
        let backward = Timing.median(warmup: 1, repeats: 5) {
            _ = rasterizeGaussiansBackward(scene, cameras: cameras, render: render, gradRGB: grad)
        }
        // Stage split of the forward pass: binning and compositing alone.
        let r = render
        let binning = Timing.median(warmup: 0, repeats: 3) {
            _ = intersectTiles(
                means2d: r.means2d, radii: r.radii, depths: r.depths, cameras: 1,
                count: scene.count, tileSize: 16, tileWidth: 32, tileHeight: 32)
        }
        let compositing = Timing.median(warmup: 0, repeats: 3) {
            _ = rasterizeToPixels(r.raster, tiles: r.tiles)
        }
        let compositingNoCull = Timing.median(warmup: 0, repeats: 3) {
            _ = rasterizeToPixels(r.raster, tiles: r.tiles, cullPerTile: false)
        }
        let compositingBackward = Timing.median(warmup: 0, repeats: 3) {
            _ = rasterizeToPixelsBackward(
                r.raster, tiles: r.tiles, gradRGB: grad, gradAlpha: nil, gradDepth: nil)
        }
        let backwardNotes = String(
            format: "compositing backward %.0f ms of it", compositingBackward * 1e3)
        let notes =
            "\(render.tiles.flattenIds.count) tile intersections, threads \(Parallel.threadCount); "
            + String(
                format: "binning %.0f ms, compositing %.0f ms (%.0f ms without per-tile culling)",
                binning * 1e3, compositing * 1e3, compositingNoCull * 1e3)
        return [
            BenchResult(
                name: "splat-forward-100k-512x512", value: forward * 1e3, unit: "ms", notes: notes),
            BenchResult(
                name: "splat-backward-100k-512x512", value: backward * 1e3, unit: "ms",
                notes: backwardNotes
            ),
        ]
    }

    static let benchmarks: [Benchmark] = [
        Benchmark(
            name: "splat-100k-512x512",
            summary: "Gaussian splatting forward and backward, 100k Gaussians, SH 3, 512x512",
            run: { try run() })
    ]
}
