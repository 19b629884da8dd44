// Mesh rasterizer: the tiled kernel against its per-sample twin, analytic scenes (a quad at a
// known depth, a tilted plane for perspective correctness, a floor crossing the near plane, a
// cube's normals), watertightness, supersampling filters against PyTorch values, and the
// attribute gradients against finite differences.
import Foundation
import LatticeGeometry
import LatticeTensor
import LatticeTestSupport
import Testing

@testable import LatticeRender

private struct MeshRandom {
    var state: UInt64
    mutating func next() -> Float {
        state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
        return Float(state >> 40) / Float(1 << 24)
    }
    mutating func uniform(_ lo: Float, _ hi: Float) -> Float { lo + (hi - lo) * next() }
}

/// World = camera frame (identity extrinsics), fx = fy = 1, principal point at the centre.
private let identityExtrinsics: Matrix4 = [1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1]
private let unitIntrinsics: Matrix3 = [1, 0, 0.5, 0, 1, 0.5, 0, 0, 1]

private func quad(_ x0: Float, _ x1: Float, _ y0: Float, _ y1: Float, z: (Float, Float) -> Float)
    -> TriangleMesh
{
    TriangleMesh(
        vertices: [
            SIMD3(x0, y0, z(x0, y0)), SIMD3(x1, y0, z(x1, y0)), SIMD3(x1, y1, z(x1, y1)),
            SIMD3(x0, y1, z(x0, y1)),
        ],
        faces: [SIMD3(0, 1, 2), SIMD3(0, 2, 3)])
}

@Suite struct MeshRasterizerTests {
    @Test func tiledKernelMatchesPerSampleTwin() throws {
        // Random triangles in front of, across and behind the camera, some sharing edges, at a
        // size that is not a multiple of the 32-sample tile: the results must be bit-identical.
        var r = MeshRandom(state: 11)
        var vertices: [SIMD3<Float>] = []
        for _ in 0..<150 {
            vertices.append(SIMD3(r.uniform(-2, 2), r.uniform(-2, 2), r.uniform(-1, 6)))
        }
        var faces: [SIMD3<Int32>] = []
        for _ in 0..<200 {
            faces.append(
                SIMD3(Int32(r.next() * 150), Int32(r.next() * 150), Int32(r.next() * 150)))
        }
        let clip = clipSpacePositions(
            vertices, extrinsics: identityExtrinsics, intrinsics: unitIntrinsics, near: 1,
            far: 5)
        let fast = try rasterizeTriangles(clipPositions: clip, faces: faces, width: 97, height: 83)
        let slow = try rasterizeTrianglesReference(
            clipPositions: clip, faces: faces, width: 97, height: 83)
        #expect(fast == slow)
        let covered = fast.triangleIds.filter { $0 >= 0 }.count
        #expect(covered > 97 * 83 / 4)  // the scene is not trivially empty
        let again = try rasterizeTriangles(clipPositions: clip, faces: faces, width: 97, height: 83)
        #expect(again == fast)
    }

    @Test func quadAtKnownDepth() throws {
        // x in [-0.3, 0.5], y in [-0.2, 0.4] at z = 2 projects to u in [0.35, 0.75],
        // v in [0.4, 0.7]: at 40x40 that is columns 14..<30 and rows 16..<28, whose edges lie
        // half a pixel from any sample centre, so coverage is exact.
        let mesh = quad(-0.3, 0.5, -0.2, 0.4) { _, _ in 2 }
        let settings = MeshRenderSettings(width: 40, height: 40, ssaa: 1)
        let out = try renderMesh(
            mesh, extrinsics: identityExtrinsics, intrinsics: unitIntrinsics, settings: settings)
        for y in 0..<40 {
            for x in 0..<40 {
                let inside = (14..<30).contains(x) && (16..<28).contains(y)
                #expect(out.mask[x, y, 0] == (inside ? 1 : 0), "mask at \(x), \(y)")
                // Interpolating three equal depths: exact up to float rounding of u, v, 1-u-v.
                let d = out.depth[y * 40 + x]
                #expect(abs(d - (inside ? 2 : 0)) <= 1e-6, "depth at \(x), \(y): \(d)")
                if inside {
                    // Normal (0, 0, ±1) encoded (n + 1) / 2; the quad faces the camera (-z).
                    #expect(out.normal[x, y, 2] == 0 || out.normal[x, y, 2] == 1)
                } else {
                    #expect(out.normal[x, y, 0] == 0.5)  // upstream's empty-pixel value
                }
            }
        }
        // Supersampled with a box filter the mask sum is the covered-subsample count / ssaa².
        let boxed = try renderMesh(
            mesh, extrinsics: identityExtrinsics, intrinsics: unitIntrinsics,
            settings: MeshRenderSettings(width: 40, height: 40, ssaa: 4, filter: .box))
        let hiCount = boxed.raster.triangleIds.filter { $0 >= 0 }.count
        #expect(hiCount == 64 * 48)
        let sum = boxed.mask.pixels.reduce(0, +)
        #expect(abs(sum - Float(hiCount) / 16) < 1e-3)  // float sums of exact sixteenths
    }

