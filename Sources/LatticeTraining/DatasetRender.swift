// The render step of TRELLIS's data toolkit (TRELLIS@6b0d647 dataset_toolkits/render.py and
// blender_script/render.py) without Blender: per-asset Hammersley cameras (radius 2, fov 40°,
// random offset, remapped), the Blender camera-to-world matrices that go into transforms.json and
// their OpenCV extrinsics, and an RGBA raster of the normalised mesh with a fixed simple shading
// (`DatasetShading`) in place of Cycles.
import Foundation
import LatticeGeometry
import LatticeRender
import LatticeTensor

/// One dataset camera, placed as upstream's render.py places it.
public struct DatasetCamera: Sendable, Equatable {
    /// Azimuth in radians, Blender convention: the eye is r (cos yaw cos pitch, sin yaw cos pitch,
    /// sin pitch). (Lattice's `yawPitchRadiusFovToExtrinsicsIntrinsics` uses (sin, cos): its yaw
    /// is pi/2 - this one.)
    public var yaw: Double
    /// Elevation in radians.
    public var pitch: Double
    /// Distance to the origin.
    public var radius: Double
    /// Field of view in radians (`camera_angle_x`; square images, so also the vertical one).
    public var fov: Double

    public init(yaw: Double, pitch: Double, radius: Double, fov: Double) {
        self.yaw = yaw
        self.pitch = pitch
        self.radius = radius
        self.fov = fov
    }

    /// The eye in world space (Blender's camera location).
    public var position: SIMD3<Double> {
        radius * SIMD3(cos(yaw) * cos(pitch), sin(yaw) * cos(pitch), sin(pitch))
    }

    /// OpenCV world-to-camera looking at the origin with up +Z: the camera the renderer uses.
    public func extrinsics() throws -> Matrix4 {
        let p = position
        return try extrinsicsLookAt(
            eye: SIMD3(Float(p.x), Float(p.y), Float(p.z)), lookAt: .zero, up: SIMD3(0, 0, 1))
    }

    /// Normalised intrinsics (image size 1).
    public var intrinsics: Matrix3 { intrinsicsFromFov(x: Float(fov), y: Float(fov)) }

    /// Blender's camera-to-world (4x4 row-major) for a camera at `position` with a TRACK_TO
    /// constraint on the origin (-Z looks at the target, +Y as close to world +Z as possible):
    /// columns right, up, back, eye.
    public func blenderCameraToWorld() -> [Double] {
        let p = position
        let forward = -p / (p * p).sum().squareRoot()
        var right = SIMD3(
            forward.y * 1 - forward.z * 0, forward.z * 0 - forward.x * 1, 0.0)  // forward × +Z
        right /= (right * right).sum().squareRoot()
        let up = SIMD3(
            right.y * forward.z - right.z * forward.y, right.z * forward.x - right.x * forward.z,
            right.x * forward.y - right.y * forward.x)  // right × forward
        let back = -forward
        return [
            right.x, up.x, back.x, p.x,
            right.y, up.y, back.y, p.y,
            right.z, up.z, back.z, p.z,
            0, 0, 0, 1,
        ]
    }

    /// The `count` cameras of one asset (render.py): `sphere_hammersley_sequence(i, count,
    /// offset, remap=True)` gives (yaw, pitch); radius and fov are fixed.
    public static func trellisViews(
        count: Int, offset: (Double, Double), radius: Double = 2, fovDegrees: Double = 40
    ) -> [DatasetCamera] {
        // The sequence reaches pitch ±pi/2 only for a zero offset; keep clear of the look-at
        // singularity there.
        let limit = Double.pi / 2 - 1e-4
        return (0..<count).map { i in
            let yp = sphereHammersleySequence(i, numSamples: count, offset: offset, remap: true)
            return DatasetCamera(
                yaw: yp[0], pitch: min(max(yp[1], -limit), limit), radius: radius,
                fov: fovDegrees * Double.pi / 180)
        }
    }
}

/// OpenCV world-to-camera extrinsics from a Blender camera-to-world, as extract_feature.py does
/// it: negate the Y and Z columns (Blender's camera looks down -Z with +Y up), then invert.
public func extrinsicsFromBlenderCameraToWorld(_ c2w: [Double]) -> Matrix4 {
    precondition(c2w.count == 16, "extrinsicsFromBlenderCameraToWorld: \(c2w.count) values")
    var m = c2w
    for row in 0..<3 {
        m[row * 4 + 1] = -m[row * 4 + 1]
        m[row * 4 + 2] = -m[row * 4 + 2]
    }
    // Rigid inverse [Rᵀ | -Rᵀ t]; upstream's general inverse agrees for a rotation.
    var e = [Float](repeating: 0, count: 16)
    for i in 0..<3 {
        var t = 0.0
        for j in 0..<3 {
            e[i * 4 + j] = Float(m[j * 4 + i])
            t -= m[j * 4 + i] * m[j * 4 + 3]
        }
        e[i * 4 + 3] = Float(t)
    }
    e[15] = 1
    return e
}

