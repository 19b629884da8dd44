// Image-quality metrics used for evaluation and as training losses: PSNR, and SSIM exactly as
// TRELLIS@6b0d647 trellis/utils/loss_utils.py `ssim` (the 3DGS form): an 11x11 Gaussian window
// (sigma 1.5) applied per channel by a grouped conv2d with zero padding window//2, C1 = 0.01²,
// C2 = 0.03², mean of the SSIM map. Built from Tensor ops, so it differentiates like upstream.
import Foundation
import LatticeGeometry
import LatticeTensor

/// PSNR 20·log10(maxValue / sqrt(MSE)) of two images of the same size (+inf when identical).
public func psnr(_ a: RasterImage, _ b: RasterImage, maxValue: Double = 1) throws -> Double {
    try checkSameSize(a, b, "psnr")
    var sum = 0.0
    for i in a.pixels.indices {
        let d = Double(a.pixels[i]) - Double(b.pixels[i])
        sum += d * d
    }
    let mse = sum / Double(max(a.pixels.count, 1))
    return 20 * log10(maxValue / mse.squareRoot())
}

/// Differentiable PSNR of two tensors of one shape, as TRELLIS `psnr`: a scalar tensor.
public func psnr(_ a: Tensor, _ b: Tensor, maxValue: Float = 1) -> Tensor {
    precondition(a.shape == b.shape, "psnr: shapes \(a.shape) and \(b.shape)")
    let mse = (a - b).square().mean()  // []
    return (maxValue / mse.sqrt()).log() * Float(20 / log(10.0))
}

/// The normalised 1-D Gaussian of the SSIM window, float32 as upstream (exp in double, then the
/// division by the float32 sum).
public func ssimGaussian(size: Int = 11, sigma: Double = 1.5) -> [Float] {
    let g = (0..<size).map { x -> Float in
        let d = Double(x - size / 2)
        return Float(exp(-d * d / (2 * sigma * sigma)))
    }
    let total = g.reduce(0, +)
    return g.map { $0 / total }
}

/// The SSIM window [C, 1, size, size]: the outer product of `ssimGaussian` repeated per channel.
public func ssimWindow(channels: Int, size: Int = 11, sigma: Double = 1.5) -> Tensor {
    let g = ssimGaussian(size: size, sigma: sigma)
    var w: [Float] = []
    w.reserveCapacity(channels * size * size)
    for _ in 0..<channels {
        for i in 0..<size { for j in 0..<size { w.append(g[i] * g[j]) } }
    }
    return Tensor(w, shape: [channels, 1, size, size])  // [C, 1, k, k]
}

/// SSIM of images [C, H, W] or [N, C, H, W] (values nominally in [0, 1]), the mean of the SSIM
/// map as TRELLIS `ssim(img1, img2)`: a differentiable scalar tensor.
public func ssim(_ img1: Tensor, _ img2: Tensor, windowSize: Int = 11) -> Tensor {
    precondition(
        img1.shape == img2.shape && (img1.rank == 3 || img1.rank == 4),
        "ssim: shapes \(img1.shape) and \(img2.shape), expected equal [C, H, W] or [N, C, H, W]")
    let x = img1.rank == 3 ? img1.unsqueeze(0) : img1  // [N, C, H, W]
    let y = img2.rank == 3 ? img2.unsqueeze(0) : img2  // [N, C, H, W]
    let channels = x.shape[1]
    let window = ssimWindow(channels: channels, size: windowSize)
    let pad = windowSize / 2
    func blur(_ t: Tensor) -> Tensor {
        conv2d(t, weight: window, stride: 1, padding: pad, groups: channels)  // [N, C, H, W]
    }
    let mu1 = blur(x)
    let mu2 = blur(y)
    let mu1Sq = mu1.square()
    let mu2Sq = mu2.square()
    let mu1Mu2 = mu1 * mu2
    let sigma1Sq = blur(x * x) - mu1Sq
    let sigma2Sq = blur(y * y) - mu2Sq
    let sigma12 = blur(x * y) - mu1Mu2
    let c1: Float = 0.01 * 0.01
    let c2: Float = 0.03 * 0.03
    let map =
        ((2 * mu1Mu2 + c1) * (2 * sigma12 + c2))
        / ((mu1Sq + mu2Sq + c1) * (sigma1Sq + sigma2Sq + c2))  // [N, C, H, W]
    return map.mean()
}

/// SSIM of two images of the same size (HWC samples rearranged to [C, H, W]).
public func ssim(_ a: RasterImage, _ b: RasterImage) throws -> Double {
    try checkSameSize(a, b, "ssim")
    func chw(_ im: RasterImage) -> Tensor {
        im.tensor.permute([2, 0, 1]).contiguous()  // [C, H, W]
    }
    return Double(withNoGrad { ssim(chw(a), chw(b)) }.item)
}

private func checkSameSize(_ a: RasterImage, _ b: RasterImage, _ what: String) throws {
    guard a.width == b.width, a.height == b.height, a.channels == b.channels else {
        throw LatticeError(
            .shapeMismatch,
            "\(what): images \(a.width)x\(a.height)x\(a.channels) and "
                + "\(b.width)x\(b.height)x\(b.channels) differ in size")
    }
}
