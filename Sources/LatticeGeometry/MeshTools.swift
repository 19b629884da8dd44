// Mesh utilities on `TriangleMesh`: normals, duplicate-vertex merging, small-component removal,
// area-weighted surface sampling and quadric-error decimation (Garland & Heckbert 1997).
import Foundation
import LatticeTensor

/// Unit normal per face, normalize(cross(v1 - v0, v2 - v0)) with torch's 1e-12 norm floor.
public func faceNormals(vertices: [SIMD3<Float>], faces: [SIMD3<Int32>]) -> [SIMD3<Float>] {
    faces.map { f in
        let v0 = vertices[Int(f.x)]
        let n = cross(vertices[Int(f.y)] - v0, vertices[Int(f.z)] - v0)
        return n / max((n * n).sum().squareRoot(), 1e-12)
    }
}

@inline(__always) func cross(_ a: SIMD3<Double>, _ b: SIMD3<Double>) -> SIMD3<Double> {
    SIMD3(a.y * b.z - a.z * b.y, a.z * b.x - a.x * b.z, a.x * b.y - a.y * b.x)
}
@inline(__always) func length(_ a: SIMD3<Float>) -> Float { (a * a).sum().squareRoot() }

/// A sample of points on a mesh surface.
public struct SurfaceSamples: Sendable {
    /// Sampled points.
    public var points: [SIMD3<Float>]
    /// The unit normal of the face each point lies on.
    public var normals: [SIMD3<Float>]
    /// Barycentrically interpolated vertex colours, when the mesh has them.
    public var colors: [SIMD3<Float>]?
}

extension TriangleMesh {
    /// Unit normal per face (zero-area faces give a zero vector).
    public var faceNormals: [SIMD3<Float>] {
        LatticeGeometry.faceNormals(vertices: vertices, faces: faces)
    }

    /// Area-weighted unit normal per vertex (sum of unnormalised face normals, then normalised).
    public func computeVertexNormals() -> [SIMD3<Float>] {
        var acc = [SIMD3<Float>](repeating: .zero, count: vertices.count)
        for f in faces {
            let v0 = vertices[Int(f.x)]
            let n = cross(vertices[Int(f.y)] - v0, vertices[Int(f.z)] - v0)
            for k in 0..<3 { acc[Int(f[k])] += n }
        }
        return acc.map { $0 / max(length($0), 1e-12) }
    }

    /// Face areas.
    public var faceAreas: [Float] {
        faces.map { f in
            let v0 = vertices[Int(f.x)]
            return 0.5 * length(cross(vertices[Int(f.y)] - v0, vertices[Int(f.z)] - v0))
        }
    }

    /// Keeps the vertices in `keep` (old index -> new index, -1 = drop) and the faces whose
    /// corners all survive; attributes follow their vertices.
    func reindexed(vertexMap: [Int32], newCount: Int, faces newFaces: [SIMD3<Int32>])
        -> TriangleMesh
    {
        func gather<T>(_ a: [T]?) -> [T]? {
            guard let a else { return nil }
            var out = [T?](repeating: nil, count: newCount)
            for (old, new) in vertexMap.enumerated() where new >= 0 && out[Int(new)] == nil {
                out[Int(new)] = a[old]
            }
            return out.map { $0! }
        }
        var m = TriangleMesh(
            vertices: gather(vertices) ?? [], faces: newFaces, vertexColors: gather(vertexColors),
            vertexNormals: gather(vertexNormals), uvs: gather(uvs), texture: texture)
        if newCount == 0 { m.vertices = [] }
        return m
    }

