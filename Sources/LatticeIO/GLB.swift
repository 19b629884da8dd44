// glTF 2.0 binary (GLB) writing and reading for triangle meshes: positions, normals, COLOR_0,
// TEXCOORD_0 with an embedded PNG base-colour texture, one PBR material. The optional Z-up -> Y-up
// rotation is the one TRELLIS's `to_glb` applies (TRELLIS@6b0d647
// trellis/utils/postprocessing_utils.py: v @ [[1,0,0],[0,0,-1],[0,1,0]], i.e. (x, z, -y)).
import Foundation
import LatticeGeometry
import LatticeTensor

/// GLB codec.
public enum GLB {
    static let magic: UInt32 = 0x4654_6C67  // "glTF"
    static let jsonChunk: UInt32 = 0x4E4F_534A  // "JSON"
    static let binChunk: UInt32 = 0x004E_4942  // "BIN\0"

    /// Rotates a Z-up point into glTF's Y-up frame as TRELLIS's `to_glb` does: (x, z, -y).
    @inlinable public static func zUpToYUp(_ v: SIMD3<Float>) -> SIMD3<Float> {
        SIMD3(v.x, v.z, -v.y)
    }

    /// The inverse of `zUpToYUp`: (x, -z, y).
    @inlinable public static func yUpToZUp(_ v: SIMD3<Float>) -> SIMD3<Float> {
        SIMD3(v.x, -v.z, v.y)
    }

    /// Writes `mesh` as a GLB file atomically; `zUpToYUp` applies TRELLIS's export rotation.
    public static func write(_ mesh: TriangleMesh, to url: URL, zUpToYUp: Bool = false) throws {
        try writeAtomically(Data(try encode(mesh, zUpToYUp: zUpToYUp, source: url.path)), to: url)
    }

    /// Reads a GLB file (its first mesh primitive); `yUpToZUp` undoes TRELLIS's export rotation.
    public static func read(_ url: URL, yUpToZUp: Bool = false) throws -> TriangleMesh {
        try decode(try readFileBytes(url), yUpToZUp: yUpToZUp, source: url.path)
    }

