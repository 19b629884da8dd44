// Gaussian splatting as a differentiable Tensor op: the forward is `rasterizeGaussians`, the
// backward `rasterizeGaussiansBackward`, joined by one recorded autodiff node. Also the path from
// TRELLIS's `Gaussian` (whose getters are Tensor expressions) to that op, so image losses reach
// the decoder's raw outputs.
import Foundation
import LatticeTensor

/// Renders Gaussians for every camera and returns [C, H, W, 4] (rgb with the background of
/// `settings` composited, then alpha), recording a backward rule to all five inputs.
///
/// - Parameters:
///   - means: [N, 3] world positions.
///   - quats: [N, 4] (w, x, y, z), normalised inside.
///   - scales: [N, 3] activated scales.
///   - opacities: [N] or [N, 1] activated opacities.
///   - shCoefficients: [N, K, 3] with K >= (shDegree + 1)².
public func renderGaussians(
    means: Tensor, quats: Tensor, scales: Tensor, opacities: Tensor, shCoefficients: Tensor,
    shDegree: Int, cameras: [SplatCamera], settings: SplatSettings
) throws -> Tensor {
    let n = means.rank == 2 ? means.shape[0] : -1
    guard means.shape == [n, 3], quats.shape == [n, 4], scales.shape == [n, 3],
        opacities.shape == [n] || opacities.shape == [n, 1],
        shCoefficients.rank == 3, shCoefficients.shape[0] == n, shCoefficients.shape[2] == 3
    else {
        throw LatticeError(
            .shapeMismatch,
            "renderGaussians: means \(means.shape), quats \(quats.shape), scales \(scales.shape), "
                + "opacities \(opacities.shape), SH \(shCoefficients.shape); expected [N, 3], "
                + "[N, 4], [N, 3], [N] or [N, 1], [N, K, 3]")
    }
    func values(_ t: Tensor) -> [Float] { t.detach().float().contiguous().toFloats() }
    let scene = try GaussianScene(
        means: values(means), quats: values(quats), scales: values(scales),
        opacities: values(opacities), shCoefficients: values(shCoefficients), shDegree: shDegree)
    let render = try rasterizeGaussians(scene, cameras: cameras, settings: settings)
    let (c, h, w) = (cameras.count, cameras[0].height, cameras[0].width)
    let pixels = c * h * w
    var out = [Float](repeating: 0, count: pixels * 4)
    for p in 0..<pixels {
        out[p * 4] = render.images.rgb[p * 3]
        out[p * 4 + 1] = render.images.rgb[p * 3 + 1]
        out[p * 4 + 2] = render.images.rgb[p * 3 + 2]
        out[p * 4 + 3] = render.images.alpha[p]
    }
    let image = Tensor(out, shape: [c, h, w, 4])  // [C, H, W, 4]
    let inputs = [means, quats, scales, opacities, shCoefficients]
    return Tensor.record("renderGaussians", output: image, inputs: inputs) { grad in
        let g = grad.float().contiguous().toFloats()  // [C, H, W, 4]
        var gradRGB = [Float](repeating: 0, count: pixels * 3)
        var gradAlpha = [Float](repeating: 0, count: pixels)
        for p in 0..<pixels {
            gradRGB[p * 3] = g[p * 4]
            gradRGB[p * 3 + 1] = g[p * 4 + 1]
            gradRGB[p * 3 + 2] = g[p * 4 + 2]
            gradAlpha[p] = g[p * 4 + 3]
        }
        let gs = rasterizeGaussiansBackward(
            scene, cameras: cameras, settings: settings, render: render, gradRGB: gradRGB,
            gradAlpha: gradAlpha)
        func tensor(_ v: [Double], like t: Tensor) -> Tensor {
            Tensor(v.map { Float($0) }, shape: t.shape)
        }
        return [
            tensor(gs.means, like: means), tensor(gs.quats, like: quats),
            tensor(gs.scales, like: scales), tensor(gs.opacities, like: opacities),
            tensor(gs.shCoefficients, like: shCoefficients),
        ]
    }
}

extension Gaussian {
    /// Differentiable render of the activated Gaussians (`getXYZ`, `getRotation`, `getScaling`,
    /// `getOpacity`, `getFeatures`): [C, H, W, 4], gradients flow to the stored tensors.
    public func render(cameras: [SplatCamera], settings: SplatSettings) throws -> Tensor {
        try renderGaussians(
            means: getXYZ, quats: getRotation, scales: getScaling, opacities: getOpacity,
            shCoefficients: getFeatures, shDegree: shDegree, cameras: cameras, settings: settings)
    }
}
