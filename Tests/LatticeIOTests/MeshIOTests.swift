// Mesh files: GLB/OBJ/PLY round trips (colours, normals, UVs, texture), TRELLIS's Y-up rotation,
// a structural GLB validator, OBJ negative indices and polygons, PLY variants, bad inputs.
import Foundation
import LatticeGeometry
import LatticeIO
import LatticeTensor
import Testing

@Suite struct MeshIOTests {
    /// A unit cube (8 vertices, 12 triangles) with colours, normals and UVs.
    static func cube() -> TriangleMesh {
        var v: [SIMD3<Float>] = []
        for i in 0..<8 { v.append(SIMD3(Float(i & 1), Float((i >> 1) & 1), Float(i >> 2)) - 0.5) }
        let quads: [[Int32]] = [
            [0, 2, 3, 1], [4, 5, 7, 6], [0, 1, 5, 4], [2, 6, 7, 3], [0, 4, 6, 2], [1, 3, 7, 5],
        ]
        var f: [SIMD3<Int32>] = []
        for q in quads { f += [SIMD3(q[0], q[1], q[2]), SIMD3(q[0], q[2], q[3])] }
        return TriangleMesh(
            vertices: v, faces: f, vertexColors: v.map { $0 + 0.5 },
            vertexNormals: v.map { $0 / ($0 * $0).sum().squareRoot() },
            uvs: v.map { SIMD2($0.x + 0.5, $0.y + 0.5) })
    }

    static func close(_ a: [SIMD3<Float>], _ b: [SIMD3<Float>], _ tol: Float) -> Bool {
        a.count == b.count
            && zip(a, b).allSatisfy { (x: SIMD3<Float>, y: SIMD3<Float>) in
                let d = x - y
                return max(d.max(), -d.min()) <= tol
            }
    }

    @Test func glbRoundTripWithTextureAndValidator() throws {
        var mesh = Self.cube()
        mesh.texture = RasterImage(
            width: 4, height: 2, channels: 3, pixels: (0..<24).map { Float($0) / 23 })
        let bytes = try GLB.encode(mesh)
        #expect(GLB.validate(bytes) == [])
        #expect(bytes.count % 4 == 0)
        let back = try GLB.decode(bytes)
        #expect(back.vertices == mesh.vertices && back.faces == mesh.faces)
        #expect(back.vertexColors == mesh.vertexColors && back.uvs == mesh.uvs)
        #expect(back.vertexNormals == mesh.vertexNormals)
        // The texture goes through 8-bit PNG: half a quantisation step.
        let t = try #require(back.texture)
        #expect(zip(t.pixels, mesh.texture!.pixels).allSatisfy { abs($0 - $1) <= 0.5 / 255 + 1e-6 })
    }

    @Test func glbAppliesTrellisYUpRotation() throws {
        let mesh = TriangleMesh(
            vertices: [SIMD3(1, 2, 3), SIMD3(0, 0, 1), SIMD3(0, 1, 0)], faces: [SIMD3(0, 1, 2)])
        let bytes = try GLB.encode(mesh, zUpToYUp: true)
        #expect(GLB.validate(bytes) == [])
        // TRELLIS: v @ [[1,0,0],[0,0,-1],[0,1,0]] maps (1, 2, 3) to (1, 3, -2).
        let raw = try GLB.decode(bytes)
        #expect(raw.vertices[0] == SIMD3(1, 3, -2))
        #expect(try GLB.decode(bytes, yUpToZUp: true).vertices == mesh.vertices)
    }

    @Test func objRoundTripNegativeIndicesAndPolygons() throws {
        let mesh = Self.cube()
        let back = try OBJ.decode(OBJ.encode(mesh))
        #expect(back.vertices == mesh.vertices && back.faces == mesh.faces)
        #expect(back.vertexColors == mesh.vertexColors && back.vertexNormals == mesh.vertexNormals)
        // UV v is flipped on write and read; 1 - (1 - v) is exact for these values.
        #expect(back.uvs == mesh.uvs)
        let text = """
            # a quad and a pentagon with relative indices
            v 0 0 0
            v 1 0 0
            v 1 1 0
            v 0 1 0
            f -4 -3 -2 -1
            v 2 0 0
            f 2 5 3 4 1
            """
        let poly = try OBJ.decode(Array(text.utf8))
        let expected: [SIMD3<Int32>] = [
            SIMD3(0, 1, 2), SIMD3(0, 2, 3), SIMD3(1, 4, 2), SIMD3(1, 2, 3), SIMD3(1, 3, 0),
        ]
        #expect(poly.faces == expected)
        // Corners whose vt index differs from the v index split vertices.
        let split = try OBJ.decode(
            Array("v 0 0 0\nv 1 0 0\nv 0 1 0\nvt 0 0\nvt 1 1\nf 1/1 2/2 3/1\nf 1/2 3/1 2/2\n".utf8))
        #expect(split.vertices.count == 4 && split.faces.count == 2 && split.uvs?.count == 4)
    }

