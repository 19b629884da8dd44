// Image resampling that reproduces Pillow's `Image.resize` (src/libImaging/Resample.c, Pillow
// 13.0: separable convolution, support scaled by the downscale factor, horizontal pass first),
// bit-exact on 8-bit images (22-bit fixed-point coefficients, RGBA/LA premultiplied like
// Pillow's RGBa/La round trip) and in double precision on float images; plus crop, pad, alpha
// premultiply, compositing over a colour and the alpha bounding box.
import Foundation
import LatticeGeometry
import LatticeTensor

/// Resampling filters of `Image.resize`.
public enum ResampleFilter: String, Sendable, CaseIterable {
    /// Triangle filter, support 1.
    case bilinear
    /// Keys cubic with a = -0.5, support 2.
    case bicubic
    /// Lanczos windowed sinc, support 3.
    case lanczos

    var support: Double {
        switch self {
        case .bilinear: 1
        case .bicubic: 2
        case .lanczos: 3
        }
    }

    func weight(_ x: Double) -> Double {
        switch self {
        case .bilinear:
            let a = abs(x)
            return a < 1 ? 1 - a : 0
        case .bicubic:
            let a = -0.5
            let t = abs(x)
            if t < 1 { return ((a + 2) * t - (a + 3)) * t * t + 1 }
            if t < 2 { return (((t - 5) * t + 8) * t - 4) * a }
            return 0
        case .lanczos:
            guard x > -3, x < 3 else { return 0 }
            func sinc(_ v: Double) -> Double {
                if v == 0 { return 1 }
                let p = v * Double.pi
                return sin(p) / p
            }
            return sinc(x) * sinc(x / 3)
        }
    }
}

/// Per output sample: the first input index, the tap count and `kernelSize` normalised weights.
struct ResampleCoefficients {
    var kernelSize: Int
    var starts: [Int]
    var counts: [Int]
    var weights: [Double]  // [outSize, kernelSize]

    init(inSize: Int, outSize: Int, filter: ResampleFilter) {
        let scale = Double(inSize) / Double(outSize)
        let filterScale = max(scale, 1)
        let support = filter.support * filterScale
        kernelSize = Int(support.rounded(.up)) * 2 + 1
        starts = []
        counts = []
        weights = [Double](repeating: 0, count: outSize * kernelSize)
        for xx in 0..<outSize {
            let center = (Double(xx) + 0.5) * scale
            // Pillow truncates toward zero with a C cast, then clamps.
            let xmin = max(Int(center - support + 0.5), 0)
            let xmax = min(Int(center + support + 0.5), inSize) - xmin
            var total = 0.0
            for x in 0..<max(xmax, 0) {
                let w = filter.weight((Double(x + xmin) - center + 0.5) / filterScale)
                weights[xx * kernelSize + x] = w
                total += w
            }
            if total != 0 {
                for x in 0..<max(xmax, 0) { weights[xx * kernelSize + x] /= total }
            }
            starts.append(xmin)
            counts.append(max(xmax, 0))
        }
    }

    /// Pillow's 8-bit fixed-point weights: round half away from zero at 22 fractional bits.
    var fixedPoint: [Int32] {
        weights.map { w in
            let s = w * Double(1 << ImageOps.precisionBits)
            return Int32(w < 0 ? (s - 0.5).rounded(.towardZero) : (s + 0.5).rounded(.towardZero))
        }
    }
}

/// Image operations on `PixelImage` (integer, Pillow-exact) and `RasterImage` (float).
public enum ImageOps {
    static let precisionBits = 32 - 8 - 2

