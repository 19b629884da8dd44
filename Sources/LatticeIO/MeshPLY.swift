// PLY reading and writing for triangle meshes and point clouds (ascii, binary little- and
// big-endian; float or uchar colours; face lists of any integer type, polygons fan-triangulated).
// The 3D Gaussian-splatting layout lives in GaussianPLY.swift.
import Foundation
import LatticeGeometry
import LatticeTensor

/// Points with optional per-point colours (RGB in [0, 1]) and normals.
public struct PointCloud: Sendable, Equatable {
    /// Point positions.
    public var positions: [SIMD3<Float>]
    /// Optional RGB colour per point, in [0, 1].
    public var colors: [SIMD3<Float>]?
    /// Optional normal per point.
    public var normals: [SIMD3<Float>]?

    /// A point cloud from its parts.
    public init(
        positions: [SIMD3<Float>], colors: [SIMD3<Float>]? = nil, normals: [SIMD3<Float>]? = nil
    ) {
        self.positions = positions
        self.colors = colors
        self.normals = normals
    }
}

/// PLY storage formats.
public enum PLYFormat: String, Sendable {
    case ascii
    case binaryLittleEndian = "binary_little_endian"
    case binaryBigEndian = "binary_big_endian"
}

/// PLY codec for meshes and point clouds.
public enum MeshPLY {
    /// Reads a PLY mesh (a file without faces gives a mesh with no faces).
    public static func readMesh(_ url: URL) throws -> TriangleMesh {
        try decodeMesh(try readFileBytes(url), source: url.path)
    }

    /// Reads the vertices of a PLY file as a point cloud.
    public static func readPointCloud(_ url: URL) throws -> PointCloud {
        try decodePointCloud(try readFileBytes(url), source: url.path)
    }

    /// Writes a mesh as PLY atomically (uchar colours, float normals, uint8+int32 face lists).
    public static func write(
        _ mesh: TriangleMesh, to url: URL, format: PLYFormat = .binaryLittleEndian
    ) throws {
        try writeAtomically(Data(try encode(mesh, format: format, source: url.path)), to: url)
    }

    /// Writes a point cloud as PLY atomically.
    public static func write(
        _ cloud: PointCloud, to url: URL, format: PLYFormat = .binaryLittleEndian
    ) throws {
        let mesh = TriangleMesh(
            vertices: cloud.positions, faces: [], vertexColors: cloud.colors,
            vertexNormals: cloud.normals)
        try writeAtomically(Data(try encode(mesh, format: format, source: url.path)), to: url)
    }

    /// Decodes PLY bytes into a mesh.
    public static func decodeMesh(_ data: [UInt8], source: String = "PLY data") throws
        -> TriangleMesh
    {
        let parsed = try MeshPLYParser(data: data, source: source).parse()
        var mesh = TriangleMesh(
            vertices: parsed.positions, faces: parsed.faces, vertexColors: parsed.colors,
            vertexNormals: parsed.normals, uvs: parsed.uvs)
        if parsed.positions.isEmpty { mesh.faces = [] }
        try mesh.validate(source: source)
        return mesh
    }

    /// Decodes the vertex element of PLY bytes into a point cloud (faces are ignored).
    public static func decodePointCloud(_ data: [UInt8], source: String = "PLY data") throws
        -> PointCloud
    {
        let parsed = try MeshPLYParser(data: data, source: source).parse()
        let cloud = PointCloud(
            positions: parsed.positions, colors: parsed.colors, normals: parsed.normals)
        try TriangleMesh(
            vertices: cloud.positions, faces: [], vertexColors: cloud.colors,
            vertexNormals: cloud.normals
        ).validate(source: source)
        return cloud
    }

