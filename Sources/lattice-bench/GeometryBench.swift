// Geometry benchmarks: sparse FlexiCubes extraction on a decoder-like set of 50k surface cubes
// at resolution 256, and quadric decimation of a ~200k-face mesh to 20k faces.
import Foundation
import LatticeGeometry
import LatticePipelines
import LatticeTensor

enum GeometryBench {
    /// The `count` cubes of a 256³ grid nearest a sphere of radius 63 around the centre, with
    /// features like the mesh decoder's: corner sdf = signed distance in cells/256 plus noise,
    /// small random deformations, weights and colours.
    static func shellFeatures(count: Int = 50_000, seed: UInt64 = 1) -> (
        coords: [SIMD3<Int32>], feats: [Float]
    ) {
        let res = 256
        let radius = 63.0
        let c = 127.5
        var cells: [(Double, Int)] = []
        for x in 0..<res {
            for y in 0..<res {
                let dxy =
                    (Double(x) + 0.5 - c) * (Double(x) + 0.5 - c)
                    + (Double(y) + 0.5 - c) * (Double(y) + 0.5 - c)
                if dxy > (radius + 3) * (radius + 3) { continue }
                for z in 0..<res {
                    let d = (dxy + (Double(z) + 0.5 - c) * (Double(z) + 0.5 - c)).squareRoot()
                    if abs(d - radius) < 3 {
                        cells.append((abs(d - radius), (x * res + y) * res + z))
                    }
                }
            }
        }
        cells.sort { $0.0 != $1.0 ? $0.0 < $1.0 : $0.1 < $1.1 }
        let chosen = cells.prefix(count).map(\.1).sorted()
        var g = RandomGenerator(seed: seed)
        let noise = g.normal(count: chosen.count * 101)
        var feats = [Float](repeating: 0, count: chosen.count * 101)
        var coords: [SIMD3<Int32>] = []
        for (i, key) in chosen.enumerated() {
            let p = SIMD3(key / (res * res), key / res % res, key % res)
            coords.append(SIMD3<Int32>(truncatingIfNeeded: p))
            for k in 0..<101 { feats[i * 101 + k] = noise[i * 101 + k] * 0.1 }
            for k in 0..<8 {
                let q = SIMD3<Double>(
                    Double(p.x + (k & 1)) - c, Double(p.y + (k >> 1) & 1) - c,
                    Double(p.z + (k >> 2) & 1) - c)
                let d = (q * q).sum().squareRoot() - radius
                feats[i * 101 + k] = Float(d / Double(res)) + noise[i * 101 + k] * 1e-3
            }
        }
        return (coords, feats)
    }

    /// A bumpy sphere from dense dual marching cubes with about `faces` faces.
    static func bumpySphere(n: Int = 200, radius: Float = 80) throws -> TriangleMesh {
        let c = Float(n - 1) / 2
        var values = [Float](repeating: 0, count: n * n * n)
        for x in 0..<n {
            for y in 0..<n {
                for z in 0..<n {
                    let d = SIMD3(Float(x), Float(y), Float(z)) - SIMD3(repeating: c)
                    let r = (d * d).sum().squareRoot()
                    let bump = 3 * sin(d.x / 7) * cos(d.y / 9) * sin(d.z / 5)
                    values[(x * n + y) * n + z] = radius + bump - r
                }
            }
        }
        var m = try marchingCubes(values: values, dims: SIMD3(n, n, n))
        m.vertexColors = m.vertices.map { $0 / Float(n) }
        return m
    }

    static let benchmarks: [Benchmark] = [
        Benchmark(
            name: "flexicubes-sparse-256-50k",
            summary: "SparseFeatures2Mesh + FlexiCubes on 50k shell cubes at res 256 (use_color)"
        ) {
            let (coords, feats) = shellFeatures()
            let extractor = SparseFeatures2Mesh(resolution: 256, useColor: true)
            var faces = 0
            ResourceUsage.resetPeakRSS()
            let before = ResourceUsage.peakRSS ?? 0
            let t = Timing.median(warmup: 1, repeats: 5) {
                faces = (try? extractor.extract(coords: coords, features: feats))?.faces.count ?? 0
            }
            let peak = (ResourceUsage.peakRSS ?? 0) - before
            return [
                BenchResult(
                    name: "flexicubes-sparse-256-50k", value: t * 1000, unit: "ms",
                    notes:
                        "\(coords.count) cubes -> \(faces) faces, \(Parallel.threadCount) threads"),
                BenchResult(
                    name: "flexicubes-sparse-256-50k-peak-rss", value: Double(peak) / 1e6,
                    unit: "MB",
                    notes: "VmHWM growth during the runs (upstream's dense grids alone: 257³×10 "
                        + "+ 256³×21 floats ≈ 2.1 GB)"),
            ]
        },
        Benchmark(
            name: "decimate-200k-to-20k",
            summary: "quadric-error decimation of a ~200k-face bumpy sphere to 20k faces"
        ) {
            let m = try bumpySphere()
            var out = 0
            let t = Timing.median(warmup: 0, repeats: 3) {
                out = m.decimated(targetFaces: 20_000).faces.count
            }
            return [
                BenchResult(
                    name: "decimate-200k-to-20k", value: t * 1000, unit: "ms",
                    notes: "\(m.faces.count) -> \(out) faces")
            ]
        },
    ]
}
