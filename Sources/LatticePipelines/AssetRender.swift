// Turntable renders of asset files (`lattice render`): meshes (GLB/OBJ/PLY, vertex colours) with
// the mesh rasterizer and 3DGS PLYs with the Gaussian rasterizer, along TRELLIS's video path.
import Foundation
import LatticeGeometry
import LatticeIO
import LatticeRender
import LatticeTensor

/// Renders assets on disk.
public enum AssetRender {
    /// True when the PLY at `url` has the 3DGS layout (an `f_dc_0` property in its header).
    public static func isGaussianPLY(_ url: URL) -> Bool {
        guard url.pathExtension.lowercased() == "ply",
            let handle = try? FileHandle(forReadingFrom: url)
        else { return false }
        defer { try? handle.close() }
        let head = (try? handle.read(upToCount: 8192)) ?? Data()
        guard let end = head.range(of: Data("end_header".utf8)) else { return false }
        return String(decoding: head[..<end.lowerBound], as: UTF8.self).contains("f_dc_0")
    }

    /// The Gaussians of a 3DGS PLY as a rasterizer scene (activations and TRELLIS's axis
    /// transform undone, so the asset is Z-up as TRELLIS renders it).
    public static func gaussianScene(_ url: URL) throws -> GaussianScene {
        let ply = try GaussianPLY.read(from: url)
        let a = ply.activated()
        let n = ply.count
        let rest = ply.featuresRestCount / 3
        let k = 1 + rest
        var sh = [Float](repeating: 0, count: n * k * 3)
        for i in 0..<n {
            for c in 0..<3 {
                sh[(i * k) * 3 + c] = ply.featuresDC[i * 3 + c]
                for j in 0..<rest {
                    sh[(i * k + 1 + j) * 3 + c] =
                        ply.featuresRest[i * ply.featuresRestCount + c * rest + j]
                }
            }
        }
        return try GaussianScene(
            means: a.xyz, quats: a.rotations, scales: a.scales, opacities: a.opacities,
            shCoefficients: sh, shDegree: ply.shDegree)
    }

    /// A mesh file, Z-up (GLBs are Y-up and are turned back), centred on its bounding box and
    /// divided by its largest extent (upstream `run_variant`'s normalisation), then clamped to
    /// ±`clamp` when given.
    public static func mesh(_ url: URL, clamp: Float? = nil) throws -> TriangleMesh {
        var mesh =
            url.pathExtension.lowercased() == "glb"
            ? try GLB.read(url, yUpToZUp: true) : try readMesh(at: url)
        guard !mesh.isEmpty, let b = mesh.bounds else {
            throw LatticeError(.invalidFile, "\(url.path): the mesh has no faces")
        }
        let extent = max(b.max.x - b.min.x, b.max.y - b.min.y, b.max.z - b.min.z)
        guard extent > 0, extent.isFinite else {
            throw LatticeError(.invalidFile, "\(url.path): the mesh has zero or infinite extent")
        }
        let centre = (b.min + b.max) / 2
        let limit = SIMD3<Float>(repeating: clamp ?? .infinity)
        mesh.vertices = mesh.vertices.map {
            pointwiseMax(pointwiseMin(($0 - centre) / extent, limit), -limit)
        }
        return mesh
    }

    /// Turntable frames of the asset at `url`.
    public static func turntable(of url: URL, settings: TurntableSettings) throws -> [RasterImage] {
        if isGaussianPLY(url) {
            return try renderTurntable(
                try gaussianScene(url), settings: settings, splatSettings: .trellis)
        }
        return try renderTurntable(try mesh(url), settings: settings)
    }
}
