// Storage element types. Compute is float32; other dtypes are storage formats (checkpoints,
// indices, masks) converted explicitly with `Tensor.to(_:)`.

/// The element type a tensor's storage holds.
public enum DType: String, Sendable, CaseIterable, CustomStringConvertible {
    case float32, float16, bfloat16, int32, int64, uint8, bool

    /// Bytes per element.
    public var byteSize: Int {
        switch self {
        case .float32, .int32: return 4
        case .float16, .bfloat16: return 2
        case .int64: return 8
        case .uint8, .bool: return 1
        }
    }

    /// Whether the dtype is a floating-point format.
    public var isFloatingPoint: Bool { self == .float32 || self == .float16 || self == .bfloat16 }

    /// The dtype's name in safetensors headers (`F32`, `F16`, `BF16`, `I32`, `I64`, `U8`, `BOOL`).
    public var safetensorsName: String {
        switch self {
        case .float32: return "F32"
        case .float16: return "F16"
        case .bfloat16: return "BF16"
        case .int32: return "I32"
        case .int64: return "I64"
        case .uint8: return "U8"
        case .bool: return "BOOL"
        }
    }

    /// Parses a safetensors dtype name; nil for dtypes Lattice does not store.
    public init?(safetensorsName: String) {
        guard let d = DType.allCases.first(where: { $0.safetensorsName == safetensorsName })
        else { return nil }
        self = d
    }

    public var description: String { rawValue }
}
