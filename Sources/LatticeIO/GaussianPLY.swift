// 3D Gaussian splatting PLY files (the INRIA 3DGS layout TRELLIS's Gaussian.save_ply writes with
// plyfile): binary little-endian, one `vertex` element of scalar properties x y z nx ny nz
// f_dc_0..2 [f_rest_*] opacity scale_* rot_0..3. The writer reproduces upstream's bytes; the
// reader takes any scalar types and property order, skips unknown properties, and rejects
// truncated or malformed files with errors naming the file. Also the save_ply math of
// microsoft/TRELLIS@6b0d647 gaussian_model.py (activated values -> stored PLY values, the
// axis transform through utils3d@9a4eb15's quaternion/matrix conversions; quirk Q8).
import Foundation
import LatticeTensor

/// The per-vertex values of a 3DGS PLY file, as stored (opacity is a logit, scales are logs,
/// rotations are (w, x, y, z) quaternions), row-major per vertex.
public struct GaussianPLY: Sendable, Equatable {
    /// Number of Gaussians N.
    public var count: Int
    /// [N·3] positions in the file's frame.
    public var positions: [Float]
    /// [N·3] normals (always zero in 3DGS files).
    public var normals: [Float]
    /// [N·3] SH degree-0 coefficients (f_dc_0..2).
    public var featuresDC: [Float]
    /// [N·K] higher SH coefficients (f_rest_0..K-1, channel-major as 3DGS writes them).
    public var featuresRest: [Float]
    /// K, the number of f_rest properties per vertex (3·((d+1)² - 1)).
    public var featuresRestCount: Int
    /// [N] pre-sigmoid opacities.
    public var opacities: [Float]
    /// [N·3] log scales.
    public var scales: [Float]
    /// [N·4] rotations (w, x, y, z).
    public var rotations: [Float]

    /// Validates the array sizes against `count`.
    public init(
        count: Int, positions: [Float], normals: [Float]? = nil, featuresDC: [Float],
        featuresRest: [Float] = [], featuresRestCount: Int = 0, opacities: [Float],
        scales: [Float], rotations: [Float]
    ) throws {
        let checks: [(String, Int, Int)] = [
            ("positions", positions.count, 3 * count),
            ("normals", normals?.count ?? 3 * count, 3 * count),
            ("featuresDC", featuresDC.count, 3 * count),
            ("featuresRest", featuresRest.count, featuresRestCount * count),
            ("opacities", opacities.count, count), ("scales", scales.count, 3 * count),
            ("rotations", rotations.count, 4 * count),
        ]
        for (name, have, want) in checks where have != want {
            throw LatticeError(
                .shapeMismatch, "GaussianPLY: \(name) has \(have) values, expected \(want)")
        }
        self.count = count
        self.positions = positions
        self.normals = normals ?? [Float](repeating: 0, count: 3 * count)
        self.featuresDC = featuresDC
        self.featuresRest = featuresRest
        self.featuresRestCount = featuresRestCount
        self.opacities = opacities
        self.scales = scales
        self.rotations = rotations
    }

    /// SH degree implied by the f_rest count.
    public var shDegree: Int {
        var d = 0
        while 3 * ((d + 1) * (d + 1) - 1) < featuresRestCount { d += 1 }
        return d
    }

    /// Property names in file order (upstream `construct_list_of_attributes`, plus f_rest).
    public var propertyNames: [String] {
        ["x", "y", "z", "nx", "ny", "nz", "f_dc_0", "f_dc_1", "f_dc_2"]
            + (0..<featuresRestCount).map { "f_rest_\($0)" } + ["opacity"]
            + (0..<3).map { "scale_\($0)" } + (0..<4).map { "rot_\($0)" }
    }

    // MARK: Writing

