// Procedural training shapes: seeded coloured primitives (sphere, box, torus, cylinder, cone)
// and compositions of them (stacked along +Z, or merged as overlapping parts), each a closed
// triangle mesh per part with vertex colours, normalised like TRELLIS's data toolkit (unit max
// extent, centred at the origin, so the shape lies in [-0.5, 0.5]³).
import Foundation
import LatticeGeometry
import LatticeTensor

/// Seeded generator of coloured procedural meshes for SS VAE / flow training.
public struct ProceduralShapes: Sendable {
    /// The primitive kinds.
    public enum Primitive: String, Sendable, CaseIterable, Codable {
        case sphere, box, torus, cylinder, cone
    }

    /// How a shape is assembled.
    public enum Kind: String, Sendable, Codable {
        /// One primitive.
        case single
        /// Two or three primitives stacked along +Z.
        case stacked
        /// Two to four overlapping primitives (a union of closed parts).
        case merged
    }

    /// A generated shape with the recipe that made it.
    public struct Shape: Sendable {
        /// The normalised mesh (vertex colours set).
        public var mesh: TriangleMesh
        /// How it was assembled.
        public var kind: Kind
        /// Its parts, in order.
        public var parts: [Primitive]
    }

    /// Seed of the whole family; shape `i` depends only on (seed, i).
    public let seed: UInt64
    /// Tessellation density (segments around a circle); 24 gives ~1k triangles per part.
    public let segments: Int

    public init(seed: UInt64, segments: Int = 24) {
        precondition(segments >= 4, "ProceduralShapes: segments \(segments) < 4")
        self.seed = seed
        self.segments = segments
    }

    /// Shape number `index` (deterministic in seed and index, independent of other indices).
    public func shape(_ index: Int) -> Shape {
        var rng = Uniform(seed: seed &* 0x9E37_79B9_7F4A_7C15 &+ UInt64(index) &+ 1)
        let roll = rng.next()
        let kind: Kind = roll < 0.4 ? .single : (roll < 0.7 ? .stacked : .merged)
        var mesh = TriangleMesh(vertices: [], faces: [], vertexColors: [])
        var parts: [Primitive] = []
        switch kind {
        case .single:
            let p = randomPrimitive(&rng)
            parts = [p]
            append(&mesh, part(p, &rng, rotate: true))
        case .stacked:
            var z: Float = 0
            for _ in 0..<(2 + Int(rng.next() * 2)) {
                let p = randomPrimitive(&rng)
                parts.append(p)
                // Upright parts so the stack reads as a stack.
                var m = part(p, &rng, rotate: false)
                guard let b = m.bounds else { continue }
                let shift = SIMD3<Float>(
                    rng.range(-0.15, 0.15), rng.range(-0.15, 0.15), z - b.min.z)
                for i in m.vertices.indices { m.vertices[i] += shift }
                // Overlap a little so the parts touch.
                z += (b.max.z - b.min.z) * 0.9
                append(&mesh, m)
            }
        case .merged:
            for _ in 0..<(2 + Int(rng.next() * 3)) {
                let p = randomPrimitive(&rng)
                parts.append(p)
                var m = part(p, &rng, rotate: true)
                let shift = SIMD3<Float>(
                    rng.range(-0.5, 0.5), rng.range(-0.5, 0.5), rng.range(-0.5, 0.5))
                for i in m.vertices.indices { m.vertices[i] += shift }
                append(&mesh, m)
            }
        }
        return Shape(mesh: Self.normalized(mesh), kind: kind, parts: parts)
    }

    /// Scales `mesh` to unit max extent and centres its bounds at the origin (Blender scene
    /// normalisation in TRELLIS's render step).
    public static func normalized(_ mesh: TriangleMesh) -> TriangleMesh {
        guard let b = mesh.bounds else { return mesh }
        let extent = (b.max - b.min).max()
        guard extent > 0 else { return mesh }
        let centre = (b.max + b.min) / 2
        var out = mesh
        out.vertices = mesh.vertices.map { ($0 - centre) / extent }
        return out
    }

    // MARK: Parts

    private func randomPrimitive(_ rng: inout Uniform) -> Primitive {
        let all = Primitive.allCases
        return all[min(all.count - 1, Int(rng.next() * Float(all.count)))]
    }

