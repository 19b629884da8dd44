// microsoft/TRELLIS@6b0d647:trellis/pipelines/trellis_image_to_3d.py `preprocess_image`: crop the
// object by its alpha (threshold 0.8·255, square of 1.2× the larger side, zero padding outside),
// resize to 518² with Pillow's 8-bit Lanczos, premultiply by alpha and quantise to 8 bits.
// Upstream removes the background with rembg when there is no alpha; Lattice has no segmentation
// model, so an image without transparency needs a mask.
import Foundation
import LatticeGeometry
import LatticeIO
import LatticeTensor

/// TRELLIS's conditioning-image preparation.
public enum ImagePreprocess {
    /// Prepares `image` (8/16-bit, any channel count) for the image conditioner: RGB in [0, 1],
    /// `size`², premultiplied on black. `mask` (same size; its last channel is the alpha, or its
    /// only channel for gray) replaces a missing or fully opaque alpha. `source` names the file.
    public static func prepare(
        _ image: PixelImage, mask: PixelImage? = nil, size: Int = 518, source: String
    ) throws -> RasterImage {
        guard image.width > 0, image.height > 0 else {
            throw LatticeError(.invalidFile, "\(source): the image is empty (0×0)")
        }
        let rgba = try withAlpha(image, mask: mask, source: source)  // 8-bit RGBA
        let cropped = try crop(rgba, source: source)
        let resized = ImageOps.resize(cropped, width: size, height: size, filter: .lanczos)
        // (rgb/255 · a/255) · 255 truncated to uint8, then /255 as the conditioner reads it.
        var pixels = [Float](repeating: 0, count: size * size * 3)
        for y in 0..<size {
            for x in 0..<size {
                let a = Float(resized[x, y, 3]) / 255
                for c in 0..<3 {
                    let v = Float(resized[x, y, c]) / 255 * a
                    pixels[(y * size + x) * 3 + c] = (v * 255).rounded(.towardZero) / 255
                }
            }
        }
        return RasterImage(width: size, height: size, channels: 3, pixels: pixels)
    }

    /// The object's crop of 8-bit RGBA `rgba`: the square of 1.2× the larger side of the bbox of
    /// alpha > 0.8·255, centred on it (zero padding outside).
    static func crop(_ rgba: PixelImage, source: String) throws -> PixelImage {
        let (minX, maxX, minY, maxY) = try alphaBounds(rgba, source: source)
        let box = cropBox(minX: minX, maxX: maxX, minY: minY, maxY: maxY)
        let cropped = ImageOps.crop(rgba, x0: box.x0, y0: box.y0, x1: box.x1, y1: box.y1)
        guard cropped.width > 0, cropped.height > 0 else {
            throw LatticeError(.invalidArgument, "\(source): the object is a single pixel")
        }
        return cropped
    }

    /// Columns and rows spanned by the alpha > 0.8·255 pixels of 8-bit RGBA `rgba`, as numpy
    /// argwhere min/max over (row, col); an error naming `source` when there are none.
    static func alphaBounds(_ rgba: PixelImage, source: String) throws -> (
        minX: Int, maxX: Int, minY: Int, maxY: Int
    ) {
        var (minX, minY, maxX, maxY) = (Int.max, Int.max, -1, -1)
        for y in 0..<rgba.height {
            for x in 0..<rgba.width where Double(rgba[x, y, 3]) > 0.8 * 255 {
                (minX, maxX) = (min(minX, x), max(maxX, x))
                (minY, maxY) = (min(minY, y), max(maxY, y))
            }
        }
        guard maxX >= 0 else {
            throw LatticeError(
                .invalidArgument,
                "\(source): no pixel has alpha above 0.8 (204/255); the object mask is empty")
        }
        return (minX, maxX, minY, maxY)
    }

    /// The crop box (pixel edges, x1/y1 exclusive) of an object whose alpha > 0.8 pixels span
    /// columns minX...maxX and rows minY...maxY: the square of 1.2× the larger side, centred.
    public static func cropBox(minX: Int, maxX: Int, minY: Int, maxY: Int) -> (
        x0: Int, y0: Int, x1: Int, y1: Int
    ) {
        let cx = Double(minX + maxX) / 2
        let cy = Double(minY + maxY) / 2
        let side = Int(Double(max(maxX - minX, maxY - minY)) * 1.2)
        let half = Double(side / 2)
        // PIL's crop rounds the float box with Python's round (half to even).
        func pyRound(_ v: Double) -> Int { Int(v.rounded(.toNearestOrEven)) }
        return (pyRound(cx - half), pyRound(cy - half), pyRound(cx + half), pyRound(cy + half))
    }

