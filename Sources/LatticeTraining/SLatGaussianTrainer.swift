// The SLat VAE objective with the Gaussian decoder (TRELLIS@6b0d647
// trellis/trainers/vae/structured_latent_vae_gaussian.py, SLatVaeGaussianTrainer): encode the
// per-voxel features with posterior sampling, decode to Gaussians, render random views with
// TRELLIS's GaussianRenderer settings on a random black or white background (the ground truth
// composited on the same background), and
//   loss = L1 + λ_ssim·(1 − SSIM) + λ_kl·KL + λ_vol·mean(Π scales) + λ_opacity·mean((o − 1)²).
// Upstream also adds 0.2·LPIPS; Lattice has no LPIPS (VGG) weights, so that term is skipped.
// Upstream renders one random view per item; `viewsPerItem` allows more.
import Foundation
import LatticeGeometry
import LatticeModels
import LatticeNN
import LatticeRender
import LatticeSparse
import LatticeTensor

/// SLat VAE (encoder + Gaussian decoder) training objective over SLat samples.
public final class SLatVaeGaussianTrainer: TrainingObjective {
    /// Pixel reconstruction loss (upstream `loss_type`).
    public typealias LossType = PixelLossType

    public let encoder: SLatEncoder
    public let decoder: SLatGaussianDecoder
    public let data: SLatSampleSource
    public let lossType: LossType
    public let lambdaSSIM: Float
    public let lambdaKL: Float
    /// Upstream `regularizations.lambda_vol` (nil: term off).
    public let lambdaVolume: Float?
    /// Upstream `regularizations.lambda_opacity` (nil: term off).
    public let lambdaOpacity: Float?
    /// Views rendered per item and step (upstream: 1).
    public let viewsPerItem: Int
    /// Rasterizer settings (`SplatSettings.trellis` with the decoder's 2D filter kernel size);
    /// the background is drawn per item.
    public let renderSettings: SplatSettings

    /// Whether the encoder is trained (upstream) or frozen (a decoder trained on a fixed
    /// encoder, as upstream trains the radiance-field decoder).
    public let trainEncoder: Bool

    public var models: [(name: String, module: Module)] {
        trainEncoder ? [("encoder", encoder), ("decoder", decoder)] : [("decoder", decoder)]
    }
    public var datasetCount: Int { data.count }

    /// Defaults are the released config's (`slat_vae_enc_dec_gs_swin8_B_64l8_fp16.json`).
    public init(
        encoder: SLatEncoder, decoder: SLatGaussianDecoder, data: SLatSampleSource,
        lossType: LossType = .l1, lambdaSSIM: Float = 0.2, lambdaKL: Float = 1e-6,
        lambdaVolume: Float? = 1e4, lambdaOpacity: Float? = 1e-3, viewsPerItem: Int = 1,
        trainEncoder: Bool = true
    ) throws {
        self.trainEncoder = trainEncoder
        guard viewsPerItem > 0 else {
            throw LatticeError(
                .invalidArgument, "SLatVaeGaussianTrainer: viewsPerItem \(viewsPerItem) < 1")
        }
        try RenderedImageLoss.checkPair(
            encoder, latentChannels: decoder.config.trunk.latentChannels,
            resolution: decoder.config.trunk.resolution, owner: "SLatVaeGaussianTrainer")
        self.encoder = encoder
        self.decoder = decoder
        self.data = data
        self.lossType = lossType
        self.lambdaSSIM = lambdaSSIM
        self.lambdaKL = lambdaKL
        self.lambdaVolume = lambdaVolume
        self.lambdaOpacity = lambdaOpacity
        self.viewsPerItem = viewsPerItem
        var settings = SplatSettings.trellis
        if let k = decoder.config.representationConfig.filter2DKernelSize {
            settings.eps2d = Float(k)
        }
        renderSettings = settings
    }

    /// The items' voxels as one batched SparseTensor: coords [N, 4] (b, x, y, z), feats [N, C].
    public func batch(_ samples: [SLatTrainingSample]) throws -> SparseTensor {
        try RenderedImageLoss.batch(
            samples, resolution: encoder.config.trunk.resolution,
            channels: encoder.config.inChannels, owner: "SLatVaeGaussianTrainer")
    }

