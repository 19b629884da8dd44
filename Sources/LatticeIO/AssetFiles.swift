// Format-independent asset entry points: read/write a mesh by file extension, convert between
// mesh formats, and describe any asset LatticeIO understands (the `lattice info`/`convert` CLI).
import Foundation
import LatticeGeometry
import LatticeTensor

/// Mesh file formats, chosen by file extension.
public enum MeshFormat: String, Sendable, CaseIterable {
    case obj, ply, glb

    /// The format for `url`'s extension (case-insensitive), or an error naming the file.
    public init(url: URL) throws {
        guard let f = MeshFormat(rawValue: url.pathExtension.lowercased()) else {
            throw LatticeError(
                .unsupported,
                "\(url.path): unknown mesh extension '.\(url.pathExtension)' (expected .obj, .ply or .glb)"
            )
        }
        self = f
    }
}

/// Reads an OBJ, PLY or GLB mesh (by extension). GLB files are read as stored (Y-up).
public func readMesh(at url: URL) throws -> TriangleMesh {
    switch try MeshFormat(url: url) {
    case .obj: return try OBJ.read(url)
    case .ply: return try MeshPLY.readMesh(url)
    case .glb: return try GLB.read(url)
    }
}

/// Writes a mesh as OBJ, PLY (binary little-endian) or GLB (by extension), atomically.
public func writeMesh(_ mesh: TriangleMesh, to url: URL) throws {
    switch try MeshFormat(url: url) {
    case .obj: try OBJ.write(mesh, to: url)
    case .ply: try MeshPLY.write(mesh, to: url)
    case .glb: try GLB.write(mesh, to: url)
    }
}

/// Converts between mesh formats, keeping colours, normals and UVs; returns the mesh written.
@discardableResult
public func convertMesh(from input: URL, to output: URL) throws -> TriangleMesh {
    let mesh = try readMesh(at: input)
    try writeMesh(mesh, to: output)
    return mesh
}

/// A human-readable summary of an image or mesh file: format, sizes, counts, bounds, attributes.
public func describeAsset(at url: URL) throws -> String {
    let bytes = try readFileBytes(url)
    if let format = ImageFormat.sniff(bytes), format != .gif {
        let image =
            format == .png
            ? try PNG.decode(bytes, source: url.path) : try JPEG.decode(bytes, source: url.path)
        let names = [1: "gray", 2: "gray+alpha", 3: "RGB", 4: "RGBA"]
        return """
            \(url.lastPathComponent): \(format.rawValue.uppercased()) image
              size: \(image.width)x\(image.height), \(names[image.channels] ?? "?"), \
            \(image.bitDepth)-bit samples
            """
    }
    let mesh = try readMesh(at: url)
    var lines = ["\(url.lastPathComponent): \(try MeshFormat(url: url).rawValue.uppercased()) mesh"]
    lines.append("  vertices: \(mesh.vertices.count)")
    lines.append("  faces: \(mesh.faces.count)")
    if let b = mesh.bounds {
        func f(_ v: SIMD3<Float>) -> String { "(\(v.x), \(v.y), \(v.z))" }
        lines.append("  bounds: min \(f(b.min)) max \(f(b.max))")
    }
    var attrs: [String] = []
    if mesh.vertexNormals != nil { attrs.append("normals") }
    if mesh.vertexColors != nil { attrs.append("colors") }
    if mesh.uvs != nil { attrs.append("uvs") }
    if let t = mesh.texture { attrs.append("texture \(t.width)x\(t.height)x\(t.channels)") }
    lines.append("  attributes: \(attrs.isEmpty ? "none" : attrs.joined(separator: ", "))")
    return lines.joined(separator: "\n")
}
