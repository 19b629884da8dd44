// Safetensors files: a validating, memory-mapped reader whose tensors are lazy views into the map,
// and an atomic writer (temp file + rename). Format: 8-byte little-endian header length, a JSON
// header {name: {dtype, shape, data_offsets: [begin, end]}, "__metadata__": {str: str}}, then the
// data section that the offsets index. Assumes a little-endian host, as every supported CPU is.
import Foundation

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#elseif canImport(Musl)
    import Musl
#endif

/// Element types a safetensors header may name. Lattice tensors hold the ones with a `DType`;
/// F64 is readable as `[Double]` (or converted to float32); the rest are listed but not loaded.
public enum SafetensorsDType: String, Sendable, CaseIterable {
    case BOOL, U8, I8, I16, U16, F16, BF16, I32, U32, F32, F64, I64, U64, F8_E4M3, F8_E5M2

    /// Bytes per element.
    public var byteSize: Int {
        switch self {
        case .BOOL, .U8, .I8, .F8_E4M3, .F8_E5M2: return 1
        case .I16, .U16, .F16, .BF16: return 2
        case .I32, .U32, .F32: return 4
        case .F64, .I64, .U64: return 8
        }
    }

    /// The Lattice storage dtype, or nil when Lattice has no such dtype.
    public var dtype: DType? { DType(safetensorsName: rawValue) }

    /// The safetensors name of a Lattice dtype.
    public init(_ dtype: DType) {
        // Every DType has a safetensors name in this enum.
        self = SafetensorsDType(rawValue: dtype.safetensorsName) ?? .F32
    }
}

/// One tensor's header entry.
public struct SafetensorsEntry: Sendable, Equatable {
    /// The tensor's key in the file.
    public let name: String
    public let dtype: SafetensorsDType
    public let shape: [Int]
    /// Byte range within the data section (after the header).
    public let dataRange: Range<Int>

    /// Number of elements.
    public var count: Int { shape.reduce(1, *) }
    /// Size of the data in bytes.
    public var byteCount: Int { dataRange.count }
}

/// Keeps a file's memory map alive while any tensor views it; unmaps when the last one is gone.
final class MappedFile: @unchecked Sendable {
    let base: UnsafeMutableRawPointer
    let size: Int

    /// Maps `path` copy-on-write: in-place updates of loaded tensors never reach the file.
    init(path: String) throws {
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else {
            throw LatticeError(.io, "\(path): cannot open (\(String(cString: strerror(errno))))")
        }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0 else {
            throw LatticeError(.io, "\(path): cannot stat (\(String(cString: strerror(errno))))")
        }
        guard (st.st_mode & S_IFMT) == S_IFREG else {
            throw LatticeError(.invalidFile, "\(path): not a regular file")
        }
        let size = Int(st.st_size)
        guard size >= 8 else {
            throw LatticeError(
                .invalidFile,
                "\(path): file is \(size) bytes, shorter than the 8-byte safetensors header length")
        }
        guard
            let p = mmap(nil, size, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0),
            p != MAP_FAILED
        else {
            throw LatticeError(.io, "\(path): cannot map (\(String(cString: strerror(errno))))")
        }
        base = p
        self.size = size
    }

    deinit { munmap(base, size) }
}

/// A safetensors file opened for reading. The header is validated once on open; `tensor(_:)`
/// returns views into the memory map (no copy), which keep the map alive.
public final class SafetensorsFile: @unchecked Sendable {
    /// Largest header accepted (as the reference implementation): guards against absurd lengths.
    public static let maxHeaderBytes = 100_000_000

    /// The file's location.
    public let url: URL
    /// The `__metadata__` map (empty when absent).
    public let metadata: [String: String]
    /// Tensor names in data order.
    public let names: [String]
    private let entries: [String: SafetensorsEntry]
    private let map: MappedFile
    private let dataStart: Int

