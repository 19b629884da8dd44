// The surface of the solid a mesh of overlapping closed parts bounds. A union of closed parts
// (the procedural "merged" shapes, or any asset modelled as intersecting pieces) has faces
// inside other parts: no render ever shows them and they are not the shape's surface, but
// sampling every face puts points on them, so a reconstruction that is exactly the solid loses
// recall (two spheres each half inside the other: a third of the samples lie inside). Samples
// are kept where no other part contains them: the winding count of the other parts (signed
// crossings of a +z ray, as `MeshSignedDistance` counts) is zero.
import Foundation
import LatticeTensor

/// Signed crossings of the +z ray from a point with a mesh's faces (+1 for a face facing +z,
/// −1 for one facing −z), from a g×g grid of face buckets over the mesh's xy bounds: for a
/// union of closed outward-wound parts, how many parts contain the point (`MeshSignedDistance`'s
/// winding number). With part labels, one part can be left out.
struct RayCrossingGrid: Sendable {
    let vertices: [SIMD3<Float>]
    let faces: [SIMD3<Int32>]
    /// Part of each face (only needed to leave a part out).
    let labels: [Int32]?
    let gridMin: SIMD2<Float>
    let gridCell: SIMD2<Float>
    let gridSize: Int
    let bucketStart: [Int32]
    let bucketFaces: [Int32]

    /// Buckets each face in every cell its xy bounding box touches.
    init(vertices: [SIMD3<Float>], faces: [SIMD3<Int32>], labels: [Int32]? = nil) {
        self.vertices = vertices
        self.faces = faces
        self.labels = labels
        var lo = SIMD2<Float>(repeating: .infinity)
        var hi = SIMD2<Float>(repeating: -.infinity)
        for p in vertices {
            lo = pointwiseMin(lo, SIMD2(p.x, p.y))
            hi = pointwiseMax(hi, SIMD2(p.x, p.y))
        }
        let g = max(1, min(512, Int(Float(faces.count).squareRoot())))
        gridSize = g
        gridMin = lo
        gridCell = pointwiseMax((hi - lo) / Float(g), SIMD2(repeating: 1e-12))
        var cells = [[Int32]](repeating: [], count: g * g)
        for (i, t) in faces.enumerated() {
            let a = vertices[Int(t.x)]
            let b = vertices[Int(t.y)]
            let c = vertices[Int(t.z)]
            let mn = pointwiseMin(pointwiseMin(SIMD2(a.x, a.y), SIMD2(b.x, b.y)), SIMD2(c.x, c.y))
            let mx = pointwiseMax(pointwiseMax(SIMD2(a.x, a.y), SIMD2(b.x, b.y)), SIMD2(c.x, c.y))
            let c0 = Self.cell(mn, lo, gridCell, g)
            let c1 = Self.cell(mx, lo, gridCell, g)
            for x in c0.x...c1.x {
                for y in c0.y...c1.y { cells[x * g + y].append(Int32(i)) }
            }
        }
        var start: [Int32] = [0]
        var flat: [Int32] = []
        for c in cells {
            flat += c
            start.append(Int32(flat.count))
        }
        bucketStart = start
        bucketFaces = flat
    }

    static func cell(
        _ p: SIMD2<Float>, _ lo: SIMD2<Float>, _ size: SIMD2<Float>, _ g: Int
    ) -> SIMD2<Int> {
        let q = (p - lo) / size
        return SIMD2(
            min(g - 1, max(0, Int(q.x.rounded(.down)))), min(g - 1, max(0, Int(q.y.rounded(.down))))
        )
    }

