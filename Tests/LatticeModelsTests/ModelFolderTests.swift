// Model folders laid out like the upstream hub repos: pipeline.json parsing, checkpoint
// resolution (local and cross-repo hub paths) and the errors for missing pieces.
import Foundation
import LatticeModels
import LatticePipelines
import Testing

@Suite struct ModelFolderTests {
    /// The shape of TRELLIS-text-base's pipeline.json: local flow models, decoders from the image
    /// repo by hub path.
    static let textPipeline = """
        {"name": "TrellisTextTo3DPipeline", "args": {"models": {
          "sparse_structure_flow_model": "ckpts/ss_flow_txt_dit_B_16l8_fp16",
          "sparse_structure_decoder": "JeffreyXiang/TRELLIS-image-large/ckpts/ss_dec_conv3d_16l8_fp16"},
         "sparse_structure_sampler": {"name": "FlowEulerCfgSampler", "args": {"sigma_min": 1e-5},
           "params": {"steps": 25, "cfg_strength": 7.5, "cfg_interval": [0.5, 1.0], "rescale_t": 3.0}},
         "slat_sampler": {"name": "FlowEulerCfgSampler", "args": {"sigma_min": 1e-5},
           "params": {"steps": 25, "cfg_strength": 7.5}},
         "slat_normalization": {"mean": [0, 0, 0, 0, 0, 0, 0, 0], "std": [1, 1, 1, 1, 1, 1, 1, 1]},
         "text_cond_model": "openai/clip-vit-large-patch14"}}
        """

    func makeTree() throws -> URL {
        let base = FileManager.default.temporaryDirectory.appendingPathComponent(
            "lattice-folder-\(UUID().uuidString)")
        let text = base.appendingPathComponent("TRELLIS-text-base")
        let image = base.appendingPathComponent("TRELLIS-image-large")
        for d in [text, image] {
            try FileManager.default.createDirectory(
                at: d.appendingPathComponent("ckpts"), withIntermediateDirectories: true)
        }
        try Data(Self.textPipeline.utf8).write(to: text.appendingPathComponent("pipeline.json"))
        for (dir, name) in [
            (text, "ss_flow_txt_dit_B_16l8_fp16"), (image, "ss_dec_conv3d_16l8_fp16"),
        ] {
            let stem = dir.appendingPathComponent("ckpts").appendingPathComponent(name)
            try Data(#"{"name": "X", "args": {}}"#.utf8).write(
                to: stem.appendingPathExtension("json"))
            try Data().write(to: stem.appendingPathExtension("safetensors"))
        }
        return base
    }

    @Test func resolvesLocalAndCrossRepoCheckpoints() throws {
        let base = try makeTree()
        defer { try? FileManager.default.removeItem(at: base) }
        let folder = try ModelFolder(root: base.appendingPathComponent("TRELLIS-text-base"))
        #expect(folder.pipelineName == "TrellisTextTo3DPipeline")
        #expect(folder.config.sparseStructureSampler.params?.steps == 25)
        let user = TrellisPipelineConfig.SamplerParams(steps: 12)
        let merged = folder.config.sparseStructureSampler.params!.overridden(by: user)
        #expect(merged.steps == 12 && merged.cfgStrength == 7.5)
        let flow = try folder.checkpoint("sparse_structure_flow_model")
        #expect(
            flow.weights.path.hasSuffix(
                "TRELLIS-text-base/ckpts/ss_flow_txt_dit_B_16l8_fp16.safetensors"))
        let dec = try folder.checkpoint("sparse_structure_decoder")
        #expect(dec.weights.path.contains("TRELLIS-image-large/ckpts/ss_dec_conv3d_16l8_fp16"))
    }

    @Test func missingPiecesAreClearErrors() throws {
        let base = try makeTree()
        defer { try? FileManager.default.removeItem(at: base) }
        let folder = try ModelFolder(root: base.appendingPathComponent("TRELLIS-text-base"))
        let e1 = #expect(throws: LatticeError.self) { try folder.checkpoint("slat_flow_model") }
        #expect(e1?.message.contains("'slat_flow_model'") == true)
        try FileManager.default.removeItem(
            at: base.appendingPathComponent("TRELLIS-image-large"))
        let e2 = #expect(throws: LatticeError.self) {
            try folder.checkpoint("sparse_structure_decoder")
        }
        #expect(e2?.message.contains("TRELLIS-image-large") == true)
        #expect(throws: LatticeError.self) { try ModelFolder(root: base) }
    }
}
