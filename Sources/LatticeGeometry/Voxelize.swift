// Surface voxelization of triangle meshes as TRELLIS's data toolkit does it
// (TRELLIS@6b0d647 dataset_toolkits/voxelize.py): vertices clamped to ±(0.5 - 1e-6), then
// open3d `VoxelGrid.create_from_triangle_mesh_within_bounds(mesh, 1/R, (-0.5)³, (0.5)³)`:
// voxel (i, j, k) of the R³ grid is kept iff its closed box, centred at -0.5 + (i + 0.5)/R with
// half size 1/(2R), overlaps at least one triangle under the Akenine-Möller separating-axis test
// (evaluated in Double, touching counts as overlap).
//
// `voxelizeSurface` visits only the voxels near each triangle's bounds; `voxelizeSurfaceNaive`
// is the brute-force twin (every voxel against every triangle, as open3d loops). Both evaluate
// the same per-pair predicate, so they agree exactly.
import LatticeTensor

/// Surface voxelization of triangle meshes on the TRELLIS grid over [-0.5, 0.5]³.
public enum Voxelizer {
    /// The clamp the TRELLIS toolkit applies to vertices before voxelizing.
    public static let vertexClamp = 0.5 - 1e-6

    /// Grid indices (x, y, z), sorted lexicographically, of the voxels of an R³ grid over
    /// [-0.5, 0.5]³ whose boxes touch a triangle of `mesh` (TRELLIS toolkit semantics).
    public static func voxelizeSurface(_ mesh: TriangleMesh, resolution: Int = 64) -> [SIMD3<Int32>]
    {
        precondition(resolution > 0, "voxelizeSurface: resolution \(resolution)")
        let r = resolution
        let size = 1.0 / Double(r)
        let half = size / 2
        let verts = clampedVertices(mesh)
        var occupied = [Bool](repeating: false, count: r * r * r)
        for f in mesh.faces {
            let (a, b, c) = (verts[Int(f.x)], verts[Int(f.y)], verts[Int(f.z)])
            let lo = pointwiseMin(a, pointwiseMin(b, c))
            let hi = pointwiseMax(a, pointwiseMax(b, c))
            // A box can pass the per-axis test only if its centre lies within `half` of the
            // triangle's extent; one extra cell on each side absorbs rounding in the division.
            var first = SIMD3<Int>.zero
            var last = SIMD3<Int>.zero
            for axis in 0..<3 {
                first[axis] = max(0, Int(((lo[axis] + 0.5) / size).rounded(.down)) - 1)
                last[axis] = min(r - 1, Int(((hi[axis] + 0.5) / size).rounded(.down)) + 1)
            }
            if first.x > last.x || first.y > last.y || first.z > last.z { continue }
            for i in first.x...last.x {
                for j in first.y...last.y {
                    for k in first.z...last.z where !occupied[(i * r + j) * r + k] {
                        let centre = voxelCentre(i, j, k, size: size)
                        if triangleBoxOverlap(centre: centre, halfSize: half, a, b, c) {
                            occupied[(i * r + j) * r + k] = true
                        }
                    }
                }
            }
        }
        return indices(of: occupied, resolution: r)
    }

    /// Brute-force twin of `voxelizeSurface`: every voxel against every triangle, in open3d's
    /// loop order. O(R³·T); for tests.
    public static func voxelizeSurfaceNaive(_ mesh: TriangleMesh, resolution: Int = 64)
        -> [SIMD3<Int32>]
    {
        let r = resolution
        let size = 1.0 / Double(r)
        let verts = clampedVertices(mesh)
        var occupied = [Bool](repeating: false, count: r * r * r)
        for i in 0..<r {
            for j in 0..<r {
                for k in 0..<r {
                    let centre = voxelCentre(i, j, k, size: size)
                    for f in mesh.faces {
                        let (a, b, c) = (verts[Int(f.x)], verts[Int(f.y)], verts[Int(f.z)])
                        if triangleBoxOverlap(centre: centre, halfSize: size / 2, a, b, c) {
                            occupied[(i * r + j) * r + k] = true
                            break
                        }
                    }
                }
            }
        }
        return indices(of: occupied, resolution: r)
    }

    /// World-space centres (i + 0.5)/R - 0.5 of grid indices, as the toolkit saves them.
    public static func voxelCentres(_ coords: [SIMD3<Int32>], resolution: Int = 64)
        -> [SIMD3<Float>]
    {
        coords.map { c in
            (SIMD3<Float>(Float(c.x), Float(c.y), Float(c.z)) + 0.5) / Float(resolution) - 0.5
        }
    }

    /// A dense float32 occupancy grid [1, R, R, R] (1 at each coordinate), as TRELLIS's
    /// `SparseStructure` dataset builds `ss`.
    public static func occupancy(_ coords: [SIMD3<Int32>], resolution: Int) -> Tensor {
        let r = resolution
        var grid = [Float](repeating: 0, count: r * r * r)
        for c in coords { grid[(Int(c.x) * r + Int(c.y)) * r + Int(c.z)] = 1 }
        return Tensor(grid, shape: [1, r, r, r])  // [1, R, R, R]
    }