    /// Encodes a mesh (or, with no faces, a point cloud) as PLY bytes.
    public static func encode(
        _ mesh: TriangleMesh, format: PLYFormat = .binaryLittleEndian, source: String = "mesh"
    ) throws -> [UInt8] {
        try mesh.validate(source: source)
        var header = "ply\nformat \(format.rawValue) 1.0\ncomment written by Lattice\n"
        header += "element vertex \(mesh.vertices.count)\n"
        header += "property float x\nproperty float y\nproperty float z\n"
        if mesh.vertexNormals != nil {
            header += "property float nx\nproperty float ny\nproperty float nz\n"
        }
        if mesh.uvs != nil { header += "property float s\nproperty float t\n" }
        if mesh.vertexColors != nil {
            header += "property uchar red\nproperty uchar green\nproperty uchar blue\n"
        }
        if !mesh.faces.isEmpty {
            header += "element face \(mesh.faces.count)\nproperty list uchar int vertex_indices\n"
        }
        header += "end_header\n"
        var out = Array(header.utf8)
        func byte(_ c: Float) -> UInt8 { UInt8((min(max(c, 0), 1) * 255).rounded()) }
        if format == .ascii {
            var text = ""
            for i in mesh.vertices.indices {
                let v = mesh.vertices[i]
                text += "\(v.x) \(v.y) \(v.z)"
                if let n = mesh.vertexNormals?[i] { text += " \(n.x) \(n.y) \(n.z)" }
                if let t = mesh.uvs?[i] { text += " \(t.x) \(t.y)" }
                if let c = mesh.vertexColors?[i] {
                    text += " \(byte(c.x)) \(byte(c.y)) \(byte(c.z))"
                }
                text += "\n"
            }
            for f in mesh.faces { text += "3 \(f.x) \(f.y) \(f.z)\n" }
            out += Array(text.utf8)
            return out
        }
        let big = format == .binaryBigEndian
        func put32(_ b: UInt32) {
            let v = big ? b.bigEndian : b.littleEndian
            withUnsafeBytes(of: v) { out += $0 }
        }
        for i in mesh.vertices.indices {
            let v = mesh.vertices[i]
            for x in [v.x, v.y, v.z] { put32(x.bitPattern) }
            if let n = mesh.vertexNormals?[i] { for x in [n.x, n.y, n.z] { put32(x.bitPattern) } }
            if let t = mesh.uvs?[i] { for x in [t.x, t.y] { put32(x.bitPattern) } }
            if let c = mesh.vertexColors?[i] { out += [byte(c.x), byte(c.y), byte(c.z)] }
        }
        for f in mesh.faces {
            out.append(3)
            for k in 0..<3 { put32(UInt32(bitPattern: f[k])) }
        }
        return out
    }
}

/// The header-driven PLY element reader.
struct MeshPLYParser {
    let data: [UInt8]
    let source: String

    enum Scalar: String {
        case int8, uint8, int16, uint16, int32, uint32, float32, float64

        init?(name: String) {
            let aliases: [String: Scalar] = [
                "char": .int8, "uchar": .uint8, "short": .int16, "ushort": .uint16, "int": .int32,
                "uint": .uint32, "float": .float32, "double": .float64,
            ]
            if let s = aliases[name] ?? Scalar(rawValue: name) { self = s } else { return nil }
        }

        var size: Int {
            switch self {
            case .int8, .uint8: 1
            case .int16, .uint16: 2
            case .int32, .uint32, .float32: 4
            case .float64: 8
            }
        }
    }

    struct Property {
        var name: String
        var type: Scalar
        var listCount: Scalar?
    }

    struct Element {
        var name: String
        var count: Int
        var properties: [Property] = []
    }

    struct Result {
        var positions: [SIMD3<Float>] = []
        var normals: [SIMD3<Float>]?
        var colors: [SIMD3<Float>]?
        var uvs: [SIMD2<Float>]?
        var faces: [SIMD3<Int32>] = []
    }

    func fail(_ why: String) -> LatticeError { LatticeError(.invalidFile, "\(source): \(why)") }

