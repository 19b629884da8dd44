// Front-to-back alpha compositing of projected Gaussians per 16x16 tile, as gsplat's CUDA kernel
// (RasterizeToPixels3DGSFwd.cu / Bwd.cu): pixel centres at +0.5, alpha = min(0.999, o e^-σ),
// skip when σ < 0 or alpha < 1/255, stop exclusively once T (1 - alpha) <= 1e-4, then add the
// background. Features are RGB plus camera depth (for expected depth). Tiles run in parallel;
// `rasterizeToPixelsReference` is the slow per-pixel twin that bins without tiles' sort keys.
import Foundation
import LatticeTensor

/// Per-camera projected Gaussians, flattened over [C, N].
public struct RasterInputs: Sendable {
    public var cameras: Int
    public var count: Int
    public var width: Int
    public var height: Int
    /// [C, N, 2]
    public var means2d: [Float]
    /// [C, N, 3] (A, B, C) of [[A, B], [B, C]]
    public var conics: [Float]
    /// [C, N], after antialiasing compensation
    public var opacities: [Float]
    /// [C, N, 3]
    public var colors: [Float]
    /// [C, N]
    public var depths: [Float]
    /// [C, 3]
    public var backgrounds: [Float]
}

/// Rendered images of C cameras.
public struct RasterOutputs: Sendable {
    /// [C, H, W, 3]
    public var rgb: [Float]
    /// [C, H, W] accumulated opacity 1 - T
    public var alpha: [Float]
    /// [C, H, W] Σ w z / max(alpha, 1e-10)
    public var depth: [Float]
}

/// Gradients of a loss with respect to the rasterizer inputs, [C, N, ...] like `RasterInputs`.
public struct RasterGradients: Sendable {
    public var means2d: [Double]
    public var conics: [Double]
    public var opacities: [Double]
    public var colors: [Double]
    public var depths: [Double]
}

/// One Gaussian's contribution at a pixel: alpha and the quantities its gradient needs.
@usableFromInline struct PixelHit {
    var gaussian: Int
    var alpha: Float
    /// Transmittance in front of this Gaussian.
    var transmittance: Float
    /// exp(-σ)
    var falloff: Float
    var dx: Float
    var dy: Float
    /// Whether alpha hit the 0.999 clamp (no gradient to opacity or σ then).
    var clamped: Bool
}

/// Floats per packed Gaussian: mean x, y, conic A, B, C, opacity, skip bound on σ, r, g, b, z,
/// and the Gaussian's [C, N] index as raw bits.
let packedStride = 12

/// A pixel-centre rectangle: x in [x0, x1], y in [y0, y1].
struct PixelRect {
    var x0: Float
    var x1: Float
    var y0: Float
    var y1: Float
}

/// Packs the Gaussians `ids` contiguously (`packedStride` floats each) so the per-pixel loop
/// reads them in order from cache. With `rect`, Gaussians below the 1/255 alpha skip at every
/// pixel centre of the rectangle are left out (they would be skipped at each pixel anyway).
func packGaussians(
    _ r: UnsafeRasterPointers, ids: UnsafeBufferPointer<Int32>, rect: PixelRect?,
    into out: inout [Float]
) {
    out.removeAll(keepingCapacity: true)
    for id in ids {
        let g = Int(id)
        let o = r.opacities[g]
        // alpha = o e^-σ < 1/255 whenever σ > ln(255 o); the 1e-3 margin dwarfs float rounding,
        // so skipping by this bound (without calling exp) never changes a decision.
        let skip = o > 0 ? log(255 * o) + 1e-3 : -Float.infinity
        let mx = r.means2d[g * 2]
        let my = r.means2d[g * 2 + 1]
        let (a, b, c) = (r.conics[g * 3], r.conics[g * 3 + 1], r.conics[g * 3 + 2])
        if let rect {
            let m = minimumSigma(
                a: Double(a), b: Double(b), c: Double(c), u0: Double(mx - rect.x1),
                u1: Double(mx - rect.x0), v0: Double(my - rect.y1), v1: Double(my - rect.y0))
            // Extra margin for the float σ at the pixels versus this double minimum.
            if m > Double(skip) + 1e-3 + 1e-4 * m { continue }
        }
        // Element appends: an array literal here would allocate once per Gaussian.
        out.append(mx)
        out.append(my)
        out.append(a)
        out.append(b)
        out.append(c)
        out.append(o)
        out.append(skip)
        out.append(r.colors[g * 3])
        out.append(r.colors[g * 3 + 1])
        out.append(r.colors[g * 3 + 2])
        out.append(r.depths[g])
        out.append(Float(bitPattern: UInt32(g)))
    }
}

