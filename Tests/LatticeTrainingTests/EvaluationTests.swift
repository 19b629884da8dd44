// `lattice eval`'s library entry point on the tiny random model folder: the run completes on
// held-out procedural items and writes its table, JSON and previews with metrics in range; the
// metric code scores a perfect reconstruction as perfect; bad inputs are errors that name what is
// missing; a failing item is recorded while the run goes on.
import Foundation
import LatticeGeometry
import LatticeIO
import LatticePipelines
import LatticeRender
import LatticeTensor
import Testing

@testable import LatticeTraining

@Suite struct EvaluationTests {
    static func temporary(_ name: String) -> URL {
        FileManager.default.temporaryDirectory.appendingPathComponent(
            "lattice-eval-\(name)-\(UUID().uuidString)")
    }

    static func tinyFolder() throws -> URL {
        let root = temporary("model")
        try RandomModelFolder.write(.tiny, to: root, seed: 7)
        return root
    }

    /// Options for the tiny model: 2 of 4 views, 2 sampler steps.
    static func options(_ model: URL, out: URL) -> EvaluationOptions {
        var o = EvaluationOptions(modelFolder: model, outputDirectory: out)
        o.views = 2
        o.steps = 2
        o.surfaceSamples = 5_000
        return o
    }

    @Test func tinyRunWritesTableJSONAndPreviews() throws {
        let model = try Self.tinyFolder()
        let out = Self.temporary("out")
        defer {
            try? FileManager.default.removeItem(at: model)
            try? FileManager.default.removeItem(at: out)
        }
        let evaluator = try Evaluator(options: Self.options(model, out: out))
        // Family 5 at 16³ (the tiny model's grid), 4 views of 32² per item.
        let source = try evaluator.proceduralSource(count: 2, seed: 5, views: 4, imageSize: 32)
        var progress: [Int] = []
        let report = try evaluator.run(source) { done, _, _ in progress.append(done) }
        #expect(progress.last == 2)
        #expect(report.items.count == 2)
        for item in report.items {
            #expect(item.errors.isEmpty, "\(item.id): \(item.errors)")
            // Random weights give poor but well-defined numbers: PSNR is finite and positive
            // (renders and GT are both in [0, 1], so MSE <= 1), SSIM in [-1, 1], F in [0, 1].
            let psnr = try #require(item.reconstructionPSNR)
            #expect(psnr.isFinite && psnr > 0)
            let ssim = try #require(item.reconstructionSSIM)
            #expect(ssim >= -1 && ssim <= 1)
            #expect(item.reconstructionViews == 2)
            #expect(item.reconstructionLPIPS == "n/a")
            for f in [item.reconstructionFScore, item.generationFScore] {
                let v = try #require(f)
                #expect(v >= 0 && v <= 1)
            }
            for c in [item.reconstructionChamfer, item.generationChamfer] {
                let v = try #require(c)
                #expect(v.isFinite && v >= 0)
            }
            let g = try #require(item.generationPSNR)
            #expect(g.isFinite && g > 0)
            let preview = out.appendingPathComponent(try #require(item.preview))
            let image = try readImage(at: preview)
            // GT view | reconstruction | generation, 32 px each with two 4 px gaps.
            #expect(image.width == 3 * 32 + 2 * 4 && image.height == 32)
        }
        let json =
            try JSONSerialization.jsonObject(
                with: Data(contentsOf: out.appendingPathComponent("results.json")))
            as? [String: Any]
        #expect((json?["items"] as? [Any])?.count == 2)
        let mean = try #require(json?["mean"] as? [String: Double])
        #expect(mean["reconstruction_fscore"] != nil && mean["generation_fscore"] != nil)
        let md = try String(
            contentsOf: out.appendingPathComponent("results.md"), encoding: .utf8)
        #expect(md.contains("| mean |") && md.contains("comparison.png"))
        let table = report.table()
        #expect(table.contains("mean") && table.contains(report.items[0].id))
    }

    @Test func perfectReconstructionScoresPerfect() throws {
        let mesh = ProceduralShapes(seed: 5).shape(0).mesh
        let m = Evaluator.meshMetrics(predicted: mesh, reference: mesh, samples: 20_000, seed: 3)
        // Two independent 20k-point samplings of one surface: every nearest neighbour is far
        // closer than the 0.1 radius, so F is exactly 1. Chamfer is the mean spacing of the
        // samples, about sqrt(area / n) ≈ sqrt(12 / 20000) ≈ 0.025 summed over both directions
        // for a shape spanning [-1, 1]³; 0.05 leaves a factor 2 for thin parts.
        #expect(m.fScore == 1)
        #expect(m.chamfer < 0.05, "chamfer \(m.chamfer)")
        // A distorted copy must score worse (normalisation takes out translation and uniform
        // scale, so squash one axis).
        let squashed = TriangleMesh(
            vertices: mesh.vertices.map { SIMD3($0.x, $0.y, $0.z * 0.3) }, faces: mesh.faces)
        let worse = Evaluator.meshMetrics(predicted: squashed, reference: mesh, seed: 3)
        #expect(worse.fScore < 0.9 && worse.chamfer > m.chamfer)
        // Images: a GT view against itself is infinite PSNR and SSIM 1 (exact up to float
        // rounding of the SSIM window sums, so 1e-5).
        var g = RandomGenerator(seed: 1)
        let pixels = Tensor.rand([32 * 32 * 3], generator: &g).toFloats()
        let image = RasterImage(width: 32, height: 32, channels: 3, pixels: pixels)
        #expect(try psnr(image, image) == .infinity)
        #expect(abs(try ssim(image, image) - 1) < 1e-5)
    }

    @Test func badInputsNameWhatIsMissing() throws {
        let model = try Self.tinyFolder()
        let out = Self.temporary("out")
        defer {
            try? FileManager.default.removeItem(at: model)
            try? FileManager.default.removeItem(at: out)
        }
        func message(_ body: () throws -> Void) -> String {
            do {
                try body()
                return "no error"
            } catch {
                return "\(error)"
            }
        }
        // A model folder that does not exist.
        let missing = Self.temporary("nothing")
        var m = message { _ = try Evaluator(options: Self.options(missing, out: out)) }
        #expect(m.contains(missing.path) && m.contains("no such model folder"), "\(m)")
        // An existing folder without pipeline.json.
        try FileManager.default.createDirectory(at: out, withIntermediateDirectories: true)
        m = message { _ = try Evaluator(options: Self.options(out, out: out)) }
        #expect(m.contains("pipeline.json"), "\(m)")
        // No --encoder and no models.slat_encoder: the key and the flag are named.
        let pipelineURL = model.appendingPathComponent("pipeline.json")
        let original = try Data(contentsOf: pipelineURL)
        var object = try #require(
            try JSONSerialization.jsonObject(with: original) as? [String: Any])
        var args = try #require(object["args"] as? [String: Any])
        var models = try #require(args["models"] as? [String: Any])
        models["slat_encoder"] = nil
        args["models"] = models
        object["args"] = args
        try JSONSerialization.data(withJSONObject: object).write(to: pipelineURL)
        m = message { _ = try Evaluator(options: Self.options(model, out: out)) }
        #expect(m.contains("slat_encoder") && m.contains("--encoder"), "\(m)")
        // Reconstruction off: the encoder is not needed.
        var generationOnly = Self.options(model, out: out)
        generationOnly.reconstruction = false
        _ = try Evaluator(options: generationOnly)
        // --encoder naming a missing descriptor, then one whose weights are missing.
        var withEncoder = Self.options(model, out: out)
        let descriptor = model.appendingPathComponent("ckpts/slat_enc_tiny.json")
        withEncoder.encoder = model.appendingPathComponent("no_encoder.json")
        m = message { _ = try Evaluator(options: withEncoder) }
        #expect(m.contains("no_encoder.json"), "\(m)")
        try FileManager.default.moveItem(
            at: model.appendingPathComponent("ckpts/slat_enc_tiny.safetensors"),
            to: model.appendingPathComponent("moved.safetensors"))
        withEncoder.encoder = descriptor
        m = message { _ = try Evaluator(options: withEncoder) }
        #expect(m.contains("slat_enc_tiny.safetensors"), "\(m)")
        // With the weights back, --encoder stands in for the missing key.
        try FileManager.default.moveItem(
            at: model.appendingPathComponent("moved.safetensors"),
            to: model.appendingPathComponent("ckpts/slat_enc_tiny.safetensors"))
        _ = try Evaluator(options: withEncoder)
        // A dataset folder that does not exist names its manifest.
        m = message { _ = try FolderSLatDataset(root: missing) }
        #expect(m.contains("manifest.json"), "\(m)")
    }

