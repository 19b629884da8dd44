// Strict decoding of upstream `ckpts/<name>.json` descriptors: released configs load as they are,
// and a typo or an unknown kwarg is an error naming the field instead of a silently different model.
import Foundation
import LatticeModels
import Testing

@Suite struct ModelConfigTests {
    /// The args of the released `ss_flow_img_dit_L_16l8_fp16` (upstream config, with
    /// `use_checkpoint`, which only changes training memory).
    static let ssFlowImageL = """
        {"name": "SparseStructureFlowModel", "args": {"resolution": 16, "in_channels": 8,
        "out_channels": 8, "model_channels": 1024, "cond_channels": 1024, "num_blocks": 24,
        "num_heads": 16, "mlp_ratio": 4, "patch_size": 1, "pe_mode": "ape", "qk_rms_norm": true,
        "use_fp16": true, "use_checkpoint": true}}
        """

    @Test func releasedConfigDecodes() throws {
        let d = try ModelDescriptor(json: Data(Self.ssFlowImageL.utf8), source: "ss_flow.json")
        #expect(d.name == "SparseStructureFlowModel")
        let c = try d.config(SparseStructureFlowModel.Config.self)
        #expect(c.modelChannels == 1024 && c.numBlocks == 24 && c.patchSize == 1 && c.qkRmsNorm)
    }

    @Test func unknownFieldIsNamed() throws {
        let json = Self.ssFlowImageL.replacingOccurrences(
            of: "\"num_blocks\"", with: "\"num_blocs\": 3, \"num_blocks\"")
        let d = try ModelDescriptor(json: Data(json.utf8), source: "ss_flow.json")
        let error = #expect(throws: LatticeError.self) {
            try d.config(SparseStructureFlowModel.Config.self)
        }
        #expect(error?.message.contains("'num_blocs'") == true)
        #expect(error?.message.contains("ss_flow.json") == true)
    }

    @Test func missingAndMistypedFieldsAreNamed() throws {
        let missing = Self.ssFlowImageL.replacingOccurrences(of: "\"num_blocks\": 24,", with: "")
        let e1 = #expect(throws: LatticeError.self) {
            try ModelDescriptor(json: Data(missing.utf8), source: "a.json")
                .config(SparseStructureFlowModel.Config.self)
        }
        #expect(e1?.message.contains("'num_blocks'") == true)
        let mistyped = Self.ssFlowImageL.replacingOccurrences(
            of: "\"num_blocks\": 24", with: "\"num_blocks\": \"24\"")
        let e2 = #expect(throws: LatticeError.self) {
            try ModelDescriptor(json: Data(mistyped.utf8), source: "a.json")
                .config(SparseStructureFlowModel.Config.self)
        }
        #expect(e2?.message.contains("num_blocks") == true)
        #expect(throws: LatticeError.self) {
            try ModelDescriptor(json: Data("[1]".utf8), source: "b.json")
        }
    }
}
