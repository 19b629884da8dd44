// The tensor: a strided view of a Storage, plus the autodiff links that record how it was made.
// Tensors are immutable views (shape/strides/offset never change); kernels write only into
// storage they have just allocated, and optimizers update parameters in place through
// `assign(_:)`/raw pointers under no-grad.
import CLatticeKernels

/// An n-dimensional strided array with reverse-mode autodiff.
public final class Tensor: @unchecked Sendable {
    /// The memory this tensor views.
    public let storage: Storage
    /// Extent of each dimension.
    public let shape: [Int]
    /// Step, in elements, between neighbours along each dimension (0 for broadcast dimensions).
    public let strides: [Int]
    /// Index of the first element in `storage`, in elements.
    public let offset: Int
    /// Element type of `storage`.
    public let dtype: DType

    /// Whether gradients flow to this tensor. Leaves with this set receive `.grad`.
    public var requiresGrad: Bool
    /// Accumulated gradient (leaves only), summed over `backward()` calls until cleared.
    public var grad: Tensor?
    /// How this tensor was computed, when recorded for autodiff.
    public internal(set) var gradFn: GradNode?

    /// Wraps `storage` as a view with explicit geometry.
    public init(
        storage: Storage, shape: [Int], strides: [Int], offset: Int = 0, dtype: DType,
        requiresGrad: Bool = false
    ) {
        precondition(
            shape.count == strides.count, "shape \(shape) and strides \(strides) differ in rank")
        precondition(shape.allSatisfy { $0 >= 0 }, "negative extent in shape \(shape)")
        self.storage = storage
        self.shape = shape
        self.strides = strides
        self.offset = offset
        self.dtype = dtype
        self.requiresGrad = requiresGrad
    }

    /// A new contiguous tensor with uninitialised contents.
    public convenience init(empty shape: [Int], dtype: DType = .float32) {
        let n = Tensor.count(of: shape)
        self.init(
            storage: Storage(byteCount: n * dtype.byteSize), shape: shape,
            strides: Tensor.contiguousStrides(for: shape), dtype: dtype)
    }

    /// A new contiguous tensor of zeros.
    public convenience init(zeros shape: [Int], dtype: DType = .float32) {
        let n = Tensor.count(of: shape)
        self.init(
            storage: Storage(byteCount: n * dtype.byteSize, zeroed: true), shape: shape,
            strides: Tensor.contiguousStrides(for: shape), dtype: dtype)
    }

    /// A float32 tensor holding `values` in row-major order.
    public convenience init(_ values: [Float], shape: [Int]) {
        precondition(
            values.count == Tensor.count(of: shape),
            "\(values.count) values do not fill shape \(shape)")
        self.init(empty: shape, dtype: .float32)
        values.withUnsafeBufferPointer { src in
            storage.data.copyMemory(from: src.baseAddress!, byteCount: values.count * 4)
        }
    }

    /// An int32 tensor holding `values` in row-major order.
    public convenience init(int32 values: [Int32], shape: [Int]) {
        precondition(
            values.count == Tensor.count(of: shape),
            "\(values.count) values do not fill shape \(shape)")
        self.init(empty: shape, dtype: .int32)
        values.withUnsafeBufferPointer { src in
            storage.data.copyMemory(from: src.baseAddress!, byteCount: values.count * 4)
        }
    }

    /// An int64 tensor holding `values` in row-major order.
    public convenience init(int64 values: [Int64], shape: [Int]) {
        precondition(
            values.count == Tensor.count(of: shape),
            "\(values.count) values do not fill shape \(shape)")
        self.init(empty: shape, dtype: .int64)
        values.withUnsafeBufferPointer { src in
            storage.data.copyMemory(from: src.baseAddress!, byteCount: values.count * 8)
        }
    }

    /// A float32 scalar (rank 0).
    public convenience init(scalar: Float) { self.init([scalar], shape: []) }

