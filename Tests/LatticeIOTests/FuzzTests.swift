// Random truncations and bit flips of valid files, per format: every outcome must be a value or a
// LatticeError, never a crash or another error type. Seeds are fixed, so failures reproduce.
import Foundation
import LatticeGeometry
import LatticeIO
import LatticeTensor
import Testing

@Suite struct FuzzTests {
    static func mutate(_ good: [UInt8], _ rng: inout TestRNG, _ decode: ([UInt8]) throws -> Void) {
        for round in 0..<150 {
            var b = good
            if round % 3 == 0 {
                b = Array(b.prefix(rng.int(b.count)))
            } else {
                for _ in 0..<(1 + rng.int(4)) {
                    let i = rng.int(b.count)
                    b[i] ^= UInt8(1 << rng.int(8))
                }
            }
            do {
                try decode(b)
            } catch is LatticeError {
            } catch {
                Issue.record("round \(round): non-LatticeError \(error)")
            }
        }
    }

    @Test func pngPlyGlbObjJpegSurviveCorruption() throws {
        var rng = TestRNG(99)
        var mesh = MeshIOTests.cube()
        mesh.texture = RasterImage(width: 2, height: 2, channels: 3, fill: 0.5)
        Self.mutate(try IOFixtures.bytes("png_pal4.png"), &rng) { _ = try PNG.decode($0) }
        Self.mutate(try IOFixtures.bytes("png_adam7_rgb8.png"), &rng) { _ = try PNG.decode($0) }
        Self.mutate(try GLB.encode(mesh), &rng) { _ = try GLB.decode($0) }
        Self.mutate(try MeshPLY.encode(mesh), &rng) { _ = try MeshPLY.decodeMesh($0) }
        Self.mutate(try MeshPLY.encode(mesh, format: .ascii), &rng) {
            _ = try MeshPLY.decodeMesh($0)
        }
        Self.mutate(try OBJ.encode(mesh), &rng) { _ = try OBJ.decode($0) }
        Self.mutate(Zlib.compress(Array(repeating: 7, count: 3000) + rng.bytes(500)), &rng) {
            _ = try Zlib.decompress($0)
        }
        for name in ["jpeg_420.jpg", "jpeg_prog420.jpg", "jpeg_restart420.jpg"] {
            Self.mutate(try IOFixtures.bytes(name), &rng) { _ = try JPEG.decode($0) }
        }
    }
}
