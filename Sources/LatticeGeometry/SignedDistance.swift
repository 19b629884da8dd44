// Ground-truth signed distance to a triangle mesh, for geometry losses (the mesh-decoder
// trainer's TSDF term). Magnitude: exact point-triangle distance to the face of the nearest of
// dense surface samples (a KD-tree), so it is exact whenever that face is the nearest face and
// otherwise over-estimates by less than the sample spacing. Sign: the winding number counted as
// signed crossings of a +z ray (faces facing +z count +1, facing -z count -1). For a union of
// closed, consistently oriented parts that count is the number of parts containing the point,
// so "inside" = "inside any part" even where parts overlap (plain ray parity would call a point
// inside two overlapping parts outside). Any non-zero count is inside, so a mesh wound the other
// way round gives the same signs.
import Foundation
import LatticeTensor

/// Signed distance (negative inside) to a closed triangle mesh or a union of closed parts.
public struct MeshSignedDistance: Sendable {
    /// One query's answer.
    public struct Sample: Sendable, Equatable {
        /// Signed distance, negative inside.
        public var distance: Float
        /// Unit gradient of the signed distance at the query (points away from the inside);
        /// the nearest face's outward normal when the query lies on the surface.
        public var gradient: SIMD3<Float>
        /// The closest surface point found.
        public var closest: SIMD3<Float>
        /// The face holding `closest`.
        public var face: Int
        /// Barycentric coordinates of `closest` in `face`.
        public var barycentric: SIMD3<Float>
    }

    public let mesh: TriangleMesh
    private let tree: KDTree
    private let sampleFaces: [Int32]
    private let faceNormal: [SIMD3<Float>]
    // The +z ray's face buckets.
    private let crossings: RayCrossingGrid

    /// Prepares queries on `mesh`: `sampleSpacing` is the target distance between the surface
    /// samples that pick the candidate face (smaller: fewer wrong picks, slower set-up).
    public init(mesh: TriangleMesh, sampleSpacing: Float, generator: inout RandomGenerator) throws {
        guard !mesh.faces.isEmpty else {
            throw LatticeError(.invalidArgument, "MeshSignedDistance: the mesh has no faces")
        }
        guard sampleSpacing > 0 else {
            throw LatticeError(
                .invalidArgument, "MeshSignedDistance: sampleSpacing \(sampleSpacing) must be > 0")
        }
        self.mesh = mesh
        let v = mesh.vertices
        let f = mesh.faces
        faceNormal = faceNormals(vertices: v, faces: f)
        // Area-weighted samples that remember their face (plus one at each centroid, so every
        // face is a candidate for queries near it).
        let areas = mesh.faceAreas
        let total = areas.reduce(0, +)
        let count = max(1000, min(4_000_000, Int(total / (sampleSpacing * sampleSpacing))))
        var cdf = [Float](repeating: 0, count: f.count)
        var acc: Float = 0
        for (i, a) in areas.enumerated() {
            acc += a
            cdf[i] = acc
        }
        let u = generator.uniform(count: 3 * count)
        var points: [SIMD3<Float>] = []
        var owners: [Int32] = []
        points.reserveCapacity(count + f.count)
        owners.reserveCapacity(count + f.count)
        for (i, t) in f.enumerated() {
            points.append((v[Int(t.x)] + v[Int(t.y)] + v[Int(t.z)]) / 3)
            owners.append(Int32(i))
        }
        for s in 0..<count where acc > 0 {
            let target = u[3 * s] * acc
            var lo = 0
            var hi = cdf.count - 1
            while lo < hi {
                let mid = (lo + hi) / 2
                if cdf[mid] < target { lo = mid + 1 } else { hi = mid }
            }
            var a = u[3 * s + 1]
            var b = u[3 * s + 2]
            if a + b > 1 {
                a = 1 - a
                b = 1 - b
            }
            let t = f[lo]
            let p0 = v[Int(t.x)]
            points.append(p0 + a * (v[Int(t.y)] - p0) + b * (v[Int(t.z)] - p0))
            owners.append(Int32(lo))
        }
        tree = KDTree(points: points)
        sampleFaces = owners

        crossings = RayCrossingGrid(vertices: v, faces: f)
    }

