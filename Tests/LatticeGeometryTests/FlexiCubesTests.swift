// FlexiCubes / SparseFeatures2Mesh against the TRELLIS mesh-decoder fixture, the derived case
// tables, and the dense dual marching cubes preview.
import Foundation
import LatticeGeometry
import LatticeTensor
import Testing

private let fixturesDir = URL(fileURLWithPath: #filePath)
    .deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("Fixtures")

private func maxAbs(_ a: [Float], _ b: [Float]) -> Float {
    zip(a, b).reduce(0) { max($0, abs($1.0 - $1.1)) }
}

@Suite struct FlexiCubesTests {
    /// The extractor alone on the decoder's stored raw output, compared in upstream order.
    /// Tolerances: the metadata's 1e-4 for vertices/attributes (fp32 tanh/sigmoid/division
    /// ulps only); topology (faces, cube vertex coords) exact; face normals 1e-3 because a
    /// normal of a small triangle amplifies 1e-7 vertex noise by 1/edge length (measured: a
    /// face with a 5.5e-5 edge turns 4.5e-8 of vertex difference into 5.2e-4).
    @Test func meshDecoderFixture() throws {
        let file = try SafetensorsFile(
            url: fixturesDir.appendingPathComponent("slat_vae__mesh_decoder_swin4.safetensors"))
        let caseJSON = try #require(file.metadata["case"])
        let config = try #require(
            (try JSONSerialization.jsonObject(with: Data(caseJSON.utf8)) as? [String: Any])?[
                "config"] as? [String: Any])
        let res = try #require(config["resolution"] as? Int) * 4
        let extractor = SparseFeatures2Mesh(resolution: res, useColor: true)
        let results = try extractor(
            coords: try file.tensor("output.out_coords"), feats: try file.tensor("output.raw_feats")
        )
        for (b, r) in results.enumerated() {
            let p = "output.mesh.\(b)."
            let cvc = try file.tensor(p + "cube_verts_coords").toInts()
            #expect(r.cubeVertexCoords.flatMap { [Int($0.x), Int($0.y), Int($0.z)] } == cvc)
            let cva = try file.tensor(p + "cube_verts_attrs").toFloats()
            let eAttr = maxAbs(r.cubeVertexAttributes, cva)
            #expect(r.cubeVertexAttributes.count == cva.count && eAttr < 1e-5)
            let verts = try file.tensor(p + "vertices").toFloats()
            let faces = try file.tensor(p + "faces").toInts()
            let attrs = try file.tensor(p + "vertex_attrs").toFloats()
            let normals = try file.tensor(p + "face_normal").toFloats()
            let myV = r.vertices.flatMap { [$0.x, $0.y, $0.z] }
            let myF = r.faces.flatMap { [Int($0.x), Int($0.y), Int($0.z)] }
            let myN = r.faceNormals.flatMap { [$0.x, $0.y, $0.z] }
            #expect(
                myV.count == verts.count,
                "item \(b): \(myV.count / 3) vs \(verts.count / 3) vertices")
            #expect(
                myF.count == faces.count, "item \(b): \(myF.count / 3) vs \(faces.count / 3) faces")
            let eV = maxAbs(myV, verts)
            let eC = maxAbs(r.vertexAttributes, attrs)
            let eN = maxAbs(myN, normals)
            let faceMismatch = zip(myF, faces).filter { $0 != $1 }.count
            print(
                "mesh \(b): V \(myV.count / 3) F \(myF.count / 3) |dv| \(eV) |dc| \(eC) |dn| \(eN) cubeAttr \(eAttr) faceMismatch \(faceMismatch)"
            )
            // Where the normals differ most: a near-degenerate face amplifies vertex ulps.
            var errs: [Float] = []
            for i in r.faces.indices {
                let ref = SIMD3(normals[3 * i], normals[3 * i + 1], normals[3 * i + 2])
                errs.append(length(r.faceNormals[i] - ref))
            }
            if let worst = errs.indices.max(by: { errs[$0] < errs[$1] }) {
                let f = r.faces[worst]
                let p0 = r.vertices[Int(f.x)]
                let p1 = r.vertices[Int(f.y)]
                let p2 = r.vertices[Int(f.z)]
                let shortest = min(length(p1 - p0), length(p2 - p1), length(p0 - p2))
                print("mesh \(b): worst normal face \(worst), shortest edge \(shortest)")
            }
            #expect(eV < 1e-4)
            #expect(eC < 1e-4)
            #expect(faceMismatch == 0)
            #expect(eN < 1e-3)
        }
    }
}