    /// Opens and validates `url`; throws `LatticeError(.invalidFile)` naming the problem.
    public init(url: URL) throws {
        self.url = url
        let path = url.path
        let map = try MappedFile(path: path)
        self.map = map
        let headerLength = UInt64(
            littleEndian: UnsafeRawPointer(map.base).loadUnaligned(as: UInt64.self))
        guard headerLength <= UInt64(SafetensorsFile.maxHeaderBytes) else {
            throw LatticeError(
                .invalidFile,
                "\(path): header length \(headerLength) exceeds the limit of \(SafetensorsFile.maxHeaderBytes) bytes"
            )
        }
        guard headerLength <= UInt64(map.size - 8) else {
            throw LatticeError(
                .invalidFile,
                "\(path): header length \(headerLength) goes beyond the end of the file (\(map.size) bytes; expected at most \(map.size - 8))"
            )
        }
        dataStart = 8 + Int(headerLength)
        let header = UnsafeBufferPointer(
            start: map.base.advanced(by: 8).assumingMemoryBound(to: UInt8.self),
            count: Int(headerLength))
        let parsed = try SafetensorsFile.parseHeader(
            header, path: path, dataSize: map.size - dataStart)
        metadata = parsed.metadata
        entries = Dictionary(uniqueKeysWithValues: parsed.entries.map { ($0.name, $0) })
        names = parsed.entries.map(\.name)
    }

    /// Convenience for a file path.
    public convenience init(path: String) throws { try self.init(url: URL(fileURLWithPath: path)) }

    /// Header entries in data order.
    public var allEntries: [SafetensorsEntry] { names.compactMap { entries[$0] } }

    /// The header entry of `name`, or nil if the file has no such tensor.
    public func entry(_ name: String) -> SafetensorsEntry? { entries[name] }

    /// Stored dtype and shape of `name`, or nil if the file has no such tensor.
    public func info(_ name: String) -> (dtype: SafetensorsDType, shape: [Int])? {
        entries[name].map { ($0.dtype, $0.shape) }
    }

    /// Whether the file holds a tensor called `name`.
    public func contains(_ name: String) -> Bool { entries[name] != nil }

    private func require(_ name: String) throws -> SafetensorsEntry {
        guard let e = entries[name] else {
            throw LatticeError(.missingKey, "\(url.path): no tensor named '\(name)'")
        }
        return e
    }

    private func bytes(of e: SafetensorsEntry) -> UnsafeMutableRawPointer {
        map.base.advanced(by: dataStart + e.dataRange.lowerBound)
    }

    /// The tensor `name` in its stored dtype, viewing the map without a copy. F64 is converted
    /// to float32 (Lattice has no f64 tensors; use `doubles(_:)` for full precision). Data that
    /// is not aligned to its element size is copied, since typed loads require alignment.
    public func tensor(_ name: String) throws -> Tensor {
        let e = try require(name)
        let strides = Tensor.contiguousStrides(for: e.shape)
        if e.dtype == .F64 {
            let values = try doubles(name)
            let out = Tensor(empty: e.shape, dtype: .float32)  // same shape as stored
            let p = out.pointer(as: Float.self)
            for i in values.indices { p[i] = Float(values[i]) }
            return out
        }
        guard let dtype = e.dtype.dtype else {
            throw LatticeError(
                .unsupported,
                "\(url.path): tensor '\(name)' has dtype \(e.dtype.rawValue), which Lattice cannot hold (expected one of F32, F16, BF16, I32, I64, U8, BOOL, or F64 via doubles())"
            )
        }
        let src = bytes(of: e)
        if UInt(bitPattern: src) % UInt(dtype.byteSize) == 0 {
            let storage = Storage(borrowing: src, byteCount: e.byteCount, owner: map)
            return Tensor(storage: storage, shape: e.shape, strides: strides, dtype: dtype)
        }
        let out = Tensor(empty: e.shape, dtype: dtype)
        out.storage.data.copyMemory(from: src, byteCount: e.byteCount)
        return out
    }

    /// The elements of `name` as Double in row-major order (any numeric dtype but F8).
    public func doubles(_ name: String) throws -> [Double] {
        let e = try require(name)
        let n = e.count
        let raw = UnsafeRawPointer(bytes(of: e))
        func load<T: FixedWidthInteger>(_: T.Type) -> [Double] {
            (0..<n).map {
                Double(
                    T(
                        littleEndian: raw.loadUnaligned(
                            fromByteOffset: $0 * T.bitWidth / 8, as: T.self)))
            }
        }
        switch e.dtype {
        case .F64:
            return (0..<n).map {
                Double(bitPattern: raw.loadUnaligned(fromByteOffset: $0 * 8, as: UInt64.self))
            }
        case .F32:
            return (0..<n).map {
                Double(
                    Float(bitPattern: raw.loadUnaligned(fromByteOffset: $0 * 4, as: UInt32.self)))
            }
        case .F16, .BF16:
            return try tensor(name).to(.float32).toFloats().map(Double.init)
        case .BOOL, .U8: return load(UInt8.self)
        case .I8: return load(Int8.self)
        case .I16: return load(Int16.self)
        case .U16: return load(UInt16.self)
        case .I32: return load(Int32.self)
        case .U32: return load(UInt32.self)
        case .I64: return load(Int64.self)
        case .U64: return load(UInt64.self)
        case .F8_E4M3, .F8_E5M2:
            throw LatticeError(
                .unsupported,
                "\(url.path): tensor '\(name)' has dtype \(e.dtype.rawValue), which Lattice cannot read"
            )
        }
    }