    /// A float32 tensor filled with `value`.
    public convenience init(full shape: [Int], value: Float) {
        self.init(empty: shape, dtype: .float32)
        let p = storage.data.assumingMemoryBound(to: Float.self)
        p.initialize(repeating: value, count: count)
    }

    /// Standard-normal samples from `generator`.
    public static func randn(_ shape: [Int], generator: inout RandomGenerator) -> Tensor {
        Tensor(generator.normal(count: count(of: shape)), shape: shape)
    }

    /// Uniform samples in [low, high) from `generator`.
    public static func rand(
        _ shape: [Int], low: Float = 0, high: Float = 1, generator: inout RandomGenerator
    ) -> Tensor {
        let u = generator.uniform(count: count(of: shape))
        return Tensor(u.map { low + (high - low) * $0 }, shape: shape)
    }

    // MARK: Geometry

    /// Number of dimensions.
    public var rank: Int { shape.count }
    /// Number of elements.
    public var count: Int { Tensor.count(of: shape) }

    /// Product of the extents (1 for a scalar).
    public static func count(of shape: [Int]) -> Int { shape.reduce(1, *) }

    /// Row-major strides for `shape`.
    public static func contiguousStrides(for shape: [Int]) -> [Int] {
        var strides = [Int](repeating: 1, count: shape.count)
        var s = 1
        for d in stride(from: shape.count - 1, through: 0, by: -1) {
            strides[d] = s
            s *= shape[d]
        }
        return strides
    }

    /// Whether elements are laid out row-major with no gaps (size-1 dimensions ignored).
    public var isContiguous: Bool {
        var expected = 1
        for d in stride(from: rank - 1, through: 0, by: -1) where shape[d] != 1 {
            if strides[d] != expected { return false }
            expected *= shape[d]
        }
        return true
    }

    /// Normalises a possibly negative axis.
    @inlinable
    public func axis(_ a: Int) -> Int {
        let r = a < 0 ? a + rank : a
        precondition(r >= 0 && r < Swift.max(rank, 1), "axis \(a) out of range for shape \(shape)")
        return r
    }

    /// Extent of dimension `d` (negative counts from the end).
    public func size(_ d: Int) -> Int { shape[axis(d)] }

    // MARK: Raw access

    /// Pointer to this view's first element, as `T` (the caller honours strides and dtype).
    @inlinable
    public func pointer<T>(as _: T.Type) -> UnsafeMutablePointer<T> {
        storage.data.assumingMemoryBound(to: T.self) + offset
    }

    /// Pointer to the first float of a contiguous float32 tensor.
    public var floats: UnsafeMutablePointer<Float> {
        precondition(dtype == .float32, "expected float32, got \(dtype)")
        precondition(isContiguous, "expected a contiguous tensor; call contiguous() first")
        return pointer(as: Float.self)
    }

    /// The elements as Float in row-major order (converting from any dtype).
    public func toFloats() -> [Float] {
        let c = to(.float32).contiguous()
        return Array(UnsafeBufferPointer(start: c.pointer(as: Float.self), count: c.count))
    }

    /// The elements as Int in row-major order (integer, bool or float dtypes).
    public func toInts() -> [Int] {
        let c = contiguous()
        let n = c.count
        switch dtype {
        case .int32: return (0..<n).map { Int(c.pointer(as: Int32.self)[$0]) }
        case .int64: return (0..<n).map { Int(c.pointer(as: Int64.self)[$0]) }
        case .uint8, .bool: return (0..<n).map { Int(c.pointer(as: UInt8.self)[$0]) }
        default: return c.toFloats().map { Int($0) }
        }
    }

    /// The single value of a one-element tensor, as Float.
    public var item: Float {
        precondition(count == 1, "item needs one element, shape is \(shape)")
        return toFloats()[0]
    }
}

extension Tensor: CustomStringConvertible {
    public var description: String {
        let values = count <= 16 ? " \(toFloats())" : ""
        return "Tensor(\(shape), \(dtype))\(values)"
    }
}
