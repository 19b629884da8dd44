// Colours from the conditioning photo. When the structure is the layered-depth prior's lifted
// surface, the generated mesh lines up with the photo under the camera the prior predicts (the
// lift puts every cell where that camera sees the photo's object), so the photo itself says what
// colour each visible part is. A model whose structured latent carries no colour (the embedded
// default's SLat decoders give every vertex 0.5 grey) gets its colours this way; a released
// TRELLIS model keeps its decoder's. Upstream bakes textures from the Gaussians' renders instead
// (`postprocessing_utils.to_glb`); this is the one-view analogue, as single-image pipelines that
// back-project their input view do.
import Foundation
import LatticeGeometry
import LatticeRender
import LatticeTensor

public enum PhotoColors {
    /// A camera as `yawPitchRadiusFovToExtrinsicsIntrinsics` gives it.
    public typealias Camera = (extrinsics: Matrix4, intrinsics: Matrix3)

    /// Camera depth (z in the camera frame) of the nearest surface of `mesh` at each pixel of a
    /// `width` × `height` view from `camera`; +∞ where no face covers the pixel.
    public static func depthBuffer(
        _ mesh: TriangleMesh, camera: Camera, width: Int, height: Int
    ) throws -> [Float] {
        let e = camera.extrinsics
        let clip = clipSpacePositions(
            mesh.vertices, extrinsics: e, intrinsics: camera.intrinsics, near: 0.01, far: 100)
        let raster = try rasterizeTriangles(
            clipPositions: clip, faces: mesh.faces, width: width, height: height)
        let z = mesh.vertices.map { e[8] * $0.x + e[9] * $0.y + e[10] * $0.z + e[11] }
        let depth = interpolateAttributes(z, channels: 1, faces: mesh.faces, raster: raster)
        return zip(raster.triangleIds, depth).map { $0 >= 0 ? $1 : .infinity }
    }

    /// The photo's colour at each point that `camera` sees: its projection falls on the photo's
    /// object (alpha ≥ 0.5) and its camera depth is within `tolerance` of the nearest surface of
    /// `mesh` there; nil for the others. `photo` is straight-alpha RGBA in [0, 1].
    public static func visibleColors(
        _ points: [SIMD3<Float>], mesh: TriangleMesh, photo: RasterImage, camera: Camera,
        tolerance: Float
    ) throws -> [SIMD3<Float>?] {
        guard photo.channels == 4, photo.width > 0, photo.height > 0 else {
            throw LatticeError(
                .invalidArgument,
                "photo colours: expected an RGBA photo, got \(photo.width)×\(photo.height)×"
                    + "\(photo.channels)")
        }
        let (w, h) = (photo.width, photo.height)
        let depth = try depthBuffer(mesh, camera: camera, width: w, height: h)
        let e = camera.extrinsics
        let k = camera.intrinsics
        return points.map { p -> SIMD3<Float>? in
            let cx = e[0] * p.x + e[1] * p.y + e[2] * p.z + e[3]
            let cy = e[4] * p.x + e[5] * p.y + e[6] * p.z + e[7]
            let cz = e[8] * p.x + e[9] * p.y + e[10] * p.z + e[11]
            guard cz > 1e-3 else { return nil }
            let x = Int(((k[0] * cx / cz + k[2]) * Float(w)).rounded(.down))
            let y = Int(((k[4] * cy / cz + k[5]) * Float(h)).rounded(.down))
            guard x >= 0, y >= 0, x < w, y < h else { return nil }
            let i = y * w + x
            guard photo.pixels[4 * i + 3] >= 0.5, cz <= depth[i] + tolerance else { return nil }
            return SIMD3(photo.pixels[4 * i], photo.pixels[4 * i + 1], photo.pixels[4 * i + 2])
        }
    }

