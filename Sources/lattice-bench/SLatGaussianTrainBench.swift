// One SLatVaeGaussianTrainer step (encode with posterior sampling, decode to Gaussians, render,
// L1 + SSIM + KL + regularisers, backward through the rasterizer and both transformers, AdamW
// and EMA) on a small synthetic sample: 2k voxels of a 64³ sphere shell, 16 Gaussians per voxel,
// one 128² view, batch 1, 64-channel 2-block swin encoder and decoder.
import Foundation
import LatticeGeometry
import LatticeModels
import LatticeTraining

enum SLatGaussianTrainBench {
    /// A fixed synthetic sample: the `count` voxels nearest a radius-12 sphere in 64³, random
    /// 1024-channel features, one view at radius 2 (fov 40°) of a random RGBA image.
    final class Source: SLatSampleSource {
        let item: SLatTrainingSample
        var count: Int { 1 }
        func sample(_ index: Int) throws -> SLatTrainingSample { item }

        init(voxels: Int, channels: Int, size: Int) throws {
            var cells: [(Double, Int)] = []
            for x in 0..<64 {
                for y in 0..<64 {
                    for z in 0..<64 {
                        let d = SIMD3<Double>(Double(x), Double(y), Double(z)) - 31.5
                        cells.append((abs((d * d).sum().squareRoot() - 12), (x * 64 + y) * 64 + z))
                    }
                }
            }
            cells.sort { $0.0 != $1.0 ? $0.0 < $1.0 : $0.1 < $1.1 }
            let codes: [Int] = cells.prefix(voxels).map { $0.1 }.sorted()
            let coords: [SIMD3<Int32>] = codes.map { (code: Int) -> SIMD3<Int32> in
                let x = Int32(code / 4096)
                let y = Int32(code / 64 % 64)
                let z = Int32(code % 64)
                return SIMD3<Int32>(x, y, z)
            }
            var g = RandomGenerator(seed: 4)
            let (e, k) = try yawPitchRadiusFovToExtrinsicsIntrinsics(
                yaw: 0.5, pitch: 0.3, radius: 2, fovDegrees: 40)
            let view = TrainingView(
                rgba: g.uniform(count: size * size * 4), width: size, height: size, extrinsics: e,
                intrinsics: k)
            item = SLatTrainingSample(
                id: "shell", resolution: 64, coords: coords,
                features: g.normal(count: voxels * channels), featureChannels: channels,
                views: [view], mesh: nil)
        }
    }

    static let benchmarks: [Benchmark] = [
        Benchmark(
            name: "slat-vae-gs-train-step-2k-g16-128",
            summary:
                "SLat VAE + GS decoder training step: 2k voxels, 16 Gaussians/voxel, 128² view, "
                + "batch 1, C64 x 2 swin blocks each side"
        ) {
            let trunk = TRELLIS.SLatTrunkArgs(
                resolution: 64, modelChannels: 64, latentChannels: 8, numBlocks: 2, numHeads: 4,
                windowSize: 8, attnMode: "swin")
            let encoder = try SLatEncoder(.init(trunk: trunk, inChannels: 1024))
            let decoder = try SLatGaussianDecoder(
                .init(
                    trunk: trunk,
                    representationConfig: .init(numGaussians: 16)))
            var g = RandomGenerator(seed: 1)
            SLatVaeGaussianTrainer.initialize(encoder, generator: &g)
            SLatVaeGaussianTrainer.initialize(decoder, generator: &g)
            let objective = try SLatVaeGaussianTrainer(
                encoder: encoder, decoder: decoder,
                data: try Source(voxels: 2000, channels: 1024, size: 128))
            var options = TrainerOptions(maxSteps: 1000)
            options.learningRate = 1e-4
            let trainer = try Trainer(objective: objective, options: options)
            var failure: Error?
            let step = Timing.median(warmup: 1, repeats: 5) {
                do { try trainer.trainStep() } catch { failure = error }
            }
            if let failure { throw failure }
            return [
                BenchResult(
                    name: "slat-vae-gs-train-step-2k-g16-128", value: step * 1e3, unit: "ms",
                    notes:
                        "\(String(format: "%.2f", 1 / step)) steps/s; 32k Gaussians; loss "
                        + "\(trainer.history.last?.loss ?? .nan)")
            ]
        }
    ]
}