    /// Merges vertices closer than `tolerance` (0: bit-identical positions; otherwise positions
    /// snapped to a `tolerance` grid, so near-duplicates straddling a cell boundary may stay
    /// apart), drops faces that become degenerate and vertices no face uses. The first
    /// vertex of each cluster keeps its attributes.
    public func mergingDuplicateVertices(tolerance: Float = 0) -> TriangleMesh {
        var firstOf: [SIMD3<Int64>: Int32] = [:]
        var map = [Int32](repeating: -1, count: vertices.count)
        for (i, v) in vertices.enumerated() {
            let key: SIMD3<Int64>
            if tolerance > 0 {
                let q = (v / tolerance).rounded(.toNearestOrEven)
                key = SIMD3(Int64(q.x), Int64(q.y), Int64(q.z))
            } else {
                // +0 and -0 compare equal but differ in bits: normalise them.
                let w = v + SIMD3<Float>.zero
                key = SIMD3(
                    Int64(w.x.bitPattern), Int64(w.y.bitPattern), Int64(w.z.bitPattern))
            }
            if let f = firstOf[key] {
                map[i] = f
            } else {
                firstOf[key] = Int32(i)
                map[i] = Int32(i)
            }
        }
        let merged = faces.compactMap { f -> SIMD3<Int32>? in
            let g = SIMD3(map[Int(f.x)], map[Int(f.y)], map[Int(f.z)])
            return g.x == g.y || g.y == g.z || g.x == g.z ? nil : g
        }
        return TriangleMesh(
            vertices: vertices, faces: merged, vertexColors: vertexColors,
            vertexNormals: vertexNormals, uvs: uvs, texture: texture
        ).removingUnusedVertices()
    }

    /// Drops vertices that no face references, keeping the others in order.
    public func removingUnusedVertices() -> TriangleMesh {
        var map = [Int32](repeating: -1, count: vertices.count)
        for f in faces { for k in 0..<3 { map[Int(f[k])] = 0 } }
        var n: Int32 = 0
        for i in map.indices where map[i] == 0 {
            map[i] = n
            n += 1
        }
        let newFaces = faces.map { SIMD3(map[Int($0.x)], map[Int($0.y)], map[Int($0.z)]) }
        return reindexed(vertexMap: map, newCount: Int(n), faces: newFaces)
    }

    /// Connected component (faces sharing a vertex) of each face, numbered from 0.
    public func faceComponents() -> (labels: [Int32], count: Int) {
        var parent = Array(0..<Int32(vertices.count))
        func find(_ x: Int32) -> Int32 {
            var x = x
            while parent[Int(x)] != x {
                parent[Int(x)] = parent[Int(parent[Int(x)])]
                x = parent[Int(x)]
            }
            return x
        }
        for f in faces {
            let a = find(f.x)
            let b = find(f.y)
            let c = find(f.z)
            parent[Int(b)] = a
            parent[Int(c)] = a
        }
        var label = [Int32](repeating: -1, count: vertices.count)
        var count: Int32 = 0
        let labels = faces.map { f -> Int32 in
            let root = Int(find(f.x))
            if label[root] < 0 {
                label[root] = count
                count += 1
            }
            return label[root]
        }
        return (labels, Int(count))
    }

    /// Removes connected pieces with fewer than `minFaces` faces or less than
    /// `minAreaFraction` of the total area, then unused vertices.
    public func removingSmallComponents(minFaces: Int = 0, minAreaFraction: Float = 0)
        -> TriangleMesh
    {
        let (labels, count) = faceComponents()
        var faceCount = [Int](repeating: 0, count: count)
        var area = [Double](repeating: 0, count: count)
        let areas = faceAreas
        for (i, l) in labels.enumerated() {
            faceCount[Int(l)] += 1
            area[Int(l)] += Double(areas[i])
        }
        let total = area.reduce(0, +)
        let keep = (0..<count).map {
            faceCount[$0] >= minFaces && area[$0] >= Double(minAreaFraction) * total
        }
        var m = self
        m.faces = faces.indices.filter { keep[Int(labels[$0])] }.map { faces[$0] }
        return m.removingUnusedVertices()
    }

    /// `count` points uniformly distributed over the surface (faces picked by area, uniform
    /// barycentric coordinates inside), with face normals and, if present, vertex colours.
    public func sampleSurface(count: Int, generator: inout RandomGenerator) -> SurfaceSamples {
        sampleSurfaceFaces(count: count, generator: &generator).samples
    }