    // MARK: Internals

    private static func clampedVertices(_ mesh: TriangleMesh) -> [SIMD3<Double>] {
        mesh.vertices.map { v in
            let d = SIMD3<Double>(Double(v.x), Double(v.y), Double(v.z))
            return pointwiseMin(
                pointwiseMax(d, SIMD3(repeating: -vertexClamp)), SIMD3(repeating: vertexClamp))
        }
    }

    @inline(__always)
    private static func voxelCentre(_ i: Int, _ j: Int, _ k: Int, size: Double) -> SIMD3<Double> {
        // open3d: min_bound + box_half_size + index·voxel_size, in that association order.
        let base = -0.5 + size / 2
        return SIMD3(base + Double(i) * size, base + Double(j) * size, base + Double(k) * size)
    }

    private static func indices(of occupied: [Bool], resolution r: Int) -> [SIMD3<Int32>] {
        var out: [SIMD3<Int32>] = []
        for i in 0..<r {
            for j in 0..<r {
                for k in 0..<r where occupied[(i * r + j) * r + k] {
                    out.append(SIMD3(Int32(i), Int32(j), Int32(k)))
                }
            }
        }
        return out
    }

    /// Akenine-Möller triangle/box overlap (separating axes: the 9 edge × box-axis crosses,
    /// the 3 box axes, the triangle plane). Boundary contact counts as overlap.
    public static func triangleBoxOverlap(
        centre: SIMD3<Double>, halfSize h: Double, _ a: SIMD3<Double>, _ b: SIMD3<Double>,
        _ c: SIMD3<Double>
    ) -> Bool {
        let v0 = a - centre
        let v1 = b - centre
        let v2 = c - centre
        // Edge axes: for edge e, axis (box axis) × e. Two of the three projections coincide in
        // exact arithmetic; like the reference test, project the two vertices not on the edge
        // pair that differ (for e0: v0, v2; e1: v0, v2 for x/y and v0, v1 for z, ...).
        for n in 0..<3 {
            let e = n == 0 ? v1 - v0 : (n == 1 ? v2 - v1 : v0 - v2)
            let f = SIMD3<Double>(abs(e.x), abs(e.y), abs(e.z))
            // X axis: p = e.z·v.y - e.y·v.z
            let (xa, xb) = n == 2 ? (v0, v1) : (v0, v2)
            if separated(e.z * xa.y - e.y * xa.z, e.z * xb.y - e.y * xb.z, f.z * h + f.y * h) {
                return false
            }
            // Y axis: p = -e.z·v.x + e.x·v.z
            let (ya, yb) = n == 2 ? (v0, v1) : (v0, v2)
            if separated(-e.z * ya.x + e.x * ya.z, -e.z * yb.x + e.x * yb.z, f.z * h + f.x * h) {
                return false
            }
            // Z axis: p = e.y·v.x - e.x·v.y
            let (za, zb) = n == 1 ? (v0, v1) : (v1, v2)
            if separated(e.y * za.x - e.x * za.y, e.y * zb.x - e.x * zb.y, f.y * h + f.x * h) {
                return false
            }
        }
        for axis in 0..<3 {
            let lo = min(v0[axis], min(v1[axis], v2[axis]))
            let hi = max(v0[axis], max(v1[axis], v2[axis]))
            if lo > h || hi < -h { return false }
        }
        let e0 = v1 - v0
        let e1 = v2 - v1
        let normal = SIMD3<Double>(
            e0.y * e1.z - e0.z * e1.y, e0.z * e1.x - e0.x * e1.z, e0.x * e1.y - e0.y * e1.x)
        return planeBoxOverlap(normal: normal, vertex: v0, halfSize: h)
    }

    @inline(__always)
    private static func separated(_ p: Double, _ q: Double, _ rad: Double) -> Bool {
        min(p, q) > rad || max(p, q) < -rad
    }

    private static func planeBoxOverlap(
        normal: SIMD3<Double>, vertex v: SIMD3<Double>, halfSize h: Double
    )
        -> Bool
    {
        var vmin = SIMD3<Double>.zero
        var vmax = SIMD3<Double>.zero
        for q in 0..<3 {
            if normal[q] > 0 {
                vmin[q] = -h - v[q]
                vmax[q] = h - v[q]
            } else {
                vmin[q] = h - v[q]
                vmax[q] = -h - v[q]
            }
        }
        let dmin = normal.x * vmin.x + normal.y * vmin.y + normal.z * vmin.z
        if dmin > 0 { return false }
        let dmax = normal.x * vmax.x + normal.y * vmax.y + normal.z * vmax.z
        return dmax >= 0
    }
}