    /// Every tensor by name (views; F64 converted to float32). Throws on dtypes Lattice cannot hold.
    public func tensors() throws -> [String: Tensor] {
        var out: [String: Tensor] = [:]
        for n in names { out[n] = try tensor(n) }
        return out
    }

    /// Tensors whose names start with `prefix`, keyed with the prefix removed.
    public func tensors(prefix: String) throws -> [String: Tensor] {
        var out: [String: Tensor] = [:]
        for n in names where n.hasPrefix(prefix) {
            out[String(n.dropFirst(prefix.count))] = try tensor(n)
        }
        return out
    }

    // MARK: Header validation

    static func parseHeader(
        _ header: UnsafeBufferPointer<UInt8>, path: String, dataSize: Int
    ) throws -> (entries: [SafetensorsEntry], metadata: [String: String]) {
        func bad(_ message: String) -> LatticeError {
            LatticeError(.invalidFile, "\(path): \(message)")
        }
        let json: JSONValue
        do {
            json = try JSONParser.parse(header)
        } catch {
            throw bad("header is not valid JSON (\(error.message))")
        }
        guard case .object(let members) = json else {
            throw bad("header must be a JSON object, found \(json.brief)")
        }
        var metadata: [String: String] = [:]
        var entries: [SafetensorsEntry] = []
        for (name, value) in members {
            if name == "__metadata__" {
                guard case .object(let items) = value else {
                    throw bad("__metadata__ must be an object of strings, found \(value.brief)")
                }
                for (k, v) in items {
                    guard case .string(let s) = v else {
                        throw bad(
                            "__metadata__ value for key '\(k)' is \(v.brief), expected a string")
                    }
                    metadata[k] = s
                }
                continue
            }
            entries.append(try parseEntry(name, value, dataSize: dataSize, bad: bad))
        }
        // Tensors may not share bytes (empty tensors occupy nothing and never overlap).
        let sorted = entries.filter { !$0.dataRange.isEmpty }.sorted {
            $0.dataRange.lowerBound < $1.dataRange.lowerBound
        }
        for (a, b) in zip(sorted, sorted.dropFirst())
        where b.dataRange.lowerBound < a.dataRange.upperBound {
            throw bad(
                "tensors '\(a.name)' (bytes \(a.dataRange.lowerBound)..<\(a.dataRange.upperBound)) and '\(b.name)' (bytes \(b.dataRange.lowerBound)..<\(b.dataRange.upperBound)) overlap; expected disjoint data_offsets"
            )
        }
        entries.sort {
            ($0.dataRange.lowerBound, $0.name) < ($1.dataRange.lowerBound, $1.name)
        }
        return (entries, metadata)
    }

