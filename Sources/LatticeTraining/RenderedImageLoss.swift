// The image terms the rendered-loss trainers share (TRELLIS@6b0d647 trellis/trainers/vae/
// structured_latent_vae_gaussian.py and structured_latent_vae_rf_dec.py): the upstream
// `loss_type` (L1 or L2) plus λ_ssim·(1 − SSIM), each averaged over the views rendered in a step,
// a random black-or-white background per item, and the ground truth composited on it.
import Foundation
import LatticeModels
import LatticeNN
import LatticeRender
import LatticeSparse
import LatticeTensor

/// Pixel loss of a rendered-image trainer (upstream `loss_type`).
public enum PixelLossType: String, Sendable { case l1, l2 }

/// Accumulates rendered-vs-ground-truth image terms over one step's views.
struct RenderedImageLoss {
    let lossType: PixelLossType
    let lambdaSSIM: Float
    private var pixel = Tensor(scalar: 0)
    private var dssim = Tensor(scalar: 0)
    private var views = 0

    init(lossType: PixelLossType, lambdaSSIM: Float) {
        self.lossType = lossType
        self.lambdaSSIM = lambdaSSIM
    }

    /// Adds one view: `rendered` and `truth` are [1, 3, H, W].
    mutating func add(rendered: Tensor, truth: Tensor) {
        switch lossType {
        case .l1: pixel = pixel + Loss.l1(rendered, truth)
        case .l2: pixel = pixel + Loss.mse(rendered, truth)
        }
        if lambdaSSIM > 0 { dssim = dssim + (1 - ssim(rendered, truth)) }
        views += 1
    }

    /// The view-averaged terms (`l1`|`l2`, `ssim` when weighted, `rec`) and their weighted sum.
    func terms() -> (rec: Tensor, terms: [String: Tensor]) {
        let n = Float(max(views, 1))
        let p = pixel / n
        var terms: [String: Tensor] = [lossType.rawValue: p]
        var rec = p
        if lambdaSSIM > 0 {
            let d = dssim / n
            terms["ssim"] = d
            rec = rec + d * lambdaSSIM
        }
        terms["rec"] = rec
        return (rec, terms)
    }

    /// Throws unless `encoder` feeds a decoder with `latentChannels` at `resolution`.
    static func checkPair(
        _ encoder: SLatEncoder, latentChannels: Int, resolution: Int, owner: String
    ) throws {
        let t = encoder.config.trunk
        guard t.latentChannels == latentChannels, t.resolution == resolution else {
            throw LatticeError(
                .invalidConfig,
                "\(owner): encoder latent_channels/resolution \(t.latentChannels)/\(t.resolution) "
                    + "differ from the decoder's \(latentChannels)/\(resolution)")
        }
    }

    /// Upstream's 'random' background: white with probability 1/2, else black.
    static func randomBackground(_ generator: inout RandomGenerator) -> Float {
        generator.uniform(count: 1)[0] < 0.5 ? 1 : 0
    }

    /// `k` distinct view indices out of `count`, drawn from `generator`.
    static func chooseViews(_ count: Int, _ k: Int, _ generator: inout RandomGenerator) -> [Int] {
        var pool = Array(0..<count)
        var chosen: [Int] = []
        for u in generator.uniform(count: k) {
            let j = min(pool.count - 1, Int(u * Float(pool.count)))
            chosen.append(pool.remove(at: j))
        }
        return chosen
    }

    /// The view's straight-alpha RGBA composited on `background`: [1, 3, H, W].
    static func groundTruth(_ view: TrainingView, background: Float, owner: String) throws
        -> Tensor
    {
        let (h, w) = (view.height, view.width)
        guard view.rgba.count == h * w * 4 else {
            throw LatticeError(
                .shapeMismatch,
                "\(owner): view image has \(view.rgba.count) values for \(w)x\(h) RGBA")
        }
        var out = [Float](repeating: 0, count: 3 * h * w)
        for p in 0..<(h * w) {
            let a = view.rgba[p * 4 + 3]
            for c in 0..<3 {
                out[c * h * w + p] = view.rgba[p * 4 + c] * a + (1 - a) * background
            }
        }
        return Tensor(out, shape: [1, 3, h, w])  // [1, 3, H, W]
    }

    /// The samples' voxels as one batched SparseTensor (coords [N, 4] as b, x, y, z; feats
    /// [N, C]); every sample must be at `resolution` with `channels` feature channels.
    static func batch(
        _ samples: [SLatTrainingSample], resolution r: Int, channels c: Int, owner: String
    ) throws -> SparseTensor {
        var coords: [Int32] = []
        var feats: [Float] = []
        for (b, s) in samples.enumerated() {
            guard s.resolution == r, s.featureChannels == c, s.features.count == s.coords.count * c,
                !s.coords.isEmpty
            else {
                throw LatticeError(
                    .shapeMismatch,
                    "\(owner): sample '\(s.id)' has \(s.coords.count) voxels at resolution "
                        + "\(s.resolution) with \(s.features.count) feature values "
                        + "(\(s.featureChannels) channels); the model expects resolution \(r), "
                        + "\(c) channels and at least one voxel")
            }
            for v in s.coords { coords += [Int32(b), v.x, v.y, v.z] }
            feats += s.features
        }
        let n = coords.count / 4
        return try SparseTensor(
            coords: Tensor(int32: coords, shape: [n, 4]), feats: Tensor(feats, shape: [n, c]),
            batchSize: samples.count, resolution: r)  // coords [N, 4], feats [N, C]
    }
}
