// Golden parity tests of the model ports against upstream PyTorch fixtures (Tests/Fixtures),
// through the standard fixture registry and runner.
import Foundation
import LatticePipelines
import Testing

@testable import LatticeFixtures

@Suite("Model fixtures")
struct ModelFixtureTests {
    static let fixtures = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("Fixtures")

    /// Every output must be within the fixture's own tolerance (set by the generator a little
    /// above its fp32-vs-fp64 difference; "exact" for token ids). Max errors are printed.
    @Test(
        "output parity within the fixture tolerance",
        arguments: [
            "trellis__timestep_embedder", "trellis__ape_c64", "trellis__ape_c70",
            "dinov2__vitreg_square", "dinov2__vitreg_posinterp",
            "dinov2__interpolate_pos_encoding_518", "clip__text_model_small",
            "clip__tokenizer_bpe", "trellis__ss_flow_small",
            "trellis__ss_flow_qk_rms_norm_cross", "trellis__ss_flow_fp16", "trellis__ss_encoder",
            "trellis__ss_decoder", "trellis__sampler_guidance_interval",
            "trellis__sampler_multi_image_stochastic",
            "trellis__sampler_multi_image_multidiffusion",
        ])
    func parity(_ name: String) throws {
        let report = FixtureRunner.check(
            Self.fixtures.appendingPathComponent("\(name).safetensors"))
        for o in report.outputs {
            print(
                "[fixture] \(name).\(o.name): \(o.status.rawValue), max abs err "
                    + "\(o.maxAbsError.map { "\($0)" } ?? "-") \(o.detail ?? "")")
        }
        #expect(report.status == .passed, "\(name): \(report.status) \(report.message ?? "")")
        #expect(!report.outputs.isEmpty)
    }
}

@Suite("Flow sampler schedule") struct FlowScheduleTests {
    /// trellis-spec §7.3 lists the r = 3, 12-step schedule to 4 decimals; the formula is exact
    /// in float64, so 5e-5 only covers the spec's rounding.
    @Test func rescaledScheduleMatchesTheSpec() {
        let t = FlowEulerSampler.schedule(steps: 12, rescaleT: 3)
        let spec = [
            1, 0.9706, 0.9375, 0.9, 0.8571, 0.8077, 0.75, 0.6818, 0.6, 0.5, 0.375, 0.2143, 0,
        ]
        #expect(t.count == 13)
        for (a, b) in zip(t, spec) { #expect(abs(a - b) < 5e-5) }
    }
}
