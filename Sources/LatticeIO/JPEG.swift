// JPEG decoding (placeholder until the decoder lands).
import LatticeTensor

/// JPEG decoder.
public enum JPEG {
    /// Decodes JPEG bytes.
    public static func decode(_ data: [UInt8], source: String = "JPEG data") throws -> PixelImage {
        throw LatticeError(.unsupported, "\(source): JPEG decoding is not implemented yet")
    }
}
