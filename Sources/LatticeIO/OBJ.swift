// Wavefront OBJ reading and writing: v (with optional `r g b` vertex colours), vt, vn and f with
// positive or negative (relative) indices; polygons are triangulated as fans. OBJ's texture
// origin is bottom-left, TriangleMesh's is glTF's top-left, so v is flipped both ways.
import Foundation
import LatticeGeometry
import LatticeTensor

/// OBJ codec.
public enum OBJ {
    /// Reads an OBJ file.
    public static func read(_ url: URL) throws -> TriangleMesh {
        try decode(try readFileBytes(url), source: url.path)
    }

    /// Writes `mesh` as an OBJ file atomically (the texture, if any, is not written).
    public static func write(_ mesh: TriangleMesh, to url: URL) throws {
        try writeAtomically(Data(try encode(mesh, source: url.path)), to: url)
    }

    /// Decodes OBJ text. When the `vt`/`vn` indices of a face corner differ from its `v` index,
    /// vertices are split so every corner gets its own attribute set.
    public static func decode(_ data: [UInt8], source: String = "OBJ data") throws -> TriangleMesh {
        var positions: [SIMD3<Float>] = []
        var colors: [SIMD3<Float>] = []
        var texcoords: [SIMD2<Float>] = []
        var normals: [SIMD3<Float>] = []
        var corners: [SIMD3<Int32>] = []  // (v, vt, vn) per triangle corner, 0-based, -1 = none
        var lineNumber = 0
        var tokens: [Substring] = []
        func fail(_ why: String) -> LatticeError {
            LatticeError(.invalidFile, "\(source): line \(lineNumber): \(why)")
        }
        func float(_ t: Substring) throws -> Float {
            guard let v = Float(t) else { throw fail("'\(t)' is not a number") }
            return v
        }
        func resolve(_ t: Substring, _ count: Int, _ what: String) throws -> Int32 {
            guard let i = Int(t), i != 0 else { throw fail("bad \(what) index '\(t)'") }
            let r = i > 0 ? i - 1 : count + i
            guard r >= 0, r < count else {
                throw fail("\(what) index \(i) is outside the \(count) defined so far")
            }
            return Int32(r)
        }
        let text = String(decoding: data, as: UTF8.self)
        for line in text.split(
            omittingEmptySubsequences: false, whereSeparator: { $0 == "\n" || $0 == "\r" })
        {
            lineNumber += 1
            tokens.removeAll(keepingCapacity: true)
            for t in line.split(whereSeparator: { $0 == " " || $0 == "\t" }) {
                if t.hasPrefix("#") { break }
                tokens.append(t)
            }
            guard let kind = tokens.first else { continue }
            switch kind {
            case "v":
                guard tokens.count >= 4 else { throw fail("v needs 3 coordinates") }
                positions.append(
                    SIMD3(try float(tokens[1]), try float(tokens[2]), try float(tokens[3])))
                if tokens.count >= 7 {
                    colors.append(
                        SIMD3(try float(tokens[4]), try float(tokens[5]), try float(tokens[6])))
                }
            case "vt":
                guard tokens.count >= 3 else { throw fail("vt needs 2 coordinates") }
                texcoords.append(SIMD2(try float(tokens[1]), 1 - (try float(tokens[2]))))
            case "vn":
                guard tokens.count >= 4 else { throw fail("vn needs 3 coordinates") }
                normals.append(
                    SIMD3(try float(tokens[1]), try float(tokens[2]), try float(tokens[3])))
            case "f":
                guard tokens.count >= 4 else { throw fail("a face needs at least 3 vertices") }
                var poly: [SIMD3<Int32>] = []
                for t in tokens.dropFirst() {
                    let parts = t.split(separator: "/", omittingEmptySubsequences: false)
                    guard parts.count <= 3 else { throw fail("bad face vertex '\(t)'") }
                    let v = try resolve(parts[0], positions.count, "v")
                    let vt =
                        parts.count > 1 && !parts[1].isEmpty
                        ? try resolve(parts[1], texcoords.count, "vt") : -1
                    let vn =
                        parts.count > 2 && !parts[2].isEmpty
                        ? try resolve(parts[2], normals.count, "vn") : -1
                    poly.append(SIMD3(v, vt, vn))
                }
                for k in 1..<(poly.count - 1) { corners += [poly[0], poly[k], poly[k + 1]] }
            default: continue  // o, g, s, usemtl, mtllib, l, p: not geometry we keep
            }
        }
        guard colors.isEmpty || colors.count == positions.count else {
            lineNumber = 0
            throw fail("\(colors.count) of \(positions.count) vertices have colours (all or none)")
        }
        let usesVT = corners.contains { $0.y >= 0 }
        let usesVN = corners.contains { $0.z >= 0 }
        let direct = corners.allSatisfy {
            (!usesVT || $0.y == $0.x) && (!usesVN || $0.z == $0.x)
        }
        var mesh: TriangleMesh
        if direct && (!usesVT || texcoords.count >= positions.count)
            && (!usesVN || normals.count >= positions.count)
        {
            let faces = stride(from: 0, to: corners.count, by: 3).map {
                SIMD3(corners[$0].x, corners[$0 + 1].x, corners[$0 + 2].x)
            }
            mesh = TriangleMesh(vertices: positions, faces: faces)
            if !colors.isEmpty { mesh.vertexColors = colors }
            if usesVT { mesh.uvs = Array(texcoords[0..<positions.count]) }
            if usesVN { mesh.vertexNormals = Array(normals[0..<positions.count]) }
        } else {
            var index: [SIMD3<Int32>: Int32] = [:]
            var vs: [SIMD3<Float>] = []
            var cs: [SIMD3<Float>] = []
            var ts: [SIMD2<Float>] = []
            var ns: [SIMD3<Float>] = []
            var ids: [Int32] = []
            ids.reserveCapacity(corners.count)
            for c in corners {
                if let i = index[c] {
                    ids.append(i)
                    continue
                }
                let i = Int32(vs.count)
                index[c] = i
                vs.append(positions[Int(c.x)])
                if !colors.isEmpty { cs.append(colors[Int(c.x)]) }
                if usesVT { ts.append(c.y >= 0 ? texcoords[Int(c.y)] : .zero) }
                if usesVN { ns.append(c.z >= 0 ? normals[Int(c.z)] : .zero) }
                ids.append(i)
            }
            let faces = stride(from: 0, to: ids.count, by: 3).map {
                SIMD3(ids[$0], ids[$0 + 1], ids[$0 + 2])
            }
            mesh = TriangleMesh(vertices: vs, faces: faces)
            if !colors.isEmpty { mesh.vertexColors = cs }
            if usesVT { mesh.uvs = ts }
            if usesVN { mesh.vertexNormals = ns }
        }
        try mesh.validate(source: source)
        return mesh
    }