    public func losses(items: [Int], generator: inout RandomGenerator) throws -> [String: Tensor] {
        let samples = try items.map { try data.sample($0) }
        let x = try batch(samples)
        let (mean, logvar) = try trainEncoder ? encoder(x) : withNoGrad { try encoder(x) }
        let eps = Tensor.randn(mean.feats.shape, generator: &generator)  // [N, latent]
        let z = mean.replacing(feats: mean.feats + (logvar.feats * 0.5).exp() * eps)
        let reps = try decoder(z)

        var image = RenderedImageLoss(lossType: lossType, lambdaSSIM: lambdaSSIM)
        for (b, sample) in samples.enumerated() {
            guard !sample.views.isEmpty else {
                throw LatticeError(
                    .invalidArgument, "SLatVaeGaussianTrainer: sample '\(sample.id)' has no views")
            }
            let bg = RenderedImageLoss.randomBackground(&generator)
            var settings = renderSettings
            settings.backgrounds = [bg, bg, bg]
            for v in RenderedImageLoss.chooseViews(
                sample.views.count, min(viewsPerItem, sample.views.count), &generator)
            {
                let view = sample.views[v]
                let camera = try SplatCamera(
                    viewmat: view.extrinsics,
                    k: intrinsicsInPixels(view.intrinsics, width: view.width, height: view.height),
                    width: view.width, height: view.height)
                // [1, H, W, 4]
                let rgba = try reps[b].render(cameras: [camera], settings: settings)
                let rec = rgba.slice(3, 0, 3).permute([0, 3, 1, 2]).contiguous()  // [1, 3, H, W]
                image.add(
                    rendered: rec,
                    truth: try RenderedImageLoss.groundTruth(
                        view, background: bg, owner: "SLatVaeGaussianTrainer"))
            }
        }
        var (loss, terms) = image.terms()
        let kl = Loss.kl(mean: mean.feats, logvar: logvar.feats)
        terms["kl"] = kl
        loss = loss + kl * lambdaKL
        var reg = Tensor(scalar: 0)
        if let lambdaVolume {
            let s = Tensor.cat(reps.map(\.getScaling), axis: 0)  // [M, 3]
            let volume = (s.slice(1, 0, 1) * s.slice(1, 1, 2) * s.slice(1, 2, 3)).mean()
            terms["reg_vol"] = volume
            reg = reg + volume * lambdaVolume
        }
        if let lambdaOpacity {
            let o = Tensor.cat(reps.map(\.getOpacity), axis: 0)  // [M, 1]
            let term = (o - 1).square().mean()
            terms["reg_opacity"] = term
            reg = reg + term * lambdaOpacity
        }
        terms["reg"] = reg
        terms["loss"] = loss + reg
        return terms
    }

    /// Upstream `initialize_weights`: Xavier-uniform weights and zero biases in every (sparse)
    /// linear layer, then the encoder's and decoder's `out_layer` zeroed.
    public static func initialize(_ model: Module, generator: inout RandomGenerator) {
        model.resetParameters(generator: &generator)
        func xavier(_ weight: Parameter, _ bias: Parameter?, generator: inout RandomGenerator) {
            let (fanOut, fanIn) = (weight.shape[0], weight.shape[1])
            let bound = (6 / Float(fanIn + fanOut)).squareRoot()
            Initializer.uniform(weight, bound: bound, generator: &generator)
            if let bias { Initializer.constant(bias, 0) }
        }
        for (_, m) in model.namedModules() {
            if let l = m as? Linear {
                xavier(l.weight, l.bias, generator: &generator)
            } else if let l = m as? SparseLinear {
                xavier(l.weight, l.bias, generator: &generator)
            }
        }
        let out =
            (model as? SLatEncoder)?.outLayer ?? (model as? SLatGaussianDecoder)?.outLayer
            ?? (model as? SLatRadianceFieldDecoder)?.outLayer
        if let out {
            Initializer.constant(out.weight, 0)
            if let b = out.bias { Initializer.constant(b, 0) }
        }
    }
}
