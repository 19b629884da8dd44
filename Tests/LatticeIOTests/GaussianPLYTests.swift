// GaussianPLY: byte layout, round trips, files from other 3DGS tools (f_rest, extra and
// double-typed properties, other property order), and clear errors on malformed files.
import Foundation
import LatticeIO
import LatticeTensor
import Testing

@Suite("Gaussian PLY")
struct GaussianPLYTests {
    static func sample(_ n: Int = 3) throws -> GaussianPLY {
        func seq(_ count: Int, _ scale: Float) -> [Float] {
            (0..<count).map { Float($0) * scale - 1 }
        }
        return try GaussianPLY(
            count: n, positions: seq(3 * n, 0.1), featuresDC: seq(3 * n, 0.05),
            opacities: seq(n, 0.3), scales: seq(3 * n, -0.2), rotations: seq(4 * n, 0.07))
    }

    /// plyfile's exact header and 17 float32 per vertex; decoding gives the same values.
    @Test func writesPlyfileLayoutAndRoundTrips() throws {
        let ply = try Self.sample()
        let data = ply.encoded()
        let header =
            "ply\nformat binary_little_endian 1.0\nelement vertex 3\n"
            + [
                "x", "y", "z", "nx", "ny", "nz", "f_dc_0", "f_dc_1", "f_dc_2", "opacity", "scale_0",
                "scale_1", "scale_2", "rot_0", "rot_1", "rot_2", "rot_3",
            ].map { "property float \($0)\n" }
            .joined() + "end_header\n"
        #expect(data.count == header.utf8.count + 3 * 17 * 4)
        #expect(String(data: data.prefix(header.utf8.count), encoding: .ascii) == header)
        #expect(try GaussianPLY(data: data, source: "mem") == ply)
    }

    /// A file as other tools write it: SH degree 1 (9 f_rest), an extra uchar property, doubles
    /// for x/y/z, and a different property order.
    @Test func readsOtherToolsFilesWithFRest() throws {
        var header =
            "ply\nformat binary_little_endian 1.0\ncomment made elsewhere\nelement vertex 2\n"
        header += "property double x\nproperty double y\nproperty double z\nproperty uchar flag\n"
        let floats =
            [
                "rot_0", "rot_1", "rot_2", "rot_3", "opacity", "scale_0", "scale_1", "scale_2",
                "f_dc_0", "f_dc_1", "f_dc_2",
            ] + (0..<9).map { "f_rest_\($0)" }
        for p in floats { header += "property float \(p)\n" }
        header += "end_header\n"
        var data = Data(header.utf8)
        for i in 0..<2 {
            for a in 0..<3 {
                withUnsafeBytes(of: Double(10 * i + a).bitPattern.littleEndian) {
                    data.append(contentsOf: $0)
                }
            }
            data.append(7)
            for (j, _) in floats.enumerated() {
                withUnsafeBytes(of: Float(100 * i + j).bitPattern.littleEndian) {
                    data.append(contentsOf: $0)
                }
            }
        }
        let ply = try GaussianPLY(data: data, source: "other.ply")
        #expect(ply.count == 2 && ply.featuresRestCount == 9 && ply.shDegree == 1)
        #expect(ply.positions == [0, 1, 2, 10, 11, 12])
        #expect(Array(ply.rotations[4..<8]) == [100, 101, 102, 103])
        #expect(ply.opacities == [4, 104])
        #expect(Array(ply.featuresRest[0..<9]) == (11..<20).map(Float.init))
        #expect(ply.normals == [0, 0, 0, 0, 0, 0])
    }

    @Test func rejectsTruncatedFiles() throws {
        let data = try Self.sample().encoded()
        do {
            _ = try GaussianPLY(data: data.dropLast(5), source: "cut.ply")
            Issue.record("a truncated file must not load")
        } catch let e as LatticeError {
            #expect(
                e.kind == .invalidFile && e.message.contains("cut.ply")
                    && e.message.contains("truncated"))
        }
        #expect(throws: LatticeError.self) {
            _ = try GaussianPLY(data: data.prefix(40), source: "h.ply")
        }
    }

    @Test func rejectsWrongProperties() throws {
        let text = String(decoding: try Self.sample().encoded(), as: UTF8.self)
        let renamed = Data(
            text.replacingOccurrences(of: "property float opacity", with: "property float alpha")
                .utf8)
        do {
            _ = try GaussianPLY(data: renamed, source: "x.ply")
            Issue.record("missing opacity must be rejected")
        } catch let e as LatticeError {
            #expect(e.message.contains("opacity") && e.message.contains("x.ply"))
        }
        let ascii = Data("ply\nformat ascii 1.0\nelement vertex 0\nend_header\n".utf8)
        #expect(throws: LatticeError.self) { _ = try GaussianPLY(data: ascii, source: "a.ply") }
        let list = Data(
            "ply\nformat binary_little_endian 1.0\nelement vertex 1\nproperty list uchar int x\nend_header\n"
                .utf8)
        #expect(throws: LatticeError.self) { _ = try GaussianPLY(data: list, source: "l.ply") }
        #expect(throws: LatticeError.self) {
            _ = try GaussianPLY(data: Data("hello".utf8), source: "n.ply")
        }
    }

    /// utils3d's conversions: matrix_to_quaternion(quaternion_to_matrix(q)) = ±q/|q| with the
    /// largest component positive. 3e-4: components come from sqrt(1 ± diagonal sums) of a
    /// float32 matrix, so one near 0 carries up to 0.5·sqrt(a few float32 ulps) of error.
    @Test func quaternionConversionsRoundTrip() {
        var state: UInt64 = 0x9E37_79B9_7F4A_7C15
        func next() -> Float {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return Float(state >> 40) / Float(1 << 24) * 2 - 1
        }
        for _ in 0..<200 {
            let q = (0..<4).map { _ in next() }
            let n = q.map { $0 * $0 }.reduce(0, +).squareRoot()
            let m = GaussianPLY.quaternionToMatrix(q).map(Double.init)
            let back = GaussianPLY.matrixToQuaternion(m)
            let largest = q.indices.max { abs(q[$0]) < abs(q[$1]) } ?? 0
            let s: Float = q[largest] < 0 ? -1 : 1
            for a in 0..<4 { #expect(abs(Float(back[a]) - s * q[a] / n) < 3e-4) }
        }
    }

    /// The default transform maps (x, y, z) to (x, -z, y) and back.
    @Test func axisTransformRoundTrips() throws {
        let ply = try GaussianPLY.fromActivated(
            xyz: [0.1, 0.2, 0.3], featuresDC: [0, 0, 0], opacities: [0.25], scales: [0.5, 1, 2],
            rotations: [1, 0, 0, 0])
        #expect(ply.positions == [0.1, -0.3, 0.2])
        #expect(abs(ply.opacities[0] - log(Float(1) / 3)) < 1e-7)
        let back = ply.activated()
        #expect(back.xyz == [0.1, 0.2, 0.3])
        #expect(zip(back.scales, [0.5, 1, 2]).allSatisfy { abs($0 - $1) < 1e-6 })
        #expect(zip(back.rotations, [1, 0, 0, 0]).allSatisfy { abs($0 - $1) < 1e-6 })
    }
}