    @Test func plyRoundTripsEveryFormatAndPointClouds() throws {
        let mesh = Self.cube()
        for format in [PLYFormat.ascii, .binaryLittleEndian, .binaryBigEndian] {
            let back = try MeshPLY.decodeMesh(MeshPLY.encode(mesh, format: format))
            #expect(back.vertices == mesh.vertices && back.faces == mesh.faces, "\(format)")
            #expect(back.vertexNormals == mesh.vertexNormals && back.uvs == mesh.uvs)
            // uchar colours: half a quantisation step.
            let c = try #require(back.vertexColors)
            #expect(Self.close(c, mesh.vertexColors!, 0.5 / 255 + 1e-6))
        }
        let cloud = PointCloud(
            positions: [SIMD3(1, 2, 3), SIMD3(-1, 0, 0.5)],
            colors: [SIMD3(1, 0, 0), SIMD3(0, 1, 1)])
        let dir = try TempDir()
        defer { dir.cleanup() }
        try MeshPLY.write(cloud, to: dir.file("pc.ply"), format: .ascii)
        #expect(try MeshPLY.readPointCloud(dir.file("pc.ply")) == cloud)
        // Float colours, a ushort-count int16 face list of a quad, an extra element to skip.
        let text = """
            ply
            format ascii 1.0
            element vertex 4
            property double x
            property double y
            property double z
            property float red
            property float green
            property float blue
            element face 1
            property uchar flags
            property list ushort short vertex_index
            element edge 1
            property int vertex1
            property int vertex2
            end_header
            0 0 0 1 0 0
            1 0 0 0 1 0
            1 1 0 0 0 1
            0 1 0 0.5 0.5 0.5
            7 4 0 1 2 3
            0 1
            """
        let quad = try MeshPLY.decodeMesh(Array(text.utf8))
        #expect(quad.faces == [SIMD3(0, 1, 2), SIMD3(0, 2, 3)])
        #expect(quad.vertexColors?[3] == SIMD3(0.5, 0.5, 0.5))
    }

    @Test func convertKeepsColoursAcrossFormats() throws {
        let dir = try TempDir()
        defer { dir.cleanup() }
        let mesh = Self.cube()
        try writeMesh(mesh, to: dir.file("a.obj"))
        try convertMesh(from: dir.file("a.obj"), to: dir.file("b.glb"))
        try convertMesh(from: dir.file("b.glb"), to: dir.file("c.ply"))
        let back = try readMesh(at: dir.file("c.ply"))
        #expect(back.vertices == mesh.vertices && back.faces == mesh.faces)
        #expect(Self.close(back.vertexColors!, mesh.vertexColors!, 0.5 / 255 + 1e-6))
        let info = try describeAsset(at: dir.file("b.glb"))
        #expect(
            info.contains("vertices: 8") && info.contains("faces: 12") && info.contains("colors"))
    }

    @Test func badInputsGiveClearErrors() throws {
        func message(_ body: () throws -> Void) -> String {
            do {
                try body()
            } catch let e as LatticeError {
                return e.message
            } catch {
                return "unexpected \(error)"
            }
            return "no error"
        }
        let glb = try GLB.encode(Self.cube())
        #expect(
            message { _ = try GLB.decode(Array(glb.prefix(100)), source: "m.glb") }.contains(
                "m.glb"))
        let ply = try MeshPLY.encode(Self.cube())
        #expect(
            message {
                _ = try MeshPLY.decodeMesh(Array(ply.prefix(ply.count - 5)), source: "m.ply")
            }.contains("truncated"))
        let noXYZ = "ply\nformat ascii 1.0\nelement vertex 1\nproperty float a\nend_header\n1\n"
        #expect(message { _ = try MeshPLY.decodeMesh(Array(noXYZ.utf8)) }.contains("x/y/z"))
        let empty = TriangleMesh(vertices: [], faces: [])
        #expect(message { _ = try GLB.encode(empty) }.contains("empty"))
        let badIndex = TriangleMesh(vertices: [.zero], faces: [SIMD3(0, 0, 5)])
        #expect(message { _ = try OBJ.encode(badIndex) }.contains("outside"))
        #expect(
            message { _ = try OBJ.decode(Array("v 0 0 0\nf 1 2 3\n".utf8), source: "o.obj") }
                .contains("o.obj: line 2"))
    }
}
