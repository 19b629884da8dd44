// Golden parity tests of the model ports against upstream PyTorch fixtures (Tests/Fixtures).
import Foundation
import Testing

@testable import LatticeFixtures

@Suite("Model fixtures")
struct ModelFixtureTests {
    static let fixtures = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("Fixtures")

    /// The fixture's suggested tolerance for an output: exact key, else the first matching glob
    /// (`x_norm_*`); "exact" means 0. The tolerances come from the generator, which set them a
    /// little above its own fp32-vs-fp64 difference (see each fixture's `stats`).
    static func tolerance(_ name: String, _ table: [String: Any]) -> Double? {
        func value(_ v: Any) -> Double? {
            if let d = v as? Double { return d }
            if let s = v as? String, s == "exact" { return 0 }
            return nil
        }
        if let v = table[name] { return value(v) }
        for (key, v) in table where key.hasSuffix("*") && name.hasPrefix(String(key.dropLast())) {
            return value(v)
        }
        return nil
    }

    @Test(
        "output parity within the fixture tolerance",
        arguments: [
            "trellis__timestep_embedder", "trellis__ape_c64", "trellis__ape_c70",
            "dinov2__vitreg_square", "dinov2__vitreg_posinterp",
            "dinov2__interpolate_pos_encoding_518", "clip__text_model_small",
            "clip__tokenizer_bpe",
        ])
    func parity(_ name: String) throws {
        let file = try TempFixtureFile(
            url: Self.fixtures.appendingPathComponent("\(name).safetensors"))
        let handler = try #require(modelFixtureHandlers[name])
        let config = try JSONSerialization.data(withJSONObject: file.caseInfo["config"] ?? [:])
        let tolerances = file.caseInfo["tolerance"] as? [String: Any] ?? [:]
        if name == "clip__tokenizer_bpe" {
            setenv(
                "LATTICE_CLIP_BPE_VOCAB",
                Self.fixtures.appendingPathComponent("clip-bpe-vocab-16e6.txt.gz").path, 1)
        }
        let outputs = try handler(config, file.group("param."), file.group("input."))
        // open_clip's ids are stored for comparison only (they pad with 0): not our contract.
        let expected = file.group("output.").filter {
            !$0.key.hasPrefix("dbg_") && $0.key != "open_clip_ids"
        }
        for (key, ref) in expected.sorted(by: { $0.key < $1.key }) {
            let ours = try #require(outputs[key], "\(name): no output \(key)")
            #expect(ours.shape == ref.shape, "\(name).\(key): shape \(ours.shape) vs \(ref.shape)")
            guard ours.shape == ref.shape else { continue }
            let a = ours.toFloats()
            let b = ref.toFloats()
            var maxErr: Double = 0
            for i in 0..<a.count { maxErr = max(maxErr, Double(abs(a[i] - b[i]))) }
            // Integer outputs (token ids, masks) must match exactly.
            let tol = ref.dtype.isFloatingPoint ? (Self.tolerance(key, tolerances) ?? 1e-4) : 0
            print("[fixture] \(name).\(key): max abs err \(maxErr) (tolerance \(tol))")
            #expect(maxErr <= tol, "\(name).\(key): max abs err \(maxErr) > \(tol)")
        }
    }
}