    /// A source whose first item cannot be read.
    final class BrokenFirst: SLatSampleSource {
        let base: SLatSampleSource
        init(_ base: SLatSampleSource) { self.base = base }
        var count: Int { base.count }
        func sample(_ index: Int) throws -> SLatTrainingSample {
            if index == 0 { throw LatticeError(.io, "item 0 is broken on purpose") }
            return try base.sample(index)
        }
    }

    @Test func failingItemIsReportedAndTheRunGoesOn() throws {
        let model = try Self.tinyFolder()
        let out = Self.temporary("out")
        defer {
            try? FileManager.default.removeItem(at: model)
            try? FileManager.default.removeItem(at: out)
        }
        var options = Self.options(model, out: out)
        options.generation = false
        let evaluator = try Evaluator(options: options)
        let source = try evaluator.proceduralSource(count: 2, seed: 5, views: 2, imageSize: 32)
        let report = try evaluator.run(BrokenFirst(source))
        #expect(report.items.count == 2)
        #expect(report.items[0].errors.first?.contains("broken on purpose") == true)
        #expect(report.items[1].errors.isEmpty && report.items[1].reconstructionPSNR != nil)
        // The mean is over the items that have the metric.
        #expect(report.counts["reconstruction_psnr"] == 1)
        #expect(report.table().contains("broken on purpose"))
    }
}
