// TRELLIS's MeshRenderer (TRELLIS@6b0d647 trellis/renderers/mesh_renderer.py) on top of
// MeshRasterizer.swift: mask, camera depth, flat face normals encoded (n + 1) / 2 and
// interpolated vertex attributes, rendered at ssaa× the resolution and filtered down either with
// PyTorch's antialiased bilinear resize (upstream's `F.interpolate(..., antialias=True)`) or a box.
import Foundation
import LatticeGeometry
import LatticeTensor

/// How supersampled images are reduced to the output size.
public enum DownsampleFilter: Sendable {
    /// Mean of each factor x factor block.
    case box
    /// PyTorch `interpolate(mode='bilinear', align_corners=False, antialias=True)`: a triangle
    /// filter stretched by the scale (8 taps per axis for ssaa 4), as TRELLIS uses.
    case antialiasedBilinear
}

/// One output sample's source taps along an axis.
struct ResampleTaps {
    var start: [Int]
    var weights: [[Float]]
}

/// Separable weights taking `input` samples to `output` along one axis.
func resampleTaps(input: Int, output: Int, filter: DownsampleFilter) -> ResampleTaps {
    var start: [Int] = []
    var weights: [[Float]] = []
    switch filter {
    case .box:
        let k = input / output
        for i in 0..<output {
            start.append(i * k)
            weights.append([Float](repeating: 1 / Float(k), count: k))
        }
    case .antialiasedBilinear:
        // PyTorch's _compute_weights_aa in float: support = scale for a downscale.
        let scale = Float(input) / Float(output)
        let support = scale >= 1 ? scale : 1
        let invScale: Float = scale >= 1 ? 1 / scale : 1
        for i in 0..<output {
            let center = scale * (Float(i) + 0.5)
            let lo = max(Int(center - support + 0.5), 0)
            let size = min(Int(center + support + 0.5), input) - lo
            var w = (0..<size).map { j -> Float in
                let x = abs((Float(j + lo) - center + 0.5) * invScale)
                return x < 1 ? 1 - x : 0
            }
            let total = w.reduce(0, +)
            if total != 0 { w = w.map { $0 / total } }
            start.append(lo)
            weights.append(w)
        }
    }
    return ResampleTaps(start: start, weights: weights)
}

/// Resizes an [H, W, C] image to [outHeight, outWidth, C] (width pass, then height pass).
public func downsampleImage(
    _ pixels: [Float], width: Int, height: Int, channels c: Int, outWidth: Int, outHeight: Int,
    filter: DownsampleFilter
) -> [Float] {
    let tx = resampleTaps(input: width, output: outWidth, filter: filter)
    let ty = resampleTaps(input: height, output: outHeight, filter: filter)
    var mid = [Float](repeating: 0, count: height * outWidth * c)  // [H, W', C]
    var out = [Float](repeating: 0, count: outHeight * outWidth * c)  // [H', W', C]
    pixels.withUnsafeBufferPointer { srcB in
        mid.withUnsafeMutableBufferPointer { midB in
            out.withUnsafeMutableBufferPointer { outB in
                let (src, m, o) = (srcB.baseAddress!, midB.baseAddress!, outB.baseAddress!)
                // Rows are independent in each pass; every output is summed in a fixed order.
                Parallel.forRange(height, grain: 32) { rows in
                    for y in rows {
                        for x in 0..<outWidth {
                            for (j, w) in tx.weights[x].enumerated() {
                                let from = (y * width + tx.start[x] + j) * c
                                for ch in 0..<c {
                                    m[(y * outWidth + x) * c + ch] += w * src[from + ch]
                                }
                            }
                        }
                    }
                }
                Parallel.forRange(outHeight, grain: 8) { rows in
                    for y in rows {
                        for (j, w) in ty.weights[y].enumerated() {
                            let row = (ty.start[y] + j) * outWidth * c
                            for k in 0..<(outWidth * c) {
                                o[y * outWidth * c + k] += w * m[row + k]
                            }
                        }
                    }
                }
            }
        }
    }
    return out
}