    /// Encodes `mesh` as GLB bytes (validated first; an empty mesh is an error).
    public static func encode(_ mesh: TriangleMesh, zUpToYUp: Bool = false, source: String = "mesh")
        throws -> [UInt8]
    {
        try mesh.validate(source: source)
        guard !mesh.vertices.isEmpty, !mesh.faces.isEmpty else {
            throw LatticeError(.invalidArgument, "\(source): cannot write an empty mesh as GLB")
        }
        let toYUp = zUpToYUp
        func rotate(_ v: SIMD3<Float>) -> SIMD3<Float> { toYUp ? SIMD3(v.x, v.z, -v.y) : v }
        var bin: [UInt8] = []
        var views: [JSONValue] = []
        var accessors: [JSONValue] = []
        func addView(_ bytes: [UInt8], target: Int?) -> Int {
            while bin.count % 4 != 0 { bin.append(0) }
            var members: [(String, JSONValue)] = [
                ("buffer", .int(0)), ("byteOffset", .int(bin.count)),
                ("byteLength", .int(bytes.count)),
            ]
            if let target { members.append(("target", .int(target))) }
            bin += bytes
            views.append(.object(members))
            return views.count - 1
        }
        func floats(_ values: [Float]) -> [UInt8] {
            var out = [UInt8](repeating: 0, count: values.count * 4)
            for (i, v) in values.enumerated() {
                let b = v.bitPattern
                out[4 * i] = UInt8(b & 0xFF)
                out[4 * i + 1] = UInt8((b >> 8) & 0xFF)
                out[4 * i + 2] = UInt8((b >> 16) & 0xFF)
                out[4 * i + 3] = UInt8(b >> 24)
            }
            return out
        }
        func addVectors(_ rows: [[Float]], type: String) -> Int {
            let k = rows.first?.count ?? 0
            var lo = [Float](repeating: .infinity, count: k)
            var hi = [Float](repeating: -.infinity, count: k)
            for r in rows {
                for j in 0..<k {
                    lo[j] = min(lo[j], r[j])
                    hi[j] = max(hi[j], r[j])
                }
            }
            let view = addView(floats(rows.flatMap { $0 }), target: 34962)
            accessors.append(
                .object([
                    ("bufferView", .int(view)), ("componentType", .int(5126)),
                    ("count", .int(rows.count)), ("type", .string(type)),
                    ("min", .array(lo.map { .double(Double($0)) })),
                    ("max", .array(hi.map { .double(Double($0)) })),
                ]))
            return accessors.count - 1
        }
        var attributes: [(String, JSONValue)] = []
        let positions = mesh.vertices.map { rotate($0) }
        attributes.append(
            ("POSITION", .int(addVectors(positions.map { [$0.x, $0.y, $0.z] }, type: "VEC3"))))
        if let normals = mesh.vertexNormals {
            let r = normals.map { rotate($0) }
            attributes.append(
                ("NORMAL", .int(addVectors(r.map { [$0.x, $0.y, $0.z] }, type: "VEC3"))))
        }
        if let colors = mesh.vertexColors {
            let c = colors.map {
                [min(max($0.x, 0), 1), min(max($0.y, 0), 1), min(max($0.z, 0), 1)]
            }
            attributes.append(("COLOR_0", .int(addVectors(c, type: "VEC3"))))
        }
        if let uvs = mesh.uvs {
            attributes.append(
                ("TEXCOORD_0", .int(addVectors(uvs.map { [$0.x, $0.y] }, type: "VEC2"))))
        }
        var indexBytes = [UInt8](repeating: 0, count: mesh.faces.count * 12)
        var maxIndex: Int32 = 0
        var minIndex = Int32.max
        for (i, f) in mesh.faces.enumerated() {
            for k in 0..<3 {
                let v = UInt32(f[k])
                maxIndex = max(maxIndex, f[k])
                minIndex = min(minIndex, f[k])
                let o = 12 * i + 4 * k
                indexBytes[o] = UInt8(v & 0xFF)
                indexBytes[o + 1] = UInt8((v >> 8) & 0xFF)
                indexBytes[o + 2] = UInt8((v >> 16) & 0xFF)
                indexBytes[o + 3] = UInt8(v >> 24)
            }
        }
        let indexView = addView(indexBytes, target: 34963)
        accessors.append(
            .object([
                ("bufferView", .int(indexView)), ("componentType", .int(5125)),
                ("count", .int(mesh.faces.count * 3)), ("type", .string("SCALAR")),
                ("min", .array([.int(Int(minIndex))])), ("max", .array([.int(Int(maxIndex))])),
            ]))
        let indicesAccessor = accessors.count - 1
        var pbr: [(String, JSONValue)] = [
            ("baseColorFactor", .array([.double(1), .double(1), .double(1), .double(1)])),
            ("metallicFactor", .double(0)), ("roughnessFactor", .double(1)),
        ]
        var extra: [(String, JSONValue)] = []
        if let texture = mesh.texture, mesh.uvs != nil {
            let png = PNG.encode(PixelImage(texture))
            let view = addView(png, target: nil)
            pbr.append(("baseColorTexture", .object([("index", .int(0))])))
            extra = [
                (
                    "images",
                    .array([
                        .object([("bufferView", .int(view)), ("mimeType", .string("image/png"))])
                    ])
                ),
                // 9729 LINEAR filters, 10497 REPEAT wrapping.
                (
                    "samplers",
                    .array([
                        .object([
                            ("magFilter", .int(9729)), ("minFilter", .int(9729)),
                            ("wrapS", .int(10497)), ("wrapT", .int(10497)),
                        ])
                    ])
                ),
                ("textures", .array([.object([("sampler", .int(0)), ("source", .int(0))])])),
            ]
        }
        while bin.count % 4 != 0 { bin.append(0) }
        let primitive: JSONValue = .object([
            ("attributes", .object(attributes)), ("indices", .int(indicesAccessor)),
            ("material", .int(0)), ("mode", .int(4)),
        ])
        let json: JSONValue = .object(
            [
                (
                    "asset",
                    .object([("version", .string("2.0")), ("generator", .string("Lattice"))])
                ),
                ("scene", .int(0)),
                ("scenes", .array([.object([("nodes", .array([.int(0)]))])])),
                ("nodes", .array([.object([("mesh", .int(0))])])),
                ("meshes", .array([.object([("primitives", .array([primitive]))])])),
                (
                    "materials",
                    .array([
                        .object([
                            ("pbrMetallicRoughness", .object(pbr)), ("doubleSided", .bool(true)),
                        ])
                    ])
                ),
                ("accessors", .array(accessors)),
                ("bufferViews", .array(views)),
                ("buffers", .array([.object([("byteLength", .int(bin.count))])])),
            ] + extra)
        var jsonBytes = Array(json.serialized().utf8)
        while jsonBytes.count % 4 != 0 { jsonBytes.append(0x20) }
        var out: [UInt8] = []
        func le(_ v: UInt32) {
            out += [
                UInt8(v & 0xFF), UInt8((v >> 8) & 0xFF), UInt8((v >> 16) & 0xFF), UInt8(v >> 24),
            ]
        }
        le(magic)
        le(2)
        le(UInt32(12 + 8 + jsonBytes.count + 8 + bin.count))
        le(UInt32(jsonBytes.count))
        le(jsonChunk)
        out += jsonBytes
        le(UInt32(bin.count))
        le(binChunk)
        out += bin
        return out
    }

