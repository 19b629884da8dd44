// The extract_feature step of TRELLIS's data toolkit (TRELLIS@6b0d647
// dataset_toolkits/extract_feature.py): per-view feature images, and per-voxel features made by
// projecting each voxel centre into every view and averaging bilinear samples
// (`grid_sample(align_corners=False)`, zero padding). Two extractors: DINOv2 patch tokens as
// upstream, and `ColorContextFeatureExtractor`, a cheap pure-Swift stand-in for quick training.
import Foundation
import LatticeGeometry
import LatticeIO
import LatticeModels
import LatticeTensor

/// A per-view feature image.
public struct FeatureMap: Sendable {
    public var width: Int
    public var height: Int
    public var channels: Int
    /// [H, W, C].
    public var values: [Float]

    public init(width: Int, height: Int, channels: Int, values: [Float]) {
        self.width = width
        self.height = height
        self.channels = channels
        self.values = values
    }
}

/// Turns rendered views into feature images whose samples are averaged onto voxels.
public protocol ViewFeatureExtractor: AnyObject {
    /// Name stored in the dataset manifest (a rerun must use the same extractor).
    var name: String { get }
    /// Feature channels C.
    var channels: Int { get }
    /// Whether a view only contributes to voxels it sees (depth test against the render);
    /// upstream (DINOv2) averages over all views with no test.
    var visibilityTest: Bool { get }
    /// One feature map per view.
    func featureMaps(_ views: [RenderedDatasetView]) throws -> [FeatureMap]
}

// MARK: - Projection and averaging

/// Accumulates per-voxel feature averages over views, a batch of views at a time.
public struct VoxelFeatureAccumulator {
    public let centres: [SIMD3<Float>]
    public let channels: Int
    /// Depth slack of the visibility test: a voxel's centre lies within half a voxel diagonal of
    /// the surface it was made from; one full diagonal leaves room for the depth's pixel footprint.
    public let depthTolerance: Float
    let visibility: Bool
    var all: [Float]
    var visible: [Float]
    var visibleCount: [Int32]
    var viewCount = 0

    /// An accumulator for voxels `coords` of an R³ grid over [-0.5, 0.5]³.
    public init(coords: [SIMD3<Int32>], resolution: Int, channels: Int, visibilityTest: Bool) {
        centres = Voxelizer.voxelCentres(coords, resolution: resolution)
        self.channels = channels
        visibility = visibilityTest
        depthTolerance = Float(3).squareRoot() / Float(resolution)
        all = [Float](repeating: 0, count: coords.count * channels)
        visible = visibilityTest ? all : []
        visibleCount = [Int32](repeating: 0, count: visibilityTest ? coords.count : 0)
    }

