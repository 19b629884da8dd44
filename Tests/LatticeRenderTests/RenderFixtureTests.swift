// Golden checks of the render and camera fixture handlers against the upstream outputs
// (gsplat 1.5.3, TRELLIS/utils3d cameras, VGGT camera utils), within each fixture's tolerances.
import Foundation
import Testing

@testable import LatticeFixtures

private let fixturesDir = URL(fileURLWithPath: #filePath)
    .deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("Fixtures")

@Suite struct RenderFixtureTests {
    // Tolerances come from each file's metadata (rgb/alpha 1e-5, grads atol 1e-4 rtol 1e-3,
    // ids exact; cameras 1e-6 / f64 1e-15; VGGT 1e-5 / 2e-5), applied by FixtureRunner.
    @Test(arguments: [
        "gsplat__classic_sh0", "gsplat__classic_sh3", "gsplat__antialiased_eps0p1_sh0",
        "gsplat__antialiased_eps0p3_sh3", "camera__utils3d_render_utils", "vggt__pose_encoding",
        "vggt__unproject_depth",
    ])
    func fixturePasses(_ name: String) throws {
        let url = fixturesDir.appendingPathComponent(name + ".safetensors")
        let report = FixtureRunner().check(url)
        for o in report.outputs {
            print("\(name) \(o.name): \(o.status.rawValue) max|err| \(o.maxAbsError ?? -1) violations \(o.violations) \(o.detail ?? "")")
        }
        #expect(report.status == .passed, "\(report)")
    }
}
