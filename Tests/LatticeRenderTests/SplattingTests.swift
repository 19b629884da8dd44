// Gaussian splatting: fast tiles vs the per-pixel reference twin, bad input handling, and the
// backward pass against central finite differences for every parameter kind.
import Foundation
import LatticeGeometry
import Testing

@testable import LatticeRender

/// Deterministic uniform numbers for test scenes.
private struct TestRandom {
    var state: UInt64
    mutating func next() -> Float {
        state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
        return Float(state >> 40) / Float(1 << 24)
    }
    mutating func uniform(_ lo: Float, _ hi: Float) -> Float { lo + (hi - lo) * next() }
}

/// Orbit cameras looking at the origin, intrinsics in pixels.
private func orbitCameras(_ count: Int, width: Int, height: Int, focal: Float, radius: Double)
    throws -> [SplatCamera]
{
    try (0..<count).map { i in
        let (e, _) = try yawPitchRadiusFovToExtrinsicsIntrinsics(
            yaw: 0.4 + 1.9 * Double(i), pitch: 0.3 - 0.5 * Double(i), radius: radius,
            fovDegrees: 40)
        let k: [Float] = [focal, 0, Float(width) / 2, 0, focal, Float(height) / 2, 0, 0, 1]
        return try SplatCamera(viewmat: e, k: k, width: width, height: height)
    }
}

/// A random scene: means in [-spread, spread]^3, scales in `scaleRange`.
private func randomScene(
    _ n: Int, seed: UInt64, spread: Float, scaleRange: (Float, Float),
    opacityRange: (Float, Float), shDegree: Int, shScale: Float
) throws -> GaussianScene {
    var r = TestRandom(state: seed)
    let k = shBasisCount(degree: shDegree)
    var means: [Float] = []
    for i in 0..<n {
        // Distinct depths along the view axis keep the sort order stable under perturbation.
        means += [
            r.uniform(-spread, spread), r.uniform(-spread, spread),
            -spread + 2 * spread * Float(i) / Float(max(n - 1, 1)),
        ]
    }
    return try GaussianScene(
        means: means, quats: (0..<(n * 4)).map { _ in r.uniform(-1, 1) },
        scales: (0..<(n * 3)).map { _ in r.uniform(scaleRange.0, scaleRange.1) },
        opacities: (0..<n).map { _ in r.uniform(opacityRange.0, opacityRange.1) },
        shCoefficients: (0..<(n * k * 3)).map { _ in r.uniform(-shScale, shScale) },
        shDegree: shDegree)
}

@Suite struct SplattingTests {
    @Test(arguments: [RasterizeMode.classic, .antialiased])
    func tilesMatchPerPixelReference(_ mode: RasterizeMode) throws {
        // Same per-pixel arithmetic in the same order: the twins must agree to the bit.
        let scene = try randomScene(
            150, seed: 7, spread: 0.5, scaleRange: (0.01, 0.12), opacityRange: (0.05, 1),
            shDegree: 2, shScale: 0.6)
        let cams = try orbitCameras(2, width: 40, height: 36, focal: 45, radius: 2.5)
        let settings = SplatSettings(eps2d: 0.3, mode: mode, backgrounds: [0, 0, 0, 1, 0.5, 0.25])
        let r = try rasterizeGaussians(scene, cameras: cams, settings: settings)
        let ref = rasterizeToPixelsReference(r.raster, radii: r.radii, tileSize: 16)
        #expect(r.images.rgb == ref.rgb)
        #expect(r.images.alpha == ref.alpha)
        #expect(r.images.depth == ref.depth)
        #expect(r.tiles.flattenIds.count == r.tiles.tilesPerGauss.reduce(0) { $0 + Int($1) })
    }

    @Test func badGaussiansAreCulledNotRendered() throws {
        var scene = try randomScene(
            10, seed: 3, spread: 0.3, scaleRange: (0.05, 0.1), opacityRange: (0.3, 0.8),
            shDegree: 1, shScale: 0.3)
        scene.means[0] = .nan
        scene.quats[4...7] = [0, 0, 0, 0]
        scene.scales[6] = .infinity
        let cams = try orbitCameras(1, width: 24, height: 24, focal: 30, radius: 2)
        let r = try rasterizeGaussians(scene, cameras: cams)
        #expect(r.radii[0] == 0 && r.radii[1] == 0)
        #expect(r.images.rgb.allSatisfy { $0.isFinite })
        #expect(r.images.depth.allSatisfy { $0.isFinite })
        let g = rasterizeGaussiansBackward(
            scene, cameras: cams, render: r, gradRGB: [Float](repeating: 1, count: 24 * 24 * 3))
        #expect(g.means[0...2].allSatisfy { $0 == 0 })
    }