    func parse() throws -> Result {
        // Header: ASCII lines up to and including "end_header\n".
        guard data.starts(with: Array("ply".utf8)) else {
            throw fail("not a PLY file (no 'ply' magic)")
        }
        let marker = Array("end_header".utf8)
        var headerEnd = -1
        var i = 0
        while i + marker.count <= min(data.count, 1 << 20) {
            if data[i] == marker[0] && Array(data[i..<(i + marker.count)]) == marker {
                var j = i + marker.count
                while j < data.count && data[j] != 0x0A { j += 1 }
                headerEnd = j + 1
                break
            }
            i += 1
        }
        guard headerEnd > 0 else { throw fail("PLY header has no end_header line (truncated?)") }
        let header = String(decoding: data[0..<min(headerEnd, data.count)], as: UTF8.self)
        var format: PLYFormat?
        var elements: [Element] = []
        for raw in header.split(whereSeparator: { $0 == "\n" || $0 == "\r" }) {
            let t = raw.split(separator: " ").map(String.init)
            guard let key = t.first else { continue }
            switch key {
            case "format":
                guard t.count >= 2, let f = PLYFormat(rawValue: t[1]) else {
                    throw fail("header: unknown format line '\(raw)'")
                }
                format = f
            case "element":
                guard t.count == 3, let n = Int(t[2]), n >= 0, n < 1 << 31 else {
                    throw fail("header: bad element line '\(raw)'")
                }
                elements.append(Element(name: t[1], count: n))
            case "property":
                guard !elements.isEmpty else { throw fail("header: property before any element") }
                if t.count == 5 && t[1] == "list" {
                    guard let c = Scalar(name: t[2]), let v = Scalar(name: t[3]) else {
                        throw fail("header: unknown list types in '\(raw)'")
                    }
                    guard c != .float32 && c != .float64 else {
                        throw fail("header: list count type \(t[2]) is not an integer type")
                    }
                    elements[elements.count - 1].properties.append(
                        Property(name: t[4], type: v, listCount: c))
                } else {
                    guard t.count == 3, let s = Scalar(name: t[1]) else {
                        throw fail("header: bad property line '\(raw)'")
                    }
                    elements[elements.count - 1].properties.append(
                        Property(name: t[2], type: s, listCount: nil))
                }
            default: continue  // ply, comment, obj_info, end_header
            }
        }
        guard let format else { throw fail("header: missing format line") }
        var result = Result()
        var reader = ValueReader(data: data, position: headerEnd, format: format, source: source)
        for element in elements {
            let props = element.properties
            if element.name == "vertex" {
                func find(_ names: [String]) -> Int? {
                    names.lazy.compactMap { n in props.firstIndex { $0.name == n } }.first
                }
                guard let xi = find(["x"]), let yi = find(["y"]), let zi = find(["z"]) else {
                    throw fail(
                        "vertex element lacks x/y/z properties (has \(props.map(\.name)))")
                }
                if let bad = [xi, yi, zi].first(where: { props[$0].listCount != nil }) {
                    throw fail("vertex property \(props[bad].name) is a list, expected a scalar")
                }
                let normalIdx = [find(["nx"]), find(["ny"]), find(["nz"])]
                let colorIdx = [
                    find(["red", "r", "diffuse_red"]), find(["green", "g", "diffuse_green"]),
                    find(["blue", "b", "diffuse_blue"]),
                ]
                let uvIdx = [find(["s", "u", "texture_u"]), find(["t", "v", "texture_v"])]
                // Attribute groups are used only when complete; compactMap drops the nils.
                let nIdx = normalIdx.compactMap { $0 }
                let cIdx = colorIdx.compactMap { $0 }
                let tIdx = uvIdx.compactMap { $0 }
                let hasN = nIdx.count == 3
                let hasC = cIdx.count == 3
                let hasT = tIdx.count == 2
                var values = [Double](repeating: 0, count: props.count)
                result.positions.reserveCapacity(element.count)
                var normals: [SIMD3<Float>] = []
                var colors: [SIMD3<Float>] = []
                var uvs: [SIMD2<Float>] = []
                for v in 0..<element.count {
                    for (p, prop) in props.enumerated() {
                        if let c = prop.listCount {
                            let n = try reader.integer(c, what: "vertex \(v) \(prop.name) count")
                            for _ in 0..<n {
                                _ = try reader.value(prop.type, what: "vertex \(v) \(prop.name)")
                            }
                        } else {
                            values[p] = try reader.value(
                                prop.type, what: "vertex \(v) \(prop.name)")
                        }
                    }
                    result.positions.append(
                        SIMD3(Float(values[xi]), Float(values[yi]), Float(values[zi])))
                    if hasN {
                        normals.append(SIMD3(nIdx.map { Float(values[$0]) }))
                    }
                    if hasC {
                        colors.append(
                            SIMD3(
                                cIdx.map { i -> Float in
                                    let t = props[i].type
                                    let scale: Double =
                                        t == .float32 || t == .float64
                                        ? 1 : t == .uint16 ? 65535 : 255
                                    return Float(values[i] / scale)
                                }))
                    }
                    if hasT {
                        uvs.append(SIMD2(Float(values[tIdx[0]]), Float(values[tIdx[1]])))
                    }
                }
                if hasN { result.normals = normals }
                if hasC { result.colors = colors }
                if hasT { result.uvs = uvs }
            } else if element.name == "face" {
                guard
                    let li = props.firstIndex(where: {
                        ["vertex_indices", "vertex_index"].contains($0.name)
                    }),
                    props[li].listCount != nil
                else {
                    throw fail(
                        "face element lacks a vertex_indices list (has \(props.map(\.name)))")
                }
                guard props[li].type != .float32 && props[li].type != .float64 else {
                    throw fail("face vertex_indices has float type, expected an integer type")
                }
                result.faces.reserveCapacity(element.count)
                var poly: [Int32] = []
                for f in 0..<element.count {
                    for (p, prop) in props.enumerated() {
                        if let c = prop.listCount {
                            let n = try reader.integer(c, what: "face \(f) \(prop.name) count")
                            if p == li {
                                guard n >= 3 else {
                                    throw fail("face \(f) has \(n) vertices, expected >= 3")
                                }
                                poly.removeAll(keepingCapacity: true)
                                for _ in 0..<n {
                                    let v = try reader.integer(prop.type, what: "face \(f) index")
                                    guard v >= 0, v < Int(Int32.max) else {
                                        throw fail("face \(f) index \(v) is out of range")
                                    }
                                    poly.append(Int32(v))
                                }
                                for k in 1..<(n - 1) {
                                    result.faces.append(SIMD3(poly[0], poly[k], poly[k + 1]))
                                }
                            } else {
                                for _ in 0..<n {
                                    _ = try reader.value(prop.type, what: "face \(f) \(prop.name)")
                                }
                            }
                        } else {
                            _ = try reader.value(prop.type, what: "face \(f) \(prop.name)")
                        }
                    }
                }
            } else {
                // Other elements (edges, materials, ...) are skipped value by value.
                for e in 0..<element.count {
                    for prop in props {
                        var n = 1
                        if let c = prop.listCount {
                            n = try reader.integer(c, what: "\(element.name) \(e) count")
                        }
                        for _ in 0..<n {
                            _ = try reader.value(
                                prop.type, what: "\(element.name) \(e) \(prop.name)")
                        }
                    }
                }
            }
        }
        return result
    }
}

