// The staged TRELLIS pipeline end to end on a tiny random model folder: every stage runs from
// files in the upstream layout, shapes chain correctly, and the same seed gives the same bits.
import Foundation
import LatticeGeometry
import LatticeIO
import LatticeModels
import LatticeRender
import Testing

@testable import LatticePipelines

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
        let slatFinite = a.slat.feats.toFloats().allSatisfy { $0.isFinite }
        #expect(slatFinite)
        let gaussians = try #require(a.assets.gaussians.first)
        #expect(gaussians.count == 4 * a.coords.shape[0])  // num_gaussians 4 per voxel
        let mesh = try #require(a.assets.meshFeatures)
        #expect(mesh.count == 64 * a.coords.shape[0] && a.assets.meshResolution == 64)
        let meshFinite = mesh.feats.toFloats().allSatisfy { $0.isFinite }
        #expect(meshFinite)
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

/// `lattice generate`'s library entry point on the tiny random folder writes files that reload.
@Suite struct GenerateTests {
    /// A 40×40 RGBA image: an opaque disc on transparent black.
    static func discImage(at url: URL) throws {
        var img = RasterImage(width: 40, height: 40, channels: 4)
        for y in 0..<40 {
            for x in 0..<40 {
                let inside = (x - 20) * (x - 20) + (y - 18) * (y - 18) < 150
                img[x, y, 0] = 0.8
                img[x, y, 1] = Float(x) / 40
                img[x, y, 2] = 0.2
                img[x, y, 3] = inside ? 1 : 0
            }
        }
        try writePNG(img, to: url)
    }

    @Test func tinyGenerateWritesValidGLBAndPLY() throws {
        let root = try TrellisPipelineTests.tinyFolder()
        defer { try? FileManager.default.removeItem(at: root) }
        let image = root.appendingPathComponent("disc.png")
        try Self.discImage(at: image)
        var request = GenerateRequest(
            modelFolder: root, outputDirectory: root.appendingPathComponent("out"))
        request.images = [image]
        request.seed = 3
        request.sparseStructureParams = .init(steps: 2)
        request.slatParams = .init(steps: 2)
        request.formats = [.glb, .ply, .video]
        request.videoFrames = 3
        request.videoResolution = 48
        let pipeline = TrellisPipeline(folder: try ModelFolder(root: root))
        let result = try pipeline.generate(request)
        #expect(
            result.files.map(\.lastPathComponent) == [
                "asset.ply", "asset.glb", "asset_turntable.gif",
            ])
        // GLB: structurally valid glTF 2.0 and the same geometry after a reload.
        let glbBytes = [UInt8](try Data(contentsOf: result.files[1]))
        #expect(GLB.validate(glbBytes).isEmpty)
        let mesh = try GLB.read(result.files[1], yUpToZUp: true)
        #expect(mesh.faces.count == result.meshFaces && mesh.faces.count > 0)
        #expect(mesh.vertexColors?.count == mesh.vertices.count)
        // PLY: a 3DGS file with one Gaussian per decoded Gaussian, all finite.
        let ply = try GaussianPLY.read(from: result.files[0])
        #expect(ply.count == result.gaussians && ply.count > 0)
        #expect(ply.positions.allSatisfy { $0.isFinite })
        #expect(result.stageSeconds.contains { $0.0 == "extract mesh" })
        // `lattice render` reads both files back and draws something (not an empty frame).
        let small = TurntableSettings(frames: 2, resolution: 32, ssaa: 1)
        #expect(AssetRender.isGaussianPLY(result.files[0]))
        #expect(!AssetRender.isGaussianPLY(result.files[1]))
        for file in result.files.prefix(2) {
            let frames = try AssetRender.turntable(of: file, settings: small)
            #expect(frames.count == 2)
            #expect(frames[0].pixels.contains { $0 > 0.01 })
        }
        // Asset variant (upstream run_variant): the structure comes from the GLB, not the SS stage.
        var variant = request
        variant.variantOf = result.files[1]
        variant.formats = [.ply]
        variant.outputDirectory = root.appendingPathComponent("variant")
        let v = try pipeline.generate(variant)
        #expect(v.voxels > 0 && v.gaussians == 4 * v.voxels)
        #expect(v.stageSeconds.contains { $0.0 == "voxelize" })
        #expect(!v.stageSeconds.contains { $0.0 == "sparse structure" })
    }

    @Test func imageWithoutAlphaNeedsAMask() throws {
        let root = try TrellisPipelineTests.tinyFolder()
        defer { try? FileManager.default.removeItem(at: root) }
        let image = root.appendingPathComponent("opaque.png")
        try writePNG(RasterImage(width: 8, height: 8, channels: 3, fill: 0.5), to: image)
        var request = GenerateRequest(modelFolder: root, outputDirectory: root)
        request.images = [image]
        let pipeline = TrellisPipeline(folder: try ModelFolder(root: root))
        let error = #expect(throws: LatticeError.self) { try pipeline.generate(request) }
        #expect(error?.message.contains("--mask") == true)
        let notImage = root.appendingPathComponent("notes.png")
        try Data("hello".utf8).write(to: notImage)
        request.images = [notImage]
        let e2 = #expect(throws: LatticeError.self) { try pipeline.generate(request) }
        #expect(e2?.message.contains("notes.png") == true)
    }
}