    /// The file bytes: plyfile's header (`\n` line ends, `property float <name>`) and float32
    /// little-endian records.
    public func encoded() -> Data {
        var header = "ply\nformat binary_little_endian 1.0\nelement vertex \(count)\n"
        for name in propertyNames { header += "property float \(name)\n" }
        header += "end_header\n"
        var data = Data(header.utf8)
        let stride = propertyNames.count
        var record = [Float](repeating: 0, count: stride * count)
        let k = featuresRestCount
        for i in 0..<count {
            var o = i * stride
            func put(_ v: Float) {
                record[o] = v
                o += 1
            }
            for a in 0..<3 { put(positions[3 * i + a]) }
            for a in 0..<3 { put(normals[3 * i + a]) }
            for a in 0..<3 { put(featuresDC[3 * i + a]) }
            for a in 0..<k { put(featuresRest[k * i + a]) }
            put(opacities[i])
            for a in 0..<3 { put(scales[3 * i + a]) }
            for a in 0..<4 { put(rotations[4 * i + a]) }
        }
        record.withUnsafeBufferPointer { buf in
            let bytes = UnsafeRawBufferPointer(buf)
            if UInt32(littleEndian: 1) == 1 {
                data.append(contentsOf: bytes)
            } else {
                for v in buf {
                    withUnsafeBytes(of: v.bitPattern.littleEndian) { data.append(contentsOf: $0) }
                }
            }
        }
        return data
    }

    /// Writes the file atomically.
    public func write(to url: URL) throws { try writeAtomically(encoded(), to: url) }

    // MARK: Reading

    /// Reads a 3DGS PLY file.
    public static func read(from url: URL) throws -> GaussianPLY {
        let data: Data
        do {
            data = try Data(contentsOf: url)
        } catch {
            throw LatticeError(.io, "\(url.path): cannot read (\(error.localizedDescription))")
        }
        return try GaussianPLY(data: data, source: url.path)
    }

    private enum ScalarType: Int {
        case int8 = 1, int16 = 2, int32 = 4, float64 = 8, uint8 = 11, uint16 = 12, uint32 = 14,
            float32 = 24

        var size: Int {
            rawValue % 10 == 1 ? 1 : rawValue % 10 == 2 ? 2 : rawValue % 10 == 4 ? 4 : 8
        }

        init?(_ name: String) {
            switch name {
            case "char", "int8": self = .int8
            case "uchar", "uint8": self = .uint8
            case "short", "int16": self = .int16
            case "ushort", "uint16": self = .uint16
            case "int", "int32": self = .int32
            case "uint", "uint32": self = .uint32
            case "float", "float32": self = .float32
            case "double", "float64": self = .float64
            default: return nil
            }
        }

        func read(_ p: UnsafeRawPointer) -> Float {
            switch self {
            case .int8: return Float(p.load(as: Int8.self))
            case .uint8: return Float(p.load(as: UInt8.self))
            case .int16: return Float(Int16(littleEndian: p.loadUnaligned(as: Int16.self)))
            case .uint16: return Float(UInt16(littleEndian: p.loadUnaligned(as: UInt16.self)))
            case .int32: return Float(Int32(littleEndian: p.loadUnaligned(as: Int32.self)))
            case .uint32: return Float(UInt32(littleEndian: p.loadUnaligned(as: UInt32.self)))
            case .float32:
                return Float(bitPattern: UInt32(littleEndian: p.loadUnaligned(as: UInt32.self)))
            case .float64:
                return Float(
                    Double(bitPattern: UInt64(littleEndian: p.loadUnaligned(as: UInt64.self))))
            }
        }
    }

