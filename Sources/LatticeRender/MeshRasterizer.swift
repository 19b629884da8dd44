// Triangle rasterization on the CPU in place of nvdiffrast (`dr.rasterize`, `dr.interpolate`) as
// TRELLIS@6b0d647 trellis/renderers/mesh_renderer.py uses it: clip-space vertices P·E·[v, 1] with
// the 3DGS projection of Cameras.swift, a z-buffer on NDC z/w, perspective-correct barycentrics,
// no culling, pixel centres at (x + 0.5, y + 0.5) with row 0 at NDC y = -1 (OpenCV's top row).
// Screen positions are snapped to 1/256 pixel and edge functions evaluated exactly in Int64, so
// shared edges are watertight (top-left rule) and the tiled kernel and its per-pixel twin agree
// bit for bit. Triangles are clipped against the near plane (z >= -w, as OpenGL) and a guard band;
// samples beyond the far plane (z/w > 1) are dropped. nvdiffrast's analytic `dr.antialias` is not
// reproduced: anti-aliasing is supersampling (MeshRender.swift).
import Foundation
import LatticeGeometry
import LatticeTensor

/// Per-sample result of rasterization, nvdiffrast's `rast` (u, v, z/w, triangle_id + 1) unpacked.
public struct TriangleRaster: Sendable, Equatable {
    /// Width in samples.
    public let width: Int
    /// Height in samples.
    public let height: Int
    /// [H, W] index of the visible face, -1 where no face covers the sample.
    public var triangleIds: [Int32]
    /// [H, W, 2] perspective-correct barycentrics (u, v): attribute = u·a0 + v·a1 + (1-u-v)·a2.
    public var barycentrics: [Float]
    /// [H, W] NDC depth z/w in [-1, 1] (0 where empty).
    public var ndcDepth: [Float]

    /// The coverage mask [H, W]: 1 where a face is visible.
    public var mask: [Float] { triangleIds.map { $0 >= 0 ? 1 : 0 } }
}

/// Subpixel precision of snapped screen positions (1/256 pixel, as GPU rasterizers use).
let subpixelBits: Int64 = 8
let subpixelScale: Float = 256
/// Clip-space guard band |x|, |y| <= guardBand·w, so snapped coordinates stay far below 2^31.
let guardBand: Float = 64

/// A clipped, snapped triangle ready for scan conversion, wound counter-clockwise in samples.
struct ScreenTriangle {
    var face: Int32
    var x: SIMD3<Int64>
    var y: SIMD3<Int64>
    /// 1/w per vertex, for perspective correction.
    var invW: SIMD3<Float>
    var zNdc: SIMD3<Float>
    /// Barycentrics of each (clipped, reordered) vertex in the original face.
    var origin: (SIMD3<Float>, SIMD3<Float>, SIMD3<Float>)
    var invArea: Float
    var minX: Int
    var maxX: Int
    var minY: Int
    var maxY: Int
}

/// Clip-space positions [V] of world `vertices` under world-to-camera `extrinsics` and normalised
/// `intrinsics` (TRELLIS `vertices_clip = [v, 1] · (P·E)ᵀ`, float32 as upstream).
public func clipSpacePositions(
    _ vertices: [SIMD3<Float>], extrinsics: Matrix4, intrinsics: Matrix3, near: Float, far: Float
) -> [SIMD4<Float>] {
    let m = matmul4(
        intrinsicsToProjection(intrinsics, near: Double(near), far: Double(far)), extrinsics)
    let r0 = SIMD4(m[0], m[1], m[2], m[3])
    let r1 = SIMD4(m[4], m[5], m[6], m[7])
    let r2 = SIMD4(m[8], m[9], m[10], m[11])
    let r3 = SIMD4(m[12], m[13], m[14], m[15])
    return vertices.map { v in
        let h = SIMD4(v.x, v.y, v.z, 1)
        return SIMD4((r0 * h).sum(), (r1 * h).sum(), (r2 * h).sum(), (r3 * h).sum())
    }
}