    /// Decodes GLB bytes into the first primitive of the first mesh (triangles only; float,
    /// normalized unsigned byte/short attributes; u8/u16/u32 indices or none).
    public static func decode(_ data: [UInt8], yUpToZUp: Bool = false, source: String = "GLB data")
        throws -> TriangleMesh
    {
        func fail(_ why: String) -> LatticeError { LatticeError(.invalidFile, "\(source): \(why)") }
        func le32(_ i: Int) -> UInt32 {
            UInt32(data[i]) | UInt32(data[i + 1]) << 8 | UInt32(data[i + 2]) << 16
                | UInt32(data[i + 3]) << 24
        }
        guard data.count >= 20 else { throw fail("truncated GLB (\(data.count) bytes)") }
        guard le32(0) == magic else { throw fail("not a GLB file (bad magic)") }
        guard le32(4) == 2 else { throw fail("GLB version \(le32(4)), expected 2") }
        guard Int(le32(8)) <= data.count else {
            throw fail("header length \(le32(8)) exceeds the file size \(data.count) (truncated)")
        }
        let jsonLength = Int(le32(12))
        guard le32(16) == jsonChunk, 20 + jsonLength <= data.count else {
            throw fail("first chunk is not a complete JSON chunk (truncated)")
        }
        let json = try JSONValue.parse(
            String(decoding: data[20..<(20 + jsonLength)], as: UTF8.self),
            source: "\(source): JSON chunk")
        var bin: ArraySlice<UInt8> = []
        let binStart = 20 + ((jsonLength + 3) & ~3)
        if binStart + 8 <= data.count {
            let n = Int(le32(binStart))
            guard le32(binStart + 4) == binChunk, binStart + 8 + n <= data.count else {
                throw fail("BIN chunk truncated or mislabelled")
            }
            bin = data[(binStart + 8)..<(binStart + 8 + n)]
        }
        func int(_ v: JSONValue?, _ what: String) throws -> Int {
            guard let d = v?.doubleValue, d >= 0, d == d.rounded(), d < 1e12 else {
                throw fail("\(what) is missing or not a non-negative integer")
            }
            return Int(d)
        }
        let accessors = json["accessors"]?.arrayValue ?? []
        let views = json["bufferViews"]?.arrayValue ?? []
        /// The bytes and layout of a buffer view.
        func viewBytes(_ index: Int) throws -> (ArraySlice<UInt8>, Int?) {
            guard index < views.count else { throw fail("bufferView \(index) does not exist") }
            let v = views[index]
            guard try int(v["buffer"], "bufferViews[\(index)].buffer") == 0 else {
                throw fail("bufferViews[\(index)] refers to an external buffer (unsupported)")
            }
            let off =
                v["byteOffset"] == nil
                ? 0 : try int(v["byteOffset"], "bufferViews[\(index)].byteOffset")
            let len = try int(v["byteLength"], "bufferViews[\(index)].byteLength")
            guard off + len <= bin.count else {
                throw fail(
                    "bufferViews[\(index)] (\(off)+\(len)) exceeds the BIN chunk (\(bin.count) bytes)"
                )
            }
            let stride = v["byteStride"] == nil ? nil : try int(v["byteStride"], "byteStride")
            return (bin[(bin.startIndex + off)..<(bin.startIndex + off + len)], stride)
        }
        func read(_ index: Int, _ expectedComponents: [Int]) throws -> (
            values: [Float], k: Int, count: Int
        ) {
            let what = "accessors[\(index)]"
            guard index < accessors.count else { throw fail("\(what) does not exist") }
            let a = accessors[index]
            let count = try int(a["count"], "\(what).count")
            let ctype = try int(a["componentType"], "\(what).componentType")
            let k =
                ["SCALAR": 1, "VEC2": 2, "VEC3": 3, "VEC4": 4][a["type"]?.stringValue ?? ""] ?? 0
            guard expectedComponents.contains(k) else {
                throw fail(
                    "\(what) has type \(a["type"]?.stringValue ?? "?"), expected \(expectedComponents) components"
                )
            }
            let size = [5120: 1, 5121: 1, 5122: 2, 5123: 2, 5125: 4, 5126: 4][ctype] ?? 0
            guard size > 0 else { throw fail("\(what) has unknown componentType \(ctype)") }
            guard a["sparse"] == nil else { throw fail("\(what) is sparse (unsupported)") }
            guard let viewIndex = a["bufferView"] else {
                return ([Float](repeating: 0, count: count * k), k, count)
            }
            let (bytes, strideOpt) = try viewBytes(try int(viewIndex, "\(what).bufferView"))
            let off = a["byteOffset"] == nil ? 0 : try int(a["byteOffset"], "\(what).byteOffset")
            let stride = strideOpt ?? size * k
            guard count == 0 || off + (count - 1) * stride + size * k <= bytes.count else {
                throw fail("\(what): \(count) elements do not fit in its buffer view (truncated)")
            }
            let normalized = a["normalized"] == .bool(true)
            var out = [Float](repeating: 0, count: count * k)
            let base = bytes.startIndex + off
            for i in 0..<count {
                for j in 0..<k {
                    let p = base + i * stride + j * size
                    let v: Float
                    switch ctype {
                    case 5126:
                        v = Float(
                            bitPattern: UInt32(bytes[p]) | UInt32(bytes[p + 1]) << 8 | UInt32(
                                bytes[p + 2]) << 16 | UInt32(bytes[p + 3]) << 24)
                    case 5125:
                        v = Float(
                            UInt32(bytes[p]) | UInt32(bytes[p + 1]) << 8 | UInt32(bytes[p + 2])
                                << 16 | UInt32(bytes[p + 3]) << 24)
                    case 5123:
                        v =
                            Float(UInt16(bytes[p]) | UInt16(bytes[p + 1]) << 8)
                            / (normalized ? 65535 : 1)
                    case 5122:
                        v =
                            Float(Int16(bitPattern: UInt16(bytes[p]) | UInt16(bytes[p + 1]) << 8))
                            / (normalized ? 32767 : 1)
                    case 5121: v = Float(bytes[p]) / (normalized ? 255 : 1)
                    default: v = Float(Int8(bitPattern: bytes[p])) / (normalized ? 127 : 1)
                    }
                    out[i * k + j] = v
                }
            }
            return (out, k, count)
        }
        guard let prim = json["meshes"]?.arrayValue?.first?["primitives"]?.arrayValue?.first else {
            throw fail("no mesh primitive in the JSON chunk")
        }
        if let mode = prim["mode"], try int(mode, "primitive mode") != 4 {
            throw fail("primitive mode \(mode.serialized()) is not TRIANGLES (4)")
        }
        guard let attrs = prim["attributes"], let posIndex = attrs["POSITION"] else {
            throw fail("primitive has no POSITION attribute")
        }
        let toZUp = yUpToZUp
        func rotate(_ v: SIMD3<Float>) -> SIMD3<Float> { toZUp ? SIMD3(v.x, -v.z, v.y) : v }
        let pos = try read(try int(posIndex, "POSITION"), [3])
        let vertices = (0..<pos.count).map {
            rotate(SIMD3(pos.values[3 * $0], pos.values[3 * $0 + 1], pos.values[3 * $0 + 2]))
        }
        var mesh = TriangleMesh(vertices: vertices, faces: [])
        if let n = attrs["NORMAL"] {
            let r = try read(try int(n, "NORMAL"), [3])
            mesh.vertexNormals = (0..<r.count).map {
                rotate(SIMD3(r.values[3 * $0], r.values[3 * $0 + 1], r.values[3 * $0 + 2]))
            }
        }
        if let c = attrs["COLOR_0"] {
            let r = try read(try int(c, "COLOR_0"), [3, 4])
            mesh.vertexColors = (0..<r.count).map {
                SIMD3(r.values[r.k * $0], r.values[r.k * $0 + 1], r.values[r.k * $0 + 2])
            }
        }
        if let t = attrs["TEXCOORD_0"] {
            let r = try read(try int(t, "TEXCOORD_0"), [2])
            mesh.uvs = (0..<r.count).map { SIMD2(r.values[2 * $0], r.values[2 * $0 + 1]) }
        }
        if let ind = prim["indices"] {
            let r = try read(try int(ind, "indices"), [1])
            guard r.count % 3 == 0 else { throw fail("\(r.count) indices is not a multiple of 3") }
            let n = Float(vertices.count)
            if let bad = r.values.first(where: { !($0 >= 0 && $0 < n) }) {
                throw fail("index \(bad) is outside 0..<\(vertices.count) (the vertex count)")
            }
            mesh.faces = (0..<(r.count / 3)).map { (i: Int) -> SIMD3<Int32> in
                let a = Int32(r.values[3 * i])
                let b = Int32(r.values[3 * i + 1])
                let c = Int32(r.values[3 * i + 2])
                return SIMD3(a, b, c)
            }
        } else {
            guard vertices.count % 3 == 0 else {
                throw fail("non-indexed primitive with \(vertices.count) vertices")
            }
            mesh.faces = (0..<(vertices.count / 3)).map { (i: Int) -> SIMD3<Int32> in
                let a = Int32(3 * i)
                return SIMD3(a, a + 1, a + 2)
            }
        }
        if let matIndex = prim["material"],
            let mat = json["materials"]?.arrayValue?[safe: try int(matIndex, "material")],
            let texIndex = mat["pbrMetallicRoughness"]?["baseColorTexture"]?["index"],
            let tex = json["textures"]?.arrayValue?[safe: try int(texIndex, "texture index")],
            let srcIndex = tex["source"],
            let image = json["images"]?.arrayValue?[safe: try int(srcIndex, "image index")],
            let viewIndex = image["bufferView"]
        {
            let (bytes, _) = try viewBytes(try int(viewIndex, "image bufferView"))
            let b = Array(bytes)
            switch ImageFormat.sniff(b) {
            case .png: mesh.texture = try PNG.decode(b, source: "\(source): texture").raster
            case .jpeg: mesh.texture = try JPEG.decode(b, source: "\(source): texture").raster
            default: throw fail("embedded texture is neither PNG nor JPEG")
            }
        }
        try mesh.validate(source: source)
        return mesh
    }

