// Surface voxelization: the fast per-triangle voxelizer against its brute-force twin, the
// separating-axis predicate on hand cases, and voxel counts of spheres against surface area.
import Foundation
import LatticeGeometry
import LatticeTensor
import Testing

@Suite struct VoxelizeTests {
    /// A UV sphere of radius `r` (not closed at the seam for simplicity; surface area ~ 4πr²).
    static func sphere(radius r: Float, segments n: Int, centre: SIMD3<Float> = .zero)
        -> TriangleMesh
    {
        var v: [SIMD3<Float>] = []
        let rings = n / 2
        for i in 0...rings {
            let theta = Float.pi * Float(i) / Float(rings)
            for j in 0..<n {
                let phi = 2 * Float.pi * Float(j) / Float(n)
                v.append(
                    centre + r * SIMD3(sin(theta) * cos(phi), sin(theta) * sin(phi), cos(theta)))
            }
        }
        var f: [SIMD3<Int32>] = []
        for i in 0..<rings {
            for j in 0..<n {
                let a = Int32(i * n + j)
                let b = Int32(i * n + (j + 1) % n)
                let c = Int32((i + 1) * n + (j + 1) % n)
                let d = Int32((i + 1) * n + j)
                f += [SIMD3(a, d, c), SIMD3(a, c, b)]
            }
        }
        return TriangleMesh(vertices: v, faces: f)
    }

    @Test func fastMatchesBruteForceOnRandomTriangles() {
        var rng = RandomGenerator(seed: 7)
        // Vertices slightly outside the cube too, so the clamp is exercised.
        let u: [Float] = rng.uniform(count: 3 * 3 * 60).map { $0 * 1.1 - 0.55 }
        var verts: [SIMD3<Float>] = []
        for i in 0..<(3 * 60) {
            let p = SIMD3<Float>(u[3 * i], u[3 * i + 1], u[3 * i + 2])
            // Mix large triangles with tiny ones (smaller than a voxel).
            if i % 6 > 3 {
                let anchor = verts[i - i % 3]
                verts.append(anchor + (p - anchor) * 0.02)
            } else {
                verts.append(p)
            }
        }
        var faces: [SIMD3<Int32>] = []
        for t in 0..<60 {
            let k = Int32(3 * t)
            faces.append(SIMD3<Int32>(k, k + 1, k + 2))
        }
        let mesh = TriangleMesh(vertices: verts, faces: faces)
        for r in [8, 17] {
            let fast = Voxelizer.voxelizeSurface(mesh, resolution: r)
            let naive = Voxelizer.voxelizeSurfaceNaive(mesh, resolution: r)
            // Exact: both evaluate the same per-(voxel, triangle) predicate.
            #expect(fast == naive)
            #expect(!fast.isEmpty)
        }
    }

    @Test func fastMatchesBruteForceOnSphere() {
        let mesh = Self.sphere(radius: 0.37, segments: 24, centre: [0.01, -0.02, 0.03])
        let fast = Voxelizer.voxelizeSurface(mesh, resolution: 20)
        let naive = Voxelizer.voxelizeSurfaceNaive(mesh, resolution: 20)
        #expect(fast == naive)
        #expect(fast == fast.sorted { ($0.x, $0.y, $0.z) < ($1.x, $1.y, $1.z) })
    }

    @Test func sphereVoxelCountTracksArea() {
        // A random plane crosses on average (mean caliper width of a cube, 1.5h)/h³ = 1.5/h²
        // cells per unit area, so a sphere of radius r gives ~1.5·4πr²·R² voxels. Curvature and
        // lattice alignment move this by a few percent at these sizes; 10% is a safe band that
        // still catches off-by-one centre or scale errors (which change the count by 2x-8x).
        for (radius, r) in [(Float(0.4), 64), (Float(0.25), 48)] {
            let mesh = Self.sphere(radius: radius, segments: 96)
            let count = Voxelizer.voxelizeSurface(mesh, resolution: r).count
            let expected = 1.5 * 4 * Double.pi * Double(radius * radius) * Double(r * r)
            #expect(abs(Double(count) / expected - 1) < 0.10, "count \(count) vs \(expected)")
        }
    }

    @Test func boxPredicateHandCases() {
        let c = SIMD3<Double>(0, 0, 0)
        // Triangle far away.
        #expect(
            !Voxelizer.triangleBoxOverlap(
                centre: c, halfSize: 0.5, [2, 2, 2], [3, 2, 2], [2, 3, 2]))
        // Triangle through the centre.
        #expect(
            Voxelizer.triangleBoxOverlap(
                centre: c, halfSize: 0.5, [-1, -1, 0], [1, -1, 0], [0, 2, 0]))
        // Triangle exactly touching a face counts (closed boxes, as open3d).
        #expect(
            Voxelizer.triangleBoxOverlap(
                centre: c, halfSize: 0.5, [0.5, -1, -1], [0.5, 1, -1], [0.5, 0, 2]))
    }

    @Test func predicateAgreesWithPointSamples() {
        // One-way independent check: whenever a barycentric sample of the triangle lies inside
        // the box, the separating-axis test must report overlap; and random pairs give both
        // outcomes, so the check is not vacuous.
        var rng = RandomGenerator(seed: 3)
        var hits = 0
        var misses = 0
        for _ in 0..<400 {
            let u = rng.uniform(count: 9).map { Double($0) * 3 - 1.5 }
            let (a, b, c) = (
                SIMD3(u[0], u[1], u[2]), SIMD3(u[3], u[4], u[5]), SIMD3(u[6], u[7], u[8])
            )
            let overlap = Voxelizer.triangleBoxOverlap(centre: .zero, halfSize: 0.5, a, b, c)
            var inside = false
            for i in 0...24 {
                for j in 0...(24 - i) {
                    let p = a + (b - a) * (Double(i) / 24) + (c - a) * (Double(j) / 24)
                    if abs(p.x) < 0.5 && abs(p.y) < 0.5 && abs(p.z) < 0.5 { inside = true }
                }
            }
            if inside { #expect(overlap) }
            if overlap { hits += 1 } else { misses += 1 }
        }
        #expect(hits > 20 && misses > 20)
    }

    @Test func centresAndOccupancy() {
        let coords: [SIMD3<Int32>] = [[0, 0, 0], [63, 1, 2]]
        let centres = Voxelizer.voxelCentres(coords, resolution: 64)
        #expect(centres[0] == SIMD3<Float>(repeating: 0.5 / 64 - 0.5))
        let occ = Voxelizer.occupancy(coords, resolution: 64)
        #expect(occ.shape == [1, 64, 64, 64])
        #expect(occ.toFloats().reduce(0, +) == 2)
        #expect(occ.toFloats()[(63 * 64 + 1) * 64 + 2] == 1)
    }
}