/// Clipping planes as (a, b, c, d): inside where a·x + b·y + c·z + d·w >= 0.
private let clipPlanes: [SIMD4<Float>] = [
    SIMD4(0, 0, 1, 1),  // near: z >= -w
    SIMD4(-1, 0, 0, guardBand), SIMD4(1, 0, 0, guardBand),
    SIMD4(0, -1, 0, guardBand), SIMD4(0, 1, 0, guardBand),
]

/// Clips, projects and snaps face `face`; appends 0 or more screen triangles to `out`.
func setupTriangle(
    face: Int, _ c: (SIMD4<Float>, SIMD4<Float>, SIMD4<Float>), width: Int, height: Int,
    into out: inout [ScreenTriangle]
) {
    let finite = { (v: SIMD4<Float>) in v.x.isFinite && v.y.isFinite && v.z.isFinite && v.w.isFinite
    }
    guard finite(c.0), finite(c.1), finite(c.2) else { return }
    var allInside = true
    for p in clipPlanes {
        let (d0, d1, d2) = ((c.0 * p).sum(), (c.1 * p).sum(), (c.2 * p).sum())
        if d0 < 0 && d1 < 0 && d2 < 0 { return }
        if d0 < 0 || d1 < 0 || d2 < 0 { allInside = false }
    }
    let identity = (SIMD3<Float>(1, 0, 0), SIMD3<Float>(0, 1, 0), SIMD3<Float>(0, 0, 1))
    if allInside {
        emit(face: face, c, identity, width: width, height: height, into: &out)
        return
    }
    // Sutherland-Hodgman in homogeneous space; clip-space position is affine in the original
    // barycentrics, so each new vertex carries its barycentrics along.
    var poly = [(c.0, identity.0), (c.1, identity.1), (c.2, identity.2)]
    for p in clipPlanes {
        var next: [(SIMD4<Float>, SIMD3<Float>)] = []
        for i in poly.indices {
            let (a, ba) = poly[i]
            let (b, bb) = poly[(i + 1) % poly.count]
            let da = (a * p).sum()
            let db = (b * p).sum()
            if da >= 0 { next.append((a, ba)) }
            if (da >= 0) != (db >= 0) {
                let t = da / (da - db)
                next.append((a + (b - a) * t, ba + (bb - ba) * t))
            }
        }
        poly = next
        if poly.count < 3 { return }
    }
    for i in 1..<(poly.count - 1) {
        emit(
            face: face, (poly[0].0, poly[i].0, poly[i + 1].0),
            (poly[0].1, poly[i].1, poly[i + 1].1),
            width: width, height: height, into: &out)
    }
}