    /// Adds one view's samples.
    public mutating func add(_ view: RenderedDatasetView, _ map: FeatureMap) {
        precondition(map.channels == channels, "feature map has \(map.channels) channels")
        viewCount += 1
        let e = view.view.extrinsics
        let k = view.view.intrinsics
        let c = channels
        let (w, h) = (map.width, map.height)
        let (dw, dh) = (view.view.width, view.view.height)
        let test = visibility
        let tolerance = depthTolerance
        centres.withUnsafeBufferPointer { ctr in
            map.values.withUnsafeBufferPointer { fm in
                view.depth.withUnsafeBufferPointer { depth in
                    all.withUnsafeMutableBufferPointer { allB in
                        visible.withUnsafeMutableBufferPointer { visB in
                            visibleCount.withUnsafeMutableBufferPointer { cnt in
                                Parallel.forRange(ctr.count, grain: 512) { range in
                                    var sample = [Float](repeating: 0, count: c)
                                    for i in range {
                                        let p = ctr[i]
                                        let x = e[0] * p.x + e[1] * p.y + e[2] * p.z + e[3]
                                        let y = e[4] * p.x + e[5] * p.y + e[6] * p.z + e[7]
                                        let z = e[8] * p.x + e[9] * p.y + e[10] * p.z + e[11]
                                        guard z > 1e-6 else { continue }
                                        // utils3d project_cv: uv in [0, 1] of the image.
                                        let u = (k[0] * x + k[1] * y) / z + k[2]
                                        let v = (k[4] * y) / z + k[5]
                                        bilinearSample(
                                            fm.baseAddress!, width: w, height: h, channels: c,
                                            x: u * Float(w) - 0.5, y: v * Float(h) - 0.5,
                                            into: &sample)
                                        for j in 0..<c { allB[i * c + j] += sample[j] }
                                        guard test else { continue }
                                        let px = Int((u * Float(dw)).rounded(.down))
                                        let py = Int((v * Float(dh)).rounded(.down))
                                        var seen = true
                                        if px >= 0, py >= 0, px < dw, py < dh {
                                            let d = depth[py * dw + px]
                                            // An empty pixel: the centre falls just outside the
                                            // silhouette, so nothing hides it.
                                            let pixel = z / (k[0] * Float(dw))
                                            if d > 0, z > d + tolerance + pixel { seen = false }
                                        }
                                        if seen {
                                            cnt[i] += 1
                                            for j in 0..<c { visB[i * c + j] += sample[j] }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }

    /// [N, C] averages: over the views that see each voxel when the test is on (all views for
    /// a voxel no view sees), else over all views as upstream.
    public func result() -> [Float] {
        guard viewCount > 0 else { return all }
        var out = all.map { $0 / Float(viewCount) }
        if visibility {
            for i in 0..<centres.count where visibleCount[i] > 0 {
                let n = Float(visibleCount[i])
                for j in 0..<channels { out[i * channels + j] = visible[i * channels + j] / n }
            }
        }
        return out
    }
}

/// `grid_sample(bilinear, align_corners=False, padding_mode='zeros')` at pixel coordinates
/// (x, y) (pixel centres at integers) of an [H, W, C] map.
@inline(__always)
func bilinearSample(
    _ map: UnsafePointer<Float>, width w: Int, height h: Int, channels c: Int, x: Float, y: Float,
    into out: inout [Float]
) {
    for j in 0..<c { out[j] = 0 }
    let x0 = Int(x.rounded(.down))
    let y0 = Int(y.rounded(.down))
    let fx = x - Float(x0)
    let fy = y - Float(y0)
    for (yy, wy) in [(y0, 1 - fy), (y0 + 1, fy)] where yy >= 0 && yy < h {
        for (xx, wx) in [(x0, 1 - fx), (x0 + 1, fx)] where xx >= 0 && xx < w {
            let wgt = wx * wy
            let base = (yy * w + xx) * c
            for j in 0..<c { out[j] += wgt * map[base + j] }
        }
    }
}

// MARK: - Lightweight extractor

/// A 16-channel feature of colour and local context, cheap enough for quick training without
/// DINOv2. Per pixel of the premultiplied RGBA image P (size S):
/// 0-3 P; 4-7 P blurred with sigma S/64 (≥ 1 px); 8-11 P blurred with sigma S/16 (≥ 2 px);
/// 12 |∇Y| and 13 |∇A| of P (central differences, Y = Rec.601 luma); 14-15 the same on the first
/// blur, times its sigma (scale-normalised). Blurs are three box passes per axis (≈ Gaussian).
/// Gradient magnitudes do not depend on the view's orientation, so they survive averaging.
/// It uses the visibility test, so a voxel takes the colour of the surface it lies on rather
/// than a mix with the far side.
public final class ColorContextFeatureExtractor: ViewFeatureExtractor {
    public let name = "color-context-16"
    public let channels = 16
    public let visibilityTest: Bool

    public init(visibilityTest: Bool = true) { self.visibilityTest = visibilityTest }

    public func featureMaps(_ views: [RenderedDatasetView]) throws -> [FeatureMap] {
        views.map { map($0.view) }
    }

    func map(_ view: TrainingView) -> FeatureMap {
        let (w, h) = (view.width, view.height)
        let n = w * h
        var p = [Float](repeating: 0, count: n * 4)  // [H, W, 4] premultiplied
        for i in 0..<n {
            let a = view.rgba[i * 4 + 3]
            for k in 0..<3 { p[i * 4 + k] = view.rgba[i * 4 + k] * a }
            p[i * 4 + 3] = a
        }
        let size = Float(max(w, h))
        let sigma1 = max(1, size / 64)
        let sigma2 = max(2, size / 16)
        let b1 = boxBlur3(p, width: w, height: h, channels: 4, sigma: sigma1)
        let b2 = boxBlur3(p, width: w, height: h, channels: 4, sigma: sigma2)
        let g0 = gradientMagnitudes(p, width: w, height: h)
        let g1 = gradientMagnitudes(b1, width: w, height: h)
        var out = [Float](repeating: 0, count: n * 16)  // [H, W, 16]
        for i in 0..<n {
            for k in 0..<4 {
                out[i * 16 + k] = p[i * 4 + k]
                out[i * 16 + 4 + k] = b1[i * 4 + k]
                out[i * 16 + 8 + k] = b2[i * 4 + k]
            }
            out[i * 16 + 12] = g0[i * 2]
            out[i * 16 + 13] = g0[i * 2 + 1]
            out[i * 16 + 14] = g1[i * 2] * sigma1
            out[i * 16 + 15] = g1[i * 2 + 1] * sigma1
        }
        return FeatureMap(width: w, height: h, channels: 16, values: out)
    }
}

/// Three box passes per axis with zero padding; width 2r + 1 chosen so the variance
/// 3·((2r + 1)² - 1)/12 is close to sigma².
func boxBlur3(_ x: [Float], width w: Int, height h: Int, channels c: Int, sigma: Float) -> [Float] {
    let r = max(1, Int(((4 * sigma * sigma + 1).squareRoot() - 1) / 2 + 0.5))
    var a = x
    var b = [Float](repeating: 0, count: x.count)
    for _ in 0..<3 {
        boxPass(a, &b, count: h, length: w, stride: c, step: w * c, channels: c, radius: r)
        boxPass(b, &a, count: w, length: h, stride: w * c, step: c, channels: c, radius: r)
    }
    return a
}

/// A 1-D running-sum box filter of half-width r along `length` elements `stride` apart, for
/// `count` lines `step` apart.
private func boxPass(
    _ src: [Float], _ dst: inout [Float], count: Int, length: Int, stride s: Int, step: Int,
    channels c: Int, radius r: Int
) {
    let norm = 1 / Float(2 * r + 1)
    src.withUnsafeBufferPointer { srcB in
        dst.withUnsafeMutableBufferPointer { dstB in
            let (x, y) = (srcB.baseAddress!, dstB.baseAddress!)
            Parallel.forRange(count, grain: 16) { lines in
                for line in lines {
                    let base = line * step
                    for ch in 0..<c {
                        var acc: Float = 0
                        for i in 0..<min(r, length) { acc += x[base + i * s + ch] }
                        for i in 0..<length {
                            if i + r < length { acc += x[base + (i + r) * s + ch] }
                            if i - r - 1 >= 0 { acc -= x[base + (i - r - 1) * s + ch] }
                            y[base + i * s + ch] = acc * norm
                        }
                    }
                }
            }
        }
    }
}

/// [H, W, 2]: |∇Y| and |∇A| of a premultiplied RGBA image by central differences.
func gradientMagnitudes(_ p: [Float], width w: Int, height h: Int) -> [Float] {
    var out = [Float](repeating: 0, count: w * h * 2)
    func luma(_ i: Int) -> Float { 0.299 * p[i * 4] + 0.587 * p[i * 4 + 1] + 0.114 * p[i * 4 + 2] }
    for y in 0..<h {
        for x in 0..<w {
            let (l, r) = (y * w + max(x - 1, 0), y * w + min(x + 1, w - 1))
            let (u, d) = (max(y - 1, 0) * w + x, min(y + 1, h - 1) * w + x)
            let i = y * w + x
            let gy = (luma(d) - luma(u)) / 2
            let gx = (luma(r) - luma(l)) / 2
            let ax = (p[r * 4 + 3] - p[l * 4 + 3]) / 2
            let ay = (p[d * 4 + 3] - p[u * 4 + 3]) / 2
            out[i * 2] = (gx * gx + gy * gy).squareRoot()
            out[i * 2 + 1] = (ax * ax + ay * ay).squareRoot()
        }
    }
    return out
}

// MARK: - DINOv2

/// DINOv2 patch tokens as extract_feature.py: each RGBA view is resized to the model's image
/// size (518 for ViT-L/14) with Pillow's LANCZOS, premultiplied on black, ImageNet-normalised;
/// features are `x_prenorm[:, 1 + registers:]` (no final norm) on the patch grid.
public final class DinoV2FeatureExtractor: ViewFeatureExtractor {
    public let model: DinoVisionTransformer
    public let name: String
    public var channels: Int { model.config.embedDim }
    public let visibilityTest = false
    /// Views per forward pass (memory bound).
    public var batchSize: Int

    static let mean: [Float] = [0.485, 0.456, 0.406]
    static let std: [Float] = [0.229, 0.224, 0.225]

    public init(
        model: DinoVisionTransformer, name: String = "dinov2_vitl14_reg", batchSize: Int = 4
    ) {
        self.model = model
        self.name = name
        self.batchSize = max(1, batchSize)
    }

    /// ViT-L/14 with registers from a safetensors file (torch-hub or Hugging Face key layout).
    public convenience init(weights url: URL, batchSize: Int = 4) throws {
        let model = try DinoVisionTransformer(.vitl14Reg)
        try model.load(try SafetensorsFile(url: url).tensors(), source: url.path)
        self.init(model: model, batchSize: batchSize)
    }

    public func featureMaps(_ views: [RenderedDatasetView]) throws -> [FeatureMap] {
        let size = model.config.imgSize
        let grid = size / model.config.patchSize
        let skip = 1 + model.config.numRegisterTokens
        let c = channels
        var maps: [FeatureMap] = []
        for start in stride(from: 0, to: views.count, by: batchSize) {
            let batch = Array(views[start..<min(views.count, start + batchSize)])
            var pixels = [Float](repeating: 0, count: batch.count * 3 * size * size)
            for (b, v) in batch.enumerated() {
                let raster = RasterImage(
                    width: v.view.width, height: v.view.height, channels: 4, pixels: v.view.rgba)
                let resized = ImageOps.resize(
                    PixelImage(raster, bitDepth: 8), width: size, height: size, filter: .lanczos
                ).raster
                for i in 0..<(size * size) {
                    let a = resized.pixels[i * 4 + 3]
                    for k in 0..<3 {
                        let premultiplied = resized.pixels[i * 4 + k] * a
                        pixels[((b * 3 + k) * size * size) + i] =
                            (premultiplied - Self.mean[k]) / Self.std[k]
                    }
                }
            }
            let x = Tensor(pixels, shape: [batch.count, 3, size, size])  // [B, 3, H, W]
            let tokens = try withNoGrad { try model.forwardFeatures(x).xPrenorm }  // [B, T, C]
            let t = tokens.shape[1]
            guard t == skip + grid * grid else {
                throw LatticeError(
                    .shapeMismatch,
                    "DINOv2 features: \(t) tokens, expected \(skip) + \(grid)² patches")
            }
            let values = tokens.contiguous().toFloats()
            for b in 0..<batch.count {
                let from = (b * t + skip) * c
                maps.append(
                    FeatureMap(
                        width: grid, height: grid, channels: c,
                        values: Array(values[from..<(from + grid * grid * c)])))
            }
        }
        return maps
    }
}