    /// Checks a GLB's structure: magic, version, lengths, 4-byte chunk alignment, accessor bounds
    /// against the data, views inside the buffer and indices inside the vertex range. Returns
    /// a list of problems (empty when valid).
    public static func validate(_ data: [UInt8]) -> [String] {
        var problems: [String] = []
        func le32(_ i: Int) -> UInt32 {
            UInt32(data[i]) | UInt32(data[i + 1]) << 8 | UInt32(data[i + 2]) << 16
                | UInt32(data[i + 3]) << 24
        }
        guard data.count >= 28 else { return ["file shorter than a GLB header"] }
        if le32(0) != magic { problems.append("bad magic") }
        if le32(4) != 2 { problems.append("version \(le32(4)) != 2") }
        if Int(le32(8)) != data.count {
            problems.append("header length \(le32(8)) != file size \(data.count)")
        }
        let jl = Int(le32(12))
        if jl % 4 != 0 { problems.append("JSON chunk length \(jl) not a multiple of 4") }
        if le32(16) != jsonChunk { problems.append("first chunk is not JSON") }
        guard 20 + jl + 8 <= data.count else { return problems + ["no BIN chunk"] }
        let bl = Int(le32(20 + jl))
        if bl % 4 != 0 { problems.append("BIN chunk length \(bl) not a multiple of 4") }
        if le32(24 + jl) != binChunk { problems.append("second chunk is not BIN") }
        if 28 + jl + bl != data.count { problems.append("chunks do not end at the file end") }
        guard
            let json = try? JSONValue.parse(
                String(decoding: data[20..<(20 + jl)], as: UTF8.self), source: "GLB")
        else { return problems + ["JSON chunk does not parse"] }
        if json["buffers"]?.arrayValue?.first?["byteLength"]?.doubleValue.map({ Int($0) }) != bl {
            problems.append("buffers[0].byteLength != BIN chunk length")
        }
        let views = json["bufferViews"]?.arrayValue ?? []
        for (i, v) in views.enumerated() {
            let off = Int(v["byteOffset"]?.doubleValue ?? 0)
            let len = Int(v["byteLength"]?.doubleValue ?? -1)
            if off % 4 != 0 {
                problems.append("bufferViews[\(i)] offset \(off) not 4-byte aligned")
            }
            if len < 0 || off + len > bl { problems.append("bufferViews[\(i)] outside the buffer") }
        }
        guard let mesh = try? decode(data) else { return problems + ["mesh does not decode"] }
        let accessors = json["accessors"]?.arrayValue ?? []
        let attrs = json["meshes"]?.arrayValue?.first?["primitives"]?.arrayValue?.first?[
            "attributes"]
        if let pi = attrs?["POSITION"]?.doubleValue, Int(pi) < accessors.count, let b = mesh.bounds
        {
            let a = accessors[Int(pi)]
            let lo = a["min"]?.arrayValue?.compactMap { $0.doubleValue } ?? []
            let hi = a["max"]?.arrayValue?.compactMap { $0.doubleValue } ?? []
            let want = [b.min.x, b.min.y, b.min.z, b.max.x, b.max.y, b.max.z].map(Double.init)
            if lo + hi != want {
                problems.append("POSITION min/max \(lo) \(hi) != data bounds \(want)")
            }
        }
        for f in mesh.faces where f.min() < 0 || Int(f.max()) >= mesh.vertices.count {
            problems.append("face index \(f) out of range")
            break
        }
        return problems
    }
}

extension Array {
    subscript(safe i: Int) -> Element? { indices.contains(i) ? self[i] : nil }
}
