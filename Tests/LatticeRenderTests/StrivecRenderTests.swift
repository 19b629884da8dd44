// The Strivec renderer: the tiled renderer against its naive Double twin on random mixed-depth
// fields, analytic single-voxel cases (alpha = 1 - exp(-sigma * length), colour over background,
// sample positions with extrapolation), empty fields, the camera model, determinism, and
// finite-difference checks of the backward pass.
import Foundation
import LatticeGeometry
import LatticeTensor
import LatticeTestSupport
import Testing

@testable import LatticeRender

/// A field over [-0.5, 0.5]^3 from explicit leaves (aabb-normalised centre, depth).
func strivecField(
    leaves: [(SIMD3<Float>, Int)], resolution: Int, rank: Int, dim: Int, trivec: [Float],
    density: [Float], featuresDC: [Float]
) throws -> Strivec {
    let field = try Strivec(
        resolution: resolution, aabb: [-0.5, -0.5, -0.5, 1, 1, 1], rank: rank, dim: dim)
    let n = leaves.count
    field.position = Tensor(leaves.flatMap { [$0.0.x, $0.0.y, $0.0.z] }, shape: [n, 3])
    field.depth = Tensor(int32: leaves.map { Int32($0.1) }, shape: [n, 1])
    field.trivec = Tensor(trivec, shape: [n, rank, 3, dim])
    field.density = Tensor(density, shape: [n, rank])
    field.featuresDC = Tensor(featuresDC, shape: [n, rank, 1, 3])
    return field
}

/// Random octree leaves: occupied depth-2 cells, about half split into a random subset of their
/// depth-3 children, so leaves of two sizes never overlap.
func randomStrivec(seed: UInt64, rank: Int, dim: Int, densityMean: Float) throws -> Strivec {
    var gen = RandomGenerator(seed: seed)
    var leaves: [(SIMD3<Float>, Int)] = []
    let coin = gen.uniform(count: 64 * 10)
    for cell in 0..<64 {
        let ijk = SIMD3<Float>(Float(cell % 4), Float(cell / 4 % 4), Float(cell / 16))
        let c = cell * 10
        if coin[c] > 0.35 { continue }
        if coin[c + 1] < 0.5 {
            leaves.append(((ijk + 0.5) / 4, 2))
            continue
        }
        for child in 0..<8 where coin[c + 2 + child] < 0.5 {
            let o = SIMD3<Float>(Float(child & 1), Float(child >> 1 & 1), Float(child >> 2))
            leaves.append(((ijk * 2 + o + 0.5) / 8, 3))
        }
    }
    let n = leaves.count
    let trivec = gen.normal(count: n * rank * 3 * dim).map { 1 + 0.3 * $0 }
    let density = gen.normal(count: n * rank).map { densityMean / Float(rank) + 2 * $0 }
    let fdc = gen.normal(count: n * rank * 3).map { 2 * $0 }
    return try strivecField(
        leaves: leaves, resolution: 8, rank: rank, dim: dim, trivec: trivec, density: density,
        featuresDC: fdc)
}

/// One voxel of depth 2 (edge 1/4) at world (-0.125, -0.125, -0.125), rank 1.
func singleVoxel(dim: Int, x: [Float], density: Float, fdc: SIMD3<Float>) throws -> Strivec {
    let ones = [Float](repeating: 1, count: dim)
    return try strivecField(
        leaves: [(SIMD3(repeating: 0.375), 2)], resolution: 4, rank: 1, dim: dim,
        trivec: x + ones + ones, density: [density], featuresDC: [fdc.x, fdc.y, fdc.z])
}

@Suite struct StrivecRenderTests {
    static let c0 = 0.28209479177387814