    /// Parses file bytes; `source` names the file in errors.
    public init(data: Data, source: String) throws {
        func bad(_ message: String) -> LatticeError {
            LatticeError(.invalidFile, "\(source): \(message)")
        }
        let marker = Data("end_header".utf8)
        guard data.starts(with: Data("ply".utf8)) else {
            throw bad("not a PLY file (no 'ply' magic)")
        }
        guard let end = data.range(of: marker, in: 0..<Swift.min(data.count, 1 << 20)) else {
            throw bad("no 'end_header' line in the first MiB")
        }
        var bodyStart = end.upperBound
        if bodyStart < data.count, data[bodyStart] == 0x0D { bodyStart += 1 }
        guard bodyStart < data.count || data.count == bodyStart, bodyStart <= data.count,
            bodyStart == data.count || data[bodyStart] == 0x0A || data[bodyStart - 1] == 0x0A
        else { throw bad("'end_header' is not followed by a newline") }
        if bodyStart < data.count, data[bodyStart] == 0x0A { bodyStart += 1 }
        guard let headerText = String(data: data[0..<end.lowerBound], encoding: .ascii) else {
            throw bad("header is not ASCII")
        }
        var vertexCount: Int?
        var inVertex = false
        var sawFormat = false
        var properties: [(name: String, type: ScalarType, offset: Int)] = []
        var stride = 0
        for raw in headerText.split(whereSeparator: { $0 == "\n" || $0 == "\r" }) {
            let words = raw.split(separator: " ").map(String.init)
            guard let first = words.first else { continue }
            switch first {
            case "ply", "comment", "obj_info": continue
            case "format":
                guard words.count >= 3 else { throw bad("malformed line '\(raw)'") }
                guard words[1] == "binary_little_endian" else {
                    throw LatticeError(
                        .unsupported,
                        "\(source): PLY format '\(words[1])' (only binary_little_endian 3DGS files are read)"
                    )
                }
                sawFormat = true
            case "element":
                guard words.count == 3, let n = Int(words[2]), n >= 0 else {
                    throw bad("malformed line '\(raw)'")
                }
                if words[1] == "vertex" {
                    guard vertexCount == nil else { throw bad("two 'vertex' elements") }
                    vertexCount = n
                    inVertex = true
                } else {
                    guard vertexCount != nil else {
                        throw LatticeError(
                            .unsupported,
                            "\(source): element '\(words[1])' precedes 'vertex' (3DGS files have vertex first)"
                        )
                    }
                    inVertex = false  // later elements are not read
                }
            case "property":
                guard inVertex else { continue }
                guard words.count == 3 else {
                    if words.count >= 2, words[1] == "list" {
                        throw LatticeError(
                            .unsupported, "\(source): list property '\(words.last ?? "")' in vertex"
                        )
                    }
                    throw bad("malformed line '\(raw)'")
                }
                guard let t = ScalarType(words[1]) else {
                    throw bad("property '\(words[2])' has unknown type '\(words[1])'")
                }
                guard !properties.contains(where: { $0.name == words[2] }) else {
                    throw bad("property '\(words[2])' appears twice")
                }
                properties.append((words[2], t, stride))
                stride += t.size
            default:
                throw bad("unexpected header line '\(raw)'")
            }
        }
        guard sawFormat else { throw bad("header has no 'format' line") }
        guard let n = vertexCount else { throw bad("header declares no 'vertex' element") }
        let names = Set(properties.map(\.name))
        let required =
            ["x", "y", "z", "f_dc_0", "f_dc_1", "f_dc_2", "opacity"]
            + (0..<3).map { "scale_\($0)" } + (0..<4).map { "rot_\($0)" }
        let missing = required.filter { !names.contains($0) }
        guard missing.isEmpty else {
            throw bad(
                "not a 3D Gaussian splat PLY: missing vertex properties \(missing.joined(separator: ", ")) (has \(properties.map(\.name).joined(separator: ", ")))"
            )
        }
        let restNames = properties.map(\.name).filter { $0.hasPrefix("f_rest_") }
        let k = restNames.count
        for i in 0..<k where !names.contains("f_rest_\(i)") {
            throw bad("f_rest properties are not numbered 0..<\(k): f_rest_\(i) is missing")
        }
        var degreeOK = k == 0
        for d in 1...4 where 3 * ((d + 1) * (d + 1) - 1) == k { degreeOK = true }
        guard degreeOK else {
            throw bad("\(k) f_rest properties; expected 3·((d+1)²-1) for an SH degree d in 1...4")
        }
        let needed = n * stride
        let available = data.count - bodyStart
        guard available >= needed else {
            throw bad(
                "truncated: \(n) vertices of \(stride) bytes need \(needed) bytes after the header, only \(available) present"
            )
        }
        let lookup = Dictionary(
            uniqueKeysWithValues: properties.map { ($0.name, ($0.type, $0.offset)) })
        var out = try GaussianPLY(
            count: n, positions: [Float](repeating: 0, count: 3 * n),
            featuresDC: [Float](repeating: 0, count: 3 * n),
            featuresRest: [Float](repeating: 0, count: k * n), featuresRestCount: k,
            opacities: [Float](repeating: 0, count: n), scales: [Float](repeating: 0, count: 3 * n),
            rotations: [Float](repeating: 0, count: 4 * n))
        data.withUnsafeBytes { (raw: UnsafeRawBufferPointer) in
            guard let base = raw.baseAddress?.advanced(by: bodyStart) else { return }
            func column(_ name: String, into dst: inout [Float], stride s: Int, at a: Int) {
                guard let (t, off) = lookup[name] else { return }
                for i in 0..<n { dst[s * i + a] = t.read(base + i * stride + off) }
            }
            for (a, p) in ["x", "y", "z"].enumerated() {
                column(p, into: &out.positions, stride: 3, at: a)
            }
            for (a, p) in ["nx", "ny", "nz"].enumerated() {
                column(p, into: &out.normals, stride: 3, at: a)
            }
            for a in 0..<3 { column("f_dc_\(a)", into: &out.featuresDC, stride: 3, at: a) }
            for a in 0..<k { column("f_rest_\(a)", into: &out.featuresRest, stride: k, at: a) }
            column("opacity", into: &out.opacities, stride: 1, at: 0)
            for a in 0..<3 { column("scale_\(a)", into: &out.scales, stride: 3, at: a) }
            for a in 0..<4 { column("rot_\(a)", into: &out.rotations, stride: 4, at: a) }
        }
        self = out
    }