    /// The winding number at `p`: signed crossings of the ray from `p` towards +z. For a union
    /// of closed outward-wound parts it is the number of parts containing `p`.
    public func windingNumber(_ p: SIMD3<Float>) -> Int { crossings.count(p) }

    /// True when `p` is inside the mesh (inside any closed part).
    public func contains(_ p: SIMD3<Float>) -> Bool { windingNumber(p) != 0 }

    /// Signed distance, gradient and closest point at `p`.
    public func query(_ p: SIMD3<Float>) -> Sample {
        let (i, _) = tree.nearest(p)
        let face = Int(sampleFaces[i])
        let t = mesh.faces[face]
        let (q, bary) = Self.closestPoint(
            p, mesh.vertices[Int(t.x)], mesh.vertices[Int(t.y)], mesh.vertices[Int(t.z)])
        let d = p - q
        let len = (d * d).sum().squareRoot()
        let inside = contains(p)
        let sign: Float = inside ? -1 : 1
        var gradient = faceNormal[face]
        if len > 1e-7 { gradient = sign * d / len }
        return Sample(
            distance: sign * len, gradient: gradient, closest: q, face: face, barycentric: bary)
    }

    /// `query` over many points, in parallel; same result as the loop.
    public func query(_ points: [SIMD3<Float>]) -> [Sample] {
        var out = [Sample](
            repeating: Sample(
                distance: 0, gradient: .zero, closest: .zero, face: 0, barycentric: .zero),
            count: points.count)
        out.withUnsafeMutableBufferPointer { o in
            let base = o.baseAddress!
            Parallel.forRange(points.count, grain: 256) { range in
                for i in range { base[i] = query(points[i]) }
            }
        }
        return out
    }

    /// The mesh's vertex colour interpolated at a query's closest point (nil without colours).
    public func color(of sample: Sample) -> SIMD3<Float>? {
        guard let c = mesh.vertexColors else { return nil }
        let t = mesh.faces[sample.face]
        let b = sample.barycentric
        return b.x * c[Int(t.x)] + b.y * c[Int(t.y)] + b.z * c[Int(t.z)]
    }

    /// Closest point on triangle (a, b, c) to p and its barycentric coordinates (Ericson,
    /// Real-Time Collision Detection §5.1.5).
    public static func closestPoint(
        _ p: SIMD3<Float>, _ a: SIMD3<Float>, _ b: SIMD3<Float>, _ c: SIMD3<Float>
    ) -> (SIMD3<Float>, SIMD3<Float>) {
        func dot(_ u: SIMD3<Float>, _ v: SIMD3<Float>) -> Float { (u * v).sum() }
        let ab = b - a
        let ac = c - a
        let ap = p - a
        let d1 = dot(ab, ap)
        let d2 = dot(ac, ap)
        if d1 <= 0 && d2 <= 0 { return (a, SIMD3(1, 0, 0)) }
        let bp = p - b
        let d3 = dot(ab, bp)
        let d4 = dot(ac, bp)
        if d3 >= 0 && d4 <= d3 { return (b, SIMD3(0, 1, 0)) }
        let vc = d1 * d4 - d3 * d2
        if vc <= 0 && d1 >= 0 && d3 <= 0 {
            let v = d1 / (d1 - d3)
            return (a + v * ab, SIMD3(1 - v, v, 0))
        }
        let cp = p - c
        let d5 = dot(ab, cp)
        let d6 = dot(ac, cp)
        if d6 >= 0 && d5 <= d6 { return (c, SIMD3(0, 0, 1)) }
        let vb = d5 * d2 - d1 * d6
        if vb <= 0 && d2 >= 0 && d6 <= 0 {
            let w = d2 / (d2 - d6)
            return (a + w * ac, SIMD3(1 - w, 0, w))
        }
        let va = d3 * d6 - d5 * d4
        if va <= 0 && (d4 - d3) >= 0 && (d5 - d6) >= 0 {
            let w = (d4 - d3) / ((d4 - d3) + (d5 - d6))
            return (b + w * (c - b), SIMD3(0, 1 - w, w))
        }
        let denom = 1 / (va + vb + vc)
        let v = vb * denom
        let w = vc * denom
        return (a + ab * v + ac * w, SIMD3(1 - v - w, v, w))
    }
}