    @Test func tiledRendererMatchesNaiveTwin() throws {
        for (seed, offset) in [(1, StrivecSampleOffset.fixed(0.5)), (2, .random(seed: 9))] {
            let field = try randomStrivec(
                seed: UInt64(seed), rank: 4, dim: 8, densityMean: 30)
            let (e, k) = try yawPitchRadiusFovToExtrinsicsIntrinsics(
                yaw: 0.7 + Double(seed), pitch: 0.35, radius: 2, fovDegrees: 40)
            let size = 40
            let bg = SIMD3<Float>(0.1, 0.5, 0.9)
            let fast = try renderStrivec(
                field, extrinsics: e, intrinsics: k,
                settings: StrivecRenderSettings(
                    width: size, height: size, background: bg, ssaa: 1, sampleOffset: offset))
            let slow = renderStrivecReference(
                field, extrinsics: e, intrinsics: k, width: size, height: size,
                background: SIMD3<Double>(bg), sampleOffset: offset)
            // Float vs Double agree to ~1e-5 except where a sample sits within float rounding
            // of a voxel face (the two then take a different number of samples in that voxel),
            // which may happen at a handful of pixels: allow 0.5% of pixels to differ by more.
            var bad = 0
            var worst = 0.0
            var covered = 0
            for p in 0..<(size * size) {
                var err = abs(Double(fast.alpha.pixels[p]) - slow.alpha[p])
                err = max(err, abs(Double(fast.depth[p]) - slow.depth[p]))
                for c in 0..<3 {
                    err = max(err, abs(Double(fast.rgb.pixels[3 * p + c]) - slow.rgb[3 * p + c]))
                }
                if err > 1e-4 { bad += 1 } else { worst = max(worst, err) }
                if slow.alpha[p] > 0.01 { covered += 1 }
            }
            #expect(covered > size * size / 10, "the field covers \(covered) pixels")
            #expect(bad <= size * size / 200, "\(bad) pixels differ by more than 1e-4")
            #expect(worst < 1e-4)
        }
    }

    @Test func constantVoxelHeadOnIsBeerLambert() throws {
        let sigmaRaw: Float = 3
        let fdc = SIMD3<Float>(2, -1, 0.5)
        let field = try singleVoxel(
            dim: 8, x: [Float](repeating: 1, count: 8), density: sigmaRaw, fdc: fdc)
        // Step = edge / 16 = 1/64; the eye sits 100.25 steps before the near face, so exactly
        // 16 samples (t = 100...115, at z = (t + 0.5) / 64) fall inside the voxel.
        let centre = SIMD3<Float>(repeating: -0.125)
        let eye = centre - SIMD3(0, 100.25 / 64 + 0.125, 0)
        let e = try extrinsicsLookAt(eye: eye, lookAt: centre, up: SIMD3(0, 0, 1))
        let k = intrinsicsFromFov(x: 0.3, y: 0.3)
        let bg = SIMD3<Float>(0.2, 0.4, 0.6)
        let out = try renderStrivec(
            field, extrinsics: e, intrinsics: k,
            settings: StrivecRenderSettings(
                width: 9, height: 9, background: bg, ssaa: 1, sampleOffset: .fixed(0.5)))
        let sigma = log1p(exp(Double(sigmaRaw)))
        let alpha = 1 - exp(-sigma * 0.25)
        let p = 4 * 9 + 4  // the centre pixel's ray is the optical axis
        // Float exp/log over 16 samples: ~1e-6.
        #expect(abs(Double(out.alpha.pixels[p]) - alpha) < 1e-5)
        for c in 0..<3 {
            let colour = 1 / (1 + exp(-Self.c0 * Double(fdc[c])))
            let expected = colour * alpha + Double(bg[c]) * (1 - alpha)
            #expect(abs(Double(out.rgb.pixels[3 * p + c]) - expected) < 1e-5)
        }
        // Depth: the 16-point quadrature sum z_i * a (1 - a)^i of the per-sample opacity a.
        let a = 1 - exp(-sigma / 64)
        var depth = 0.0
        for i in 0..<16 { depth += (100.5 + Double(i)) / 64 * a * pow(1 - a, Double(i)) }
        #expect(abs(Double(out.depth[p]) - depth) < 1e-5)
        // Corner pixels miss the voxel: background, zero alpha and depth.
        #expect(out.alpha.pixels[0] == 0 && out.depth[0] == 0)
        #expect(Array(out.rgb.pixels[0..<3]) == [bg.x, bg.y, bg.z])
    }