/// Pixel centres of tile (tx, ty), clipped to the image.
func tileRect(tx: Int, ty: Int, tileSize ts: Int, width w: Int, height h: Int) -> PixelRect {
    PixelRect(
        x0: Float(tx * ts) + 0.5, x1: Float(min(w, tx * ts + ts) - 1) + 0.5,
        y0: Float(ty * ts) + 0.5, y1: Float(min(h, ty * ts + ts) - 1) + 0.5)
}

/// The minimum of σ = ½(A u² + C v²) + B u v over u in [u0, u1], v in [v0, v1] for a positive
/// definite conic; 0 (keep) when the conic is not positive definite or values are not finite.
func minimumSigma(a: Double, b: Double, c: Double, u0: Double, u1: Double, v0: Double, v1: Double)
    -> Double
{
    guard a > 0, c > 0, a * c - b * b > 0, u0.isFinite, u1.isFinite, v0.isFinite, v1.isFinite
    else { return 0 }
    if u0 <= 0, 0 <= u1, v0 <= 0, 0 <= v1 { return 0 }
    func sigma(_ u: Double, _ v: Double) -> Double { 0.5 * (a * u * u + c * v * v) + b * u * v }
    // Convex quadratic with its minimum outside the box: the box minimum is on an edge, where
    // σ is a 1-D parabola minimised at the clamped vertex.
    func onU(_ u: Double) -> Double { sigma(u, min(max(-b * u / c, v0), v1)) }
    func onV(_ v: Double) -> Double { sigma(min(max(-b * v / a, u0), u1), v) }
    return min(min(onU(u0), onU(u1)), min(onV(v0), onV(v1)))
}

/// Composites packed Gaussians (front to back) at pixel (x, y); calls `hit` for every
/// contribution with its transmittance filled in. Returns (rgb, final T, Σ w z).
@inline(__always)
func compositePixel(
    _ p: UnsafePointer<Float>, count: Int, x: Int, y: Int, hit: (PixelHit) -> Void
) -> (SIMD3<Float>, Float, Float) {
    let px = Float(x) + 0.5
    let py = Float(y) + 0.5
    var t: Float = 1
    var rgb = SIMD3<Float>()
    var depth: Float = 0
    for k in 0..<count {
        let q = p + k * packedStride
        let dx = q[0] - px
        let dy = q[1] - py
        // The CUDA kernel's operation order (it decides the last bits of alpha, and expected
        // depth divides by 1 - T, which magnifies them at low alpha).
        let sigma = 0.5 * (q[2] * dx * dx + q[4] * dy * dy) + q[3] * dx * dy
        if !(sigma >= 0) || sigma > q[6] { continue }
        let falloff = exp(-sigma)
        let raw = q[5] * falloff
        let alpha = min(SplatConstants.maxAlpha, raw)
        if !(alpha >= SplatConstants.minAlpha) { continue }
        let next = t * (1 - alpha)
        if next <= SplatConstants.transmittanceStop { break }
        let w = alpha * t
        rgb += SIMD3(q[7], q[8], q[9]) * w
        depth += q[10] * w
        hit(
            PixelHit(
                gaussian: Int(q[11].bitPattern), alpha: alpha, transmittance: t, falloff: falloff,
                dx: dx,
                dy: dy, clamped: raw > SplatConstants.maxAlpha))
        t = next
    }
    return (rgb, t, depth)
}