    /// Resizes an image as Pillow's `Image.resize((width, height), filter)` does. 8-bit images
    /// match Pillow bit for bit (RGBA and gray+alpha are premultiplied around the resize as
    /// Pillow does); 16-bit images go through the float path and are rounded.
    public static func resize(
        _ image: PixelImage, width: Int, height: Int, filter: ResampleFilter = .lanczos
    ) -> PixelImage {
        precondition(width > 0 && height > 0, "resize: target size \(width)x\(height)")
        if width == image.width && height == image.height { return image }
        if image.bitDepth == 16 {
            let r = resize(image.raster, width: width, height: height, filter: filter)
            return PixelImage(r, bitDepth: 16)
        }
        let c = image.channels
        var src = image.samples.map { UInt8(truncatingIfNeeded: $0) }
        let hasAlpha = c == 2 || c == 4
        if hasAlpha { premultiply8(&src, channels: c) }
        let horizontal = ResampleCoefficients(inSize: image.width, outSize: width, filter: filter)
        let vertical = ResampleCoefficients(inSize: image.height, outSize: height, filter: filter)
        var rows = image.height
        var cols = image.width
        var firstRow = 0
        var vStarts = vertical.starts
        if width != image.width {
            // Only the rows the vertical pass reads are resampled horizontally.
            if height != image.height {
                firstRow = vertical.starts[0]
                let last = vertical.starts[height - 1] + vertical.counts[height - 1]
                vStarts = vStarts.map { $0 - firstRow }
                rows = last - firstRow
            }
            src = pass8(
                src, lines: rows, lineOffset: firstRow, inLength: image.width, channels: c,
                coefficients: horizontal, horizontal: true, inWidth: image.width)
            cols = width
        }
        if height != image.height {
            var v = vertical
            v.starts = vStarts
            src = pass8(
                src, lines: height, lineOffset: 0, inLength: rows, channels: c,
                coefficients: v, horizontal: false, inWidth: cols)
        }
        if hasAlpha { unpremultiply8(&src, channels: c) }
        return PixelImage(width: width, height: height, channels: c, bytes: src)
    }

    /// One separable 8-bit pass. Horizontal: `lines` rows from `lineOffset`, each `inLength`
    /// wide, become rows of `coefficients.starts.count` pixels. Vertical: `inLength` rows of
    /// `inWidth` pixels become `lines` rows.
    static func pass8(
        _ src: [UInt8], lines: Int, lineOffset: Int, inLength: Int, channels c: Int,
        coefficients k: ResampleCoefficients, horizontal: Bool, inWidth: Int
    ) -> [UInt8] {
        let kk = k.fixedPoint
        let outLength = k.starts.count
        let ks = k.kernelSize
        let outWidth = horizontal ? outLength : inWidth
        let outRows = horizontal ? lines : outLength
        var out = [UInt8](repeating: 0, count: outWidth * outRows * c)
        let half = Int32(1 << (precisionBits - 1))
        @inline(__always) func clip8(_ v: Int32) -> UInt8 {
            if v >= Int32(1 << precisionBits) << 8 { return 255 }
            if v <= 0 { return 0 }
            return UInt8(v >> Int32(precisionBits))
        }
        src.withUnsafeBufferPointer { s in
            kk.withUnsafeBufferPointer { w in
                out.withUnsafeMutableBufferPointer { o in
                    let so = UncheckedSendable(s)
                    let wo = UncheckedSendable(w)
                    let oo = UncheckedSendable(o)
                    Parallel.forRange(outRows, grain: 16) { range in
                        let s = so.value
                        let w = wo.value
                        let o = oo.value
                        for y in range {
                            for x in 0..<outWidth {
                                let j = horizontal ? x : y
                                let start = k.starts[j]
                                let n = k.counts[j]
                                for ch in 0..<c {
                                    // Pillow accumulates in 32-bit ints starting from one half.
                                    var acc = half
                                    if horizontal {
                                        let row = (y + lineOffset) * inWidth
                                        for t in 0..<n {
                                            acc &+=
                                                Int32(s[(row + start + t) * c + ch])
                                                &* w[j * ks + t]
                                        }
                                    } else {
                                        for t in 0..<n {
                                            acc &+=
                                                Int32(s[((start + t) * inWidth + x) * c + ch])
                                                &* w[j * ks + t]
                                        }
                                    }
                                    o[(y * outWidth + x) * c + ch] = clip8(acc)
                                }
                            }
                        }
                    }
                }
            }
        }
        return out
    }

