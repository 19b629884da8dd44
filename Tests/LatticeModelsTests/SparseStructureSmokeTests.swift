// Full-size smoke tests of the sparse-structure stage: the released image-L SS flow and the
// released SS VAE, built from their upstream configs with random weights, one forward each at
// real size (shapes and finiteness). Skipped with LATTICE_SKIP_SLOW=1.
import Foundation
import LatticeModels
import Testing

@testable import LatticePipelines

@Suite struct SparseStructureSmokeTests {
    /// Builds `key` of the image-large preset with seeded random weights (fixture recipe).
    static func model(_ key: String) throws -> Module {
        let entry = try #require(
            RandomModelFolder.descriptors(.imageLarge).first { $0.key == key })
        let descriptor = try ModelDescriptor(json: Data(entry.json.utf8), source: entry.name)
        let m = try TrellisModels.build(descriptor)
        var g = RandomGenerator(seed: 11)
        try m.load(RandomModelFolder.randomWeights(m, generator: &g), source: entry.name)
        return m
    }

    @Test(
        .tags(.slow), .disabled(if: ProcessInfo.processInfo.environment["LATTICE_SKIP_SLOW"] == "1")
    )
    func releasedSparseStructureFlowForward() throws {
        let flow = try #require(
            try Self.model("sparse_structure_flow_model") as? SparseStructureFlowModel)
        #expect(flow.parameterCount == 559_737_864)  // spec §2, buffers included
        var g = RandomGenerator(seed: 1)
        let x = Tensor.randn([1, 8, 16, 16, 16], generator: &g)  // 4096 tokens
        let cond = Tensor.randn([1, 1374, 1024], generator: &g)
        let v = withNoGrad { flow(x, t: Tensor([500], shape: [1]), cond: cond) }
        #expect(v.shape == [1, 8, 16, 16, 16])
        let finite = v.toFloats().allSatisfy { $0.isFinite }
        #expect(finite)
    }

    @Test(
        .tags(.slow), .disabled(if: ProcessInfo.processInfo.environment["LATTICE_SKIP_SLOW"] == "1")
    )
    func releasedSparseStructureDecoderForward() throws {
        let dec = try #require(
            try Self.model("sparse_structure_decoder") as? SparseStructureDecoder)
        #expect(dec.parameterCount == 73_671_201)  // spec §2
        var g = RandomGenerator(seed: 2)
        let z = Tensor.randn([1, 8, 16, 16, 16], generator: &g)
        let logits = withNoGrad { dec(z) }
        #expect(logits.shape == [1, 1, 64, 64, 64])
        let finite = logits.toFloats().allSatisfy { $0.isFinite }
        #expect(finite)
    }
}
