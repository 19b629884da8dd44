// The fixture runner: tolerance rules and globs, registry matching, and end-to-end checks with
// test-only handlers that echo or perturb the golden outputs.
import Foundation
import LatticeTensor
import Testing

@testable import LatticeFixtures

private let fixturesDir = URL(fileURLWithPath: #filePath)
    .deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("Fixtures")

private func fixtureURL(_ name: String) -> URL {
    fixturesDir.appendingPathComponent(name + ".safetensors")
}

/// Every output of `fixture` as stored, plus `delta` (floats only), as Lattice tensors.
private func echo(_ f: Fixture, delta: Float = 0, skip: (String) -> Bool = { _ in false }) throws
    -> [String: any FixtureValue]
{
    var out: [String: any FixtureValue] = [:]
    for name in f.outputNames where !skip(name) {
        if let info = f.outputInfo(name), info.dtype == .F64 {
            out[name] = DoubleTensor(
                try f.reference(name).map { $0 + Double(delta) }, shape: info.shape)
            continue
        }
        let t = try f.file.tensor("output." + name)
        out[name] =
            t.dtype.isFloatingPoint ? Tensor(t.toFloats().map { $0 + delta }, shape: t.shape) : t
    }
    return out
}

@Suite struct FixtureRunnerTests {
    @Test func parsesEveryRuleForm() {
        #expect(Tolerance.parse("exact") == .exact)
        #expect(Tolerance.parse("exact (int32) unless a logit is within tolerance of 0") == .exact)
        #expect(Tolerance.parse("exact to 1e-15") == .absolute(1e-15))
        #expect(Tolerance.parse("1e-4 relative") == .relative(1e-4))
        #expect(Tolerance.parse("atol 1e-4, rtol 1e-4 (fp32)") == .allclose(atol: 1e-4, rtol: 1e-4))
        #expect(Tolerance.parse("atol 1e-6") == .absolute(1e-6))
        #expect(Tolerance.parse("0.5") == .absolute(0.5))
        #expect(Tolerance.parse("close enough") == nil)
        // "relative" as the fixtures define it: |a-b| <= r * max(1, |b|).
        #expect(Tolerance.relative(1e-4).bound(reference: 0.5) == 1e-4)
        #expect(Tolerance.relative(1e-4).bound(reference: -200) == 2e-2)
        #expect(Tolerance.allclose(atol: 1e-4, rtol: 1e-3).bound(reference: 10) == 1e-4 + 1e-2)
    }

    @Test func globsMatchAcrossDots() {
        #expect(ToleranceTable.glob("dbg_*", matches: "dbg_block0_out"))
        #expect(ToleranceTable.glob("pred_x_t.*", matches: "pred_x_t.4"))
        #expect(!ToleranceTable.glob("pred_x_t.*", matches: "pred_x_0.4"))
        #expect(ToleranceTable.glob("calls.*.v", matches: "calls.12.v"))
        #expect(ToleranceTable.glob("*_f64", matches: "sphere_hammersley.plain_f64"))
        #expect(
            ToleranceTable.glob("pos_?", matches: "pos_a")
                && !ToleranceTable.glob("pos_?", matches: "pos_ab"))
    }

    /// Every visible fixture loads and every output gets a tolerance.
    @Test func everyVisibleFixtureResolvesEveryOutput() throws {
        let urls = try FileManager.default.contentsOfDirectory(
            at: fixturesDir, includingPropertiesForKeys: nil
        )
        .filter { $0.pathExtension == "safetensors" }
        #expect(urls.count >= 40)
        for url in urls {
            let f = try Fixture(url: url)
            #expect(f.name == url.deletingPathExtension().lastPathComponent)
            #expect(!f.module.isEmpty && !f.outputNames.isEmpty)
            for name in f.outputNames {
                let info = try #require(f.outputInfo(name))
                #expect(f.tolerances.resolve(name, dtype: info.dtype) != nil, "\(f.name): \(name)")
            }
        }
    }

    @Test func resolvesTheFixturesRulesPerOutput() throws {
        func tol(_ c: String, _ o: String) throws -> Tolerance? {
            let f = try Fixture(url: fixtureURL(c))
            return f.tolerances.resolve(o, dtype: try #require(f.outputInfo(o)).dtype)?.tolerance
        }
        #expect(try tol("trellis__ss_flow_small", "dbg_t_emb") == .absolute(2e-4))
        #expect(try tol("trellis__sampler_guidance_interval", "pred_x_t.3") == .absolute(1e-3))
        #expect(try tol("trellis__sampler_guidance_interval", "calls.2.v") == .absolute(1e-3))
        // t_seq is not listed: the strictest number in the case applies.
        #expect(try tol("trellis__sampler_guidance_interval", "t_seq") == .absolute(1e-3))
        #expect(try tol("vggt__dpt_head_depth_small", "depth") == .relative(1e-4))
        #expect(try tol("vggt__pose_encoding", "intrinsics") == .relative(1e-5))
        #expect(try tol("clip__tokenizer_bpe", "input_ids") == .exact)
        #expect(try tol("clip__tokenizer_bpe", "attention_mask") == .exact)
        #expect(try tol("trellis__ss_decoder", "coords") == .exact)
        // Free-text rules of the sparse/render groups.
        #expect(try tol("gsplat__classic_sh0", "rgb") == .absolute(1e-5))
        #expect(try tol("gsplat__classic_sh0", "grad.means") == .allclose(atol: 1e-4, rtol: 1e-3))
        #expect(try tol("gsplat__classic_sh0", "radii") == .exact)
        #expect(try tol("gsplat__classic_sh0", "flatten_ids") == .exact)
        #expect(try tol("camera__utils3d_render_utils", "hammersley3_f64") == .absolute(1e-15))
        #expect(try tol("camera__utils3d_render_utils", "video.yaw") == .absolute(1e-6))
        #expect(try tol("sparse_spatial__downsample_upsample", "down.parent_index") == .exact)
        #expect(try tol("sparse_spatial__downsample_upsample", "up.feats") == .absolute(1e-6))
        #expect(try tol("sparse_spatial__subdivide", "feats") == .exact)
        #expect(try tol("slat_flow__model_small", "feats") == .allclose(atol: 2e-4, rtol: 1e-4))
        #expect(
            try tol("slat_vae__gs_decoder_swin4", "raw_feats") == .allclose(atol: 1e-4, rtol: 1e-4))
        #expect(try tol("slat_vae__gs_decoder_swin4", "gaussians.0.ply_bytes") == .exact)
        #expect(try tol("slat_vae__mesh_decoder_swin4", "mesh.0.vertices") == .absolute(1e-4))
    }

    @Test func readsFixtureFields() throws {
        struct FlowConfig: Decodable {
            let model_channels: Int
            let num_heads: Int
            let qk_rms_norm: Bool
        }
        let f = try Fixture(url: fixtureURL("trellis__ss_flow_small"))
        #expect(f.module == "SparseStructureFlowModel")
        #expect(f.upstream.hasPrefix("microsoft/TRELLIS@"))
        let c = try f.config(FlowConfig.self)
        #expect(c.model_channels == 64 && c.num_heads == 4 && c.qk_rms_norm)
        #expect(f.params.keys.allSatisfy { !$0.hasPrefix("param.") } && f.params.count == 49)
        #expect(Set(f.inputs.keys) == ["x", "t", "cond"])
        #expect(try f.input("x").shape == [2, 8, 8, 8, 8])
        #expect(throws: LatticeError.self) { try f.input("nope") }
        struct Bad: Decodable { let missing_key: Int }
        #expect(throws: LatticeError.self) { try f.config(Bad.self) }
        // The sparse/render generator stored config as a JSON string and notes double-encoded.
        struct Splat: Decodable { let num_gaussians: Int }
        let g = try Fixture(url: fixtureURL("gsplat__classic_sh0"))
        #expect(try g.config(Splat.self).num_gaussians == 120)
        #expect(!g.notes.hasPrefix("\""))
        #expect(g.configJSON["width"] == .int(64))
    }

    @Test func echoedOutputsPassAndPerturbedOnesFail() throws {
        let url = fixtureURL("trellis__ape_c64")  // emb: 2e-05 absolute
        let exact = FixtureRunner(
            registry: FixtureRegistry([.casePrefix("trellis__ape", { try echo($0) })]))
        let r = exact.check(url)
        #expect(r.status == .passed)
        #expect(r.outputs.map(\.maxAbsError) == [0])

        let near = FixtureRunner(
            registry: FixtureRegistry([
                .module("AbsolutePositionEmbedder", { try echo($0, delta: 1e-5) })
            ]))
        #expect(near.check(url).status == .passed)

        let far = FixtureRunner(
            registry: FixtureRegistry([.casePrefix("trellis__", { try echo($0, delta: 1e-3) })]))
        let bad = far.check(url)
        #expect(bad.status == .failed)
        let o = try #require(bad.outputs.first)
        #expect(o.status == .failed && o.violations > 0)
        #expect("\(bad)".contains("emb: max|err|"))
        #expect(abs((o.maxAbsError ?? 0) - 1e-3) < 1e-4)
    }

    @Test func optionalDebugOutputsAreSkippedButRequiredOnesFail() throws {
        let url = fixtureURL("trellis__ss_flow_small")
        let onlyV = FixtureRunner(
            registry: FixtureRegistry([
                .casePrefix(
                    "trellis__ss_flow",
                    { f in
                        try echo(f, skip: { $0.hasPrefix("dbg_") })
                    })
            ]))
        let r = onlyV.check(url)
        #expect(r.status == .passed)
        #expect(r.outputs.filter { $0.status == .skipped }.count == 3)

        let none = FixtureRunner(
            registry: FixtureRegistry([.casePrefix("trellis__ss_flow", { _ in [:] })]))
        let m = none.check(url)
        #expect(m.status == .failed)
        #expect(m.outputs.first { $0.name == "v" }?.detail == "not produced by the handler")

        let wrongShape = FixtureRunner(
            registry: FixtureRegistry([
                .casePrefix(
                    "trellis__ss_flow",
                    { _ in
                        ["v": Tensor(zeros: [2, 8])]
                    })
            ]))
        #expect(
            wrongShape.check(url).outputs.first { $0.name == "v" }?.detail?.contains("shape [2, 8]")
                == true)
    }

    /// F64 references keep double precision: only a DoubleTensor meets "exact to 1e-15".
    @Test func float64OutputsCompareInDouble() throws {
        let url = fixtureURL("camera__utils3d_render_utils")
        let name = "hammersley3_f64"
        func runner(asDouble: Bool) -> FixtureRunner {
            FixtureRunner(
                registry: FixtureRegistry([
                    .casePrefix(
                        "camera__",
                        { f in
                            var out = try echo(f)
                            let ref = try f.reference(name)
                            let shape = try #require(f.outputInfo(name)).shape
                            out[name] =
                                asDouble
                                ? DoubleTensor(ref, shape: shape)
                                : Tensor(ref.map { Float($0) }, shape: shape)
                            return out
                        })
                ]))
        }
        let good = runner(asDouble: true).check(url)
        #expect(good.status == .passed, "\(good.outputs.filter { !$0.passed })")
        let lossy = runner(asDouble: false).check(url)
        let check = try #require(lossy.outputs.first { $0.name == name })
        #expect(check.status == .failed && (check.maxAbsError ?? 0) > 1e-15)
    }

    @Test func reportsUnsupportedInvalidAndThrowingHandlers() throws {
        let empty = FixtureRunner(registry: FixtureRegistry([]))
        #expect(empty.check(fixtureURL("vggt__rope2d")).status == .unsupported)
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent(
            "lattice-fx-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let junk = dir.appendingPathComponent("junk.safetensors")
        try Data([1, 2, 3]).write(to: junk)
        let r = empty.check(junk)
        #expect(r.status == .invalid && r.message?.contains(junk.path) == true)
        // A safetensors file without fixture metadata is invalid too.
        let plain = dir.appendingPathComponent("plain.safetensors")
        try Safetensors.write(["a": Tensor([1], shape: [1])], to: plain)
        #expect(empty.check(plain).message?.contains("no 'case'") == true)

        let throwing = FixtureRunner(
            registry: FixtureRegistry([
                .casePrefix(
                    "vggt__rope2d",
                    { _ in
                        throw LatticeError(.unsupported, "not yet")
                    })
            ]))
        let e = throwing.check(fixtureURL("vggt__rope2d"))
        #expect(e.status == .error && e.message == "not yet")
    }

    /// Handlers can build a plain `[String: Tensor]` and return it as is.
    @Test func tensorDictionariesAreHandlerResults() throws {
        let handler: FixtureHandler = { f in
            var out: [String: Tensor] = [:]
            out["emb"] = try f.file.tensor("output.emb")
            return out
        }
        let r = FixtureRunner(registry: FixtureRegistry([.casePrefix("trellis__ape", handler)]))
            .check(fixtureURL("trellis__ape_c70"))
        #expect(r.status == .passed)
    }

    @Test func longestPrefixWinsThenModule() {
        let h: FixtureHandler = { _ in [:] }
        let reg = FixtureRegistry([
            .casePrefix("trellis__", h), .casePrefix("trellis__ss_flow", h), .module("M", h),
        ])
        #expect(
            reg.entry(caseName: "trellis__ss_flow_fp16", module: "M")?.match
                == .casePrefix("trellis__ss_flow"))
        #expect(
            reg.entry(caseName: "trellis__ape_c64", module: "M")?.match == .casePrefix("trellis__"))
        #expect(reg.entry(caseName: "vggt__x", module: "M")?.match == .module("M"))
        #expect(reg.entry(caseName: "vggt__x", module: "N") == nil)
    }
}