    /// `sampleSurface` with the face of each point.
    func sampleSurfaceFaces(count: Int, generator: inout RandomGenerator) -> (
        samples: SurfaceSamples, faces: [Int]
    ) {
        let areas = faceAreas
        var cdf = [Double](repeating: 0, count: areas.count)
        var acc = 0.0
        for (i, a) in areas.enumerated() {
            acc += Double(a)
            cdf[i] = acc
        }
        guard acc > 0, count > 0 else {
            return (
                SurfaceSamples(points: [], normals: [], colors: vertexColors == nil ? nil : []), []
            )
        }
        let normals = faceNormals
        let u = generator.uniform(count: 3 * count)
        var points = [SIMD3<Float>](repeating: .zero, count: count)
        var pointNormals = [SIMD3<Float>](repeating: .zero, count: count)
        var colors: [SIMD3<Float>]? = vertexColors == nil ? nil : []
        var sampledFaces = [Int](repeating: 0, count: count)
        for s in 0..<count {
            let target = Double(u[3 * s]) * acc
            var lo = 0
            var hi = cdf.count - 1
            while lo < hi {
                let mid = (lo + hi) / 2
                if cdf[mid] <= target { lo = mid + 1 } else { hi = mid }
            }
            let f = faces[lo]
            // Square-root warp makes (b0, b1, b2) uniform over the triangle.
            let r1 = u[3 * s + 1].squareRoot()
            let r2 = u[3 * s + 2]
            let b0 = 1 - r1
            let b1 = r1 * (1 - r2)
            let b2 = r1 * r2
            points[s] =
                vertices[Int(f.x)] * b0 + vertices[Int(f.y)] * b1 + vertices[Int(f.z)] * b2
            pointNormals[s] = normals[lo]
            sampledFaces[s] = lo
            if let vc = vertexColors {
                colors?.append(vc[Int(f.x)] * b0 + vc[Int(f.y)] * b1 + vc[Int(f.z)] * b2)
            }
        }
        return (
            SurfaceSamples(points: points, normals: pointNormals, colors: colors), sampledFaces
        )
    }
}

// MARK: quadric-error decimation

/// A symmetric 4×4 error quadric, stored as its 10 upper-triangle entries (no heap storage:
/// decimation copies and adds millions of them).
struct Quadric {
    var m = SIMD8<Double>.zero  // a00 a01 a02 a03 a11 a12 a13 a22
    var t = SIMD2<Double>.zero  // a23 a33

    init() {}

    /// The quadric of the plane n·x + d = 0, scaled by `weight`.
    init(plane n: SIMD3<Double>, d: Double, weight: Double) {
        m =
            SIMD8(
                n.x * n.x, n.x * n.y, n.x * n.z, n.x * d, n.y * n.y, n.y * n.z, n.y * d, n.z * n.z)
            * weight
        t = SIMD2(n.z * d, d * d) * weight
    }

    static func += (l: inout Quadric, r: Quadric) {
        l.m += r.m
        l.t += r.t
    }

    static func + (l: Quadric, r: Quadric) -> Quadric {
        var q = l
        q += r
        return q
    }

    func error(_ p: SIMD3<Double>) -> Double {
        let (x, y, z) = (p.x, p.y, p.z)
        let a = m
        return a[0] * x * x + 2 * a[1] * x * y + 2 * a[2] * x * z + 2 * a[3] * x + a[4] * y * y
            + 2 * a[5] * y * z + 2 * a[6] * y + a[7] * z * z + 2 * t[0] * z + t[1]
    }

    /// The minimiser of the error, or nil when the 3×3 system is near singular.
    func optimum() -> SIMD3<Double>? {
        let (m00, m01, m02, m11, m12, m22) = (m[0], m[1], m[2], m[4], m[5], m[7])
        let det =
            m00 * (m11 * m22 - m12 * m12) - m01 * (m01 * m22 - m12 * m02)
            + m02 * (m01 * m12 - m11 * m02)
        let scale = max(abs(m00), abs(m11), abs(m22), 1e-30)
        if abs(det) < 1e-10 * scale * scale * scale { return nil }
        let b = SIMD3(-m[3], -m[6], -t[0])
        // Inverse of the symmetric 3×3 block by cofactors.
        let inv00 = (m11 * m22 - m12 * m12) / det
        let inv01 = (m02 * m12 - m01 * m22) / det
        let inv02 = (m01 * m12 - m02 * m11) / det
        let inv11 = (m00 * m22 - m02 * m02) / det
        let inv12 = (m02 * m01 - m00 * m12) / det
        let inv22 = (m00 * m11 - m01 * m01) / det
        return SIMD3(
            inv00 * b.x + inv01 * b.y + inv02 * b.z, inv01 * b.x + inv11 * b.y + inv12 * b.z,
            inv02 * b.x + inv12 * b.y + inv22 * b.z)
    }
}