/// Projects one clip-space triangle (w > 0 after near clipping) and snaps it to the subpixel grid.
private func emit(
    face: Int, _ c: (SIMD4<Float>, SIMD4<Float>, SIMD4<Float>),
    _ o: (SIMD3<Float>, SIMD3<Float>, SIMD3<Float>), width: Int, height: Int,
    into out: inout [ScreenTriangle]
) {
    var xs = SIMD3<Int64>()
    var ys = SIMD3<Int64>()
    var invW = SIMD3<Float>()
    var z = SIMD3<Float>()
    let w = Float(width)
    let h = Float(height)
    let v = (c.0, c.1, c.2)
    for k in 0..<3 {
        let vk = k == 0 ? v.0 : (k == 1 ? v.1 : v.2)
        let iw = 1 / vk.w
        invW[k] = iw
        z[k] = vk.z * iw
        xs[k] = Int64(((vk.x * iw + 1) * 0.5 * w * subpixelScale).rounded())
        ys[k] = Int64(((vk.y * iw + 1) * 0.5 * h * subpixelScale).rounded())
    }
    var area = (xs[1] - xs[0]) * (ys[2] - ys[0]) - (ys[1] - ys[0]) * (xs[2] - xs[0])
    if area == 0 { return }
    var o = o
    if area < 0 {
        // No culling: a triangle seen from behind is rasterized with two vertices swapped.
        xs = SIMD3(xs[0], xs[2], xs[1])
        ys = SIMD3(ys[0], ys[2], ys[1])
        invW = SIMD3(invW[0], invW[2], invW[1])
        z = SIMD3(z[0], z[2], z[1])
        o = (o.0, o.2, o.1)
        area = -area
    }
    let half = Int64(1) << (subpixelBits - 1)
    let one = Int64(1) << subpixelBits
    // Samples at (i + 0.5) px: the first with i·256 + 128 >= lo is ceil((lo - 128) / 256).
    func firstSample(_ lo: Int64) -> Int { Int(floorDiv(lo - half + one - 1, one)) }
    func lastSample(_ hi: Int64) -> Int { Int(floorDiv(hi - half, one)) }
    let minX = max(0, firstSample(xs.min()))
    let maxX = min(width - 1, lastSample(xs.max()))
    let minY = max(0, firstSample(ys.min()))
    let maxY = min(height - 1, lastSample(ys.max()))
    if minX > maxX || minY > maxY { return }
    out.append(
        ScreenTriangle(
            face: Int32(face), x: xs, y: ys, invW: invW, zNdc: z, origin: o,
            invArea: 1 / Float(area), minX: minX, maxX: maxX, minY: minY, maxY: maxY))
}

@inline(__always) private func floorDiv(_ a: Int64, _ b: Int64) -> Int64 {
    let q = a / b
    return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q
}

extension ScreenTriangle {
    /// Edge functions (opposite vertex 0, 1, 2) at the centre of sample (px, py), exact.
    @inline(__always) func edges(px: Int, py: Int) -> SIMD3<Int64> {
        let sx = Int64(px) << subpixelBits + (1 << (subpixelBits - 1))
        let sy = Int64(py) << subpixelBits + (1 << (subpixelBits - 1))
        return SIMD3(
            edge(1, 2, sx, sy), edge(2, 0, sx, sy), edge(0, 1, sx, sy))
    }

    @inline(__always) func edge(_ a: Int, _ b: Int, _ sx: Int64, _ sy: Int64) -> Int64 {
        (x[b] - x[a]) * (sy - y[a]) - (y[b] - y[a]) * (sx - x[a])
    }

    /// Biases that turn `e >= 0` into the top-left rule: a sample exactly on an edge belongs to
    /// exactly one of the two triangles sharing it (they traverse the edge in opposite directions).
    @inline(__always) var edgeBias: SIMD3<Int64> {
        func bias(_ a: Int, _ b: Int) -> Int64 {
            let dx = x[b] - x[a]
            let dy = y[b] - y[a]
            return (dy < 0 || (dy == 0 && dx > 0)) ? 0 : -1
        }
        return SIMD3(bias(1, 2), bias(2, 0), bias(0, 1))
    }

    /// Edge-function increments per sample step in x and in y.
    @inline(__always) var stepX: SIMD3<Int64> {
        SIMD3(-(y[2] - y[1]), -(y[0] - y[2]), -(y[1] - y[0])) &* (1 << subpixelBits)
    }
    @inline(__always) var stepY: SIMD3<Int64> {
        SIMD3(x[2] - x[1], x[0] - x[2], x[1] - x[0]) &* (1 << subpixelBits)
    }

    /// NDC depth (linear in screen space) from exact edge values.
    @inline(__always) func depth(_ e: SIMD3<Int64>) -> Float {
        let s = SIMD3(Float(e[0]), Float(e[1]), Float(e[2])) * invArea
        return (s * zNdc).sum()
    }

