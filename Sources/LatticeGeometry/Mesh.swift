// Triangle meshes and images as plain value types shared by geometry, rendering, I/O, pipelines
// and training. No file formats here (LatticeIO) and no rendering (LatticeRender).
import LatticeTensor

/// An indexed triangle mesh with optional per-vertex colours, normals, UVs and a texture.
///
/// Coordinates are in the asset's own frame (TRELLIS works Z-up in [-0.5, 0.5]³); colours are
/// linear RGB in [0, 1]; faces index `vertices` counter-clockwise seen from outside.
public struct TriangleMesh: Sendable, Equatable {
    /// Vertex positions.
    public var vertices: [SIMD3<Float>]
    /// Triangles as three vertex indices each.
    public var faces: [SIMD3<Int32>]
    /// Optional RGB colour per vertex, in [0, 1].
    public var vertexColors: [SIMD3<Float>]?
    /// Optional unit normal per vertex.
    public var vertexNormals: [SIMD3<Float>]?
    /// Optional texture coordinate per vertex (glTF convention: origin at the top-left).
    public var uvs: [SIMD2<Float>]?
    /// Optional base-colour texture sampled with `uvs`.
    public var texture: RasterImage?

    /// A mesh from its parts; call `validate(source:)` on untrusted data.
    public init(
        vertices: [SIMD3<Float>], faces: [SIMD3<Int32>], vertexColors: [SIMD3<Float>]? = nil,
        vertexNormals: [SIMD3<Float>]? = nil, uvs: [SIMD2<Float>]? = nil,
        texture: RasterImage? = nil
    ) {
        self.vertices = vertices
        self.faces = faces
        self.vertexColors = vertexColors
        self.vertexNormals = vertexNormals
        self.uvs = uvs
        self.texture = texture
    }

    /// True when the mesh has no faces.
    public var isEmpty: Bool { faces.isEmpty }

    /// Axis-aligned bounds of the vertices, or nil for a mesh without vertices.
    public var bounds: (min: SIMD3<Float>, max: SIMD3<Float>)? {
        guard var lo = vertices.first else { return nil }
        var hi = lo
        for v in vertices {
            lo = pointwiseMin(lo, v)
            hi = pointwiseMax(hi, v)
        }
        return (lo, hi)
    }

    /// Checks indices, attribute counts and finiteness; `source` names the mesh in the error.
    public func validate(source: String) throws {
        let n = vertices.count
        for (name, count) in [
            ("vertexColors", vertexColors?.count), ("vertexNormals", vertexNormals?.count),
            ("uvs", uvs?.count),
        ] {
            if let count, count != n {
                throw LatticeError(
                    .invalidFile,
                    "\(source): \(name) has \(count) entries, expected \(n) (one per vertex)")
            }
        }
        for (i, v) in vertices.enumerated() where !(v.x.isFinite && v.y.isFinite && v.z.isFinite) {
            throw LatticeError(.invalidFile, "\(source): vertex \(i) is not finite: \(v)")
        }
        for (i, f) in faces.enumerated() {
            for k in 0..<3 where f[k] < 0 || Int(f[k]) >= n {
                throw LatticeError(
                    .invalidFile,
                    "\(source): face \(i) index \(f[k]) is outside 0..<\(n) (the vertex count)")
            }
        }
    }
}

/// A row-major image of `channels` interleaved Float samples per pixel (HWC), nominally in [0, 1].
public struct RasterImage: Sendable, Equatable {
    /// Width in pixels.
    public let width: Int
    /// Height in pixels.
    public let height: Int
    /// Samples per pixel: 1 gray, 2 gray+alpha, 3 RGB, 4 RGBA.
    public let channels: Int
    /// `height * width * channels` samples, row by row.
    public var pixels: [Float]

    /// An image from its samples; the count must be `height * width * channels`.
    public init(width: Int, height: Int, channels: Int, pixels: [Float]) {
        precondition(
            width >= 0 && height >= 0 && (1...4).contains(channels)
                && pixels.count == width * height * channels,
            "RasterImage: \(pixels.count) samples for \(width)x\(height)x\(channels)")
        self.width = width
        self.height = height
        self.channels = channels
        self.pixels = pixels
    }

    /// A constant image.
    public init(width: Int, height: Int, channels: Int, fill: Float = 0) {
        self.init(
            width: width, height: height, channels: channels,
            pixels: [Float](repeating: fill, count: width * height * channels))
    }

    /// Sample `c` of pixel (x, y).
    @inlinable public subscript(x: Int, y: Int, c: Int) -> Float {
        get { pixels[(y * width + x) * channels + c] }
        set { pixels[(y * width + x) * channels + c] = newValue }
    }

    /// The image as a float32 tensor [H, W, C].
    public var tensor: Tensor { Tensor(pixels, shape: [height, width, channels]) }

    /// An image from a float32 tensor [H, W, C] with C in 1...4.
    public init(tensor t: Tensor) {
        precondition(
            t.rank == 3 && (1...4).contains(t.shape[2]), "RasterImage(tensor:): shape \(t.shape)")
        self.init(width: t.shape[1], height: t.shape[0], channels: t.shape[2], pixels: t.toFloats())
    }
}
