// Colours from the conditioning photo (`PhotoColors`): what the camera sees takes the photo's
// colour, what it does not see continues it along the mesh, and the fast nearest-vertex lookup
// that colours the Gaussians agrees with a brute-force search.
import Foundation
import LatticeGeometry
import LatticePipelines
import LatticeTensor
import Testing

@testable import LatticeTraining

@Suite struct PhotoColorsTests {
    /// A frontal camera (yaw 0, pitch 0: on a world axis, looking at the origin, z up) and a 64² photo
    /// whose left half is red and right half blue, opaque everywhere but a transparent top row.
    func scene() throws -> (camera: PhotoColors.Camera, photo: RasterImage) {
        let camera = try yawPitchRadiusFovToExtrinsicsIntrinsics(
            yaw: 0, pitch: 0, radius: 2, fovDegrees: 40)
        let s = 64
        var pixels = [Float](repeating: 0, count: s * s * 4)
        for y in 0..<s {
            for x in 0..<s {
                let i = (y * s + x) * 4
                pixels[i] = x < s / 2 ? 1 : 0
                pixels[i + 2] = x < s / 2 ? 0 : 1
                pixels[i + 3] = y == 0 ? 0 : 1
            }
        }
        return (camera, RasterImage(width: s, height: s, channels: 4, pixels: pixels))
    }

    /// Pixel column of `p` under `camera` in an s-wide photo.
    func column(_ p: SIMD3<Float>, _ camera: PhotoColors.Camera, _ s: Int) -> Float {
        let e = camera.extrinsics
        let k = camera.intrinsics
        let cx = e[0] * p.x + e[1] * p.y + e[2] * p.z + e[3]
        let cz = e[8] * p.x + e[9] * p.y + e[10] * p.z + e[11]
        return (k[0] * cx / cz + k[2]) * Float(s)
    }