/// The fixed shading that stands in for Cycles' lights: linear colour times
/// `ambient + diffuse · max(0, n · light)`, with n the face normal turned towards the camera.
public struct DatasetShading: Sendable, Equatable {
    public var ambient: Float = 0.45
    public var diffuse: Float = 0.55
    /// World direction towards the light: upstream's key point light sits at (4, 1, 6).
    public var lightDirection = SIMD3<Float>(4, 1, 6) / Float(53).squareRoot()

    public init() {}
}

/// One rendered dataset view: straight-alpha RGBA plus the camera depth the visibility test uses.
public struct RenderedDatasetView: Sendable {
    /// The image and its camera.
    public var view: TrainingView
    /// [H, W] camera-space depth of the surface, 0 where no surface covers the pixel.
    public var depth: [Float]
}

/// Renders `mesh` (normalised to [-0.5, 0.5]³) from `camera` at size x size with ssaa×
/// supersampling: vertex colours (or a UV texture, or grey) shaded with `shading`, alpha =
/// antialiased coverage, transparent background. RGBA is rounded to 8-bit levels so the
/// in-memory image equals the PNG written from it.
public func renderDatasetView(
    _ mesh: TriangleMesh, camera: DatasetCamera, size: Int, ssaa: Int = 2,
    shading: DatasetShading = DatasetShading()
) throws -> RenderedDatasetView {
    let extrinsics = try camera.extrinsics()
    let intrinsics = camera.intrinsics
    let settings = MeshRenderSettings(
        width: size, height: size, near: Float(max(0.05, camera.radius - 1.5)),
        far: Float(camera.radius + 1.5), ssaa: ssaa, filter: .antialiasedBilinear)
    let textured = mesh.texture != nil && mesh.uvs != nil
    let attributes: (values: [Float], channels: Int)
    if textured, let uvs = mesh.uvs {
        attributes = (uvs.flatMap { [$0.x, $0.y] }, 2)
    } else if let colours = mesh.vertexColors {
        attributes = (colours.flatMap { [$0.x, $0.y, $0.z] }, 3)
    } else {
        attributes = ([Float](repeating: 0.7, count: mesh.vertices.count * 3), 3)
    }
    let r = try renderMesh(
        mesh, extrinsics: extrinsics, intrinsics: intrinsics, settings: settings,
        attributes: attributes)
    let forward = SIMD3(extrinsics[8], extrinsics[9], extrinsics[10])
    let n = size * size
    var rgba = [Float](repeating: 0, count: n * 4)  // [H, W, 4]
    var depth = [Float](repeating: 0, count: n)  // [H, W]
    let c = attributes.channels
    for i in 0..<n {
        let a = r.mask.pixels[i]
        guard a > 1e-6 else { continue }
        // Filtered attributes are coverage-weighted (0 outside); divide to get surface values.
        var colour: SIMD3<Float>
        if textured, let texture = mesh.texture {
            colour = sampleTexture(
                texture, u: r.attributes[i * c] / a, v: r.attributes[i * c + 1] / a)
        } else {
            colour =
                SIMD3(r.attributes[i * c], r.attributes[i * c + 1], r.attributes[i * c + 2]) / a
        }
        // Empty pixels hold normal 0.5, i.e. n = 0, so 2·normal - 1 is coverage-weighted too.
        var normal =
            SIMD3(r.normal.pixels[i * 3], r.normal.pixels[i * 3 + 1], r.normal.pixels[i * 3 + 2])
            * 2 - 1
        let length = (normal * normal).sum().squareRoot()
        if length > 1e-6 { normal /= length }
        if (normal * forward).sum() > 0 { normal = -normal }
        let lambert = max(0, (normal * shading.lightDirection).sum())
        colour *= shading.ambient + shading.diffuse * lambert
        for k in 0..<3 { rgba[i * 4 + k] = quantize8(colour[k]) }
        rgba[i * 4 + 3] = quantize8(a)
        depth[i] = r.depth[i] / a
    }
    let view = TrainingView(
        rgba: rgba, width: size, height: size, extrinsics: extrinsics, intrinsics: intrinsics)
    return RenderedDatasetView(view: view, depth: depth)
}

@inline(__always) func quantize8(_ x: Float) -> Float {
    (min(max(x, 0), 1) * 255).rounded() / 255
}

/// Bilinear texture lookup with wrap-around, glTF UV convention (origin top-left).
func sampleTexture(_ t: RasterImage, u: Float, v: Float) -> SIMD3<Float> {
    let x = (u - u.rounded(.down)) * Float(t.width) - 0.5
    let y = (v - v.rounded(.down)) * Float(t.height) - 0.5
    let x0 = Int(x.rounded(.down))
    let y0 = Int(y.rounded(.down))
    let fx = x - Float(x0)
    let fy = y - Float(y0)
    var out = SIMD3<Float>.zero
    for (dy, wy) in [(0, 1 - fy), (1, fy)] {
        for (dx, wx) in [(0, 1 - fx), (1, fx)] {
            let xx = ((x0 + dx) % t.width + t.width) % t.width
            let yy = ((y0 + dy) % t.height + t.height) % t.height
            for k in 0..<3 {
                out[k] += wx * wy * t[xx, yy, min(k, t.channels - 1)]
            }
        }
    }
    return out
}