    /// One primitive with random proportions, optional random rotation, and one colour.
    private func part(_ p: Primitive, _ rng: inout Uniform, rotate: Bool) -> TriangleMesh {
        let n = segments
        var m: TriangleMesh
        switch p {
        case .sphere:
            m = Self.ellipsoid(
                radii: SIMD3(rng.range(0.3, 0.6), rng.range(0.3, 0.6), rng.range(0.3, 0.6)),
                segments: n)
        case .box:
            m = Self.box(
                size: SIMD3(rng.range(0.3, 1), rng.range(0.3, 1), rng.range(0.3, 1)),
                subdivisions: max(1, n / 6))
        case .torus:
            let major = rng.range(0.3, 0.5)
            m = Self.torus(major: major, minor: major * rng.range(0.2, 0.5), segments: n)
        case .cylinder:
            m = Self.frustum(
                bottom: rng.range(0.15, 0.45), top: nil, height: rng.range(0.3, 1), segments: n)
        case .cone:
            m = Self.frustum(
                bottom: rng.range(0.2, 0.5), top: 0, height: rng.range(0.3, 1), segments: n)
        }
        if rotate {
            let r = Self.rotation(
                yaw: rng.range(0, 2 * .pi), pitch: rng.range(0, 2 * .pi),
                roll: rng.range(0, 2 * .pi))
            m.vertices = m.vertices.map { r.0 * $0.x + r.1 * $0.y + r.2 * $0.z }
        }
        let colour = SIMD3<Float>(rng.next(), rng.next(), rng.next())
        m.vertexColors = [SIMD3<Float>](repeating: colour, count: m.vertices.count)
        return m
    }

    private func append(_ mesh: inout TriangleMesh, _ part: TriangleMesh) {
        let base = Int32(mesh.vertices.count)
        mesh.vertices += part.vertices
        mesh.faces += part.faces.map { $0 &+ SIMD3(repeating: base) }
        mesh.vertexColors = (mesh.vertexColors ?? []) + (part.vertexColors ?? [])
    }

    // MARK: Primitive meshes (closed, outward counter-clockwise faces)

    /// A UV ellipsoid centred at the origin with `segments` longitudes and segments/2 latitudes.
    public static func ellipsoid(radii: SIMD3<Float>, segments n: Int) -> TriangleMesh {
        let rings = max(2, n / 2)
        var v: [SIMD3<Float>] = [SIMD3(0, 0, -radii.z)]
        for i in 1..<rings {
            let theta = Float.pi * Float(i) / Float(rings) - .pi / 2
            for j in 0..<n {
                let phi = 2 * Float.pi * Float(j) / Float(n)
                v.append(
                    radii * SIMD3(cos(theta) * cos(phi), cos(theta) * sin(phi), sin(theta)))
            }
        }
        v.append(SIMD3(0, 0, radii.z))
        var f: [SIMD3<Int32>] = []
        let ring = { (i: Int, j: Int) -> Int32 in Int32(1 + (i - 1) * n + (j % n)) }
        for j in 0..<n { f.append(SIMD3(0, ring(1, j + 1), ring(1, j))) }
        for i in 1..<(rings - 1) {
            for j in 0..<n {
                f.append(SIMD3(ring(i, j), ring(i, j + 1), ring(i + 1, j + 1)))
                f.append(SIMD3(ring(i, j), ring(i + 1, j + 1), ring(i + 1, j)))
            }
        }
        let top = Int32(v.count - 1)
        for j in 0..<n { f.append(SIMD3(top, ring(rings - 1, j), ring(rings - 1, j + 1))) }
        return TriangleMesh(vertices: v, faces: f)
    }

    /// An axis-aligned box centred at the origin, each face split into `subdivisions`² quads.
    public static func box(size: SIMD3<Float>, subdivisions s: Int) -> TriangleMesh {
        var v: [SIMD3<Float>] = []
        var f: [SIMD3<Int32>] = []
        // Each face: normal axis, sign; (u, w) span the face so that u × w = outward normal.
        for axis in 0..<3 {
            for sign: Float in [-1, 1] {
                let u = (axis + 1) % 3
                let w = (axis + 2) % 3
                let base = Int32(v.count)
                for a in 0...s {
                    for b in 0...s {
                        var p = SIMD3<Float>.zero
                        p[axis] = sign * 0.5
                        p[u] = Float(a) / Float(s) - 0.5
                        p[w] = Float(b) / Float(s) - 0.5
                        v.append(p * size)
                    }
                }
                let idx = { (a: Int, b: Int) -> Int32 in base + Int32(a * (s + 1) + b) }
                for a in 0..<s {
                    for b in 0..<s {
                        let (p00, p10, p11, p01) = (
                            idx(a, b), idx(a + 1, b), idx(a + 1, b + 1), idx(a, b + 1)
                        )
                        if sign > 0 {
                            f += [SIMD3(p00, p10, p11), SIMD3(p00, p11, p01)]
                        } else {
                            f += [SIMD3(p00, p11, p10), SIMD3(p00, p01, p11)]
                        }
                    }
                }
            }
        }
        return TriangleMesh(vertices: v, faces: f)
    }

