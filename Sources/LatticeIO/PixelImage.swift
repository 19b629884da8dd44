// Integer-sample images (8 or 16 bits per sample) as stored in PNG/JPEG/GIF files, the exact
// counterpart of the Float `RasterImage`, plus format-sniffing image read/write entry points.
import Foundation
import LatticeGeometry
import LatticeTensor

/// A row-major image of `channels` interleaved integer samples per pixel (HWC); `bitDepth` 8
/// means samples in 0...255, 16 means 0...65535.
public struct PixelImage: Sendable, Equatable {
    /// Width in pixels.
    public let width: Int
    /// Height in pixels.
    public let height: Int
    /// Samples per pixel: 1 gray, 2 gray+alpha, 3 RGB, 4 RGBA.
    public let channels: Int
    /// 8 or 16.
    public let bitDepth: Int
    /// `height * width * channels` samples, row by row.
    public var samples: [UInt16]

    /// An image from its samples; the count must be `height * width * channels`.
    public init(width: Int, height: Int, channels: Int, bitDepth: Int = 8, samples: [UInt16]) {
        precondition(
            width >= 0 && height >= 0 && (1...4).contains(channels)
                && (bitDepth == 8 || bitDepth == 16) && samples.count == width * height * channels,
            "PixelImage: \(samples.count) samples for \(width)x\(height)x\(channels)@\(bitDepth)")
        self.width = width
        self.height = height
        self.channels = channels
        self.bitDepth = bitDepth
        self.samples = samples
    }

    /// An 8-bit image from bytes.
    public init(width: Int, height: Int, channels: Int, bytes: [UInt8]) {
        self.init(
            width: width, height: height, channels: channels, bitDepth: 8,
            samples: bytes.map { UInt16($0) })
    }

    /// The largest sample value (255 or 65535).
    public var maxValue: Int { bitDepth == 8 ? 255 : 65535 }

    /// The samples as bytes (8-bit images; 16-bit ones are rounded to 8 bits).
    public var bytes: [UInt8] {
        bitDepth == 8
            ? samples.map { UInt8(truncatingIfNeeded: $0) }
            : samples.map { UInt8((UInt32($0) * 255 + 32767) / 65535) }
    }

    /// Sample `c` of pixel (x, y).
    @inlinable public subscript(x: Int, y: Int, c: Int) -> UInt16 {
        get { samples[(y * width + x) * channels + c] }
        set { samples[(y * width + x) * channels + c] = newValue }
    }

    /// The image with samples scaled to [0, 1].
    public var raster: RasterImage {
        let s = 1 / Float(maxValue)
        return RasterImage(
            width: width, height: height, channels: channels, pixels: samples.map { Float($0) * s })
    }

    /// Quantises a float image (clamped to [0, 1], rounded to nearest) to `bitDepth` bits.
    public init(_ image: RasterImage, bitDepth: Int = 8) {
        let m = Float(bitDepth == 16 ? 65535 : 255)
        self.init(
            width: image.width, height: image.height, channels: image.channels, bitDepth: bitDepth,
            samples: image.pixels.map { UInt16((min(max($0, 0), 1) * m).rounded()) })
    }
}

/// Image file formats LatticeIO reads or writes.
public enum ImageFormat: String, Sendable {
    case png, jpeg, gif

    /// The format named by the first bytes of a file, or nil.
    public static func sniff(_ bytes: [UInt8]) -> ImageFormat? {
        if bytes.starts(with: [0x89, 0x50, 0x4E, 0x47]) { return .png }
        if bytes.starts(with: [0xFF, 0xD8]) { return .jpeg }
        if bytes.starts(with: Array("GIF8".utf8)) { return .gif }
        return nil
    }
}

/// Reads the bytes of a file, throwing a `LatticeError(.io)` naming it on failure.
func readFileBytes(_ url: URL) throws -> [UInt8] {
    do {
        return [UInt8](try Data(contentsOf: url))
    } catch {
        throw LatticeError(.io, "\(url.path): cannot read (\(error.localizedDescription))")
    }
}

/// Reads a PNG or JPEG file (found by its magic bytes) with its samples as stored.
public func readPixelImage(at url: URL) throws -> PixelImage {
    let bytes = try readFileBytes(url)
    switch ImageFormat.sniff(bytes) {
    case .png: return try PNG.decode(bytes, source: url.path)
    case .jpeg: return try JPEG.decode(bytes, source: url.path)
    default:
        throw LatticeError(
            .unsupported, "\(url.path): not a PNG or JPEG file (first bytes \(bytes.prefix(4)))")
    }
}

/// Reads a PNG or JPEG file as a float image in [0, 1].
public func readImage(at url: URL) throws -> RasterImage {
    try readPixelImage(at: url).raster
}

/// Writes a float image as a PNG (8 or 16 bits per sample), atomically.
public func writePNG(_ image: RasterImage, to url: URL, bitDepth: Int = 8) throws {
    try PNG.write(PixelImage(image, bitDepth: bitDepth), to: url)
}
