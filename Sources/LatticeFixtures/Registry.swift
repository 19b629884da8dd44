// The one list of fixture handlers. To add one, write the handler in its own file in this
// folder (e.g. `VGGTFixtures.swift`) as a function `(Fixture) throws -> [String: any FixtureValue]`
// returning outputs by name without `output.`, then add ONE line below:
//
//     .casePrefix("vggt__rope2d", VGGTFixtures.rope2d),
//     .module("SparseStructureFlowModel", TrellisFixtures.ssFlow),
//
// `casePrefix` matches case names (longest prefix wins, so `trellis__ss_flow` also covers
// `trellis__ss_flow_fp16`); `module` matches the case's `module` string exactly and is tried
// only when no prefix matches. Keep the lines sorted by prefix to avoid merge conflicts.
import LatticeTensor

extension FixtureRegistry {
    /// Every registered handler, one line each.
    static let handlers: [FixtureHandlerEntry] = [
        // .casePrefix("<group>__<case prefix>", <Group>Fixtures.<handler>),
        .casePrefix("clip__text_model", ModelFixtures.clipTextModel),
        .casePrefix("clip__tokenizer", ModelFixtures.clipTokenizer),
        .casePrefix("dinov2__interpolate_pos_encoding", ModelFixtures.dinoInterpolatePosEncoding),
        .casePrefix("dinov2__vitreg", ModelFixtures.dinoVisionTransformer),
        .casePrefix("slat_flow__model", SLatFlowFixtures.model),
        .casePrefix("slat_flow__modulated_cross_block", SLatFlowFixtures.crossBlock),
        .casePrefix("slat_flow__resblock3d", SLatFlowFixtures.resBlock),
        .casePrefix("sparse_attn__", SparseFixtures.attention),
        .casePrefix("sparse_conv__subm", SparseFixtures.conv),
        .casePrefix("sparse_spatial__downsample_upsample", SparseFixtures.downUp),
        .casePrefix("sparse_spatial__subdivide", SparseFixtures.subdivide),
        .casePrefix("slat_vae__encoder", SLatVAEFixtures.encoder),
        .casePrefix("slat_vae__gs_decoder", SLatVAEFixtures.gaussianDecoder),
        .casePrefix("slat_vae__mesh_decoder", SLatVAEFixtures.meshDecoder),
        .casePrefix("slat_vae__rf_decoder", SLatVAEFixtures.radianceFieldDecoder),
        .casePrefix("slat_vae__subdivide_block", SLatVAEFixtures.subdivideBlock),
        .casePrefix("trellis__ape", ModelFixtures.absolutePositionEmbedder),
        .casePrefix("trellis__sampler_", SamplerFixtures.flowEuler),
        .casePrefix("trellis__ss_decoder", ModelFixtures.sparseStructureDecoder),
        .casePrefix("trellis__ss_encoder", ModelFixtures.sparseStructureEncoder),
        .casePrefix("trellis__ss_flow", ModelFixtures.sparseStructureFlow),
        .casePrefix("trellis__timestep_embedder", ModelFixtures.timestepEmbedder),
        .casePrefix("camera__utils3d_render_utils", RenderFixtures.cameras),
        .casePrefix("gsplat__", RenderFixtures.gsplat),
        .casePrefix("vggt__pose_encoding", RenderFixtures.vggtPoseEncoding),
        .casePrefix("vggt__unproject_depth", RenderFixtures.vggtUnprojectDepth),
    ]
}