/// The transpose of `downsampleImage` (its backward pass): [outH, outW, C] -> [H, W, C].
func downsampleImageTranspose(
    _ grad: [Float], width: Int, height: Int, channels c: Int, outWidth: Int, outHeight: Int,
    filter: DownsampleFilter
) -> [Float] {
    let tx = resampleTaps(input: width, output: outWidth, filter: filter)
    let ty = resampleTaps(input: height, output: outHeight, filter: filter)
    var mid = [Float](repeating: 0, count: height * outWidth * c)
    for y in 0..<outHeight {
        for (j, w) in ty.weights[y].enumerated() {
            let dstRow = (ty.start[y] + j) * outWidth * c
            for k in 0..<(outWidth * c) { mid[dstRow + k] += w * grad[y * outWidth * c + k] }
        }
    }
    var out = [Float](repeating: 0, count: height * width * c)
    for y in 0..<height {
        for x in 0..<outWidth {
            for (j, w) in tx.weights[x].enumerated() {
                let dst = (y * width + tx.start[x] + j) * c
                for ch in 0..<c { out[dst + ch] += w * mid[(y * outWidth + x) * c + ch] }
            }
        }
    }
    return out
}

/// Differentiable `downsampleImage` on an [H, W, C] tensor.
public func downsampleImage(
    _ image: Tensor, outWidth: Int, outHeight: Int, filter: DownsampleFilter
) -> Tensor {
    precondition(image.rank == 3, "downsampleImage: image \(image.shape), expected [H, W, C]")
    let (h, w, c) = (image.shape[0], image.shape[1], image.shape[2])
    let out = Tensor(
        downsampleImage(
            image.contiguous().toFloats(), width: w, height: h, channels: c, outWidth: outWidth,
            outHeight: outHeight, filter: filter),
        shape: [outHeight, outWidth, c])  // [H', W', C]
    return Tensor.record("downsampleImage", output: out, inputs: [image]) { g in
        let back = downsampleImageTranspose(
            g.contiguous().toFloats(), width: w, height: h, channels: c, outWidth: outWidth,
            outHeight: outHeight, filter: filter)
        return [Tensor(back, shape: [h, w, c])]  // [H, W, C]
    }
}

/// MeshRenderer options (TRELLIS `render_frames` mesh defaults: 512 px, near 1, far 100, ssaa 4).
public struct MeshRenderSettings: Sendable {
    public var width: Int
    public var height: Int
    public var near: Float
    public var far: Float
    /// Supersampling factor: the raster is ssaa·width x ssaa·height.
    public var ssaa: Int
    public var filter: DownsampleFilter

    public init(
        width: Int = 512, height: Int = 512, near: Float = 1, far: Float = 100, ssaa: Int = 4,
        filter: DownsampleFilter = .antialiasedBilinear
    ) {
        self.width = width
        self.height = height
        self.near = near
        self.far = far
        self.ssaa = ssaa
        self.filter = filter
    }
}

/// What `renderMesh` returns, all at the output size.
public struct MeshRenderResult: Sendable {
    /// Coverage, 1 channel.
    public var mask: RasterImage
    /// [H, W] camera-space depth (z), 0 where empty (not in [0, 1], hence not an image).
    public var depth: [Float]
    /// World-space face normals as (n + 1) / 2; empty pixels are 0.5 as upstream's.
    public var normal: RasterImage
    /// [H, W, C] interpolated vertex attributes (C = `attributeChannels`), 0 where empty.
    public var attributes: [Float]
    public var attributeChannels: Int
    /// The supersampled raster (triangle ids, barycentrics).
    public var raster: TriangleRaster
}