    @Test func seenVerticesTakeThePhotosColourAndHiddenOnesContinueIt() throws {
        let (camera, photo) = try scene()
        let sphere = ProceduralShapes.ellipsoid(radii: SIMD3(repeating: 0.4), segments: 24)
        let e = camera.extrinsics
        let depth = sphere.vertices.map { e[8] * $0.x + e[9] * $0.y + e[10] * $0.z + e[11] }
        let centre = e[11]  // camera depth of the origin
        let seen = try PhotoColors.visibleColors(
            sphere.vertices, mesh: sphere, photo: photo, camera: camera, tolerance: 0.02)
        // Every seen vertex is on the near half of the sphere, and it has the colour of the
        // photo's half its projection falls in (vertices within a pixel of the seam skipped).
        var count = 0
        for (i, c) in seen.enumerated() {
            guard let c else { continue }
            count += 1
            #expect(depth[i] < centre + 0.05, "vertex \(i) seen from behind")
            let u = column(sphere.vertices[i], camera, photo.width)
            if abs(u - 32) > 1 { #expect(c == (u < 32 ? SIMD3(1, 0, 0) : SIMD3(0, 0, 1))) }
        }
        // About half the sphere faces the camera (less its silhouette ring's grazing vertices).
        #expect(count > sphere.vertices.count / 4 && count < sphere.vertices.count * 3 / 5)
        // Vertices on the far side are never seen.
        for (i, d) in depth.enumerated() where d > centre + 0.1 { #expect(seen[i] == nil) }

        // The whole (connected) sphere is coloured: every vertex is red or blue, the seen ones
        // keep the photo's colour, and the hidden half continues the seen one, each side of the
        // seam from its own side. (Breadth-first steps along the sphere's rings and meridians
        // are not Euclidean distance, so near the seam and the poles a hidden vertex can take
        // the other side's colour; well away from the seam almost all must match.)
        let colored = try PhotoColors.colored(sphere, photo: photo, camera: camera)
        let colors = try #require(colored.vertexColors)
        #expect(colors.allSatisfy { $0 == SIMD3(1, 0, 0) || $0 == SIMD3(0, 0, 1) })
        for (i, c) in seen.enumerated() { if let c { #expect(colors[i] == c) } }
        let sided = sphere.vertices.indices.filter { abs(sphere.vertices[$0].x) > 0.2 }
        let sideOf = { (x: Float) -> SIMD3<Float> in
            // Which photo half the seen vertices on this side of x = 0 took.
            let k = seen.indices.first { seen[$0] != nil && sphere.vertices[$0].x * x > 0.04 }!
            return seen[k]!
        }
        let matching = sided.filter { colors[$0] == sideOf(sphere.vertices[$0].x) }.count
        #expect(
            Double(matching) >= 0.9 * Double(sided.count),
            "\(matching) of \(sided.count) vertices away from the seam on their side's colour")

        // A part no seen vertex reaches keeps its colour: a box's faces are separate patches,
        // and its back face is hidden behind the front.
        let box = ProceduralShapes.box(size: SIMD3(repeating: 0.6), subdivisions: 2)
        var grey = box
        grey.vertexColors = box.vertices.map { _ in SIMD3(repeating: 0.25) }
        let boxed = try #require(
            try PhotoColors.colored(grey, photo: photo, camera: camera).vertexColors)
        // `box` lays out each face's 3 x 3 vertices in turn: the back patch is the one all of
        // whose vertices are 0.3 behind the origin (its rim vertices have twins on the side
        // faces, which the front rim reaches).
        let depthOf = { (v: SIMD3<Float>) in e[8] * v.x + e[9] * v.y + e[10] * v.z + e[11] }
        let patches = (0..<6).map { Array($0 * 9..<($0 + 1) * 9) }
        let back = try #require(
            patches.first { $0.allSatisfy { depthOf(box.vertices[$0]) > centre + 0.29 } })
        for i in back {
            #expect(boxed[i] == SIMD3(repeating: 0.25), "back-face vertex \(i) recoloured")
        }
        #expect(boxed.contains(SIMD3(1, 0, 0)) && boxed.contains(SIMD3(0, 0, 1)))

        // A photo without alpha is named.
        let rgb = RasterImage(width: 8, height: 8, channels: 3, fill: 0)
        let error = #expect(throws: LatticeError.self) {
            _ = try PhotoColors.colored(sphere, photo: rgb, camera: camera)
        }
        #expect(error?.message.contains("8×8×3") == true)
    }

    @Test func nearestVertexColorsMatchABruteForceSearch() {
        // The bucketed search against its naive twin: every point's nearest vertex by
        // exhaustive search (the same colour, exactly; ties between equidistant vertices are
        // measure-zero for random points).
        var g = RandomGenerator(seed: 21)
        let n = 300
        let u = g.uniform(count: 3 * n)
        let vertices = (0..<n).map { SIMD3(u[3 * $0], u[3 * $0 + 1], u[3 * $0 + 2]) - 0.5 }
        var mesh = TriangleMesh(vertices: vertices, faces: [])
        mesh.vertexColors = (0..<n).map { SIMD3(Float($0) / Float(n), 0, 1) }
        // Points inside the cube and well outside it (the search must grow past empty shells).
        let q = g.uniform(count: 3 * 500)
        let points = (0..<500).map { i -> SIMD3<Float> in
            let p = SIMD3(q[3 * i], q[3 * i + 1], q[3 * i + 2])
            return i % 5 == 0 ? p * 3 - 1.5 : p - 0.5
        }
        let fast = PhotoColors.nearestVertexColors(points, mesh: mesh, cell: 1.0 / 16)
        for (p, c) in zip(points, fast) {
            let best = vertices.indices.min { a, b in
                let da = vertices[a] - p
                let db = vertices[b] - p
                return (da * da).sum() < (db * db).sum()
            }!
            #expect(c == mesh.vertexColors![best])
        }
    }
}