    @Test func samplesSitOnTheRayGridAndExtrapolate() throws {
        // x-vector linear in the cell index: v(u) = 0.5 + 0.25 u with u = (p - lo) / edge * 8
        // - 0.5, also past the outer cell centres (u < 0 and u > 7). The ray runs along +x.
        let x = (0..<8).map { 0.5 + 0.25 * Float($0) }
        let field = try singleVoxel(dim: 8, x: x, density: 1, fdc: .zero)
        let centre = SIMD3<Float>(repeating: -0.125)
        let eye = centre - SIMD3(100.25 / 64 + 0.125, 0, 0)
        let e = try extrinsicsLookAt(eye: eye, lookAt: centre, up: SIMD3(0, 0, 1))
        let k = intrinsicsFromFov(x: 0.3, y: 0.3)
        let out = try renderStrivec(
            field, extrinsics: e, intrinsics: k,
            settings: StrivecRenderSettings(
                width: 9, height: 9, ssaa: 1, sampleOffset: .fixed(0.5)))
        var opticalDepth = 0.0
        for i in 0..<16 {
            let intoVoxel = (0.25 + Double(i)) / 64  // sample distance past the near face
            let u = intoVoxel / 0.25 * 8 - 0.5
            opticalDepth += log1p(exp(0.5 + 0.25 * u)) / 64
        }
        // Float arithmetic over 16 samples: ~1e-6.
        #expect(abs(Double(out.alpha.pixels[4 * 9 + 4]) - (1 - exp(-opticalDepth))) < 1e-5)
        // Colour 0 pre-activation: sigmoid(0) = 0.5 times alpha over black.
        #expect(abs(out.rgb.pixels[3 * 40] - 0.5 * out.alpha.pixels[40]) < 1e-6)
    }

    @Test func emptyAndHiddenFieldsShowTheBackground() throws {
        let (e, k) = try yawPitchRadiusFovToExtrinsicsIntrinsics(
            yaw: 0.2, pitch: 0.1, radius: 2, fovDegrees: 40)
        let bg = SIMD3<Float>(1, 0.5, 0)
        let settings = StrivecRenderSettings(width: 16, height: 12, background: bg, ssaa: 2)
        let empty = try Strivec(resolution: 64, aabb: [-0.5, -0.5, -0.5, 1, 1, 1], rank: 2, dim: 4)
        // A voxel 0.1 in front of an eye inside the box (view z <= 0.2) is culled as upstream.
        let (ei, ki) = try yawPitchRadiusFovToExtrinsicsIntrinsics(
            yaw: 0.2, pitch: 0.1, radius: 0.3, fovDegrees: 40)
        let eye = (0..<3).map { a in -(ei[a] * ei[3] + ei[4 + a] * ei[7] + ei[8 + a] * ei[11]) }
        let front = SIMD3<Float>(eye[0], eye[1], eye[2]) + 0.1 * SIMD3(ei[8], ei[9], ei[10])
        let hidden = try strivecField(
            leaves: [(front + 0.5, 4)], resolution: 16, rank: 1, dim: 2,
            trivec: [1, 1, 1, 1, 1, 1], density: [50], featuresDC: [1, 1, 1])
        for (field, e, k) in [(empty, e, k), (hidden, ei, ki)] {
            let out = try renderStrivec(field, extrinsics: e, intrinsics: k, settings: settings)
            #expect(out.alpha.pixels.allSatisfy { $0 == 0 })
            #expect(out.depth.allSatisfy { $0 == 0 })
            for p in 0..<(16 * 12) {
                #expect(Array(out.rgb.pixels[(3 * p)..<(3 * p + 3)]) == [bg.x, bg.y, bg.z])
            }
        }
    }

    @Test func opaqueVoxelLandsWhereTheCameraProjectsIt() throws {
        // A small opaque voxel (edge 1/32, ~4 px here) off the axis; its alpha-weighted
        // centroid must be its centre's projection u = (fx x / z + cx) W with pixel centres at
        // +0.5. Coverage is quantised to 1/4 px by ssaa 4 (centroid within ~1/8 px) and
        // perspective skews the box by a few hundredths of a pixel: 0.2 px.
        let cell = SIMD3<Float>(20, 9, 13)
        let world = (cell + 0.5) / 32 - 0.5
        let field = try strivecField(
            leaves: [((cell + 0.5) / 32, 5)], resolution: 32, rank: 1, dim: 2,
            trivec: [1, 1, 1, 1, 1, 1], density: [400], featuresDC: [0, 0, 0])
        let (e, k) = try yawPitchRadiusFovToExtrinsicsIntrinsics(
            yaw: 0.9, pitch: -0.4, radius: 2, fovDegrees: 40)
        let size = 200
        let out = try renderStrivec(
            field, extrinsics: e, intrinsics: k,
            settings: StrivecRenderSettings(width: size, height: size, ssaa: 4))
        var (sum, su, sv) = (0.0, 0.0, 0.0)
        for py in 0..<size {
            for px in 0..<size {
                let a = Double(out.alpha.pixels[py * size + px])
                sum += a
                su += a * (Double(px) + 0.5)
                sv += a * (Double(py) + 0.5)
            }
        }
        let cam = (0..<3).map { r in
            Double(
                e[4 * r] * world.x + e[4 * r + 1] * world.y + e[4 * r + 2] * world.z + e[4 * r + 3])
        }
        let u = (Double(k[0]) * cam[0] / cam[2] + Double(k[2])) * Double(size)
        let v = (Double(k[4]) * cam[1] / cam[2] + Double(k[5])) * Double(size)
        #expect(sum > 10)
        #expect(abs(su / sum - u) < 0.2 && abs(sv / sum - v) < 0.2)
    }

