// Turntable videos along TRELLIS's camera path (TRELLIS@6b0d647 trellis/utils/render_utils.py
// `render_video`): yaw = linspace(0, 2·3.1415, n), pitch = 0.25 + 0.5·sin(same), r = 2, fov 40°,
// in float32 as torch. Meshes are shaded with vertex colours, Lambert + ambient from a headlight;
// Gaussians go through `rasterizeGaussians`. Frames come back as images (file writing is LatticeIO).
import Foundation
import LatticeGeometry
import LatticeTensor

/// `torch.linspace(start, end, steps)` in float32 (the CPU kernel fills both halves from their ends).
func linspaceFloat32(_ start: Float, _ end: Float, _ steps: Int) -> [Float] {
    guard steps > 1 else { return steps == 1 ? [start] : [] }
    let step = (end - start) / Float(steps - 1)
    let halfway = steps / 2
    return (0..<steps).map { i in
        i < halfway ? start + step * Float(i) : end - step * Float(steps - i - 1)
    }
}

/// The `render_video` cameras: `frames` orbit (extrinsics, intrinsics) pairs around the origin.
public func turntableCameras(
    frames: Int = 300, radius: Double = 2, fovDegrees: Double = 40
) throws -> [(extrinsics: Matrix4, intrinsics: Matrix3)] {
    guard frames > 0 else {
        throw LatticeError(.invalidArgument, "turntableCameras: \(frames) frames, expected > 0")
    }
    let t = linspaceFloat32(0, 2 * 3.1415, frames)
    return try t.map { angle in
        let pitch = 0.25 + 0.5 * sin(angle)  // float32 as upstream
        return try yawPitchRadiusFovToExtrinsicsIntrinsics(
            yaw: Double(angle), pitch: Double(pitch), radius: radius, fovDegrees: fovDegrees)
    }
}

/// Turntable options; defaults are TRELLIS `render_video`'s (300 frames of 512², r 2, fov 40°).
public struct TurntableSettings: Sendable {
    public var frames: Int
    public var resolution: Int
    public var radius: Double
    public var fovDegrees: Double
    /// Mesh shading: colour · (ambient + diffuse·|n·l|), l toward the camera (two-sided).
    public var ambient: Float
    public var diffuse: Float
    /// Mesh supersampling factor and filter (TRELLIS mesh renders use 4 and antialiased bilinear).
    public var ssaa: Int
    public var filter: DownsampleFilter

    public init(
        frames: Int = 300, resolution: Int = 512, radius: Double = 2, fovDegrees: Double = 40,
        ambient: Float = 0.3, diffuse: Float = 0.7, ssaa: Int = 4,
        filter: DownsampleFilter = .antialiasedBilinear
    ) {
        self.frames = frames
        self.resolution = resolution
        self.radius = radius
        self.fovDegrees = fovDegrees
        self.ambient = ambient
        self.diffuse = diffuse
        self.ssaa = ssaa
        self.filter = filter
    }
}

/// Shaded RGB frames of `mesh` along the turntable path, black background. Uses vertex colours
/// (0.8 gray without), and normalised interpolated vertex normals when present, else face normals.
public func renderTurntable(_ mesh: TriangleMesh, settings: TurntableSettings = TurntableSettings())
    throws -> [RasterImage]
{
    try mesh.validate(source: "renderTurntable mesh")
    let cameras = try turntableCameras(
        frames: settings.frames, radius: settings.radius, fovDegrees: settings.fovDegrees)
    return try cameras.map { cam in
        try shadeMesh(mesh, extrinsics: cam.extrinsics, intrinsics: cam.intrinsics, settings)
    }
}

/// One shaded RGBA view of `mesh` (straight alpha = coverage; headlight shading as the
/// turntable's: colour · (ambient + diffuse·|n·l|)), e.g. a conditioning photo of a shape.
/// `settings.resolution` is the image size; frames, radius and fov are unused.
public func renderShadedView(
    _ mesh: TriangleMesh, extrinsics: Matrix4, intrinsics: Matrix3, settings: TurntableSettings
) throws -> RasterImage {
    try mesh.validate(source: "renderShadedView mesh")
    return try shadeMesh(
        mesh, extrinsics: extrinsics, intrinsics: intrinsics, settings, alpha: true)
}