    /// Perspective-correct barycentrics in the original face.
    @inline(__always) func barycentrics(_ e: SIMD3<Int64>) -> SIMD3<Float> {
        let q = SIMD3(Float(e[0]), Float(e[1]), Float(e[2])) * invW
        let l = q / q.sum()
        return origin.0 * l[0] + origin.1 * l[1] + origin.2 * l[2]
    }
}

/// Fills (u, v, z) for samples whose winning screen triangle is known (`winner`, -1 = none).
private func resolve(
    _ tris: [ScreenTriangle], winner: [Int32], width: Int, height: Int
) -> TriangleRaster {
    var ids = [Int32](repeating: -1, count: width * height)
    var bary = [Float](repeating: 0, count: width * height * 2)
    var depth = [Float](repeating: 0, count: width * height)
    ids.withUnsafeMutableBufferPointer { idB in
        bary.withUnsafeMutableBufferPointer { bB in
            depth.withUnsafeMutableBufferPointer { dB in
                let (idP, bP, dP) = (idB.baseAddress!, bB.baseAddress!, dB.baseAddress!)
                Parallel.forRange(height, grain: 16) { rows in
                    for py in rows {
                        for px in 0..<width {
                            let i = py * width + px
                            let t = Int(winner[i])
                            if t < 0 { continue }
                            let tri = tris[t]
                            let e = tri.edges(px: px, py: py)
                            let b = tri.barycentrics(e)
                            idP[i] = tri.face
                            bP[2 * i] = b[0]
                            bP[2 * i + 1] = b[1]
                            dP[i] = tri.depth(e)
                        }
                    }
                }
            }
        }
    }
    return TriangleRaster(
        width: width, height: height, triangleIds: ids, barycentrics: bary, ndcDepth: depth)
}

/// Checks arguments shared by both rasterizers.
private func checkRasterArguments(
    _ clip: [SIMD4<Float>], _ faces: [SIMD3<Int32>], _ width: Int, _ height: Int
) throws {
    guard width > 0, height > 0, width <= 1 << 15, height <= 1 << 15 else {
        throw LatticeError(
            .invalidArgument, "rasterizeTriangles: size \(width)x\(height), expected 1...32768")
    }
    for (i, f) in faces.enumerated() {
        for k in 0..<3 where f[k] < 0 || Int(f[k]) >= clip.count {
            throw LatticeError(
                .invalidArgument,
                "rasterizeTriangles: face \(i) index \(f[k]) outside 0..<\(clip.count) vertices")
        }
    }
}

/// Screen triangles of all faces in face order (chunked by a fixed size, so deterministic).
private func setupTriangles(
    _ clip: [SIMD4<Float>], _ faces: [SIMD3<Int32>], _ width: Int, _ height: Int
) -> [ScreenTriangle] {
    let chunk = 8192
    let chunks = (faces.count + chunk - 1) / chunk
    var parts = [[ScreenTriangle]](repeating: [], count: chunks)
    parts.withUnsafeMutableBufferPointer { pB in
        let pP = pB.baseAddress!
        Parallel.run(chunks: chunks) { c in
            var local: [ScreenTriangle] = []
            local.reserveCapacity(chunk)
            for f in (c * chunk)..<min(faces.count, (c + 1) * chunk) {
                let ix = faces[f]
                setupTriangle(
                    face: f, (clip[Int(ix[0])], clip[Int(ix[1])], clip[Int(ix[2])]),
                    width: width, height: height, into: &local)
            }
            pP[c] = local
        }
    }
    return parts.flatMap { $0 }
}

