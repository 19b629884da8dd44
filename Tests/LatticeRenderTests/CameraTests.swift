// Camera conventions beyond the fixtures: VGGT quaternion round trips and look-at orthonormality.
import Foundation
import LatticeGeometry
import Testing

@Suite struct CameraTests {
    @Test func quaternionRoundTripsUpToSign() {
        // Double math throughout: 1e-12 leaves room for the four-candidate branch's rounding.
        var state: UInt64 = 42
        func next() -> Double {
            state = state &* 6_364_136_223_846_793_005 &+ 1
            return Double(state >> 11) / Double(1 << 53) * 2 - 1
        }
        for _ in 0..<200 {
            var q = SIMD4(next(), next(), next(), next())
            q /= (q * q).sum().squareRoot()
            let back = matrixToQuaternion(quaternionToMatrix(q))
            let expected = q.w < 0 ? -q : q
            let diff = (0..<4).map { abs(back[$0] - expected[$0]) }.max() ?? 0
            #expect(diff < 1e-12, "\(q) -> \(back)")
        }
    }

    @Test func lookAtIsOrthonormalAndCentred() throws {
        // Float32 rotation rows: orthonormal to a few ulps.
        let e = try extrinsicsLookAt(
            eye: SIMD3(1, -2, 0.5), lookAt: SIMD3(0.1, 0, 0), up: SIMD3(0, 0, 1))
        for i in 0..<3 {
            for j in 0..<3 {
                var d: Float = 0
                for k in 0..<3 { d += e[i * 4 + k] * e[j * 4 + k] }
                #expect(abs(d - (i == j ? 1 : 0)) < 1e-6)
            }
        }
        let c = cameraCenter(extrinsics: e)
        #expect(abs(c.x - 1) < 1e-6 && abs(c.y + 2) < 1e-6 && abs(c.z - 0.5) < 1e-6)
    }
}