    /// Pillow's RGBA -> RGBa: colour times alpha / 255, rounded as MULDIV255.
    static func premultiply8(_ p: inout [UInt8], channels c: Int) {
        for i in stride(from: 0, to: p.count, by: c) {
            let a = UInt32(p[i + c - 1])
            for ch in 0..<(c - 1) {
                let t = UInt32(p[i + ch]) * a + 128
                p[i + ch] = UInt8(((t >> 8) + t) >> 8)
            }
        }
    }

    /// Pillow's RGBa -> RGBA: colour * 255 / alpha, truncated and clipped (alpha 0/255 kept).
    static func unpremultiply8(_ p: inout [UInt8], channels c: Int) {
        for i in stride(from: 0, to: p.count, by: c) {
            let a = UInt32(p[i + c - 1])
            if a == 0 || a == 255 { continue }
            for ch in 0..<(c - 1) { p[i + ch] = UInt8(min(255, 255 * UInt32(p[i + ch]) / a)) }
        }
    }

    /// Resizes a float image channel by channel as Pillow does for mode "F" (double-precision
    /// weights, float32 intermediate); no premultiplication.
    public static func resize(
        _ image: RasterImage, width: Int, height: Int, filter: ResampleFilter = .lanczos
    ) -> RasterImage {
        precondition(width > 0 && height > 0, "resize: target size \(width)x\(height)")
        if width == image.width && height == image.height { return image }
        let c = image.channels
        var src = image.pixels
        var w = image.width
        var h = image.height
        if width != w {
            let k = ResampleCoefficients(inSize: w, outSize: width, filter: filter)
            var out = [Float](repeating: 0, count: width * h * c)
            for y in 0..<h {
                for x in 0..<width {
                    for ch in 0..<c {
                        var acc = 0.0
                        for t in 0..<k.counts[x] {
                            acc +=
                                Double(src[(y * w + k.starts[x] + t) * c + ch])
                                * k.weights[x * k.kernelSize + t]
                        }
                        out[(y * width + x) * c + ch] = Float(acc)
                    }
                }
            }
            src = out
            w = width
        }
        if height != h {
            let k = ResampleCoefficients(inSize: h, outSize: height, filter: filter)
            var out = [Float](repeating: 0, count: w * height * c)
            for y in 0..<height {
                for x in 0..<w {
                    for ch in 0..<c {
                        var acc = 0.0
                        for t in 0..<k.counts[y] {
                            acc +=
                                Double(src[((k.starts[y] + t) * w + x) * c + ch])
                                * k.weights[y * k.kernelSize + t]
                        }
                        out[(y * w + x) * c + ch] = Float(acc)
                    }
                }
            }
            src = out
            h = height
        }
        return RasterImage(width: w, height: h, channels: c, pixels: src)
    }

    /// The pixels in columns `x0..<x1`, rows `y0..<y1`; parts outside the image are zero (as
    /// Pillow's `crop`, which takes Python-`round`ed box coordinates).
    public static func crop(_ image: PixelImage, x0: Int, y0: Int, x1: Int, y1: Int) -> PixelImage {
        let w = max(0, x1 - x0)
        let h = max(0, y1 - y0)
        let c = image.channels
        var out = [UInt16](repeating: 0, count: w * h * c)
        for y in 0..<h where (0..<image.height).contains(y + y0) {
            for x in 0..<w where (0..<image.width).contains(x + x0) {
                for ch in 0..<c { out[(y * w + x) * c + ch] = image[x + x0, y + y0, ch] }
            }
        }
        return PixelImage(width: w, height: h, channels: c, bitDepth: image.bitDepth, samples: out)
    }