    @Test func tiltedPlaneDepthIsPerspectiveCorrect() throws {
        // Plane z = 2 + 0.5 x: along the ray (a, b, 1)·t the depth is t = 2 / (1 - 0.5 a).
        // Screen-linear (affine) interpolation would be off by up to ~1e-2 here.
        let mesh = quad(-1, 1, -1, 1) { x, _ in 2 + 0.5 * x }
        let size = 48
        let out = try renderMesh(
            mesh, extrinsics: identityExtrinsics, intrinsics: unitIntrinsics,
            settings: MeshRenderSettings(width: size, height: size, ssaa: 1))
        var checked = 0
        for y in 0..<size {
            for x in 0..<size where out.mask[x, y, 0] == 1 {
                let a = (Float(x) + 0.5) / Float(size) - 0.5
                let expected = 2 / (1 - 0.5 * a)
                // float32 barycentrics: a few ulps of depth.
                #expect(abs(out.depth[y * size + x] - expected) < 2e-5 * expected)
                checked += 1
            }
        }
        #expect(checked > size * size / 4)
    }

    @Test func floorCrossingTheNearPlaneIsClipped() throws {
        // The floor y = 1 (below the camera, OpenCV y down) from z = -5 (behind the camera) to
        // z = 50. Row v sees it at depth 1 / (v - 0.5); near clipping must keep every sample in
        // front of the camera, and the far end leaves the rows near the horizon empty.
        let mesh = TriangleMesh(
            vertices: [
                SIMD3(-200, 1, -5), SIMD3(200, 1, -5), SIMD3(200, 1, 50), SIMD3(-200, 1, 50),
            ],
            faces: [SIMD3(0, 1, 2), SIMD3(0, 2, 3)])
        let size = 64
        let out = try renderMesh(
            mesh, extrinsics: identityExtrinsics, intrinsics: unitIntrinsics,
            settings: MeshRenderSettings(width: size, height: size, near: 0.1, far: 100, ssaa: 1))
        for y in 0..<size {
            let v = (Float(y) + 0.5) / Float(size)
            let expected: Float = v > 0.5 ? 1 / (v - 0.5) : .infinity
            for x in [0, size / 3, size - 1] {
                let covered = out.mask[x, y, 0] == 1
                #expect(covered == (expected < 50), "row \(y) column \(x)")
                if covered {
                    // Vertices snap to 1/256 pixel, and near the horizon depth moves by
                    // depth² / (fy·size) per pixel: one snap step of that, plus float rounding.
                    let snap = expected * expected / Float(size) / 256
                    #expect(abs(out.depth[y * size + x] - expected) < snap + 1e-4 * expected)
                }
            }
        }
    }

    @Test func cubeShowsOnlyItsFrontFaceNormals() throws {
        // A unit cube seen from (+x, +y, +z): only the +x, +y and +z faces are visible, all
        // three are, and the flat normals are exact axis vectors.
        var v: [SIMD3<Float>] = []
        for i in 0..<8 {
            let bits = SIMD3<Float>(Float(i & 1), Float((i >> 1) & 1), Float((i >> 2) & 1))
            v.append(bits - 0.5)
        }
        let quads: [[Int32]] = [
            [0, 2, 3, 1], [4, 5, 7, 6], [0, 1, 5, 4], [2, 6, 7, 3], [0, 4, 6, 2], [1, 3, 7, 5],
        ]
        let faces = quads.flatMap { q in [SIMD3(q[0], q[1], q[2]), SIMD3(q[0], q[2], q[3])] }
        let mesh = TriangleMesh(vertices: v, faces: faces)
        let eye = SIMD3<Float>(2.2, 1.7, 1.4)
        let e = try extrinsicsLookAt(eye: eye, lookAt: .zero, up: SIMD3(0, 0, 1))
        let out = try renderMesh(
            mesh, extrinsics: e, intrinsics: intrinsicsFromFov(x: 0.9, y: 0.9),
            settings: MeshRenderSettings(width: 64, height: 64, ssaa: 1))
        var seen = Set<Int>()
        for y in 0..<64 {
            for x in 0..<64 where out.mask[x, y, 0] == 1 {
                let n = (0..<3).map { 2 * out.normal[x, y, $0] - 1 }
                let axis = (0..<3).first { abs(abs(n[$0]) - 1) < 1e-6 }
                let a = try #require(axis, "normal \(n) at \(x), \(y) is not an axis")
                #expect(n[a] == 1, "back face visible at \(x), \(y): \(n)")
                seen.insert(a)
            }
        }
        #expect(seen == [0, 1, 2])
    }