@Suite struct FlexiCubesTableTests {
    /// Spot checks of the derived tables against facts of the dual MC construction.
    @Test func derivedTables() {
        let g = FlexiCubesTables.edgeGroups
        #expect(g[0].isEmpty && g[255].isEmpty)
        #expect(g[1] == [[0, 3, 8]])  // corner 0 alone: its three edges
        #expect(g[6] == [[0, 1, 9], [4, 7, 8]])  // diagonal corners 1, 2 stay apart
        #expect(g[231] == [[4, 5, 9], [2, 3, 11]])
        // Every crossing edge belongs to exactly one group.
        for c in 0..<256 {
            let crossing = (0..<12).filter {
                let e = FlexiCubesTables.edges[$0]
                return (c >> e.0) & 1 != (c >> e.1) & 1
            }
            #expect(g[c].flatMap { $0 }.sorted() == crossing)
        }
        let flagged = (0..<256).filter { FlexiCubesTables.ambiguity[$0].check }
        #expect(flagged.count == 36)
        #expect(FlexiCubesTables.ambiguity[61].offset == SIMD3(1, 0, 0))
        #expect(FlexiCubesTables.ambiguity[61].inverted == 194)
    }
}

@Suite struct MarchingCubesTests {
    /// A sphere of radius 10 cells: closed, genus 0, and every vertex within a cell fraction of
    /// the radius (dual vertices average linear crossings, so error is well under one cell).
    @Test func sphere() throws {
        let n = 32
        let radius: Float = 10
        let c = Float(n - 1) / 2
        var values = [Float](repeating: 0, count: n * n * n)
        for x in 0..<n {
            for y in 0..<n {
                for z in 0..<n {
                    let d = SIMD3(Float(x), Float(y), Float(z)) - SIMD3(repeating: c)
                    values[(x * n + y) * n + z] = radius - (d * d).sum().squareRoot()
                }
            }
        }
        let mesh = try marchingCubes(values: values, dims: SIMD3(n, n, n))
        try mesh.validate(source: "sphere")
        #expect(mesh.faces.count > 1000)
        var maxErr: Float = 0
        for v in mesh.vertices {
            let d = v - SIMD3(repeating: c)
            maxErr = max(maxErr, abs((d * d).sum().squareRoot() - radius))
        }
        #expect(maxErr < 0.2)
        // Closed: every undirected edge has exactly two faces, used in opposite directions.
        var directed = Set<SIMD2<Int32>>()
        for f in mesh.faces {
            for k in 0..<3 { directed.insert(SIMD2(f[k], f[(k + 1) % 3])) }
        }
        #expect(directed.count == mesh.faces.count * 3)
        #expect(directed.allSatisfy { directed.contains(SIMD2($0.y, $0.x)) })
        let edges = directed.count / 2
        #expect(mesh.vertices.count - edges + mesh.faces.count == 2)
        // Outward winding: normals point away from the centre.
        let normals = mesh.faceNormals
        let outward = zip(mesh.faces, normals).filter { f, nrm in
            let p =
                (mesh.vertices[Int(f.x)] + mesh.vertices[Int(f.y)] + mesh.vertices[Int(f.z)]) / 3
            return ((p - SIMD3(repeating: c)) * nrm).sum() > 0
        }.count
        #expect(outward == mesh.faces.count)
    }
}
