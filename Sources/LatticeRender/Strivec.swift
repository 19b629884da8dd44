// microsoft/TRELLIS@6b0d647:trellis/representations/radiance_field/strivec.py (Strivec) and the
// parts of octree/octree_dfs.py (DfsOctree, primitive "trivec") that the SLat radiance-field
// decoder fills: one leaf per voxel with its position, depth, rank-R tri-vector factors, density
// and SH-0 colour, plus the activations. The octree restructuring and the CUDA renderer are not
// ported.
import Foundation
import LatticeTensor

/// A sparse-voxel radiance field of tri-vector (CP) primitives: voxel i at `position[i]`
/// (centre, aabb-normalised) of size 2^-depth holds `rank` rank-one factors over a `dim`³ grid.
public final class Strivec: @unchecked Sendable {
    /// Finest grid resolution (a power of two); `maxDepth` = log2(resolution).
    public let resolution: Int
    public let maxDepth: Int
    /// [x0, y0, z0, sx, sy, sz].
    public let aabb: [Float]
    public let shDegree: Int
    public let rank: Int
    public let dim: Int

    /// Voxel centres [N, 3] in aabb-normalised units ((coord + 0.5) / resolution).
    public var position: Tensor
    /// Octree depth of each voxel [N, 1] (int32; upstream stores uint8).
    public var depth: Tensor
    /// Tri-vector factors [N, rank, 3, dim] (x, y, z vectors per rank).
    public var trivec: Tensor
    /// Density weight per rank [N, rank].
    public var density: Tensor
    /// SH degree-0 colour coefficients per rank [N, rank, 1, 3].
    public var featuresDC: Tensor
    /// Subtracted (×10) inside the density softplus by the renderer; 0 for decoded fields.
    public var densityShift: Float = 0

    /// An empty field; throws when `resolution` is not a power of two.
    public init(
        resolution: Int, aabb: [Float], shDegree: Int = 0, rank: Int = 8, dim: Int = 8
    ) throws {
        guard resolution > 0, resolution & (resolution - 1) == 0 else {
            throw LatticeError(
                .invalidArgument, "Strivec: resolution \(resolution) must be a power of 2")
        }
        guard aabb.count == 6 else {
            throw LatticeError(.invalidArgument, "Strivec: aabb needs 6 values, got \(aabb.count)")
        }
        self.resolution = resolution
        maxDepth = resolution.trailingZeroBitCount
        self.aabb = aabb
        self.shDegree = shDegree
        self.rank = rank
        self.dim = dim
        position = Tensor(zeros: [0, 3])
        depth = Tensor(int32: [], shape: [0, 1])
        trivec = Tensor(zeros: [0, rank, 3, dim])
        density = Tensor(zeros: [0, rank])
        featuresDC = Tensor(zeros: [0, rank, 1, 3])
    }

    /// Number of leaf voxels.
    public var count: Int { position.shape[0] }

    /// `get_xyz`: the voxel centres [N, 3].
    public var getXYZ: Tensor { position }
    /// `get_depth` [N, 1].
    public var getDepth: Tensor { depth }
    /// `get_density`: the trivec primitive's density activation is the identity [N, rank].
    public var getDensity: Tensor { density }
    /// `get_trivec` [N, rank, 3, dim].
    public var getTrivec: Tensor { trivec }
    /// `get_features` (SH degree 0): [N, rank, 1, 3].
    public var getFeatures: Tensor { featuresDC }
    /// Upstream `color_activation`: sigmoid.
    public static func colorActivation(_ x: Tensor) -> Tensor { x.sigmoid() }
    /// Upstream `opacity_activation`: sigmoid(x - 6).
    public static func opacityActivation(_ x: Tensor) -> Tensor { (x - 6).sigmoid() }
}