/// Reads scalar values in a PLY body, ascii or binary.
struct ValueReader {
    let data: [UInt8]
    var position: Int
    let format: PLYFormat
    let source: String

    init(data: [UInt8], position: Int, format: PLYFormat, source: String) {
        self.data = data
        self.position = position
        self.format = format
        self.source = source
    }

    mutating func integer(_ type: MeshPLYParser.Scalar, what: String) throws -> Int {
        let v = try value(type, what: what)
        guard v == v.rounded(), v >= 0, v < 1e15 else {
            throw LatticeError(
                .invalidFile, "\(source): \(what): \(v) is not a non-negative integer")
        }
        // List counts are bounded so a corrupt count cannot make us loop for ever.
        return Int(v)
    }

    mutating func value(_ type: MeshPLYParser.Scalar, what: String) throws -> Double {
        if format == .ascii {
            while position < data.count,
                data[position] == 0x20 || data[position] == 0x0A || data[position] == 0x0D
                    || data[position] == 0x09
            {
                position += 1
            }
            let start = position
            while position < data.count,
                !(data[position] == 0x20 || data[position] == 0x0A || data[position] == 0x0D
                    || data[position] == 0x09)
            {
                position += 1
            }
            guard start < position else {
                throw LatticeError(.invalidFile, "\(source): truncated at \(what) (end of file)")
            }
            let token = String(decoding: data[start..<position], as: UTF8.self)
            guard let v = Double(token) else {
                throw LatticeError(.invalidFile, "\(source): \(what): '\(token)' is not a number")
            }
            return v
        }
        let n = type.size
        guard position + n <= data.count else {
            throw LatticeError(
                .invalidFile, "\(source): truncated at \(what) (byte \(position) of \(data.count))")
        }
        var bits: UInt64 = 0
        if format == .binaryLittleEndian {
            for k in 0..<n { bits |= UInt64(data[position + k]) << UInt64(8 * k) }
        } else {
            for k in 0..<n { bits = bits << 8 | UInt64(data[position + k]) }
        }
        position += n
        switch type {
        case .int8: return Double(Int8(truncatingIfNeeded: bits))
        case .uint8: return Double(UInt8(truncatingIfNeeded: bits))
        case .int16: return Double(Int16(truncatingIfNeeded: bits))
        case .uint16: return Double(UInt16(truncatingIfNeeded: bits))
        case .int32: return Double(Int32(truncatingIfNeeded: bits))
        case .uint32: return Double(UInt32(truncatingIfNeeded: bits))
        case .float32: return Double(Float(bitPattern: UInt32(truncatingIfNeeded: bits)))
        case .float64: return Double(bitPattern: bits)
        }
    }
}