    /// A torus around +Z centred at the origin.
    public static func torus(major: Float, minor: Float, segments n: Int) -> TriangleMesh {
        let m = max(3, n / 2)
        var v: [SIMD3<Float>] = []
        for i in 0..<n {
            let phi = 2 * Float.pi * Float(i) / Float(n)
            for j in 0..<m {
                let theta = 2 * Float.pi * Float(j) / Float(m)
                let rho = major + minor * cos(theta)
                v.append(SIMD3(rho * cos(phi), rho * sin(phi), minor * sin(theta)))
            }
        }
        var f: [SIMD3<Int32>] = []
        let idx = { (i: Int, j: Int) -> Int32 in Int32((i % n) * m + (j % m)) }
        for i in 0..<n {
            for j in 0..<m {
                f.append(SIMD3(idx(i, j), idx(i + 1, j), idx(i + 1, j + 1)))
                f.append(SIMD3(idx(i, j), idx(i + 1, j + 1), idx(i, j + 1)))
            }
        }
        return TriangleMesh(vertices: v, faces: f)
    }

    /// A capped cylinder (top nil: same radius as the bottom) or cone (top 0) along +Z,
    /// centred at the origin.
    public static func frustum(bottom: Float, top: Float?, height: Float, segments n: Int)
        -> TriangleMesh
    {
        let topRadius = top ?? bottom
        let z0 = -height / 2
        let z1 = height / 2
        var v: [SIMD3<Float>] = []
        for j in 0..<n {
            let phi = 2 * Float.pi * Float(j) / Float(n)
            v.append(SIMD3(bottom * cos(phi), bottom * sin(phi), z0))
        }
        let apex = topRadius == 0
        if apex {
            v.append(SIMD3(0, 0, z1))
        } else {
            for j in 0..<n {
                let phi = 2 * Float.pi * Float(j) / Float(n)
                v.append(SIMD3(topRadius * cos(phi), topRadius * sin(phi), z1))
            }
        }
        let bottomCentre = Int32(v.count)
        v.append(SIMD3(0, 0, z0))
        var f: [SIMD3<Int32>] = []
        for j in 0..<n {
            let (a, b) = (Int32(j), Int32((j + 1) % n))
            f.append(SIMD3(bottomCentre, b, a))
            if apex {
                f.append(SIMD3(a, b, Int32(n)))
            } else {
                let (c, d) = (Int32(n) + a, Int32(n) + b)
                f += [SIMD3(a, b, d), SIMD3(a, d, c)]
            }
        }
        if !apex {
            let topCentre = Int32(v.count)
            v.append(SIMD3(0, 0, z1))
            for j in 0..<n {
                f.append(SIMD3(topCentre, Int32(n + j), Int32(n + (j + 1) % n)))
            }
        }
        return TriangleMesh(vertices: v, faces: f)
    }

    /// Columns of the rotation Rz(yaw)·Ry(pitch)·Rx(roll).
    static func rotation(yaw: Float, pitch: Float, roll: Float)
        -> (SIMD3<Float>, SIMD3<Float>, SIMD3<Float>)
    {
        let (cy, sy, cp, sp, cr, sr) = (
            cos(yaw), sin(yaw), cos(pitch), sin(pitch), cos(roll), sin(roll)
        )
        let c0 = SIMD3<Float>(cy * cp, sy * cp, -sp)
        let c1 = SIMD3<Float>(cy * sp * sr - sy * cr, sy * sp * sr + cy * cr, cp * sr)
        let c2 = SIMD3<Float>(cy * sp * cr + sy * sr, sy * sp * cr - cy * sr, cp * cr)
        return (c0, c1, c2)
    }
}

/// A scalar uniform stream over `RandomGenerator` (one 4-word block per 4 draws).
struct Uniform {
    private var generator: RandomGenerator
    private var buffer: [Float] = []

    init(seed: UInt64) { generator = RandomGenerator(seed: seed) }

    /// A uniform float in [0, 1).
    mutating func next() -> Float {
        if buffer.isEmpty { buffer = generator.uniform(count: 4).reversed() }
        return buffer.removeLast()
    }

    /// A uniform float in [lo, hi).
    mutating func range(_ lo: Float, _ hi: Float) -> Float { lo + (hi - lo) * next() }
}