/// Raw pointers into `RasterInputs`, valid inside `withPointers`.
@usableFromInline struct UnsafeRasterPointers {
    var means2d: UnsafePointer<Float>
    var conics: UnsafePointer<Float>
    var opacities: UnsafePointer<Float>
    var colors: UnsafePointer<Float>
    var depths: UnsafePointer<Float>
}

extension RasterInputs {
    func withPointers<R>(_ body: (UnsafeRasterPointers) -> R) -> R {
        means2d.withUnsafeBufferPointer { m in
            conics.withUnsafeBufferPointer { c in
                opacities.withUnsafeBufferPointer { o in
                    colors.withUnsafeBufferPointer { col in
                        depths.withUnsafeBufferPointer { d in
                            body(
                                UnsafeRasterPointers(
                                    means2d: m.baseAddress!, conics: c.baseAddress!,
                                    opacities: o.baseAddress!, colors: col.baseAddress!,
                                    depths: d.baseAddress!))
                        }
                    }
                }
            }
        }
    }

    func validate() {
        let cn = cameras * count
        precondition(
            means2d.count == cn * 2 && conics.count == cn * 3 && opacities.count == cn
                && colors.count == cn * 3 && depths.count == cn && backgrounds.count == cameras * 3,
            "RasterInputs: sizes \(means2d.count) \(conics.count) \(opacities.count) \(colors.count) \(depths.count) \(backgrounds.count) for C \(cameras) N \(count)"
        )
    }
}

/// Writes one pixel's outputs.
@inline(__always)
func storePixel(
    _ o: UnsafeMutablePointer<Float>, alpha: UnsafeMutablePointer<Float>,
    depth: UnsafeMutablePointer<Float>, pixel p: Int, rgb: SIMD3<Float>, t: Float, z: Float,
    background bg: SIMD3<Float>
) {
    let c = rgb + bg * t
    o[p * 3] = c.x
    o[p * 3 + 1] = c.y
    o[p * 3 + 2] = c.z
    let a = 1 - t
    alpha[p] = a
    // gsplat divides by the accumulated alpha 1 - T (not Σ w, equal only in exact arithmetic).
    depth[p] = z / max(a, 1e-10)
}

/// Renders every pixel of every camera with tiles in parallel (gsplat `rasterize_to_pixels`).
/// `cullPerTile` drops, per tile, Gaussians below the alpha skip at all of its pixels (same
/// output bits; false is for timing comparisons).
public func rasterizeToPixels(
    _ inputs: RasterInputs, tiles: TileIntersections, cullPerTile: Bool = true
) -> RasterOutputs {
    inputs.validate()
    let (w, h, cams) = (inputs.width, inputs.height, inputs.cameras)
    var rgb = [Float](repeating: 0, count: cams * h * w * 3)
    var alpha = [Float](repeating: 0, count: cams * h * w)
    var depth = [Float](repeating: 0, count: cams * h * w)
    let tilesPerCamera = tiles.tileWidth * tiles.tileHeight
    let ts = tiles.tileSize
    inputs.withPointers { r in
        rgb.withUnsafeMutableBufferPointer { ob in
            alpha.withUnsafeMutableBufferPointer { ab in
                depth.withUnsafeMutableBufferPointer { db in
                    tiles.flattenIds.withUnsafeBufferPointer { ids in
                        let o = ob.baseAddress!
                        let a = ab.baseAddress!
                        let d = db.baseAddress!
                        // Each tile writes only its own pixels.
                        Parallel.run(chunks: cams * tilesPerCamera) { job in
                            let camera = job / tilesPerCamera
                            let tile = job % tilesPerCamera
                            let range = tiles.range(camera: camera, tile: tile)
                            let list = UnsafeBufferPointer(rebasing: ids[range])
                            var packed: [Float] = []
                            packed.reserveCapacity(list.count * packedStride)
                            let bg = SIMD3(
                                inputs.backgrounds[camera * 3], inputs.backgrounds[camera * 3 + 1],
                                inputs.backgrounds[camera * 3 + 2])
                            let tx = tile % tiles.tileWidth
                            let ty = tile / tiles.tileWidth
                            packGaussians(
                                r, ids: list,
                                rect: cullPerTile
                                    ? tileRect(tx: tx, ty: ty, tileSize: ts, width: w, height: h)
                                    : nil,
                                into: &packed)
                            let count = packed.count / packedStride
                            for y in (ty * ts)..<min(h, ty * ts + ts) {
                                for x in (tx * ts)..<min(w, tx * ts + ts) {
                                    let (c, t, z) = packed.withUnsafeBufferPointer {
                                        compositePixel($0.baseAddress!, count: count, x: x, y: y) {
                                            _ in
                                        }
                                    }
                                    storePixel(
                                        o, alpha: a, depth: d, pixel: (camera * h + y) * w + x,
                                        rgb: c, t: t, z: z, background: bg)
                                }
                            }
                        }
                    }
                }
            }
        }
    }
    return RasterOutputs(rgb: rgb, alpha: alpha, depth: depth)
}

