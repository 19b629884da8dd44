// The structured-latent training sample shared by the data toolkit and the SLat trainers (VAE
// with Gaussian / radiance-field / mesh decoders, SLat flow): one asset's active voxels with their
// projected image features, its rendered views with cameras, and its normalised mesh.
import LatticeGeometry
import LatticeTensor

/// One rendered view of a training asset: an RGBA image and the camera that took it.
public struct TrainingView: Sendable {
    /// [H, W, 4] RGBA in [0, 1], straight (not premultiplied) alpha; background alpha 0.
    public var rgba: [Float]
    public var width: Int
    public var height: Int
    /// OpenCV world-to-camera, 4x4 row-major.
    public var extrinsics: Matrix4
    /// Normalised intrinsics (image size 1), 3x3 row-major.
    public var intrinsics: Matrix3

    public init(rgba: [Float], width: Int, height: Int, extrinsics: Matrix4, intrinsics: Matrix3) {
        self.rgba = rgba
        self.width = width
        self.height = height
        self.extrinsics = extrinsics
        self.intrinsics = intrinsics
    }
}

/// One asset as the SLat trainers see it.
public struct SLatTrainingSample: Sendable {
    /// Stable id (dataset item id).
    public var id: String
    /// Grid resolution of `coords` (64 upstream).
    public var resolution: Int
    /// Active voxels (x, y, z) in `0..<resolution`, in ascending x·R² + y·R + z order.
    public var coords: [SIMD3<Int32>]
    /// [N, C] per-voxel features averaged over all views (DINOv2 patch tokens upstream).
    public var features: [Float]
    /// C.
    public var featureChannels: Int
    /// Rendered views (upstream: 150 views on the Hammersley sphere, radius 2, fov 40°).
    public var views: [TrainingView]
    /// The normalised ground-truth mesh (in [-0.5, 0.5]³), for geometry losses and evaluation.
    public var mesh: TriangleMesh?

    public init(
        id: String, resolution: Int, coords: [SIMD3<Int32>], features: [Float],
        featureChannels: Int, views: [TrainingView], mesh: TriangleMesh?
    ) {
        self.id = id
        self.resolution = resolution
        self.coords = coords
        self.features = features
        self.featureChannels = featureChannels
        self.views = views
        self.mesh = mesh
    }
}

/// A source of SLat training samples (a dataset folder, or procedural shapes made on the fly).
public protocol SLatSampleSource: AnyObject {
    /// Number of items.
    var count: Int { get }
    /// Item `index` (deterministic).
    func sample(_ index: Int) throws -> SLatTrainingSample
}