    // MARK: Upstream save_ply / load_ply math

    /// TRELLIS's default export transform: (x, y, z) -> (x, -z, y), Z-up to the y-down frame
    /// 3DGS viewers expect.
    public static let defaultTransform: [[Double]] = [[1, 0, 0], [0, 0, -1], [0, 1, 0]]

    /// Upstream `save_ply` from activated values: world `xyz` [N·3], `featuresDC` [N·3]
    /// (transposed `_features_dc`), opacity probabilities [N], activated scales [N·3] and the
    /// biased, unnormalised rotations [N·4]. Opacity and scale become logit and log in float32;
    /// xyz' = T·xyz and R' = T·R in float64 with the rotation through utils3d's conversions.
    public static func fromActivated(
        xyz: [Float], featuresDC: [Float], featuresRest: [Float] = [], featuresRestCount: Int = 0,
        opacities: [Float], scales: [Float], rotations: [Float],
        transform: [[Double]]? = GaussianPLY.defaultTransform
    ) throws -> GaussianPLY {
        let n = opacities.count
        var pos = xyz
        var rot = rotations
        if let t = transform {
            guard t.count == 3, t.allSatisfy({ $0.count == 3 }) else {
                throw LatticeError(.invalidArgument, "GaussianPLY: transform must be 3x3")
            }
            guard xyz.count == 3 * n, rotations.count == 4 * n else {
                throw LatticeError(
                    .shapeMismatch,
                    "GaussianPLY: \(xyz.count) xyz and \(rotations.count) rotation values for \(n) Gaussians"
                )
            }
            for i in 0..<n {
                let p = (0..<3).map { Double(xyz[3 * i + $0]) }
                for r in 0..<3 {
                    pos[3 * i + r] = Float(t[r][0] * p[0] + t[r][1] * p[1] + t[r][2] * p[2])
                }
                let m = quaternionToMatrix(Array(rotations[(4 * i)..<(4 * i + 4)]))
                var tm = [Double](repeating: 0, count: 9)
                for r in 0..<3 {
                    for c in 0..<3 {
                        tm[3 * r + c] =
                            t[r][0] * Double(m[c]) + t[r][1] * Double(m[3 + c]) + t[r][2]
                            * Double(m[6 + c])
                    }
                }
                let q = matrixToQuaternion(tm)
                for a in 0..<4 { rot[4 * i + a] = Float(q[a]) }
            }
        }
        return try GaussianPLY(
            count: n, positions: pos, featuresDC: featuresDC, featuresRest: featuresRest,
            featuresRestCount: featuresRestCount,
            opacities: opacities.map { Foundation.log($0 / (1 - $0)) },
            scales: scales.map { Foundation.log($0) }, rotations: rot)
    }

