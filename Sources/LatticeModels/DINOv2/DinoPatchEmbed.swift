// facebookresearch/dinov2@b8931f7:dinov2/layers/patch_embed.py
import LatticeNN
import LatticeTensor

extension DINOv2 {
    /// Image to patch tokens: a `patch_size` x `patch_size` stride-`patch_size` conv (`proj`).
    public final class PatchEmbed: Module, @unchecked Sendable {
        public let patchSize: Int
        public let proj: Conv2d

        public init(patchSize: Int, inChans: Int, embedDim: Int) {
            self.patchSize = patchSize
            proj = Conv2d(
                inChannels: inChans, outChannels: embedDim, kernelSize: patchSize, stride: patchSize
            )
            super.init()
            register("proj", proj)
        }

        /// `x`: [B, C, H, W] with H, W multiples of the patch size -> [B, H/p * W/p, E].
        public func callAsFunction(_ x: Tensor) -> Tensor {
            precondition(
                x.rank == 4 && x.shape[2] % patchSize == 0 && x.shape[3] % patchSize == 0,
                "PatchEmbed: input \(x.shape) is not [B, C, H, W] with H, W multiples of \(patchSize)"
            )
            let y = proj(x)  // [B, E, H/p, W/p]
            return y.flatten(from: 2).transpose(1, 2)  // [B, N, E], patches row-major
        }
    }
}
