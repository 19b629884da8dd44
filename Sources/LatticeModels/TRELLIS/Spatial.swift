// microsoft/TRELLIS@6b0d647:trellis/modules/spatial.py (patchify / unpatchify for 3-D grids).
import LatticeTensor

extension TRELLIS {
    /// [B, C, D, H, W] -> [B, C p³, D/p, H/p, W/p]; channel `c p³ + i p² + j p + k` holds voxel
    /// offset (i, j, k) of each patch.
    public static func patchify(_ x: Tensor, patchSize p: Int) -> Tensor {
        if p == 1 { return x }
        let (b, c, d, h, w) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3], x.shape[4])
        precondition(
            d % p == 0 && h % p == 0 && w % p == 0, "patchify: \(x.shape) not divisible by \(p)")
        return x.reshape([b, c, d / p, p, h / p, p, w / p, p])  // [B, C, D', p, H', p, W', p]
            .permute([0, 1, 3, 5, 7, 2, 4, 6])  // [B, C, p, p, p, D', H', W']
            .reshape([b, c * p * p * p, d / p, h / p, w / p])
    }

    /// Inverse of `patchify`: [B, C p³, D', H', W'] -> [B, C, D' p, H' p, W' p].
    public static func unpatchify(_ x: Tensor, patchSize p: Int) -> Tensor {
        if p == 1 { return x }
        let (b, cp, d, h, w) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3], x.shape[4])
        let c = cp / (p * p * p)
        return x.reshape([b, c, p, p, p, d, h, w])  // [B, C, p, p, p, D', H', W']
            .permute([0, 1, 5, 2, 6, 3, 7, 4])  // [B, C, D', p, H', p, W', p]
            .reshape([b, c, d * p, h * p, w * p])
    }
}