/// Rasterizes `faces` over clip-space `clipPositions` into `width` x `height` samples: the
/// nearest face per sample (ties go to the lower face index), with its barycentrics and z/w.
/// Tiles of 32x32 samples run in parallel; the result does not depend on the thread count.
public func rasterizeTriangles(
    clipPositions clip: [SIMD4<Float>], faces: [SIMD3<Int32>], width: Int, height: Int
) throws -> TriangleRaster {
    try checkRasterArguments(clip, faces, width, height)
    let tris = setupTriangles(clip, faces, width, height)
    let tile = 32
    let tilesX = (width + tile - 1) / tile
    let tilesY = (height + tile - 1) / tile
    // Bin triangles to tiles by bounding box, in triangle order (counting sort).
    var counts = [Int](repeating: 0, count: tilesX * tilesY + 1)
    for t in tris {
        for ty in (t.minY / tile)...(t.maxY / tile) {
            for tx in (t.minX / tile)...(t.maxX / tile) { counts[ty * tilesX + tx + 1] += 1 }
        }
    }
    for i in 1..<counts.count { counts[i] += counts[i - 1] }
    var fill = counts
    var binned = [Int32](repeating: 0, count: counts[tilesX * tilesY])
    for (i, t) in tris.enumerated() {
        for ty in (t.minY / tile)...(t.maxY / tile) {
            for tx in (t.minX / tile)...(t.maxX / tile) {
                binned[fill[ty * tilesX + tx]] = Int32(i)
                fill[ty * tilesX + tx] += 1
            }
        }
    }
    var winner = [Int32](repeating: -1, count: width * height)
    winner.withUnsafeMutableBufferPointer { wB in
        let wP = wB.baseAddress!
        Parallel.run(chunks: tilesX * tilesY) { tileIndex in
            let tx0 = (tileIndex % tilesX) * tile
            let ty0 = (tileIndex / tilesX) * tile
            let tw = min(tile, width - tx0)
            let th = min(tile, height - ty0)
            var best = [Float](repeating: .infinity, count: tile * tile)
            var bestId = [Int32](repeating: -1, count: tile * tile)
            for k in counts[tileIndex]..<counts[tileIndex + 1] {
                let t = Int(binned[k])
                let tri = tris[t]
                let x0 = max(tri.minX, tx0)
                let x1 = min(tri.maxX, tx0 + tw - 1)
                let y0 = max(tri.minY, ty0)
                let y1 = min(tri.maxY, ty0 + th - 1)
                if x0 > x1 || y0 > y1 { continue }
                let bias = tri.edgeBias
                let sx = tri.stepX
                let sy = tri.stepY
                var rowStart = tri.edges(px: x0, py: y0)
                for py in y0...y1 {
                    var e = rowStart
                    for px in x0...x1 {
                        if all((e &+ bias) .>= 0) {
                            let z = tri.depth(e)
                            let j = (py - ty0) * tile + (px - tx0)
                            if z >= -1, z <= 1, z < best[j] {
                                best[j] = z
                                bestId[j] = Int32(t)
                            }
                        }
                        e &+= sx
                    }
                    rowStart &+= sy
                }
            }
            for ly in 0..<th {
                for lx in 0..<tw { wP[(ty0 + ly) * width + tx0 + lx] = bestId[ly * tile + lx] }
            }
        }
    }
    return resolve(tris, winner: winner, width: width, height: height)
}

/// Naive twin of `rasterizeTriangles`: every sample tests every triangle, one thread.
public func rasterizeTrianglesReference(
    clipPositions clip: [SIMD4<Float>], faces: [SIMD3<Int32>], width: Int, height: Int
) throws -> TriangleRaster {
    try checkRasterArguments(clip, faces, width, height)
    var tris: [ScreenTriangle] = []
    for (f, ix) in faces.enumerated() {
        setupTriangle(
            face: f, (clip[Int(ix[0])], clip[Int(ix[1])], clip[Int(ix[2])]), width: width,
            height: height, into: &tris)
    }
    var winner = [Int32](repeating: -1, count: width * height)
    for py in 0..<height {
        for px in 0..<width {
            var best = Float.infinity
            for (t, tri) in tris.enumerated() {
                let e = tri.edges(px: px, py: py)
                guard all((e &+ tri.edgeBias) .>= 0) else { continue }
                let z = tri.depth(e)
                if z >= -1, z <= 1, z < best {
                    best = z
                    winner[py * width + px] = Int32(t)
                }
            }
        }
    }
    return resolve(tris, winner: winner, width: width, height: height)
}