/// Slow twin of `intersectTiles` + `rasterizeToPixels`: for each pixel, every Gaussian whose
/// tile box covers the pixel's tile, ordered by (depth, index), composited one by one.
public func rasterizeToPixelsReference(_ inputs: RasterInputs, radii: [Int32], tileSize: Int)
    -> RasterOutputs
{
    inputs.validate()
    let (w, h, cams, n) = (inputs.width, inputs.height, inputs.cameras, inputs.count)
    var rgb = [Float](repeating: 0, count: cams * h * w * 3)
    var alpha = [Float](repeating: 0, count: cams * h * w)
    var depth = [Float](repeating: 0, count: cams * h * w)
    let ts = Float(tileSize)
    inputs.withPointers { r in
        for camera in 0..<cams {
            let bg = SIMD3(
                inputs.backgrounds[camera * 3], inputs.backgrounds[camera * 3 + 1],
                inputs.backgrounds[camera * 3 + 2])
            for y in 0..<h {
                for x in 0..<w {
                    let tx = Float(x / tileSize)
                    let ty = Float(y / tileSize)
                    var list: [Int32] = []
                    for i in 0..<n {
                        let g = camera * n + i
                        guard radii[g * 2] > 0, radii[g * 2 + 1] > 0 else { continue }
                        let mx = inputs.means2d[g * 2] / ts
                        let my = inputs.means2d[g * 2 + 1] / ts
                        let rx = Float(radii[g * 2]) / ts
                        let ry = Float(radii[g * 2 + 1]) / ts
                        if (mx - rx).rounded(.down) <= tx, tx < (mx + rx).rounded(.up),
                            (my - ry).rounded(.down) <= ty, ty < (my + ry).rounded(.up)
                        {
                            list.append(Int32(g))
                        }
                    }
                    list.sort {
                        let (da, db) = (inputs.depths[Int($0)], inputs.depths[Int($1)])
                        return da != db ? da < db : $0 < $1
                    }
                    var packed: [Float] = []
                    let (c, t, z) = list.withUnsafeBufferPointer { ids in
                        // No rectangle: the twin keeps every Gaussian the per-pixel bins give it.
                        packGaussians(r, ids: ids, rect: nil, into: &packed)
                        return packed.withUnsafeBufferPointer {
                            compositePixel(
                                $0.baseAddress!, count: packed.count / packedStride, x: x, y: y
                            ) { _ in }
                        }
                    }
                    rgb.withUnsafeMutableBufferPointer { o in
                        alpha.withUnsafeMutableBufferPointer { a in
                            depth.withUnsafeMutableBufferPointer { d in
                                storePixel(
                                    o.baseAddress!, alpha: a.baseAddress!, depth: d.baseAddress!,
                                    pixel: (camera * h + y) * w + x, rgb: c, t: t, z: z,
                                    background: bg)
                            }
                        }
                    }
                }
            }
        }
    }
    return RasterOutputs(rgb: rgb, alpha: alpha, depth: depth)
}