    /// Encodes `mesh` as OBJ text (one v/vt/vn per vertex, `f a/a/a` corners).
    public static func encode(_ mesh: TriangleMesh, source: String = "mesh") throws -> [UInt8] {
        try mesh.validate(source: source)
        var out = "# written by Lattice\n"
        out.reserveCapacity(mesh.vertices.count * 40 + mesh.faces.count * 24)
        for (i, v) in mesh.vertices.enumerated() {
            out += "v \(v.x) \(v.y) \(v.z)"
            if let c = mesh.vertexColors?[i] { out += " \(c.x) \(c.y) \(c.z)" }
            out += "\n"
        }
        for t in mesh.uvs ?? [] { out += "vt \(t.x) \(1 - t.y)\n" }
        for n in mesh.vertexNormals ?? [] { out += "vn \(n.x) \(n.y) \(n.z)\n" }
        let hasT = mesh.uvs != nil
        let hasN = mesh.vertexNormals != nil
        for f in mesh.faces {
            out += "f"
            for k in 0..<3 {
                let i = Int(f[k]) + 1
                out +=
                    hasT && hasN
                    ? " \(i)/\(i)/\(i)" : hasT ? " \(i)/\(i)" : hasN ? " \(i)//\(i)" : " \(i)"
            }
            out += "\n"
        }
        return Array(out.utf8)
    }
}