    /// The conditioning crop of `image` (alpha, or `mask`) in normalised image coordinates
    /// (u = x / width, v = y / height, as the intrinsics give them).
    public static func cropFrame(_ image: PixelImage, mask: PixelImage? = nil, source: String)
        throws -> (u0: Double, v0: Double, width: Double, height: Double)
    {
        let rgba = try withAlpha(image, mask: mask, source: source)
        let (minX, maxX, minY, maxY) = try alphaBounds(rgba, source: source)
        let b = cropBox(minX: minX, maxX: maxX, minY: minY, maxY: maxY)
        let (w, h) = (Double(rgba.width), Double(rgba.height))
        return (
            Double(b.x0) / w, Double(b.y0) / h, Double(b.x1 - b.x0) / w, Double(b.y1 - b.y0) / h
        )
    }

    /// The alpha (in [0, 1], `size`²) of the crop `prepare` takes: the object mask in the frame
    /// of the conditioning image.
    public static func alphaMask(
        _ image: PixelImage, mask: PixelImage? = nil, size: Int, source: String
    ) throws -> [Float] {
        let rgba = try withAlpha(image, mask: mask, source: source)
        let resized = ImageOps.resize(
            try crop(rgba, source: source), width: size, height: size, filter: .lanczos)
        var out = [Float](repeating: 0, count: size * size)
        for y in 0..<size {
            for x in 0..<size { out[y * size + x] = Float(resized[x, y, 3]) / 255 }
        }
        return out
    }

    /// An 8-bit RGBA copy of `image` with the alpha it (or `mask`) provides.
    static func withAlpha(_ image: PixelImage, mask: PixelImage?, source: String) throws
        -> PixelImage
    {
        let w = image.width
        let h = image.height
        let scale = image.bitDepth == 16 ? 257 : 1
        func sample(_ img: PixelImage, _ x: Int, _ y: Int, _ c: Int) -> UInt16 {
            img[x, y, c] / UInt16(img.bitDepth == 16 ? 257 : 1)
        }
        let hasAlpha = image.channels == 2 || image.channels == 4
        var translucent = false
        if hasAlpha {
            let ac = image.channels - 1
            for y in 0..<h where !translucent {
                for x in 0..<w where Int(image[x, y, ac]) < 255 * scale {
                    translucent = true
                    break
                }
            }
        }
        if !translucent && mask == nil {
            throw LatticeError(
                .invalidArgument,
                "\(source): the image has no transparency, and background removal needs an alpha "
                    + "channel or a mask file (pass --mask MASK.png: white = object); Lattice does "
                    + "not ship upstream's rembg segmentation model")
        }
        if let mask, mask.width != w || mask.height != h {
            throw LatticeError(
                .invalidArgument,
                "\(source): the mask is \(mask.width)×\(mask.height) but the image is \(w)×\(h)")
        }
        // A mask's alpha channel when it has one, else its first (gray or red) channel.
        let maskChannel =
            mask.map { $0.channels == 2 || $0.channels == 4 ? $0.channels - 1 : 0 } ?? 0
        var samples = [UInt16](repeating: 0, count: w * h * 4)
        for y in 0..<h {
            for x in 0..<w {
                let o = (y * w + x) * 4
                let gray = image.channels <= 2
                for c in 0..<3 { samples[o + c] = sample(image, x, y, gray ? 0 : c) }
                if let mask {
                    samples[o + 3] = sample(mask, x, y, maskChannel)
                } else {
                    samples[o + 3] = sample(image, x, y, image.channels - 1)
                }
            }
        }
        return PixelImage(width: w, height: h, channels: 4, bitDepth: 8, samples: samples)
    }

    /// The prepared images as the conditioner's input [K, 3, H, W].
    public static func batch(_ images: [RasterImage]) -> Tensor {
        let tensors = images.map { $0.tensor.permute([2, 0, 1]).unsqueeze(0) }  // [1, 3, H, W]
        return Tensor.cat(tensors, axis: 0).contiguous()  // [K, 3, H, W]
    }
}
