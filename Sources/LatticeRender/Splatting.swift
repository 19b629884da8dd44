// Gaussian splatting end to end, as gsplat 1.5.3 `_rasterization` with render_mode 'RGB+ED':
// quat+scale -> covariance, projection, SH colours, tile intersection, offsets, compositing;
// and the backward pass to means, quaternions, scales, opacities and SH coefficients.
import Foundation
import LatticeTensor

/// 3D Gaussians in world space, gsplat parameterisation (activated scales and opacities).
public struct GaussianScene: Sendable {
    /// Number of Gaussians N.
    public var count: Int
    /// [N, 3]
    public var means: [Float]
    /// [N, 4] (w, x, y, z), normalised inside
    public var quats: [Float]
    /// [N, 3]
    public var scales: [Float]
    /// [N]
    public var opacities: [Float]
    /// [N, K, 3] SH coefficients, K >= (shDegree + 1)²
    public var shCoefficients: [Float]
    /// K
    public var shCount: Int
    /// SH degree used, 0...3
    public var shDegree: Int

    /// Checks sizes and the SH degree; throws naming what does not fit.
    public init(
        means: [Float], quats: [Float], scales: [Float], opacities: [Float],
        shCoefficients: [Float], shDegree: Int
    ) throws {
        let n = opacities.count
        guard means.count == n * 3, quats.count == n * 4, scales.count == n * 3 else {
            throw LatticeError(
                .shapeMismatch,
                "GaussianScene: means \(means.count), quats \(quats.count), scales \(scales.count) values for \(n) opacities (expected 3N, 4N, 3N)"
            )
        }
        guard (0...3).contains(shDegree) else {
            throw LatticeError(
                .invalidArgument, "GaussianScene: SH degree \(shDegree), expected 0...3")
        }
        let k = n == 0 ? shBasisCount(degree: shDegree) : shCoefficients.count / (n * 3)
        guard n == 0 || (k * n * 3 == shCoefficients.count && k >= shBasisCount(degree: shDegree))
        else {
            throw LatticeError(
                .shapeMismatch,
                "GaussianScene: \(shCoefficients.count) SH values for \(n) Gaussians; expected [N, K, 3] with K >= \(shBasisCount(degree: shDegree))"
            )
        }
        self.count = n
        self.means = means
        self.quats = quats
        self.scales = scales
        self.opacities = opacities
        self.shCoefficients = shCoefficients
        self.shCount = k
        self.shDegree = shDegree
    }
}

/// Rasterizer settings (gsplat `rasterization` keyword arguments).
public struct SplatSettings: Sendable {
    public var eps2d: Float = 0.3
    public var nearPlane: Float = 0.01
    public var farPlane: Float = 1e10
    public var tileSize: Int = 16
    public var mode: RasterizeMode = .classic
    /// [C, 3]; nil means black.
    public var backgrounds: [Float]? = nil

    public init(
        eps2d: Float = 0.3, nearPlane: Float = 0.01, farPlane: Float = 1e10, tileSize: Int = 16,
        mode: RasterizeMode = .classic, backgrounds: [Float]? = nil
    ) {
        self.eps2d = eps2d
        self.nearPlane = nearPlane
        self.farPlane = farPlane
        self.tileSize = tileSize
        self.mode = mode
        self.backgrounds = backgrounds
    }
}

/// Everything a render produces, intermediates included ([C, N, ...] per camera).
public struct SplatRender: Sendable {
    public var radii: [Int32]
    public var means2d: [Float]
    public var depths: [Float]
    public var conics: [Float]
    public var compensations: [Float]
    public var raster: RasterInputs
    public var tiles: TileIntersections
    public var images: RasterOutputs
}

/// Gradients with respect to the scene, shaped like `GaussianScene`'s arrays.
public struct GaussianGradients: Sendable {
    public var means: [Double]
    public var quats: [Double]
    public var scales: [Double]
    public var opacities: [Double]
    public var shCoefficients: [Double]
}

