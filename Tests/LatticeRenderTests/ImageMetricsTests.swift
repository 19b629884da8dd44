// PSNR and SSIM: values against PyTorch (the TRELLIS/3DGS formula evaluated by torch 2.13), a
// direct double-precision twin of the SSIM definition, and gradients by finite differences.
import Foundation
import LatticeGeometry
import LatticeTensor
import LatticeTestSupport
import Testing

@testable import LatticeRender

/// The two deterministic [3, 14, 20] images the PyTorch values were computed on.
private func goldenPair() -> (Tensor, Tensor) {
    var a: [Float] = []
    var b: [Float] = []
    for c in 0..<3 {
        for y in 0..<14 {
            for x in 0..<20 {
                let (fx, fy, fc) = (Double(x), Double(y), Double(c))
                a.append(Float(0.5 + 0.4 * sin(0.3 * fx + 0.2 * fy + fc)))
                b.append(Float(0.5 + 0.35 * sin(0.31 * fx + 0.17 * fy + fc + 0.2)))
            }
        }
    }
    return (Tensor(a, shape: [3, 14, 20]), Tensor(b, shape: [3, 14, 20]))
}

/// SSIM straight from its definition in Double: zero-padded 11x11 Gaussian sums per channel.
private func ssimDirect(_ a: [Float], _ b: [Float], c: Int, h: Int, w: Int) -> Double {
    let g1 = ssimGaussian().map(Double.init)
    var total = 0.0
    for ch in 0..<c {
        for y in 0..<h {
            for x in 0..<w {
                var (m1, m2, s11, s22, s12) = (0.0, 0.0, 0.0, 0.0, 0.0)
                for dy in -5...5 {
                    for dx in -5...5 {
                        let (yy, xx) = (y + dy, x + dx)
                        guard (0..<h).contains(yy), (0..<w).contains(xx) else { continue }
                        let k = g1[dy + 5] * g1[dx + 5]
                        let p = Double(a[(ch * h + yy) * w + xx])
                        let q = Double(b[(ch * h + yy) * w + xx])
                        m1 += k * p
                        m2 += k * q
                        s11 += k * p * p
                        s22 += k * q * q
                        s12 += k * p * q
                    }
                }
                let (c1, c2) = (1e-4, 9e-4)
                let v1 = s11 - m1 * m1
                let v2 = s22 - m2 * m2
                let cov = s12 - m1 * m2
                total +=
                    (2 * m1 * m2 + c1) * (2 * cov + c2)
                    / ((m1 * m1 + m2 * m2 + c1) * (v1 + v2 + c2))
            }
        }
    }
    return total / Double(c * h * w)
}

@Suite struct ImageMetricsTests {
    @Test func ssimAndPsnrMatchPyTorch() {
        // torch float32: 0.9674386978149414 and 24.94858169555664. Different conv summation
        // order in float32 over means of ~0.97: 1e-5.
        let (a, b) = goldenPair()
        #expect(abs(ssim(a, b).item - 0.9674386978149414) < 1e-5)
        #expect(abs(psnr(a, b).item - 24.94858169555664) < 1e-4)
        let imgA = RasterImage(tensor: a.permute([1, 2, 0]).contiguous())
        let imgB = RasterImage(tensor: b.permute([1, 2, 0]).contiguous())
        #expect(abs(((try? psnr(imgA, imgB)) ?? 0) - 24.94858169555664) < 1e-4)
        #expect(abs(((try? ssim(imgA, imgB)) ?? 0) - 0.9674386978149414) < 1e-5)
    }

    @Test func ssimMatchesItsDefinition() {
        // Random images with strong contrast; float32 conv sums against Double: 1e-5.
        var g = RandomGenerator(seed: 9)
        let a = Tensor.rand([2, 13, 17], generator: &g)
        let b = (a * 0.6 + Tensor.rand([2, 13, 17], generator: &g) * 0.4).contiguous()
        let direct = ssimDirect(a.toFloats(), b.toFloats(), c: 2, h: 13, w: 17)
        #expect(abs(Double(ssim(a, b).item) - direct) < 1e-5)
        #expect(abs(ssim(a, a).item - 1) < 1e-6)
        // Batched input averages over the batch too.
        let batch = ssim(a.unsqueeze(0), b.unsqueeze(0)).item
        #expect(batch == ssim(a, b).item)
    }

    @Test func psnrOfAConstantOffset() throws {
        let a = RasterImage(width: 4, height: 3, channels: 3, fill: 0.2)
        let b = RasterImage(width: 4, height: 3, channels: 3, fill: 0.3)
        // MSE 0.01 -> 20 dB; the Float samples 0.2, 0.3 are off by ~1e-8.
        #expect(abs(try psnr(a, b) - 20) < 1e-5)
        #expect(try psnr(a, a) == .infinity)
        #expect(throws: LatticeError.self) {
            try psnr(a, RasterImage(width: 3, height: 3, channels: 3))
        }
    }

    @Test func ssimAndPsnrGradientsMatchFiniteDifferences() {
        // SSIM is smooth in the pixels; gradCheck's default h and tolerance apply.
        var g = RandomGenerator(seed: 4)
        let a = Tensor.rand([2, 7, 6], low: 0.2, high: 0.8, generator: &g)
        let b = Tensor.rand([2, 7, 6], low: 0.2, high: 0.8, generator: &g)
        gradCheck([a, b]) { xs in ssim(xs[0], xs[1]) }
        gradCheck([a, b]) { xs in psnr(xs[0], xs[1]) }
    }
}