/// A binary min-heap of candidate collapses.
struct CollapseHeap {
    struct Entry {
        var cost: Double
        var u: Int32
        var v: Int32
        var stampU: Int32
        var stampV: Int32
    }
    var items: [Entry] = []

    mutating func push(_ e: Entry) {
        items.append(e)
        var i = items.count - 1
        while i > 0 {
            let p = (i - 1) / 2
            if items[p].cost <= items[i].cost { break }
            items.swapAt(p, i)
            i = p
        }
    }

    mutating func pop() -> Entry? {
        guard let top = items.first else { return nil }
        let last = items.removeLast()
        if !items.isEmpty {
            items[0] = last
            var i = 0
            while true {
                let l = 2 * i + 1
                let r = l + 1
                var m = i
                if l < items.count, items[l].cost < items[m].cost { m = l }
                if r < items.count, items[r].cost < items[m].cost { m = r }
                if m == i { break }
                items.swapAt(m, i)
                i = m
            }
        }
        return top
    }
}

extension TriangleMesh {
    /// Simplifies to at most `targetFaces` faces by quadric-error edge collapses (Garland &
    /// Heckbert): each vertex carries the summed plane quadrics of its faces; boundary edges
    /// add heavily weighted perpendicular planes (`boundaryWeight`) so open borders stay put;
    /// collapses that flip a face or break the link condition are refused. Vertex colours are
    /// interpolated along the collapsed edge; normals and UVs are dropped. Stops early when no
    /// valid collapse is left.
    public func decimated(targetFaces: Int, boundaryWeight: Double = 1000) -> TriangleMesh {
        let base = mergingDuplicateVertices()
        if base.faces.count <= targetFaces { return base }
        let nv = base.vertices.count
        var pos = base.vertices.map { SIMD3<Double>(Double($0.x), Double($0.y), Double($0.z)) }
        var colors = base.vertexColors
        var faces = base.faces
        var faceAlive = [Bool](repeating: true, count: faces.count)
        var vertexFaces = [[Int32]](repeating: [], count: nv)
        for (i, f) in faces.enumerated() {
            for k in 0..<3 { vertexFaces[Int(f[k])].append(Int32(i)) }
        }
        var quadrics = [Quadric](repeating: Quadric(), count: nv)
        // Edge -> face count, to find boundary edges.
        var edgeFaces: [Int: Int] = [:]
        @inline(__always) func edgeKey(_ a: Int32, _ b: Int32) -> Int {
            Int(min(a, b)) * nv + Int(max(a, b))
        }
        for f in faces {
            let p0 = pos[Int(f.x)]
            let n = cross(pos[Int(f.y)] - p0, pos[Int(f.z)] - p0)
            let len = (n * n).sum().squareRoot()
            if len > 0 {
                let unit = n / len
                // Area-weighted plane quadric.
                let q = Quadric(plane: unit, d: -(unit * p0).sum(), weight: len / 2)
                for k in 0..<3 { quadrics[Int(f[k])] += q }
            }
            for k in 0..<3 { edgeFaces[edgeKey(f[k], f[(k + 1) % 3]), default: 0] += 1 }
        }
        for f in faces {
            let p0 = pos[Int(f.x)]
            let n = cross(pos[Int(f.y)] - p0, pos[Int(f.z)] - p0)
            for k in 0..<3 where edgeFaces[edgeKey(f[k], f[(k + 1) % 3])] == 1 {
                let a = pos[Int(f[k])]
                let e = pos[Int(f[(k + 1) % 3])] - a
                var perp = cross(e, n)
                let len = (perp * perp).sum().squareRoot()
                guard len > 0 else { continue }
                perp /= len
                let q = Quadric(
                    plane: perp, d: -(perp * a).sum(), weight: boundaryWeight * (e * e).sum())
                quadrics[Int(f[k])] += q
                quadrics[Int(f[(k + 1) % 3])] += q
            }
        }

        var stamp = [Int32](repeating: 0, count: nv)
        var alive = [Bool](repeating: true, count: nv)
        var heap = CollapseHeap()
        func target(_ u: Int32, _ v: Int32) -> (SIMD3<Double>, Double) {
            let q = quadrics[Int(u)] + quadrics[Int(v)]
            let pu = pos[Int(u)]
            let pv = pos[Int(v)]
            var best = pu
            var bestCost = q.error(pu)
            func consider(_ p: SIMD3<Double>) {
                let c = q.error(p)
                if c < bestCost {
                    best = p
                    bestCost = c
                }
            }
            consider(pv)
            consider((pu + pv) / 2)
            if let o = q.optimum() { consider(o) }
            return (best, max(bestCost, 0))
        }
        func pushEdge(_ u: Int32, _ v: Int32) {
            let (_, c) = target(u, v)
            heap.push(.init(cost: c, u: u, v: v, stampU: stamp[Int(u)], stampV: stamp[Int(v)]))
        }
        for key in edgeFaces.keys.sorted() {
            pushEdge(Int32(key / nv), Int32(key % nv))
        }

        func neighbours(_ u: Int32) -> [Int32] {
            var s: [Int32] = []
            for fi in vertexFaces[Int(u)] where faceAlive[Int(fi)] {
                let f = faces[Int(fi)]
                for k in 0..<3 where f[k] != u && !s.contains(f[k]) { s.append(f[k]) }
            }
            return s
        }

        var faceCount = faces.count
        while faceCount > targetFaces, let e = heap.pop() {
            let (u, v) = (e.u, e.v)
            guard alive[Int(u)], alive[Int(v)], stamp[Int(u)] == e.stampU,
                stamp[Int(v)] == e.stampV
            else { continue }
            let fu = vertexFaces[Int(u)].filter { faceAlive[Int($0)] }
            let fv = vertexFaces[Int(v)].filter { faceAlive[Int($0)] }
            let shared = fu.filter { fv.contains($0) }
            if shared.isEmpty { continue }
            // Link condition: the only common neighbours are the shared faces' third corners.
            let nu = neighbours(u)
            if neighbours(v).filter({ nu.contains($0) }).count != shared.count { continue }
            let (p, _) = target(u, v)
            // Refuse collapses that flip or squash a surviving face.
            var ok = true
            for fi in fu + fv where !shared.contains(fi) {
                let f = faces[Int(fi)]
                let b0 = pos[Int(f.x)]
                let b1 = pos[Int(f.y)]
                let b2 = pos[Int(f.z)]
                let a0 = f.x == u || f.x == v ? p : b0
                let a1 = f.y == u || f.y == v ? p : b1
                let a2 = f.z == u || f.z == v ? p : b2
                let n0 = cross(b1 - b0, b2 - b0)
                let n1 = cross(a1 - a0, a2 - a0)
                let l0 = (n0 * n0).sum().squareRoot()
                let l1 = (n1 * n1).sum().squareRoot()
                if (n0 * n1).sum() <= 0.2 * l0 * l1 || l1 <= 1e-12 * l0 {
                    ok = false
                    break
                }
            }
            if !ok { continue }
            if colors != nil {
                let pu = pos[Int(u)]
                let d = pos[Int(v)] - pu
                let dd = (d * d).sum()
                let t = dd > 0 ? Float(min(max(((p - pu) * d).sum() / dd, 0), 1)) : 0
                // In place: binding the optional to a local would copy the whole array.
                colors![Int(u)] = colors![Int(u)] * (1 - t) + colors![Int(v)] * t
            }
            pos[Int(u)] = p
            quadrics[Int(u)] += quadrics[Int(v)]
            alive[Int(v)] = false
            for fi in shared {
                faceAlive[Int(fi)] = false
                faceCount -= 1
            }
            for fi in fv where !shared.contains(fi) {
                var f = faces[Int(fi)]
                for k in 0..<3 where f[k] == v { f[k] = u }
                faces[Int(fi)] = f
            }
            vertexFaces[Int(u)] = (fu + fv).filter { faceAlive[Int($0)] }
            vertexFaces[Int(v)] = []
            stamp[Int(u)] += 1
            // Only edges at u changed cost; older entries for them now carry a stale stamp.
            for w in neighbours(u).sorted() { pushEdge(u, w) }
        }

        var out = TriangleMesh(
            vertices: pos.map { SIMD3<Float>(Float($0.x), Float($0.y), Float($0.z)) },
            faces: faces.indices.filter { faceAlive[$0] }.map { faces[$0] },
            vertexColors: colors)
        out.texture = nil
        return out.removingUnusedVertices()
    }
}