/// Projects, shades, bins and composites `scene` for every camera (all the same image size).
/// Gaussians with non-finite values or behind the near plane are culled (radius 0), never
/// rendered; they get zero gradients.
public func rasterizeGaussians(
    _ scene: GaussianScene, cameras: [SplatCamera], settings: SplatSettings = SplatSettings()
) throws -> SplatRender {
    guard let first = cameras.first else {
        throw LatticeError(.invalidArgument, "rasterizeGaussians: no cameras")
    }
    let (w, h) = (first.width, first.height)
    guard cameras.allSatisfy({ $0.width == w && $0.height == h }) else {
        throw LatticeError(.invalidArgument, "rasterizeGaussians: cameras differ in image size")
    }
    guard settings.tileSize > 0, settings.eps2d >= 0 else {
        throw LatticeError(
            .invalidArgument,
            "rasterizeGaussians: tile size \(settings.tileSize), eps2d \(settings.eps2d)")
    }
    let cams = cameras.count
    let n = scene.count
    let backgrounds = settings.backgrounds ?? [Float](repeating: 0, count: cams * 3)
    guard backgrounds.count == cams * 3 else {
        throw LatticeError(
            .shapeMismatch,
            "rasterizeGaussians: \(backgrounds.count) background values for \(cams) cameras (expected [C, 3])"
        )
    }
    var radii = [Int32](repeating: 0, count: cams * n * 2)
    var means2d = [Float](repeating: 0, count: cams * n * 2)
    var depths = [Float](repeating: 0, count: cams * n)
    var conics = [Float](repeating: 0, count: cams * n * 3)
    var compensations = [Float](repeating: 1, count: cams * n)
    var opacities = [Float](repeating: 0, count: cams * n)
    var colors = [Float](repeating: 0, count: cams * n * 3)
    let antialiased = settings.mode == .antialiased
    let centers = cameras.map(\.center)
    radii.withUnsafeMutableBufferPointer { radiiB in
        means2d.withUnsafeMutableBufferPointer { m2 in
            depths.withUnsafeMutableBufferPointer { dB in
                conics.withUnsafeMutableBufferPointer { coB in
                    compensations.withUnsafeMutableBufferPointer { cpB in
                        opacities.withUnsafeMutableBufferPointer { opB in
                            colors.withUnsafeMutableBufferPointer { colB in
                                let (rP, mP, dP, coP, cpP, opP, colP) = (
                                    radiiB.baseAddress!, m2.baseAddress!, dB.baseAddress!,
                                    coB.baseAddress!, cpB.baseAddress!, opB.baseAddress!,
                                    colB.baseAddress!
                                )
                                Parallel.forRange(n, grain: 1024) { range in
                                    var basis = [Float](repeating: 0, count: 16)
                                    for i in range {
                                        let quat = Array(scene.quats[(i * 4)..<(i * 4 + 4)])
                                        let scale = Array(scene.scales[(i * 3)..<(i * 3 + 3)])
                                        let mean = Array(scene.means[(i * 3)..<(i * 3 + 3)])
                                        let cov = quatScaleToCovariance(quat: quat, scale: scale)
                                        for c in 0..<cams {
                                            let g = c * n + i
                                            let p = projectGaussian(
                                                mean: mean, covariance: cov, camera: cameras[c],
                                                eps2d: settings.eps2d,
                                                nearPlane: settings.nearPlane,
                                                farPlane: settings.farPlane,
                                                computeCompensation: antialiased)
                                            rP[g * 2] = p.radius.0
                                            rP[g * 2 + 1] = p.radius.1
                                            mP[g * 2] = p.mean2d.0
                                            mP[g * 2 + 1] = p.mean2d.1
                                            dP[g] = p.depth
                                            coP[g * 3] = p.conic.0
                                            coP[g * 3 + 1] = p.conic.1
                                            coP[g * 3 + 2] = p.conic.2
                                            cpP[g] = p.compensation
                                            opP[g] =
                                                antialiased
                                                ? scene.opacities[i] * p.compensation
                                                : scene.opacities[i]
                                            let rgb = shadeGaussian(
                                                scene, index: i, mean: mean, center: centers[c],
                                                basis: &basis)
                                            colP[g * 3] = clampMin(rgb.0, 0)
                                            colP[g * 3 + 1] = clampMin(rgb.1, 0)
                                            colP[g * 3 + 2] = clampMin(rgb.2, 0)
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
    let tileWidth = (w + settings.tileSize - 1) / settings.tileSize
    let tileHeight = (h + settings.tileSize - 1) / settings.tileSize
    let tiles = intersectTiles(
        means2d: means2d, radii: radii, depths: depths, cameras: cams, count: n,
        tileSize: settings.tileSize, tileWidth: tileWidth, tileHeight: tileHeight)
    let raster = RasterInputs(
        cameras: cams, count: n, width: w, height: h, means2d: means2d, conics: conics,
        opacities: opacities, colors: colors, depths: depths, backgrounds: backgrounds)
    let images = rasterizeToPixels(raster, tiles: tiles)
    return SplatRender(
        radii: radii, means2d: means2d, depths: depths, conics: conics,
        compensations: compensations, raster: raster, tiles: tiles, images: images)
}

/// View-dependent colour SH + 0.5 of Gaussian `index` seen from `center`, before the clamp at 0.
@inline(__always)
func shadeGaussian<T: SplatReal>(
    _ scene: GaussianScene, index i: Int, mean: [T], center: SIMD3<Float>, basis: inout [T]
) -> (T, T, T) {
    let degree = scene.shDegree
    let k = shBasisCount(degree: degree)
    if degree > 0 {
        let (x, y, z) = viewDirection(mean: mean, center: center)
        basis.withUnsafeMutableBufferPointer {
            shBasis(degree: degree, x, y, z, into: $0.baseAddress!)
        }
    } else {
        basis[0] = T(0.2820947917738781)
    }
    var rgb = [T(0), T(0), T(0)]
    let base = i * scene.shCount * 3
    for j in 0..<k {
        for ch in 0..<3 {
            rgb[ch] = rgb[ch] + basis[j] * T(scene.shCoefficients[base + j * 3 + ch])
        }
    }
    let half = T(0.5)
    return (rgb[0] + half, rgb[1] + half, rgb[2] + half)
}

/// Gradients of a loss on the rendered rgb [C,H,W,3], alpha [C,H,W] and expected depth [C,H,W]
/// (nil = zero) with respect to the scene. Compositing is differentiated by hand; projection and
/// SH are differentiated in forward mode (`SplatDual`) per Gaussian and camera.
public func rasterizeGaussiansBackward(
    _ scene: GaussianScene, cameras: [SplatCamera], settings: SplatSettings = SplatSettings(),
    render: SplatRender, gradRGB: [Float]?, gradAlpha: [Float]? = nil, gradDepth: [Float]? = nil
) -> GaussianGradients {
    let n = scene.count
    let cams = cameras.count
    let rg = rasterizeToPixelsBackward(
        render.raster, tiles: render.tiles, gradRGB: gradRGB,
        gradAlpha: gradAlpha, gradDepth: gradDepth)
    var grads = GaussianGradients(
        means: .init(repeating: 0, count: n * 3), quats: .init(repeating: 0, count: n * 4),
        scales: .init(repeating: 0, count: n * 3), opacities: .init(repeating: 0, count: n),
        shCoefficients: .init(repeating: 0, count: scene.shCoefficients.count))
    let antialiased = settings.mode == .antialiased
    let centers = cameras.map(\.center)
    let k = shBasisCount(degree: scene.shDegree)
    grads.means.withUnsafeMutableBufferPointer { gm in
        grads.quats.withUnsafeMutableBufferPointer { gq in
            grads.scales.withUnsafeMutableBufferPointer { gs in
                grads.opacities.withUnsafeMutableBufferPointer { go in
                    grads.shCoefficients.withUnsafeMutableBufferPointer { gsh in
                        let (gmP, gqP, gsP, goP, gshP) = (
                            gm.baseAddress!, gq.baseAddress!, gs.baseAddress!, go.baseAddress!,
                            gsh.baseAddress!
                        )
                        // Each Gaussian's gradients are written by one worker only.
                        Parallel.forRange(n, grain: 256) { range in
                            var basis = [SplatDual](repeating: SplatDual(0), count: 16)
                            for i in range {
                                // Tangent directions: mean 0-2, quat 3-6, scale 7-9.
                                let mean = (0..<3).map {
                                    SplatDual(variable: Double(scene.means[i * 3 + $0]), index: $0)
                                }
                                let quat = (0..<4).map {
                                    SplatDual(
                                        variable: Double(scene.quats[i * 4 + $0]), index: 3 + $0)
                                }
                                let scale = (0..<3).map {
                                    SplatDual(
                                        variable: Double(scene.scales[i * 3 + $0]), index: 7 + $0)
                                }
                                var cov: [SplatDual]? = nil
                                var total = SIMD16<Double>.zero
                                for c in 0..<cams {
                                    let g = c * n + i
                                    guard render.radii[g * 2] > 0, render.radii[g * 2 + 1] > 0
                                    else {
                                        continue
                                    }
                                    if cov == nil {
                                        cov = quatScaleToCovariance(quat: quat, scale: scale)
                                    }
                                    let p = projectGaussian(
                                        mean: mean, covariance: cov!, camera: cameras[c],
                                        eps2d: settings.eps2d, nearPlane: settings.nearPlane,
                                        farPlane: settings.farPlane,
                                        computeCompensation: antialiased)
                                    var t = p.mean2d.0.tangent * rg.means2d[g * 2]
                                    t += p.mean2d.1.tangent * rg.means2d[g * 2 + 1]
                                    t += p.conic.0.tangent * rg.conics[g * 3]
                                    t += p.conic.1.tangent * rg.conics[g * 3 + 1]
                                    t += p.conic.2.tangent * rg.conics[g * 3 + 2]
                                    t += p.depth.tangent * rg.depths[g]
                                    let o = Double(scene.opacities[i])
                                    if antialiased {
                                        t += p.compensation.tangent * (rg.opacities[g] * o)
                                        goP[i] += rg.opacities[g] * p.compensation.value
                                    } else {
                                        goP[i] += rg.opacities[g]
                                    }
                                    // SH: coefficients linearly, the mean through the view direction.
                                    let rgb = shadeGaussian(
                                        scene, index: i, mean: mean, center: centers[c],
                                        basis: &basis)
                                    let gColor = [
                                        rg.colors[g * 3], rg.colors[g * 3 + 1],
                                        rg.colors[g * 3 + 2],
                                    ]
                                    let channels = [rgb.0, rgb.1, rgb.2]
                                    for ch in 0..<3 {
                                        // max(x, 0) passes the gradient only where x >= 0.
                                        guard channels[ch].value >= 0, gColor[ch] != 0 else {
                                            continue
                                        }
                                        t += channels[ch].tangent * gColor[ch]
                                        for j in 0..<k {
                                            gshP[(i * scene.shCount + j) * 3 + ch] +=
                                                gColor[ch] * basis[j].value
                                        }
                                    }
                                    total += t
                                }
                                for d in 0..<3 { gmP[i * 3 + d] = total[d] }
                                for d in 0..<4 { gqP[i * 4 + d] = total[3 + d] }
                                for d in 0..<3 { gsP[i * 3 + d] = total[7 + d] }
                            }
                        }
                    }
                }
            }
        }
    }
    return grads
}
