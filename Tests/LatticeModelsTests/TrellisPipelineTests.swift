// The staged TRELLIS pipeline end to end on a tiny random model folder: every stage runs from
// files in the upstream layout, shapes chain correctly, and the same seed gives the same bits.
import Foundation
import LatticeModels
import LatticePipelines
import LatticeRender
import Testing

@Suite struct TrellisPipelineTests {
    static func tinyFolder() throws -> URL {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent(
            "lattice-tiny-\(UUID().uuidString)")
        try RandomModelFolder.write(.tiny, to: root, seed: 7)
        return root
    }

    /// Runs conditioning, both sampling stages and the decoders with `seed`.
    static func run(_ root: URL, seed: UInt64) throws -> (
        coords: Tensor, slat: SparseTensor, assets: TrellisPipeline.DecodedAssets
    ) {
        let pipeline = TrellisPipeline(folder: try ModelFolder(root: root))
        var g = RandomGenerator(seed: 99)
        let image = Tensor.rand([1, 3, 56, 56], generator: &g)  // [1, 3, 56, 56]
        let (cond, neg) = try pipeline.imageCondition(image)
        var generator = RandomGenerator(seed: seed)
        let steps = TrellisPipelineConfig.SamplerParams(steps: 3)
        let coords = try pipeline.sampleSparseStructure(
            cond: cond, neg: neg, params: steps, generator: &generator)
        let slat = try pipeline.sampleSlat(
            coords: coords, cond: cond, neg: neg, params: steps, generator: &generator)
        let assets = try pipeline.decodeSlat(slat, decoders: [.gaussian, .mesh])
        return (coords, slat, assets)
    }

    @Test func tinyPipelineRunsEveryStage() throws {
        let root = try Self.tinyFolder()
        defer { try? FileManager.default.removeItem(at: root) }
        let a = try Self.run(root, seed: 1)
        #expect(a.coords.shape[1] == 4 && a.coords.shape[0] > 0)
        // Every coordinate lies on the 16³ grid the tiny SLat models expect.
        let c = a.coords.toInts()
        #expect(c.allSatisfy { $0 >= 0 && $0 < 16 })
        #expect(a.slat.feats.shape == [a.coords.shape[0], 8])
        #expect(a.slat.feats.toFloats().allSatisfy { $0.isFinite })
        let gaussians = try #require(a.assets.gaussians.first)
        #expect(gaussians.count == 4 * a.coords.shape[0])  // num_gaussians 4 per voxel
        let mesh = try #require(a.assets.meshFeatures)
        #expect(mesh.count == 64 * a.coords.shape[0] && a.assets.meshResolution == 64)
        #expect(mesh.feats.toFloats().allSatisfy { $0.isFinite })
        // Determinism: the same seed reproduces the latent bit for bit.
        let b = try Self.run(root, seed: 1)
        #expect(b.slat.feats.toFloats() == a.slat.feats.toFloats())
    }

    @Test func missingCheckpointIsNamed() throws {
        let root = try Self.tinyFolder()
        defer { try? FileManager.default.removeItem(at: root) }
        try FileManager.default.removeItem(
            at: root.appendingPathComponent("ckpts/slat_flow_img_dit_tiny.safetensors"))
        let pipeline = TrellisPipeline(folder: try ModelFolder(root: root))
        let coords = Tensor(int32: [0, 1, 2, 3], shape: [1, 4])
        var g = RandomGenerator(seed: 0)
        let error = #expect(throws: LatticeError.self) {
            try pipeline.sampleSlat(
                coords: coords, cond: Tensor(zeros: [1, 5, 32]), neg: Tensor(zeros: [1, 5, 32]),
                generator: &g)
        }
        #expect(error?.message.contains("slat_flow_model") == true)
    }
}