/// Backward of `rasterizeToPixels` for loss gradients on rgb [C,H,W,3], alpha [C,H,W] and
/// expected depth [C,H,W] (nil = zero). Per pixel the contributions are re-collected front to
/// back, then walked back to front with the colour behind each Gaussian. Tiles are split into
/// `Parallel.threadCount` contiguous runs, each with its own accumulator, summed in order, so
/// results depend only on the thread count.
public func rasterizeToPixelsBackward(
    _ inputs: RasterInputs, tiles: TileIntersections, gradRGB: [Float]?,
    gradAlpha: [Float]?, gradDepth: [Float]?
) -> RasterGradients {
    inputs.validate()
    let (w, h, cams) = (inputs.width, inputs.height, inputs.cameras)
    let pixels = cams * h * w
    precondition(
        (gradRGB?.count ?? pixels * 3) == pixels * 3 && (gradAlpha?.count ?? pixels) == pixels
            && (gradDepth?.count ?? pixels) == pixels,
        "rasterizeToPixelsBackward: gradient sizes \(gradRGB?.count ?? -1), \(gradAlpha?.count ?? -1), \(gradDepth?.count ?? -1) for [C, H, W] = [\(cams), \(h), \(w)]"
    )
    let cn = cams * inputs.count
    let tilesPerCamera = tiles.tileWidth * tiles.tileHeight
    let totalTiles = cams * tilesPerCamera
    let ts = tiles.tileSize
    let parts = max(1, min(Parallel.threadCount, totalTiles))
    // Per part: [C*N, 10] = means2d 2, conic 3, opacity 1, colour 3, depth 1.
    let stride = 10
    var maxList = 0
    for i in 0..<totalTiles {
        maxList = max(
            maxList, tiles.range(camera: i / tilesPerCamera, tile: i % tilesPerCamera).count)
    }
    var accumulators = [Double](repeating: 0, count: parts * cn * stride)
    inputs.withPointers { r in
        tiles.flattenIds.withUnsafeBufferPointer { ids in
            accumulators.withUnsafeMutableBufferPointer { accBuf in
                let accBase = accBuf.baseAddress!
                Parallel.run(chunks: parts) { part in
                    let g = accBase + part * cn * stride
                    let lo = part * totalTiles / parts
                    let hi = (part + 1) * totalTiles / parts
                    var hits = [PixelHit]()
                    hits.reserveCapacity(maxList)
                    var packed: [Float] = []
                    packed.reserveCapacity(maxList * packedStride)
                    for job in lo..<hi {
                        let camera = job / tilesPerCamera
                        let tile = job % tilesPerCamera
                        let list = UnsafeBufferPointer(
                            rebasing: ids[tiles.range(camera: camera, tile: tile)])
                        if list.isEmpty { continue }
                        let bg = SIMD3<Double>(
                            Double(inputs.backgrounds[camera * 3]),
                            Double(inputs.backgrounds[camera * 3 + 1]),
                            Double(inputs.backgrounds[camera * 3 + 2]))
                        let tx = tile % tiles.tileWidth
                        let ty = tile / tiles.tileWidth
                        packGaussians(
                            r, ids: list,
                            rect: tileRect(tx: tx, ty: ty, tileSize: ts, width: w, height: h),
                            into: &packed)
                        let count = packed.count / packedStride
                        for y in (ty * ts)..<min(h, ty * ts + ts) {
                            for x in (tx * ts)..<min(w, tx * ts + ts) {
                                let p = (camera * h + y) * w + x
                                hits.removeAll(keepingCapacity: true)
                                let (_, tFinalF, zAcc) = packed.withUnsafeBufferPointer {
                                    compositePixel($0.baseAddress!, count: count, x: x, y: y) {
                                        hits.append($0)
                                    }
                                }
                                if hits.isEmpty { continue }
                                let tFinal = Double(tFinalF)
                                var gC = SIMD3<Double>()
                                if let gradRGB {
                                    gC = SIMD3(
                                        Double(gradRGB[p * 3]), Double(gradRGB[p * 3 + 1]),
                                        Double(gradRGB[p * 3 + 2]))
                                }
                                var gA = gradAlpha.map { Double($0[p]) } ?? 0
                                var gZ = 0.0
                                if let gradDepth {
                                    // depth = Σ w z / (1 - T): the denominator's gradient
                                    // goes through alpha.
                                    let aF = Double(1 - tFinalF)
                                    let denom = max(aF, 1e-10)
                                    let gd = Double(gradDepth[p])
                                    gZ = gd / denom
                                    if aF > 1e-10 { gA -= gd * Double(zAcc) / (denom * denom) }
                                }
                                // dL/dT_final from the background and from alpha = 1 - T.
                                let gTFinal = (gC * bg).sum() - gA
                                var behindC = SIMD3<Double>()  // Σ_{j > i} c_j w_j
                                var behindZ = 0.0
                                for hit in hits.reversed() {
                                    let gi = hit.gaussian
                                    let alpha = Double(hit.alpha)
                                    let t = Double(hit.transmittance)
                                    let wgt = alpha * t
                                    let c = SIMD3<Double>(
                                        Double(r.colors[gi * 3]), Double(r.colors[gi * 3 + 1]),
                                        Double(r.colors[gi * 3 + 2]))
                                    let z = Double(r.depths[gi])
                                    let o = g + gi * stride
                                    o[6] += gC.x * wgt
                                    o[7] += gC.y * wgt
                                    o[8] += gC.z * wgt
                                    o[9] += gZ * wgt
                                    let oneMinus = 1 - alpha
                                    let gAlpha =
                                        t * ((gC * c).sum() + gZ * z)
                                        - ((gC * behindC).sum() + gZ * behindZ + gTFinal * tFinal)
                                        / oneMinus
                                    behindC += c * wgt
                                    behindZ += z * wgt
                                    if hit.clamped { continue }
                                    let falloff = Double(hit.falloff)
                                    o[5] += gAlpha * falloff
                                    let gSigma = -gAlpha * alpha
                                    let dx = Double(hit.dx)
                                    let dy = Double(hit.dy)
                                    let ca = Double(r.conics[gi * 3])
                                    let cb = Double(r.conics[gi * 3 + 1])
                                    let cc = Double(r.conics[gi * 3 + 2])
                                    o[0] += gSigma * (ca * dx + cb * dy)
                                    o[1] += gSigma * (cc * dy + cb * dx)
                                    o[2] += gSigma * 0.5 * dx * dx
                                    o[3] += gSigma * dx * dy
                                    o[4] += gSigma * 0.5 * dy * dy
                                }
                            }
                        }
                    }
                }
            }
        }
    }
    var total = [Double](repeating: 0, count: cn * stride)
    for part in 0..<parts {
        let base = part * cn * stride
        for i in 0..<(cn * stride) { total[i] += accumulators[base + i] }
    }
    var grads = RasterGradients(
        means2d: .init(repeating: 0, count: cn * 2), conics: .init(repeating: 0, count: cn * 3),
        opacities: .init(repeating: 0, count: cn), colors: .init(repeating: 0, count: cn * 3),
        depths: .init(repeating: 0, count: cn))
    for i in 0..<cn {
        let s = i * stride
        grads.means2d[i * 2] = total[s]
        grads.means2d[i * 2 + 1] = total[s + 1]
        for k in 0..<3 {
            grads.conics[i * 3 + k] = total[s + 2 + k]
            grads.colors[i * 3 + k] = total[s + 6 + k]
        }
        grads.opacities[i] = total[s + 5]
        grads.depths[i] = total[s + 9]
    }
    return grads
}
