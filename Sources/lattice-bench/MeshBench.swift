// Mesh rasterization benchmarks: a 100,000-face vertex-coloured torus rendered at 512x512 with
// TRELLIS's MeshRenderer settings (near 1, far 100), without and with 4x supersampling.
import Foundation
import LatticeGeometry
import LatticeRender
import LatticeTensor

enum MeshBench {
    /// A torus of `rings` x `segments` quads (2 triangles each), major radius 0.35, minor 0.15.
    static func torus(rings: Int, segments: Int) -> TriangleMesh {
        var vertices: [SIMD3<Float>] = []
        var colors: [SIMD3<Float>] = []
        for i in 0..<rings {
            let u = 2 * Float.pi * Float(i) / Float(rings)
            for j in 0..<segments {
                let v = 2 * Float.pi * Float(j) / Float(segments)
                let rr = 0.35 + 0.15 * cos(v)
                let p = SIMD3(rr * cos(u), rr * sin(u), 0.15 * sin(v))
                vertices.append(p)
                colors.append(SIMD3(0.5 + p.x, 0.5 + p.y, 0.5 + 3 * p.z))
            }
        }
        var faces: [SIMD3<Int32>] = []
        for i in 0..<rings {
            for j in 0..<segments {
                let a = Int32(i * segments + j)
                let b = Int32(i * segments + (j + 1) % segments)
                let c = Int32(((i + 1) % rings) * segments + j)
                let d = Int32(((i + 1) % rings) * segments + (j + 1) % segments)
                faces.append(SIMD3(a, c, d))
                faces.append(SIMD3(a, d, b))
            }
        }
        return TriangleMesh(vertices: vertices, faces: faces, vertexColors: colors)
    }

    static func run() throws -> [BenchResult] {
        let mesh = torus(rings: 250, segments: 200)  // 100,000 faces
        let (e, k) = try yawPitchRadiusFovToExtrinsicsIntrinsics(
            yaw: 0.5, pitch: 0.3, radius: 2, fovDegrees: 40)
        var results: [BenchResult] = []
        for ssaa in [1, 4] {
            let settings = MeshRenderSettings(width: 512, height: 512, ssaa: ssaa)
            var covered = 0
            let full = Timing.median(warmup: 1, repeats: 5) {
                if let r = try? renderMesh(mesh, extrinsics: e, intrinsics: k, settings: settings) {
                    covered = r.raster.triangleIds.filter { $0 >= 0 }.count
                }
            }
            let clip = clipSpacePositions(
                mesh.vertices, extrinsics: e, intrinsics: k, near: 1, far: 100)
            let raster = Timing.median(warmup: 1, repeats: 5) {
                _ = try? rasterizeTriangles(
                    clipPositions: clip, faces: mesh.faces, width: 512 * ssaa,
                    height: 512 * ssaa)
            }
            results.append(
                BenchResult(
                    name: "mesh-raster-100k-512x512-ssaa\(ssaa)", value: full * 1e3, unit: "ms",
                    notes: String(
                        format:
                            "renderMesh (mask, depth, normals, colours, filter); rasterize alone %.1f ms; %d of %d samples covered; threads %d",
                        raster * 1e3, covered, 512 * 512 * ssaa * ssaa, Parallel.threadCount)))
        }
        return results
    }

    static let benchmarks: [Benchmark] = [
        Benchmark(
            name: "mesh-raster-100k-512x512",
            summary:
                "Mesh rasterization + TRELLIS MeshRenderer outputs, 100k faces, 512x512, ssaa 1 and 4",
            run: { try run() })
    ]
}