    /// Signed crossings of the +z ray from `p` with the faces of every part but `part` (all
    /// faces without one).
    func count(_ p: SIMD3<Float>, excluding part: Int32? = nil) -> Int {
        // A fixed sub-micro offset keeps the ray off the edges and vertices that procedural and
        // grid-aligned meshes put exactly on lattice lines.
        let x = p.x + 3.1e-7
        let y = p.y + 1.7e-7
        let q = SIMD2<Float>(x, y)
        if q.x < gridMin.x || q.y < gridMin.y { return 0 }
        let hi = gridMin + gridCell * Float(gridSize)
        if q.x > hi.x || q.y > hi.y { return 0 }
        let c = Self.cell(q, gridMin, gridCell, gridSize)
        let b = c.x * gridSize + c.y
        var w = 0
        for k in Int(bucketStart[b])..<Int(bucketStart[b + 1]) {
            let f = Int(bucketFaces[k])
            if let part, let labels, labels[f] == part { continue }
            let t = faces[f]
            let a = vertices[Int(t.x)]
            let bb = vertices[Int(t.y)]
            let cc = vertices[Int(t.z)]
            let area = (bb.x - a.x) * (cc.y - a.y) - (cc.x - a.x) * (bb.y - a.y)
            if area == 0 { continue }
            let w0 = (bb.x - x) * (cc.y - y) - (cc.x - x) * (bb.y - y)
            let w1 = (cc.x - x) * (a.y - y) - (a.x - x) * (cc.y - y)
            let w2 = (a.x - x) * (bb.y - y) - (bb.x - x) * (a.y - y)
            let inside =
                area > 0 ? (w0 >= 0 && w1 >= 0 && w2 >= 0) : (w0 <= 0 && w1 <= 0 && w2 <= 0)
            guard inside else { continue }
            let z = (w0 * a.z + w1 * bb.z + w2 * cc.z) / area
            if z > p.z { w += area > 0 ? 1 : -1 }
        }
        return w
    }
}

extension TriangleMesh {
    /// Parts of the mesh: faces connected through shared vertex positions (bit-identical, so a
    /// part stored with split vertices, e.g. flat-shaded, is still one part), numbered from 0.
    public func positionComponents() -> (labels: [Int32], count: Int) {
        var firstOf: [SIMD3<UInt32>: Int32] = [:]
        var canonical = [Int32](repeating: 0, count: vertices.count)
        for (i, v) in vertices.enumerated() {
            let w = v + SIMD3<Float>.zero  // +0 and -0 alike
            let key = SIMD3(w.x.bitPattern, w.y.bitPattern, w.z.bitPattern)
            if let f = firstOf[key] {
                canonical[i] = f
            } else {
                firstOf[key] = Int32(i)
                canonical[i] = Int32(i)
            }
        }
        var welded = self
        welded.faces = faces.map {
            SIMD3(canonical[Int($0.x)], canonical[Int($0.y)], canonical[Int($0.z)])
        }
        return welded.faceComponents()
    }

    /// `count` points uniformly distributed over the outer surface: `sampleSurface`'s points
    /// with those inside another part (see the file comment) left out, drawing more until
    /// `count` remain. A mesh of one part samples exactly as `sampleSurface`. Deterministic in
    /// the generator.
    public func sampleOuterSurface(count: Int, generator: inout RandomGenerator) -> SurfaceSamples {
        let (labels, parts) = positionComponents()
        guard parts > 1 else { return sampleSurface(count: count, generator: &generator) }
        let counter = RayCrossingGrid(vertices: vertices, faces: faces, labels: labels)
        var out = SurfaceSamples(points: [], normals: [], colors: vertexColors == nil ? nil : [])
        var draw = count
        // Enough rounds for any mesh whose outer surface is over 1% of its area; a mesh with
        // less (almost all inside itself) returns what it found.
        for _ in 0..<8 where out.points.count < count {
            let (s, f) = sampleSurfaceFaces(count: draw, generator: &generator)
            var keep = [Bool](repeating: false, count: s.points.count)
            keep.withUnsafeMutableBufferPointer { k in
                let base = k.baseAddress!
                Parallel.forRange(s.points.count, grain: 512) { range in
                    for i in range {
                        base[i] = counter.count(s.points[i], excluding: labels[f[i]]) == 0
                    }
                }
            }
            let kept = keep.filter { $0 }.count
            for i in s.points.indices where keep[i] && out.points.count < count {
                out.points.append(s.points[i])
                out.normals.append(s.normals[i])
                if let c = s.colors { out.colors?.append(c[i]) }
            }
            let fraction = max(Double(kept) / Double(max(draw, 1)), 0.01)
            draw = Int((Double(count - out.points.count) / fraction * 1.1).rounded(.up)) + 16
        }
        return out
    }
}