    @Test func sameBitsForAnyThreadCount() throws {
        let field = try randomStrivec(seed: 3, rank: 2, dim: 4, densityMean: 20)
        let (e, k) = try yawPitchRadiusFovToExtrinsicsIntrinsics(
            yaw: 2.0, pitch: 0.5, radius: 2, fovDegrees: 40)
        let settings = StrivecRenderSettings(width: 48, height: 40, ssaa: 2)
        let saved = Parallel.threadCount
        defer { Parallel.threadCount = saved }
        Parallel.threadCount = 1
        let one = try renderStrivec(field, extrinsics: e, intrinsics: k, settings: settings)
        Parallel.threadCount = 2
        let two = try renderStrivec(field, extrinsics: e, intrinsics: k, settings: settings)
        #expect(one.rgb.pixels == two.rgb.pixels && one.depth == two.depth)
    }

    @Test func tensorEntryMatchesImageEntry() throws {
        let field = try randomStrivec(seed: 4, rank: 2, dim: 4, densityMean: 20)
        let (e, k) = try yawPitchRadiusFovToExtrinsicsIntrinsics(
            yaw: 1.0, pitch: 0.2, radius: 2, fovDegrees: 40)
        let settings = StrivecRenderSettings(width: 24, height: 20, ssaa: 2)
        let image = try renderStrivec(field, extrinsics: e, intrinsics: k, settings: settings)
        let t = try renderStrivecTensors(field, extrinsics: e, intrinsics: k, settings: settings)
        #expect(t.rgb.shape == [20, 24, 3] && t.alpha.shape == [20, 24])
        #expect(t.rgb.contiguous().toFloats() == image.rgb.pixels)
        #expect(t.alpha.contiguous().toFloats() == image.alpha.pixels)
        #expect(t.depth.contiguous().toFloats() == image.depth)
    }

    @Test(arguments: [1, 2])
    func backwardMatchesFiniteDifferences(ssaa: Int) throws {
        // Moderate densities keep every sample clear of the 0.999 opacity clamp, the 1e-3
        // termination and softplus's switch at 10, where the render is not differentiable.
        let base = try randomStrivec(seed: 5, rank: 2, dim: 3, densityMean: 3)
        let keep = min(base.count, 6)
        let field = try strivecField(
            leaves: (0..<keep).map { i in
                let p = base.position.toFloats()
                return (SIMD3(p[3 * i], p[3 * i + 1], p[3 * i + 2]), Int(base.depth.toFloats()[i]))
            }, resolution: 8, rank: 2, dim: 3,
            trivec: Array(base.trivec.toFloats()[0..<(keep * 18)]),
            density: Array(base.density.toFloats()[0..<(keep * 2)]),
            featuresDC: Array(base.featuresDC.toFloats()[0..<(keep * 6)]))
        let (e, k) = try yawPitchRadiusFovToExtrinsicsIntrinsics(
            yaw: 0.6, pitch: 0.3, radius: 1.4, fovDegrees: 50)
        let settings = StrivecRenderSettings(
            width: 12, height: 12, background: SIMD3(0.3, 0.6, 0.9), ssaa: ssaa,
            sampleOffset: .random(seed: 2))
        let coverage = try renderStrivec(field, extrinsics: e, intrinsics: k, settings: settings)
        #expect(coverage.alpha.pixels.filter { $0 > 0.05 }.count > 10)
        for output in 0..<3 {
            // Central differences in Float on sums of ~100 pixels: h = 1e-2, 2e-2 relative
            // (gradCheck's defaults) absorb the O(h^2) and rounding terms.
            let worst = gradCheck([field.trivec, field.density, field.featuresDC]) { xs in
                let f = try! strivecField(
                    leaves: [], resolution: 8, rank: 2, dim: 3, trivec: [], density: [],
                    featuresDC: [])
                f.position = field.position
                f.depth = field.depth
                f.trivec = xs[0]
                f.density = xs[1]
                f.featuresDC = xs[2]
                let r = try! renderStrivecTensors(
                    f, extrinsics: e, intrinsics: k, settings: settings)
                return [r.rgb, r.alpha, r.depth][output]
            }
            #expect(worst < 2e-2)
        }
    }
}
