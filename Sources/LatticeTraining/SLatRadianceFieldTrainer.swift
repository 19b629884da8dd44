// The radiance-field decoder objective (TRELLIS@6b0d647 trellis/trainers/vae/
// structured_latent_vae_rf_dec.py, SLatVaeRadianceFieldDecoderTrainer): decode latents to one
// Strivec per item, render random views with the OctreeRenderer's training settings (near 0.8,
// far 1.6, ssaa 1, the view's own resolution, a random black or white background with the
// ground truth composited on it), and
//   loss = L1 (or L2) + λ_ssim·(1 − SSIM).
// Upstream adds 0.2·LPIPS; Lattice has no LPIPS (VGG) weights, so that term is skipped.
// Upstream trains on latents pre-encoded by the frozen SLat encoder (its posterior mean); here
// the encoder, when given, encodes the samples' features on the fly with no gradient, which is
// the same latent. Without an encoder the samples' features are the latents.
import Foundation
import LatticeGeometry
import LatticeModels
import LatticeNN
import LatticeRender
import LatticeSparse
import LatticeTensor

/// SLat radiance-field decoder training objective (decoder trained, encoder frozen or absent).
public final class SLatVaeRadianceFieldDecoderTrainer: TrainingObjective {
    public let decoder: SLatRadianceFieldDecoder
    /// Frozen encoder producing the latents (posterior mean); nil: the features are latents.
    public let encoder: SLatEncoder?
    public let data: SLatSampleSource
    public let lossType: PixelLossType
    public let lambdaSSIM: Float
    /// Views rendered per item and step (upstream: 1).
    public let viewsPerItem: Int
    /// Renderer clip range (upstream 0.8, 1.6).
    public let near: Float
    public let far: Float

    public var models: [(name: String, module: Module)] { [("decoder", decoder)] }
    public var datasetCount: Int { data.count }

    /// Defaults are the released config's (`slat_vae_dec_rf_swin8_B_64l8_fp16.json`).
    public init(
        decoder: SLatRadianceFieldDecoder, encoder: SLatEncoder?, data: SLatSampleSource,
        lossType: PixelLossType = .l1, lambdaSSIM: Float = 0.2, viewsPerItem: Int = 1,
        near: Float = 0.8, far: Float = 1.6
    ) throws {
        guard viewsPerItem > 0 else {
            throw LatticeError(
                .invalidArgument,
                "SLatVaeRadianceFieldDecoderTrainer: viewsPerItem \(viewsPerItem) < 1")
        }
        if let encoder {
            try RenderedImageLoss.checkPair(
                encoder, latentChannels: decoder.config.trunk.latentChannels,
                resolution: decoder.config.trunk.resolution,
                owner: "SLatVaeRadianceFieldDecoderTrainer")
            encoder.train(false)
        }
        self.decoder = decoder
        self.encoder = encoder
        self.data = data
        self.lossType = lossType
        self.lambdaSSIM = lambdaSSIM
        self.viewsPerItem = viewsPerItem
        self.near = near
        self.far = far
    }

    /// The items' latents as one SparseTensor [N, latent] (no gradient).
    func latents(_ samples: [SLatTrainingSample]) throws -> SparseTensor {
        let owner = "SLatVaeRadianceFieldDecoderTrainer"
        let r = decoder.config.trunk.resolution
        guard let encoder else {
            return try RenderedImageLoss.batch(
                samples, resolution: r, channels: decoder.config.trunk.latentChannels,
                owner: owner)
        }
        let x = try RenderedImageLoss.batch(
            samples, resolution: r, channels: encoder.config.inChannels, owner: owner)
        return try withNoGrad { try encoder(x).mean }
    }

    public func losses(items: [Int], generator: inout RandomGenerator) throws -> [String: Tensor] {
        let samples = try items.map { try data.sample($0) }
        let fields = try decoder(try latents(samples))
        var image = RenderedImageLoss(lossType: lossType, lambdaSSIM: lambdaSSIM)
        for (b, sample) in samples.enumerated() {
            guard !sample.views.isEmpty else {
                throw LatticeError(
                    .invalidArgument,
                    "SLatVaeRadianceFieldDecoderTrainer: sample '\(sample.id)' has no views")
            }
            let bg = RenderedImageLoss.randomBackground(&generator)
            for v in RenderedImageLoss.chooseViews(
                sample.views.count, min(viewsPerItem, sample.views.count), &generator)
            {
                let view = sample.views[v]
                // Upstream draws a fresh per-pixel sample offset each render (torch.rand); the
                // step generator makes it reproducible.
                let seed = UInt64(generator.uniform(count: 1)[0].bitPattern)
                let settings = StrivecRenderSettings(
                    width: view.width, height: view.height, near: near, far: far,
                    background: SIMD3(repeating: bg), ssaa: 1, sampleOffset: .random(seed: seed))
                let out = try renderStrivecTensors(
                    fields[b], extrinsics: view.extrinsics, intrinsics: view.intrinsics,
                    settings: settings)
                let rec = out.rgb.permute([2, 0, 1]).reshape([1, 3, view.height, view.width])
                image.add(
                    rendered: rec.contiguous(),
                    truth: try RenderedImageLoss.groundTruth(
                        view, background: bg, owner: "SLatVaeRadianceFieldDecoderTrainer"))
            }
        }
        // Upstream's loss is the reconstruction term alone (no KL: the encoder is frozen).
        let (rec, imageTerms) = image.terms()
        var terms = imageTerms
        terms["loss"] = rec
        return terms
    }
}
