// SLat VAE benchmarks: the released encoder and the three decoders (mesh: network only) with
// random weights on the 20k-voxel sphere shell of a 64³ grid (baselines.md's sparse workload):
// forward time and peak extra tensor storage. No upstream CPU number exists (TRELLIS's sparse
// attention needs CUDA), so the notes give the trunk's GFLOP/s instead.
import Foundation
import LatticeModels
import LatticeTensor

enum SLatVAEBench {
    /// Weights N(0, 1/fan_in), biases N(0, 0.1²), norm weights 1 + N(0, 0.1²); buffers kept.
    static func randomize(_ m: Module, seed: UInt64) {
        var g = RandomGenerator(seed: seed)
        for (key, p) in m.namedParameters() where !p.isBuffer {
            let noise = Tensor.randn(p.shape, generator: &g)
            if key.hasSuffix("bias") {
                p.assign(noise * 0.1)
            } else if p.shape.count == 1 {
                p.assign(noise * 0.1 + 1)
            } else {
                p.assign(noise * Float(1 / Double(p.shape.dropFirst().reduce(1, *)).squareRoot()))
            }
        }
    }

    /// The released trunk (trellis-spec §2): res 64, C 768, latent 8, 12 blocks, 12 heads, swin 8.
    static let trunk: TRELLIS.SLatTrunkArgs = {
        var t = TRELLIS.SLatTrunkArgs(
            resolution: 64, modelChannels: 768, latentChannels: 8, numBlocks: 12, numHeads: 12,
            windowSize: 8)
        t.useFp16 = true
        return t
    }()

    /// Times one forward (median of `repeats`) and measures its peak extra tensor storage.
    static func measure(
        _ name: String, voxels: Int, repeats: Int = 1, extraFLOP: Double = 0,
        _ body: @escaping () throws -> Void
    ) throws -> [BenchResult] {
        var failure: Error?
        let extra = Timing.peakExtraBytes {
            withNoGrad { do { try body() } catch { failure = error } }
        }
        if let failure { throw failure }
        let seconds = Timing.median(warmup: 0, repeats: repeats) {
            withNoGrad { _ = try? body() }
        }
        // Trunk matmuls: 24 C² FLOP per token per block (qkv 3C², out C², MLP 8C², ×2).
        let flop = 24 * 768.0 * 768 * Double(voxels) * 12 + extraFLOP
        return [
            BenchResult(
                name: name, value: seconds * 1e3, unit: "ms",
                notes: String(
                    format: "%d voxels; %.0f GFLOP/s on ~%.0f GFLOP of matmuls", voxels,
                    flop / seconds * 1e-9, flop * 1e-9)),
            BenchResult(
                name: name + "-extra-memory", value: Double(extra) / 1e6, unit: "MB",
                notes: "peak tensor storage above weights and input"),
        ]
    }

    static let benchmarks: [Benchmark] = [
        Benchmark(
            name: "slat-encoder",
            summary:
                "SLatEncoder (slat_enc_swin8_B_64l8), random weights, 20k shell voxels, 1024 -> 8"
        ) {
            let m = try SLatEncoder(.init(trunk: trunk, inChannels: 1024))
            randomize(m, seed: 1)
            let x = try SparseBench.shell(channels: 1024)
            return try measure("slat-encoder", voxels: x.count) { _ = try m(x) }
        },
        Benchmark(
            name: "slat-decoder-gs",
            summary:
                "SLatGaussianDecoder (slat_dec_gs_swin8_B_64l8gs32), 20k voxels -> 640k Gaussians"
        ) {
            let m = try SLatGaussianDecoder(.init(trunk: trunk, representationConfig: .init()))
            randomize(m, seed: 2)
            let x = try SparseBench.shell(channels: 8)
            return try measure("slat-decoder-gs", voxels: x.count) {
                let g = try m(x)
                _ = g[0].getScaling
            }
        },
        Benchmark(
            name: "slat-decoder-rf",
            summary: "SLatRadianceFieldDecoder (slat_dec_rf_swin8_B_64l8r16), 20k voxels -> Strivec"
        ) {
            let m = try SLatRadianceFieldDecoder(
                .init(trunk: trunk, representationConfig: .init(rank: 16, dim: 8)))
            randomize(m, seed: 3)
            let x = try SparseBench.shell(channels: 8)
            return try measure("slat-decoder-rf", voxels: x.count) { _ = try m(x) }
        },
        Benchmark(
            name: "slat-decoder-mesh",
            summary:
                "SLatMeshDecoder network (slat_dec_mesh_swin8_B_64l8m256c), 20k voxels -> 1.28M FlexiCubes feature rows at 256³"
        ) {
            let m = try SLatMeshDecoder(.init(trunk: trunk, representationConfig: .init()))
            randomize(m, seed: 4)
            let x = try SparseBench.shell(channels: 8)
            let pairs = 27.0  // upper bound on neighbours; real shells have fewer
            let convFLOP =
                2 * pairs
                * (8 * Double(x.count) * (768 * 192 + 192 * 192)
                    + 64 * Double(x.count) * (192 * 96 + 96 * 96))
            return try measure("slat-decoder-mesh", voxels: x.count, extraFLOP: convFLOP) {
                _ = try m(x)
            }
        },
    ]
}