/// Interpolates per-vertex `attributes` [V, C] over the raster (nvdiffrast `dr.interpolate`):
/// [H, W, C], zero where no face is visible.
public func interpolateAttributes(
    _ attributes: [Float], channels: Int, faces: [SIMD3<Int32>], raster: TriangleRaster
) -> [Float] {
    let n = raster.width * raster.height
    var out = [Float](repeating: 0, count: n * channels)
    out.withUnsafeMutableBufferPointer { oB in
        let oP = oB.baseAddress!
        attributes.withUnsafeBufferPointer { aB in
            let aP = aB.baseAddress!
            Parallel.forRange(n, grain: 8192) { range in
                for i in range {
                    let t = Int(raster.triangleIds[i])
                    if t < 0 { continue }
                    let f = faces[t]
                    let u = raster.barycentrics[2 * i]
                    let v = raster.barycentrics[2 * i + 1]
                    let w = 1 - u - v
                    let (a0, a1, a2) = (
                        Int(f[0]) * channels, Int(f[1]) * channels, Int(f[2]) * channels
                    )
                    for c in 0..<channels {
                        oP[i * channels + c] = u * aP[a0 + c] + v * aP[a1 + c] + w * aP[a2 + c]
                    }
                }
            }
        }
    }
    return out
}

/// Differentiable `interpolateAttributes`: `attributes` [V, C] -> [H, W, C]. The backward pass
/// scatters u, v, 1-u-v times the output gradient to the three vertices of each visible face.
public func interpolateAttributes(
    _ attributes: Tensor, faces: [SIMD3<Int32>], raster: TriangleRaster
) -> Tensor {
    precondition(attributes.rank == 2, "interpolateAttributes: attributes \(attributes.shape)")
    let (vertexCount, c) = (attributes.shape[0], attributes.shape[1])
    let values = interpolateAttributes(
        attributes.contiguous().toFloats(), channels: c, faces: faces, raster: raster)
    let out = Tensor(values, shape: [raster.height, raster.width, c])  // [H, W, C]
    return Tensor.record("interpolateAttributes", output: out, inputs: [attributes]) { g in
        let gv = g.contiguous().toFloats()
        // Serial scatter: vertices are shared between pixels, and a fixed order keeps the bits.
        var grad = [Float](repeating: 0, count: vertexCount * c)
        for i in 0..<(raster.width * raster.height) {
            let t = Int(raster.triangleIds[i])
            if t < 0 { continue }
            let f = faces[t]
            let u = raster.barycentrics[2 * i]
            let v = raster.barycentrics[2 * i + 1]
            let w = [u, v, 1 - u - v]
            for k in 0..<3 {
                let base = Int(f[k]) * c
                for ch in 0..<c { grad[base + ch] += w[k] * gv[i * c + ch] }
            }
        }
        return [Tensor(grad, shape: [vertexCount, c])]  // [V, C]
    }
}

/// Unit face normals normalize((v1 - v0) × (v2 - v0)) (zero for degenerate faces).
public func faceNormals(vertices: [SIMD3<Float>], faces: [SIMD3<Int32>]) -> [SIMD3<Float>] {
    faces.map { f in
        let a = vertices[Int(f[0])]
        let n = cross(vertices[Int(f[1])] - a, vertices[Int(f[2])] - a)
        let len = (n * n).sum().squareRoot()
        return len > 0 ? n / len : .zero
    }
}

@inline(__always) private func cross(_ a: SIMD3<Float>, _ b: SIMD3<Float>) -> SIMD3<Float> {
    SIMD3(a.y * b.z - a.z * b.y, a.z * b.x - a.x * b.z, a.x * b.y - a.y * b.x)
}