    private static func parseEntry(
        _ name: String, _ value: JSONValue, dataSize: Int, bad: (String) -> LatticeError
    ) throws -> SafetensorsEntry {
        guard case .object = value else {
            throw bad(
                "tensor '\(name)': entry is \(value.brief), expected an object with dtype, shape, data_offsets"
            )
        }
        guard let dtypeValue = value["dtype"] else {
            throw bad("tensor '\(name)': missing field 'dtype'")
        }
        guard case .string(let dtypeName) = dtypeValue else {
            throw bad("tensor '\(name)': dtype is \(dtypeValue.brief), expected a string")
        }
        guard let dtype = SafetensorsDType(rawValue: dtypeName) else {
            let known = SafetensorsDType.allCases.map(\.rawValue).joined(separator: ", ")
            throw bad("tensor '\(name)': unknown dtype '\(dtypeName)' (expected one of \(known))")
        }
        guard let shapeValue = value["shape"] else {
            throw bad("tensor '\(name)': missing field 'shape'")
        }
        guard case .array(let dims) = shapeValue else {
            throw bad(
                "tensor '\(name)': shape is \(shapeValue.brief), expected an array of integers")
        }
        var shape: [Int] = []
        var count = 1
        for d in dims {
            guard case .int(let n) = d, n >= 0 else {
                throw bad(
                    "tensor '\(name)': shape \(shapeValue.brief) has dimension \(d.brief), expected a non-negative integer"
                )
            }
            shape.append(n)
            let (c, overflow) = count.multipliedReportingOverflow(by: n)
            guard !overflow else {
                throw bad("tensor '\(name)': shape \(shapeValue.brief) has too many elements")
            }
            count = c
        }
        guard let offsetsValue = value["data_offsets"] else {
            throw bad("tensor '\(name)': missing field 'data_offsets'")
        }
        guard case .array(let offs) = offsetsValue, offs.count == 2, case .int(let begin) = offs[0],
            case .int(let end) = offs[1], begin >= 0, end >= 0
        else {
            throw bad(
                "tensor '\(name)': data_offsets is \(offsetsValue.brief), expected [begin, end] with two non-negative integers"
            )
        }
        guard begin <= end else {
            throw bad("tensor '\(name)': data_offsets [\(begin), \(end)] has begin > end")
        }
        guard end <= dataSize else {
            throw bad(
                "tensor '\(name)': data_offsets [\(begin), \(end)] end is beyond the data section of \(dataSize) bytes (expected end <= \(dataSize))"
            )
        }
        let (bytes, overflow) = count.multipliedReportingOverflow(by: dtype.byteSize)
        guard !overflow, bytes == end - begin else {
            throw bad(
                "tensor '\(name)': data_offsets [\(begin), \(end)] span \(end - begin) bytes, but shape \(shape) of \(dtype.rawValue) needs \(overflow ? "more than Int.max" : String(bytes)) bytes"
            )
        }
        return SafetensorsEntry(name: name, dtype: dtype, shape: shape, dataRange: begin..<end)
    }
}

/// Writing safetensors files.
public enum Safetensors {
    /// A tensor given as raw little-endian bytes, for dtypes Lattice does not hold (e.g. F64).
    public struct RawTensor: Sendable {
        public var dtype: SafetensorsDType
        public var shape: [Int]
        public var bytes: [UInt8]

        /// Raw bytes with their dtype and shape; `bytes.count` must equal count x dtype size.
        public init(dtype: SafetensorsDType, shape: [Int], bytes: [UInt8]) {
            self.dtype = dtype
            self.shape = shape
            self.bytes = bytes
        }

        /// Float64 values (stored as F64).
        public init(doubles: [Double], shape: [Int]) {
            dtype = .F64
            self.shape = shape
            bytes = doubles.withUnsafeBytes { Array($0) }
        }
    }

    /// Writes `tensors` (stored dtype kept) and `metadata` to `url` atomically.
    public static func write(
        _ tensors: [String: Tensor], metadata: [String: String]? = nil, to url: URL
    ) throws {
        try write(tensors, raw: [:], metadata: metadata, to: url)
    }