/// Renders `mesh` from world-to-camera `extrinsics` and normalised `intrinsics` like TRELLIS's
/// MeshRenderer. `attributes` [V, C] default to the mesh's vertex colours (or none).
public func renderMesh(
    _ mesh: TriangleMesh, extrinsics: Matrix4, intrinsics: Matrix3,
    settings: MeshRenderSettings = MeshRenderSettings(),
    attributes: (values: [Float], channels: Int)? = nil
) throws -> MeshRenderResult {
    guard settings.width > 0, settings.height > 0, settings.ssaa >= 1 else {
        throw LatticeError(
            .invalidArgument,
            "renderMesh: size \(settings.width)x\(settings.height), ssaa \(settings.ssaa)")
    }
    guard extrinsics.count == 16, intrinsics.count == 9 else {
        throw LatticeError(
            .shapeMismatch,
            "renderMesh: extrinsics \(extrinsics.count) values (expected 16), intrinsics "
                + "\(intrinsics.count) (expected 9)")
    }
    guard settings.near > 0, settings.far > settings.near else {
        throw LatticeError(
            .invalidArgument, "renderMesh: near \(settings.near), far \(settings.far)")
    }
    let attrs =
        attributes
        ?? mesh.vertexColors.map { (values: $0.flatMap { [$0.x, $0.y, $0.z] }, channels: 3) }
        ?? (values: [], channels: 0)
    guard attrs.values.count == attrs.channels * mesh.vertices.count else {
        throw LatticeError(
            .shapeMismatch,
            "renderMesh: \(attrs.values.count) attribute values for \(mesh.vertices.count) "
                + "vertices x \(attrs.channels) channels")
    }
    let (w, h, s) = (settings.width, settings.height, settings.ssaa)
    let clip = clipSpacePositions(
        mesh.vertices, extrinsics: extrinsics, intrinsics: intrinsics, near: settings.near,
        far: settings.far)
    let raster = try rasterizeTriangles(
        clipPositions: clip, faces: mesh.faces, width: w * s, height: h * s)
    let zRow = SIMD4(extrinsics[8], extrinsics[9], extrinsics[10], extrinsics[11])
    let cameraZ = mesh.vertices.map { (zRow * SIMD4($0.x, $0.y, $0.z, 1)).sum() }
    let normals = faceNormals(vertices: mesh.vertices, faces: mesh.faces)
    let n = w * s * h * s
    var maskHi = [Float](repeating: 0, count: n)
    var normalHi = [Float](repeating: 0.5, count: n * 3)
    maskHi.withUnsafeMutableBufferPointer { mB in
        normalHi.withUnsafeMutableBufferPointer { nB in
            let (m, nrm) = (mB.baseAddress!, nB.baseAddress!)
            Parallel.forRange(n, grain: 16384) { range in
                for i in range where raster.triangleIds[i] >= 0 {
                    m[i] = 1
                    let fn = normals[Int(raster.triangleIds[i])]
                    for k in 0..<3 { nrm[i * 3 + k] = (fn[k] + 1) / 2 }
                }
            }
        }
    }
    let depthHi = interpolateAttributes(cameraZ, channels: 1, faces: mesh.faces, raster: raster)
    let attrHi =
        attrs.channels > 0
        ? interpolateAttributes(
            attrs.values, channels: attrs.channels, faces: mesh.faces, raster: raster) : []
    func down(_ x: [Float], _ c: Int) -> [Float] {
        s == 1
            ? x
            : downsampleImage(
                x, width: w * s, height: h * s, channels: c, outWidth: w, outHeight: h,
                filter: settings.filter)
    }
    return MeshRenderResult(
        mask: RasterImage(width: w, height: h, channels: 1, pixels: down(maskHi, 1)),
        depth: down(depthHi, 1),
        normal: RasterImage(width: w, height: h, channels: 3, pixels: down(normalHi, 3)),
        attributes: attrs.channels > 0 ? down(attrHi, attrs.channels) : [],
        attributeChannels: attrs.channels, raster: raster)
}

/// Differentiable attribute render: `attributes` [V, C] -> [H, W, C] at the output size
/// (rasterize at ssaa×, interpolate, filter down). Gradients flow to the attributes only.
public func renderMeshAttributes(
    _ mesh: TriangleMesh, attributes: Tensor, extrinsics: Matrix4, intrinsics: Matrix3,
    settings: MeshRenderSettings = MeshRenderSettings()
) throws -> Tensor {
    guard attributes.rank == 2, attributes.shape[0] == mesh.vertices.count else {
        throw LatticeError(
            .shapeMismatch,
            "renderMeshAttributes: attributes \(attributes.shape), expected [\(mesh.vertices.count), C]"
        )
    }
    let (w, h, s) = (settings.width, settings.height, settings.ssaa)
    let clip = clipSpacePositions(
        mesh.vertices, extrinsics: extrinsics, intrinsics: intrinsics, near: settings.near,
        far: settings.far)
    let raster = try rasterizeTriangles(
        clipPositions: clip, faces: mesh.faces, width: w * s, height: h * s)
    let hi = interpolateAttributes(attributes, faces: mesh.faces, raster: raster)  // [sH, sW, C]
    return s == 1 ? hi : downsampleImage(hi, outWidth: w, outHeight: h, filter: settings.filter)
}