    /// The inverse of `fromActivated` (what upstream `load_ply` intends): world xyz = Tᵀ·p,
    /// R = Tᵀ·R', opacity = sigmoid, scale = exp.
    public func activated(transform: [[Double]]? = GaussianPLY.defaultTransform) -> (
        xyz: [Float], opacities: [Float], scales: [Float], rotations: [Float]
    ) {
        var xyz = positions
        var rot = rotations
        if let t = transform {
            for i in 0..<count {
                let p = (0..<3).map { Double(positions[3 * i + $0]) }
                for r in 0..<3 {
                    xyz[3 * i + r] = Float(t[0][r] * p[0] + t[1][r] * p[1] + t[2][r] * p[2])
                }
                let m = GaussianPLY.quaternionToMatrix(Array(rotations[(4 * i)..<(4 * i + 4)]))
                var tm = [Double](repeating: 0, count: 9)
                for r in 0..<3 {
                    for c in 0..<3 {
                        tm[3 * r + c] =
                            t[0][r] * Double(m[c]) + t[1][r] * Double(m[3 + c]) + t[2][r]
                            * Double(m[6 + c])
                    }
                }
                let q = GaussianPLY.matrixToQuaternion(tm)
                for a in 0..<4 { rot[4 * i + a] = Float(q[a]) }
            }
        }
        return (
            xyz, opacities.map { 1 / (1 + Foundation.exp(-$0)) }, scales.map { Foundation.exp($0) },
            rot
        )
    }

    /// utils3d `quaternion_to_matrix` in float32: normalise (w, x, y, z), then
    /// R = I + 2 (x xᵀ - |x|² I + w [x]×); row-major [9].
    public static func quaternionToMatrix(_ quaternion: [Float]) -> [Float] {
        let norm = Swift.max(
            ((quaternion[0] * quaternion[0] + quaternion[1] * quaternion[1])
                + quaternion[2] * quaternion[2] + quaternion[3] * quaternion[3]).squareRoot(),
            1e-12)
        let q = quaternion.map { $0 / norm }
        let (w, v) = (q[0], [q[1], q[2], q[3]])
        let s = (v[0] * v[0] + v[1] * v[1]) + v[2] * v[2]
        let b: [Float] = [0, -v[2], v[1], v[2], 0, -v[0], -v[1], v[0], 0]
        var m = [Float](repeating: 0, count: 9)
        for i in 0..<3 {
            for j in 0..<3 {
                let eye: Float = i == j ? 1 : 0
                let a = v[i] * v[j] - eye * s
                m[3 * i + j] = eye + 2 * (a + w * b[3 * i + j])
            }
        }
        return m
    }

    /// utils3d `matrix_to_quaternion` in float64: magnitudes from the diagonal, the largest
    /// component positive, the others signed by off-diagonal differences / sums, normalised.
    public static func matrixToQuaternion(_ m: [Double]) -> [Double] {
        let d = [m[0], m[4], m[8]]
        let signs: [[Double]] = [[1, 1, 1], [1, -1, -1], [-1, 1, -1], [-1, -1, 1]]
        let wxyz = signs.map { s in
            0.5 * Swift.max(1 + (d[0] * s[0] + d[1] * s[1] + d[2] * s[2]), 0).squareRoot()
        }
        var maxIndex = 0
        for i in 1..<4 where wxyz[i] > wxyz[maxIndex] { maxIndex = i }
        func sign(_ v: Double) -> Double { v > 0 ? 1 : v < 0 ? -1 : 0 }
        let xw = sign(m[7] - m[5])
        let yw = sign(m[2] - m[6])
        let zw = sign(m[3] - m[1])
        let yz = sign(m[7] + m[5])
        let xz = sign(m[2] + m[6])
        let xy = sign(m[1] + m[3])
        let s: [Double]
        switch maxIndex {
        case 0: s = [1, xw, yw, zw]
        case 1: s = [xw, 1, xy, xz]
        case 2: s = [yw, xy, 1, yz]
        default: s = [zw, xz, yz, 1]
        }
        let q = (0..<4).map { s[$0] * wxyz[$0] }
        let norm = Swift.max(
            ((q[0] * q[0] + q[1] * q[1]) + q[2] * q[2] + q[3] * q[3]).squareRoot(), 1e-12)
        return q.map { $0 / norm }
    }
}