    /// Writes Lattice tensors plus raw tensors (e.g. F64) to `url`: the data goes to a temporary
    /// file in the same directory, which is then renamed over `url`, so a failure never leaves
    /// a half-written file.
    public static func write(
        _ tensors: [String: Tensor], raw: [String: RawTensor], metadata: [String: String]? = nil,
        to url: URL
    ) throws {
        struct Item {
            let name: String
            let dtype: SafetensorsDType
            let shape: [Int]
            let byteCount: Int
            let tensor: Tensor?
            let raw: [UInt8]?
        }
        var items: [Item] = []
        for (name, t) in tensors {
            guard raw[name] == nil else {
                throw LatticeError(
                    .invalidArgument, "\(url.path): tensor '\(name)' given twice (tensor and raw)")
            }
            guard name != "__metadata__" else {
                throw LatticeError(
                    .invalidArgument, "\(url.path): '__metadata__' is reserved, not a tensor name")
            }
            let d = SafetensorsDType(t.dtype)
            items.append(
                Item(
                    name: name, dtype: d, shape: t.shape, byteCount: t.count * d.byteSize,
                    tensor: t, raw: nil))
        }
        for (name, r) in raw {
            guard name != "__metadata__" else {
                throw LatticeError(
                    .invalidArgument, "\(url.path): '__metadata__' is reserved, not a tensor name")
            }
            guard r.shape.allSatisfy({ $0 >= 0 }),
                r.bytes.count == r.shape.reduce(1, *) * r.dtype.byteSize
            else {
                throw LatticeError(
                    .invalidArgument,
                    "\(url.path): raw tensor '\(name)' has \(r.bytes.count) bytes, shape \(r.shape) of \(r.dtype.rawValue) needs \(r.shape.reduce(1, *) * r.dtype.byteSize)"
                )
            }
            items.append(
                Item(
                    name: name, dtype: r.dtype, shape: r.shape, byteCount: r.bytes.count,
                    tensor: nil, raw: r.bytes))
        }
        // Widest elements first keeps every tensor aligned to its element size in the file.
        items.sort { ($1.dtype.byteSize, $0.name) < ($0.dtype.byteSize, $1.name) }

        var members: [(String, JSONValue)] = []
        if let metadata {
            members.append(
                (
                    "__metadata__",
                    .object(metadata.sorted { $0.key < $1.key }.map { ($0.key, .string($0.value)) })
                ))
        }
        var offset = 0
        for it in items {
            members.append(
                (
                    it.name,
                    .object([
                        ("dtype", .string(it.dtype.rawValue)),
                        ("shape", .array(it.shape.map { .int($0) })),
                        ("data_offsets", .array([.int(offset), .int(offset + it.byteCount)])),
                    ])
                ))
            offset += it.byteCount
        }
        var header = Array(JSONValue.object(members).serialized().utf8)
        // Pad with spaces so the data section starts 8-byte aligned.
        while (8 + header.count) % 8 != 0 { header.append(0x20) }

        let writer = try AtomicFileWriter(url: url)
        do {
            var length = UInt64(header.count).littleEndian
            try withUnsafeBytes(of: &length) { try writer.append($0) }
            try header.withUnsafeBytes { try writer.append($0) }
            for it in items {
                if let t = it.tensor {
                    let c = t.rawContiguous()
                    try writer.append(
                        UnsafeRawBufferPointer(
                            start: c.storage.data.advanced(by: c.offset * c.dtype.byteSize),
                            count: it.byteCount))
                } else if let r = it.raw {
                    try r.withUnsafeBytes { try writer.append($0) }
                }
            }
            try writer.commit()
        } catch {
            writer.abandon()
            throw error
        }
    }
}

/// Writes to `<dir>/.<name>.tmp-<pid>-<n>` and renames it over the target on commit.
final class AtomicFileWriter {
    private let url: URL
    private let tempPath: String
    private var fd: Int32

    init(url: URL) throws {
        self.url = url
        let dir = url.deletingLastPathComponent().path
        tempPath =
            dir + "/." + url.lastPathComponent
            + ".tmp-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        fd = open(tempPath, O_WRONLY | O_CREAT | O_EXCL, 0o644)
        guard fd >= 0 else {
            throw LatticeError(
                .io,
                "\(url.path): cannot create temporary file \(tempPath) (\(String(cString: strerror(errno))))"
            )
        }
    }

    func append(_ buffer: UnsafeRawBufferPointer) throws {
        var done = 0
        while done < buffer.count {
            guard let base = buffer.baseAddress else { return }
            let n = write(fd, base + done, buffer.count - done)
            if n < 0 {
                if errno == EINTR { continue }
                throw LatticeError(
                    .io, "\(url.path): write failed (\(String(cString: strerror(errno))))")
            }
            done += n
        }
    }

    func commit() throws {
        guard fsync(fd) == 0, close(fd) == 0 else {
            fd = -1
            throw LatticeError(
                .io, "\(url.path): cannot flush (\(String(cString: strerror(errno))))")
        }
        fd = -1
        guard rename(tempPath, url.path) == 0 else {
            throw LatticeError(
                .io,
                "\(url.path): cannot rename temporary file into place (\(String(cString: strerror(errno))))"
            )
        }
    }

    func abandon() {
        if fd >= 0 { close(fd) }
        fd = -1
        unlink(tempPath)
    }

    deinit { if fd >= 0 { close(fd); unlink(tempPath) } }
}