    /// `mesh` with vertex colours from `photo`: each vertex `camera` sees takes the photo's
    /// colour, and every other vertex the colour of the nearest seen vertex along the mesh's
    /// edges (breadth-first, so the hidden side continues the visible one). Vertices of parts
    /// with no seen vertex keep their colour (or get 0.5 grey).
    public static func colored(
        _ mesh: TriangleMesh, photo: RasterImage, camera: Camera, tolerance: Float = 0.02
    ) throws -> TriangleMesh {
        let seen = try visibleColors(
            mesh.vertices, mesh: mesh, photo: photo, camera: camera, tolerance: tolerance)
        var colors =
            mesh.vertexColors ?? [SIMD3<Float>](repeating: SIMD3(repeating: 0.5), count: seen.count)
        var neighbours = [[Int32]](repeating: [], count: seen.count)
        for f in mesh.faces {
            for (a, b) in [(f.x, f.y), (f.y, f.z), (f.z, f.x)] {
                neighbours[Int(a)].append(b)
                neighbours[Int(b)].append(a)
            }
        }
        var done = [Bool](repeating: false, count: seen.count)
        var queue: [Int] = []
        for (i, c) in seen.enumerated() {
            if let c {
                colors[i] = c
                done[i] = true
                queue.append(i)
            }
        }
        var head = 0
        while head < queue.count {
            let v = queue[head]
            head += 1
            for n in neighbours[v] where !done[Int(n)] {
                done[Int(n)] = true
                colors[Int(n)] = colors[v]
                queue.append(Int(n))
            }
        }
        var out = mesh
        out.vertexColors = colors
        return out
    }

    /// Gives each Gaussian of `g` the colour of its nearest vertex of `mesh` as its degree-0
    /// coefficient (colour = 0.5 + C0 · dc, upstream's convention); higher degrees are zeroed.
    public static func recolor(_ g: Gaussian, from mesh: TriangleMesh) {
        let c0: Float = 0.28209479177387814
        let xyz = g.getXYZ.contiguous().toFloats()
        let centres = (0..<g.count).map { SIMD3(xyz[3 * $0], xyz[3 * $0 + 1], xyz[3 * $0 + 2]) }
        let colors = nearestVertexColors(centres, mesh: mesh)
        g.featuresDC = Tensor(
            colors.flatMap { [($0.x - 0.5) / c0, ($0.y - 0.5) / c0, ($0.z - 0.5) / c0] },
            shape: [colors.count, 1, 3])
        if let rest = g.featuresRest { g.featuresRest = Tensor(zeros: rest.shape) }
    }

    /// The colour of the nearest vertex of `mesh` (which has vertex colours) at each point:
    /// a uniform grid of `cell`-sized buckets, searched in growing shells.
    public static func nearestVertexColors(
        _ points: [SIMD3<Float>], mesh: TriangleMesh, cell: Float = 1.0 / 32
    ) -> [SIMD3<Float>] {
        guard let colors = mesh.vertexColors, !mesh.vertices.isEmpty else {
            return points.map { _ in SIMD3(repeating: 0.5) }
        }
        func key(_ p: SIMD3<Float>) -> SIMD3<Int32> {
            SIMD3<Int32>((p / cell).rounded(.down))
        }
        var buckets: [SIMD3<Int32>: [Int32]] = [:]
        for (i, v) in mesh.vertices.enumerated() { buckets[key(v), default: []].append(Int32(i)) }
        return points.map { p in
            let c = key(p)
            var best = (index: -1, distance: Float.infinity)
            var r: Int32 = 0
            // A vertex r + 1 shells out is at least r·cell away.
            while best.index < 0 || Float(r - 1) * cell < best.distance.squareRoot() {
                for dx in -r...r {
                    for dy in -r...r {
                        for dz in -r...r where max(abs(dx), abs(dy), abs(dz)) == r {
                            for i in buckets[c &+ SIMD3(dx, dy, dz)] ?? [] {
                                let d = mesh.vertices[Int(i)] - p
                                let d2 = (d * d).sum()
                                if d2 < best.distance { best = (Int(i), d2) }
                            }
                        }
                    }
                }
                r += 1
                if r > 64 { break }
            }
            return best.index >= 0 ? colors[best.index] : SIMD3(repeating: 0.5)
        }
    }
}
