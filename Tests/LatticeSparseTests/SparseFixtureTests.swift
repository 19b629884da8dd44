// The sparse engine's upstream parity fixtures, run through the standard registry.
import Foundation
import LatticeFixtures
import Testing

private let fixturesDir = URL(fileURLWithPath: #filePath)
    .deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("Fixtures")

@Suite struct SparseFixtureTests {
    /// Each case passes under its own stored tolerance (see check-fixture's table).
    @Test(arguments: [
        "sparse_conv__subm_k1_bias", "sparse_conv__subm_k3_bias",
        "sparse_spatial__downsample_upsample", "sparse_spatial__subdivide",
        "sparse_attn__self_full_qknorm", "sparse_attn__self_swin4_shift0_qknorm",
        "sparse_attn__self_swin4_shift2_qknorm", "sparse_attn__cross_dense_context",
    ])
    func fixturePasses(name: String) {
        let report = FixtureRunner.check(fixturesDir.appendingPathComponent(name + ".safetensors"))
        #expect(report.status == .passed, "\(report)")
    }
}