    @Test func closedGridHasNoCracks() throws {
        // A jittered grid of 2 x 24 x 24 triangles that overfills the view: with exact edge
        // functions and the top-left rule every sample is covered.
        var r = MeshRandom(state: 5)
        let n = 25
        var vertices: [SIMD3<Float>] = []
        for j in 0..<n {
            for i in 0..<n {
                let edge = i == 0 || j == 0 || i == n - 1 || j == n - 1
                let jx = edge ? 0 : r.uniform(-0.03, 0.03)
                let jy = edge ? 0 : r.uniform(-0.03, 0.03)
                let x: Float = Float(i) / 12 - 1 + jx
                let y: Float = Float(j) / 12 - 1 + jy
                let z: Float = 1 + r.uniform(0, 0.2)
                vertices.append(SIMD3(x, y, z))
            }
        }
        var faces: [SIMD3<Int32>] = []
        for j in 0..<(n - 1) {
            for i in 0..<(n - 1) {
                let a = Int32(j * n + i)
                faces.append(SIMD3(a, a + 1, a + Int32(n) + 1))
                faces.append(SIMD3(a, a + Int32(n) + 1, a + Int32(n)))
            }
        }
        let clip = clipSpacePositions(
            vertices, extrinsics: identityExtrinsics, intrinsics: unitIntrinsics, near: 0.5,
            far: 10)
        let raster = try rasterizeTriangles(
            clipPositions: clip, faces: faces, width: 101, height: 77)
        #expect(raster.triangleIds.allSatisfy { $0 >= 0 })
    }

    @Test func antialiasedBilinearMatchesPyTorch() {
        // torch.nn.functional.interpolate(mode='bilinear', align_corners=False, antialias=True),
        // torch 2.13 CPU; float32 sums in a different order: 1e-6.
        var a: [Float] = []
        for i in 0..<(12 * 16) {
            let k: Int = ((i % 16) * 7 + (i / 16) * 3) % 11
            a.append(Float(k) / 10)
        }
        let outA = downsampleImage(
            a, width: 16, height: 12, channels: 1, outWidth: 4, outHeight: 3,
            filter: .antialiasedBilinear)
        let torchA: [Float] = [
            0.5150510668754578, 0.4831473231315613, 0.5012276768684387, 0.5247448682785034,
            0.5061384439468384, 0.5059570074081421, 0.49150389432907104, 0.5075892806053162,
            0.47653067111968994, 0.5112723112106323, 0.5060268044471741, 0.4721938669681549,
        ]
        for i in 0..<12 { #expect(abs(outA[i] - torchA[i]) < 1e-6) }
        // Non-integer scales (10 -> 4, 7 -> 3).
        var b: [Float] = []
        for i in 0..<70 {
            let x: Double = Double(i % 10) * 0.7 + Double(i / 10) * 0.3
            b.append(Float(sin(x)))
        }
        let outB = downsampleImage(
            b, width: 10, height: 7, channels: 1, outWidth: 4, outHeight: 3,
            filter: .antialiasedBilinear)
        let torchB: [Float] = [
            0.6571145057678223, 0.43002814054489136, -0.6796764135360718, -0.32428213953971863,
            0.7993810772895813, -0.0216789823025465, -0.7165608406066895, 0.18484383821487427,
            0.6447269916534424, -0.4653336703777313, -0.4872872531414032, 0.6253117322921753,
        ]
        for i in 0..<12 { #expect(abs(outB[i] - torchB[i]) < 1e-6) }
    }

    @Test(arguments: [DownsampleFilter.box, .antialiasedBilinear])
    func attributeGradientsMatchFiniteDifferences(filter: DownsampleFilter) throws {
        // Colour is linear in the vertex attributes, so central differences are exact up to
        // float32 rounding; gradCheck's default tolerance applies.
        let mesh = TriangleMesh(
            vertices: [
                SIMD3(-0.6, -0.5, 2), SIMD3(0.7, -0.4, 2.5), SIMD3(0.5, 0.6, 1.8),
                SIMD3(-0.5, 0.5, 2.2),
            ],
            faces: [SIMD3(0, 1, 2), SIMD3(0, 2, 3)])
        var g = RandomGenerator(seed: 3)
        let attributes = Tensor.rand([4, 2], generator: &g)  // [V, C]
        let settings = MeshRenderSettings(width: 6, height: 5, ssaa: 2, filter: filter)
        gradCheck([attributes]) { xs in
            (try? renderMeshAttributes(
                mesh, attributes: xs[0], extrinsics: identityExtrinsics,
                intrinsics: unitIntrinsics, settings: settings)) ?? Tensor(zeros: [5, 6, 2])
        }
    }

    @Test func rejectsBadArguments() {
        let mesh = quad(-0.3, 0.5, -0.2, 0.4) { _, _ in 2 }
        #expect(throws: LatticeError.self) {
            try renderMesh(
                mesh, extrinsics: identityExtrinsics, intrinsics: unitIntrinsics,
                settings: MeshRenderSettings(width: 0, height: 4))
        }
        #expect(throws: LatticeError.self) {
            try rasterizeTriangles(
                clipPositions: [SIMD4(0, 0, 0, 1)], faces: [SIMD3(0, 0, 3)], width: 4, height: 4)
        }
    }
}