/// One shaded frame: shading happens per supersample, then the image is filtered down. With
/// `alpha`, a coverage channel is added and the colour is un-premultiplied after filtering.
func shadeMesh(
    _ mesh: TriangleMesh, extrinsics: Matrix4, intrinsics: Matrix3, _ settings: TurntableSettings,
    alpha: Bool = false
) throws -> RasterImage {
    let size = settings.resolution
    let s = settings.ssaa
    guard size > 0, s >= 1 else {
        throw LatticeError(
            .invalidArgument, "renderTurntable: resolution \(size), ssaa \(s), expected > 0")
    }
    let clip = clipSpacePositions(
        mesh.vertices, extrinsics: extrinsics, intrinsics: intrinsics, near: 1, far: 100)
    let raster = try rasterizeTriangles(
        clipPositions: clip, faces: mesh.faces, width: size * s, height: size * s)
    let colors =
        mesh.vertexColors.map { interpolate3($0, mesh.faces, raster) }
        ?? [Float](repeating: 0.8, count: raster.width * raster.height * 3)
    let smooth = mesh.vertexNormals.map { interpolate3($0, mesh.faces, raster) }
    let flat = faceNormals(vertices: mesh.vertices, faces: mesh.faces)
    // Headlight: the camera's viewing axis (third row of R) reversed.
    let light = -SIMD3(extrinsics[8], extrinsics[9], extrinsics[10])
    let ch = alpha ? 4 : 3
    var rgb = [Float](repeating: 0, count: raster.width * raster.height * ch)
    for i in 0..<(raster.width * raster.height) {
        let t = Int(raster.triangleIds[i])
        if t < 0 { continue }
        if alpha { rgb[ch * i + 3] = 1 }
        var n = flat[t]
        if let smooth {
            let v = SIMD3(smooth[3 * i], smooth[3 * i + 1], smooth[3 * i + 2])
            let len = (v * v).sum().squareRoot()
            if len > 0 { n = v / len }
        }
        let shade = settings.ambient + settings.diffuse * abs((n * light).sum())
        for c in 0..<3 { rgb[ch * i + c] = min(1, max(0, colors[3 * i + c] * shade)) }
    }
    var pixels =
        s == 1
        ? rgb
        : downsampleImage(
            rgb, width: size * s, height: size * s, channels: ch, outWidth: size,
            outHeight: size, filter: settings.filter)
    if alpha {
        // The filter averaged colour over covered and empty (black) supersamples alike.
        for i in 0..<(size * size) where pixels[4 * i + 3] > 0 {
            let a = pixels[4 * i + 3]
            for c in 0..<3 { pixels[4 * i + c] = min(1, pixels[4 * i + c] / a) }
        }
    }
    return RasterImage(width: size, height: size, channels: ch, pixels: pixels)
}

private func interpolate3(
    _ values: [SIMD3<Float>], _ faces: [SIMD3<Int32>], _ raster: TriangleRaster
) -> [Float] {
    interpolateAttributes(
        values.flatMap { [$0.x, $0.y, $0.z] }, channels: 3, faces: faces, raster: raster)
}

/// RGB frames of Gaussians along the turntable path (`settings.ssaa` and shading are unused),
/// rendered by `rasterizeGaussians` with `splatSettings`, clamped to [0, 1].
public func renderTurntable(
    _ scene: GaussianScene, settings: TurntableSettings = TurntableSettings(),
    splatSettings: SplatSettings = SplatSettings()
) throws -> [RasterImage] {
    let size = settings.resolution
    let cameras = try turntableCameras(
        frames: settings.frames, radius: settings.radius, fovDegrees: settings.fovDegrees)
    return try cameras.map { cam in
        let camera = try SplatCamera(
            viewmat: cam.extrinsics,
            k: intrinsicsInPixels(cam.intrinsics, width: size, height: size), width: size,
            height: size)
        let render = try rasterizeGaussians(scene, cameras: [camera], settings: splatSettings)
        return RasterImage(
            width: size, height: size, channels: 3,
            pixels: render.images.rgb.map { min(1, max(0, $0)) })
    }
}