    /// The float-image twin of `crop(_:x0:y0:x1:y1:)`.
    public static func crop(_ image: RasterImage, x0: Int, y0: Int, x1: Int, y1: Int) -> RasterImage
    {
        let w = max(0, x1 - x0)
        let h = max(0, y1 - y0)
        let c = image.channels
        var out = RasterImage(width: w, height: h, channels: c)
        for y in 0..<h where (0..<image.height).contains(y + y0) {
            for x in 0..<w where (0..<image.width).contains(x + x0) {
                for ch in 0..<c { out[x, y, ch] = image[x + x0, y + y0, ch] }
            }
        }
        return out
    }

    /// Pads with `value` (per channel, or one value for all) on each side.
    public static func pad(
        _ image: RasterImage, left: Int, top: Int, right: Int, bottom: Int, value: [Float] = [0]
    ) -> RasterImage {
        let c = image.channels
        let w = image.width + left + right
        let h = image.height + top + bottom
        var out = RasterImage(width: w, height: h, channels: c)
        for y in 0..<h {
            for x in 0..<w {
                let sx = x - left
                let sy = y - top
                let inside = (0..<image.width).contains(sx) && (0..<image.height).contains(sy)
                for ch in 0..<c {
                    out[x, y, ch] =
                        inside ? image[sx, sy, ch] : value[min(ch, value.count - 1)]
                }
            }
        }
        return out
    }

    /// Pads to a centred square (the longer side), filling with `value`.
    public static func padToSquare(_ image: RasterImage, value: [Float] = [0]) -> RasterImage {
        let s = max(image.width, image.height)
        let l = (s - image.width) / 2
        let t = (s - image.height) / 2
        return pad(
            image, left: l, top: t, right: s - image.width - l, bottom: s - image.height - t,
            value: value)
    }

    /// Multiplies colour by alpha (RGBA or gray+alpha; other images are returned unchanged).
    public static func premultiplyAlpha(_ image: RasterImage) -> RasterImage {
        let c = image.channels
        guard c == 2 || c == 4 else { return image }
        var out = image
        for i in stride(from: 0, to: out.pixels.count, by: c) {
            for ch in 0..<(c - 1) { out.pixels[i + ch] *= out.pixels[i + c - 1] }
        }
        return out
    }

    /// Composites an image with alpha over an opaque colour: `rgb * a + background * (1 - a)`,
    /// dropping the alpha channel (RGBA -> RGB, gray+alpha -> gray).
    public static func composite(_ image: RasterImage, over background: [Float]) -> RasterImage {
        let c = image.channels
        guard c == 2 || c == 4 else { return image }
        let oc = c - 1
        var out = RasterImage(width: image.width, height: image.height, channels: oc)
        for p in 0..<(image.width * image.height) {
            let a = image.pixels[p * c + oc]
            for ch in 0..<oc {
                let bg = background[min(ch, background.count - 1)]
                out.pixels[p * oc + ch] = image.pixels[p * c + ch] * a + bg * (1 - a)
            }
        }
        return out
    }

    /// The inclusive pixel box (minX, minY, maxX, maxY) of samples whose alpha exceeds
    /// `threshold` (in [0, 1]), or nil when none do or the image has no alpha.
    public static func alphaBoundingBox(_ image: RasterImage, threshold: Float = 0) -> (
        minX: Int, minY: Int, maxX: Int, maxY: Int
    )? {
        let c = image.channels
        guard c == 2 || c == 4 else { return nil }
        var lo = (Int.max, Int.max)
        var hi = (-1, -1)
        for y in 0..<image.height {
            for x in 0..<image.width where image[x, y, c - 1] > threshold {
                lo = (min(lo.0, x), min(lo.1, y))
                hi = (max(hi.0, x), max(hi.1, y))
            }
        }
        return hi.0 < 0 ? nil : (lo.0, lo.1, hi.0, hi.1)
    }
}

/// Carries non-Sendable buffers into `Parallel` workers that touch disjoint ranges.
struct UncheckedSendable<T>: @unchecked Sendable {
    let value: T
    init(_ value: T) { self.value = value }
}
