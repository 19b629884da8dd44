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
        .casePrefix("sparse_attn__", SparseFixtures.attention),
        .casePrefix("sparse_conv__subm", SparseFixtures.conv),
        .casePrefix("sparse_spatial__downsample_upsample", SparseFixtures.downUp),
        .casePrefix("sparse_spatial__subdivide", SparseFixtures.subdivide),
    ]
}