    @Test func degenerateCamerasThrow() {
        #expect(throws: (any Error).self) {
            _ = try SplatCamera(
                viewmat: [Float](repeating: 0, count: 16), k: [0, 0, 1, 0, 0, 1, 0, 0, 1],
                width: 8, height: 8)
        }
        #expect(throws: (any Error).self) {
            _ = try extrinsicsLookAt(
                eye: SIMD3(0, 0, 1), lookAt: SIMD3(0, 0, 0), up: SIMD3(0, 0, 1))
        }
        #expect(throws: (any Error).self) {
            _ = try rasterizeGaussians(
                try GaussianScene(
                    means: [], quats: [], scales: [], opacities: [], shCoefficients: [],
                    shDegree: 0), cameras: [])
        }
    }

    /// Loss = Σ rgb·wc + Σ alpha·wa + Σ depth·wd, in Double over the Float images.
    private func loss(_ img: RasterOutputs, _ wc: [Float], _ wa: [Float], _ wd: [Float]) -> Double {
        var s = 0.0
        for i in wc.indices { s += Double(img.rgb[i]) * Double(wc[i]) }
        for i in wa.indices {
            s += Double(img.alpha[i]) * Double(wa[i]) + Double(img.depth[i]) * Double(wd[i])
        }
        return s
    }

    @Test(arguments: [
        (RasterizeMode.classic, 0), (.classic, 3), (.antialiased, 1), (.antialiased, 3),
    ])
    func backwardMatchesFiniteDifferences(_ mode: RasterizeMode, _ shDegree: Int) throws {
        // Wide, semi-transparent splats: every pixel sees every Gaussian well above the 1/255
        // skip, T stays far above the 1e-4 stop and alpha below 0.999, depths are separated and
        // colours stay positive, so the loss is smooth where we difference it.
        let n = 5
        let scene = try randomScene(
            n, seed: 11 + UInt64(shDegree), spread: 0.3, scaleRange: (1.5, 2.5),
            opacityRange: (0.2, 0.5), shDegree: shDegree, shScale: 0.15)
        let cams = try orbitCameras(2, width: 20, height: 18, focal: 24, radius: 4)
        let settings = SplatSettings(
            eps2d: mode == .antialiased ? 3 : 0.3, mode: mode,
            backgrounds: [0.2, 0.4, 0.6, 1, 1, 1])
        var r = TestRandom(state: 99)
        let pixels = 2 * 20 * 18
        let wc = (0..<(pixels * 3)).map { _ in r.uniform(-1, 1) }
        let wa = (0..<pixels).map { _ in r.uniform(-1, 1) }
        let wd = (0..<pixels).map { _ in r.uniform(-0.2, 0.2) }
        let render = try rasterizeGaussians(scene, cameras: cams, settings: settings)
        let g = rasterizeGaussiansBackward(
            scene, cameras: cams, settings: settings, render: render, gradRGB: wc, gradAlpha: wa,
            gradDepth: wd)

        func check(
            _ name: String, _ values: [Float], _ analytic: [Double],
            _ set: (inout GaussianScene, [Float]) -> Void
        ) throws {
            let eps: Float = 2e-3
            var worst = 0.0
            for i in values.indices {
                var plus = values
                var minus = values
                plus[i] += eps
                minus[i] -= eps
                var sp = scene
                set(&sp, plus)
                var sm = scene
                set(&sm, minus)
                let lp = loss(
                    try rasterizeGaussians(sp, cameras: cams, settings: settings).images, wc, wa, wd
                )
                let lm = loss(
                    try rasterizeGaussians(sm, cameras: cams, settings: settings).images, wc, wa, wd
                )
                let fd = (lp - lm) / Double(Float(values[i] + eps) - Float(values[i] - eps))
                // Float32 images summed over ~1k pixels carry ~1e-5 noise; /4e-3 gives ~3e-3,
                // plus 2% for the O(eps²) truncation of the central difference.
                let err = abs(fd - analytic[i]) / (5e-3 + 0.02 * abs(analytic[i]))
                worst = max(worst, err)
                #expect(err <= 1, "\(name)[\(i)]: finite difference \(fd), analytic \(analytic[i])")
            }
            print("FD \(mode) sh\(shDegree) \(name): worst error / tolerance \(worst)")
        }
        try check("means", scene.means, g.means) { $0.means = $1 }
        try check("quats", scene.quats, g.quats) { $0.quats = $1 }
        try check("scales", scene.scales, g.scales) { $0.scales = $1 }
        try check("opacities", scene.opacities, g.opacities) { $0.opacities = $1 }
        try check("sh", scene.shCoefficients, g.shCoefficients) { $0.shCoefficients = $1 }
    }

    @Test func compositingBackwardMatchesFiniteDifferences() throws {
        // Stage check of rasterizeToPixelsBackward alone, on the projected inputs (tiles fixed):
        // the same smooth wide-splat regime and noise budget as the end-to-end test.
        let scene = try randomScene(
            5, seed: 21, spread: 0.3, scaleRange: (1.5, 2.5), opacityRange: (0.2, 0.5),
            shDegree: 0, shScale: 0.2)
        let cams = try orbitCameras(2, width: 20, height: 18, focal: 24, radius: 4)
        let settings = SplatSettings(backgrounds: [0.1, 0.2, 0.3, 0.9, 0.8, 0.7])
        let render = try rasterizeGaussians(scene, cameras: cams, settings: settings)
        var rnd = TestRandom(state: 5)
        let pixels = 2 * 20 * 18
        let wc = (0..<(pixels * 3)).map { _ in rnd.uniform(-1, 1) }
        let wa = (0..<pixels).map { _ in rnd.uniform(-1, 1) }
        let wd = (0..<pixels).map { _ in rnd.uniform(-0.2, 0.2) }
        let g = rasterizeToPixelsBackward(
            render.raster, tiles: render.tiles, gradRGB: wc, gradAlpha: wa, gradDepth: wd)
        // Steps per field: conics are ~1/81 and the loss is curved in them (σ ~ A dx² / 2 with dx up
        // to 20 px), so they get a step of 2e-4: truncation ~(2e-4 · 200)², float noise ~0.03.
        func check(
            _ name: String, _ keyPath: WritableKeyPath<RasterInputs, [Float]>, _ analytic: [Double],
            eps: Float = 2e-3
        ) {
            for i in render.raster[keyPath: keyPath].indices {
                var plus = render.raster
                plus[keyPath: keyPath][i] += eps
                var minus = render.raster
                minus[keyPath: keyPath][i] -= eps
                let lp = loss(rasterizeToPixels(plus, tiles: render.tiles), wc, wa, wd)
                let lm = loss(rasterizeToPixels(minus, tiles: render.tiles), wc, wa, wd)
                let h = Double(
                    render.raster[keyPath: keyPath][i] + eps
                        - (render.raster[keyPath: keyPath][i] - eps))
                let fd = (lp - lm) / h
                let err = abs(fd - analytic[i]) / (5e-3 + 0.02 * abs(analytic[i]))
                #expect(err <= 1, "\(name)[\(i)]: finite difference \(fd), analytic \(analytic[i])")
            }
        }
        check("means2d", \.means2d, g.means2d, eps: 1e-2)
        check("conics", \.conics, g.conics, eps: 2e-4)
        check("opacities", \.opacities, g.opacities)
        check("colors", \.colors, g.colors)
        check("depths", \.depths, g.depths)
    }

    @Test func backwardIsDeterministic() throws {
        let scene = try randomScene(
            200, seed: 5, spread: 0.5, scaleRange: (0.02, 0.1), opacityRange: (0.1, 1),
            shDegree: 3, shScale: 0.5)
        let cams = try orbitCameras(2, width: 48, height: 40, focal: 50, radius: 2.5)
        let render = try rasterizeGaussians(scene, cameras: cams)
        let w = [Float](repeating: 0.5, count: 2 * 48 * 40 * 3)
        let a = rasterizeGaussiansBackward(scene, cameras: cams, render: render, gradRGB: w)
        let b = rasterizeGaussiansBackward(scene, cameras: cams, render: render, gradRGB: w)
        #expect(a.means == b.means && a.shCoefficients == b.shCoefficients)
    }
}