/// The text pipeline on a tiny random folder: CLIP conditioning from a hub-style folder
/// (model.safetensors, config.json, the BPE vocabulary), the long-prompt warning, and generation.
@Suite struct TextPipelineTests {
    @Test func tinyTextGenerateWarnsOnLongPromptsAndWritesAPLY() throws {
        let root = try TrellisPipelineTests.tinyFolder()
        defer { try? FileManager.default.removeItem(at: root) }
        // pipeline.json of a text model: text_cond_model instead of image_cond_model.
        let pipelineURL = root.appendingPathComponent("pipeline.json")
        let json = try String(contentsOf: pipelineURL, encoding: .utf8)
            .replacingOccurrences(
                of: "\"image_cond_model\": \"image_cond_tiny\"",
                with: "\"text_cond_model\": \"openai/clip-tiny\"")
        try Data(json.utf8).write(to: pipelineURL)
        let clip = root.appendingPathComponent("clip-tiny")
        try FileManager.default.createDirectory(at: clip, withIntermediateDirectories: true)
        let config = """
            {"text_config": {"hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 1,
            "num_attention_heads": 2, "max_position_embeddings": 77}}
            """
        try Data(config.utf8).write(to: clip.appendingPathComponent("config.json"))
        let model = try CLIPTextModel(try TrellisPipeline.clipConfig(in: clip))
        var g = RandomGenerator(seed: 5)
        try Safetensors.write(
            RandomModelFolder.randomWeights(model, generator: &g),
            to: clip.appendingPathComponent("model.safetensors"))
        let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("Fixtures")
        try FileManager.default.copyItem(
            at: fixtures.appendingPathComponent("clip-bpe-vocab-16e6.txt.gz"),
            to: clip.appendingPathComponent("bpe_simple_vocab_16e6.txt.gz"))
        var warnings: [String] = []
        let pipeline = TrellisPipeline(folder: try ModelFolder(root: root)) { event in
            if case .warning(let w) = event { warnings.append(w) }
        }
        let long = Array(repeating: "chair", count: 90).joined(separator: " ")
        let (cond, neg) = try pipeline.textCondition([long])
        #expect(cond.shape == [1, 77, 32] && neg.shape == [1, 77, 32])
        #expect(warnings.count == 1 && warnings[0].contains("truncated"))
        var request = GenerateRequest(
            modelFolder: root, outputDirectory: root.appendingPathComponent("out"))
        request.prompt = "a small red chair"
        request.sparseStructureParams = .init(steps: 2)
        request.slatParams = .init(steps: 2)
        request.formats = [.ply]
        let result = try pipeline.generate(request)
        #expect(result.files.map(\.lastPathComponent) == ["asset.ply"] && result.gaussians > 0)
    }
}
