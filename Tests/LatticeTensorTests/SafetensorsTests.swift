// Safetensors reader/writer: round trips, a corpus of malformed files, the parity fixtures, fuzzing.
import Foundation
import Testing

@testable import LatticeTensor

/// A fresh directory under the system temp dir, removed by the caller.
private func makeTempDir() throws -> URL {
    let dir = FileManager.default.temporaryDirectory
        .appendingPathComponent("lattice-st-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    return dir
}

/// Bytes of a safetensors file with `header` as is (length prefix computed) and `data` after it.
private func fileBytes(header: String, data: [UInt8] = [], length: UInt64? = nil) -> [UInt8] {
    fileBytes(rawHeader: Array(header.utf8), data: data, length: length)
}

private func fileBytes(rawHeader h: [UInt8], data: [UInt8] = [], length: UInt64? = nil) -> [UInt8] {
    var n = (length ?? UInt64(h.count)).littleEndian
    return withUnsafeBytes(of: &n) { Array($0) } + h + data
}

/// Deterministic bytes for mutation tests (SplitMix64).
private struct SplitMix {
    var state: UInt64
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
    mutating func below(_ n: Int) -> Int { Int(next() % UInt64(max(n, 1))) }
}

private let fixturesDir = URL(fileURLWithPath: #filePath)
    .deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("Fixtures")

@Suite struct SafetensorsTests {
    @Test func roundTripsEveryDTypeWithMetadata() throws {
        let dir = try makeTempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        var g = RandomGenerator(seed: 7)
        let f = Tensor.randn([3, 5], generator: &g)
        let tensors: [String: Tensor] = [
            "w.f32": f,
            "w.f16": f.to(.float16),
            "w.bf16": f.to(.bfloat16),
            "idx.i32": Tensor(int32: [1, -2, 3, Int32.max], shape: [2, 2]),
            "idx.i64": Tensor(int64: [Int64.min, 0, 42], shape: [3]),
            "u8": Tensor(int32: [0, 7, 255], shape: [3]).to(.uint8),
            "mask": Tensor(int32: [1, 0, 1, 1], shape: [4]).to(.bool),
            "scalar": Tensor(scalar: 2.5),
            "empty": Tensor(zeros: [0, 3]),
            // A transposed view is written in row-major order.
            "t.view": f.transpose(0, 1),
        ]
        let doubles = [1.0 / 3.0, -1e300, .pi, 0]
        let metadata = ["format": "pt", "quote\"key": "line\nbreak \u{00e9} \u{1F600}"]
        let url = dir.appendingPathComponent("a.safetensors")
        try Safetensors.write(
            tensors, raw: ["x.f64": .init(doubles: doubles, shape: [2, 2])], metadata: metadata,
            to: url)

        let file = try SafetensorsFile(url: url)
        #expect(file.metadata == metadata)
        #expect(Set(file.names) == Set(tensors.keys).union(["x.f64"]))
        for (name, t) in tensors {
            let r = try file.tensor(name)
            #expect(r.dtype == t.dtype, "\(name)")
            #expect(r.shape == t.shape, "\(name)")
            // Exact: the bytes are copied, never converted.
            #expect(r.contiguous().toInts() == t.contiguous().toInts(), "\(name)")
            #expect(r.toFloats() == t.toFloats(), "\(name)")
        }
        #expect(file.info("x.f64")?.dtype == .F64)
        #expect(file.info("x.f64")?.shape == [2, 2])
        #expect(try file.doubles("x.f64") == doubles)
        // F64 as a tensor is float32, rounded once.
        #expect(try file.tensor("x.f64").toFloats() == doubles.map { Float($0) })
        #expect(try file.doubles("idx.i64") == [Double(Int64.min), 0, 42])
        // Views into the map: no copy, the same bytes each time.
        #expect(try file.tensor("w.f32").storage.data == file.tensor("w.f32").storage.data)
        // Every tensor starts aligned to its element size.
        for e in file.allEntries {
            #expect(e.dataRange.lowerBound % e.dtype.byteSize == 0, "\(e.name)")
        }
        #expect(try file.tensors(prefix: "idx.").keys.sorted() == ["i32", "i64"])
    }

    @Test func writeIsAtomicAndOverwrites() throws {
        let dir = try makeTempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        let url = dir.appendingPathComponent("b.safetensors")
        try Safetensors.write(["a": Tensor([1, 2], shape: [2])], to: url)
        try Safetensors.write(["a": Tensor([3], shape: [1])], metadata: ["k": "v"], to: url)
        let file = try SafetensorsFile(url: url)
        #expect(try file.tensor("a").toFloats() == [3])
        #expect(file.metadata == ["k": "v"])
        // Only the target remains: no temporary files.
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path) == ["b.safetensors"])
        let missing = dir.appendingPathComponent("no/such/dir/c.safetensors")
        #expect(throws: LatticeError.self) {
            try Safetensors.write(["a": Tensor([1], shape: [1])], to: missing)
        }
    }

    @Test func rewritingAFileFromItsOwnViewsIsSafe() throws {
        let dir = try makeTempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        let url = dir.appendingPathComponent("self.safetensors")
        try Safetensors.write(["a": Tensor([1, 2, 3], shape: [3])], to: url)
        let views = try SafetensorsFile(url: url).tensors()
        // The rename replaces the directory entry; the old mapping stays valid for the views.
        try Safetensors.write(views.merging(["b": Tensor([4], shape: [1])]) { a, _ in a }, to: url)
        #expect(views["a"]?.toFloats() == [1, 2, 3])
        let again = try SafetensorsFile(url: url)
        #expect(try again.tensor("a").toFloats() == [1, 2, 3])
        #expect(try again.tensor("b").toFloats() == [4])
    }

    /// Other writers may place tensors at offsets that break element alignment; those are copied.
    @Test func readsMisalignedTensors() throws {
        let dir = try makeTempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        var header =
            #"{"u": {"dtype": "U8", "shape": [1], "data_offsets": [0, 1]}, "f": {"dtype": "F32", "shape": [2], "data_offsets": [1, 9]}}"#
        while (8 + header.utf8.count) % 8 != 0 { header += " " }
        let data: [UInt8] =
            [7] + [Float(1.5), -2].flatMap { v in withUnsafeBytes(of: v) { Array($0) } }
        let url = dir.appendingPathComponent("odd.safetensors")
        try Data(fileBytes(header: header, data: data)).write(to: url)
        let file = try SafetensorsFile(url: url)
        #expect(try file.tensor("f").toFloats() == [1.5, -2])
        #expect(try file.doubles("f") == [1.5, -2])
        #expect(try file.tensor("u").toInts() == [7])
    }

    /// (name, bytes, expected message fragment). Every case must fail as `.invalidFile`.
    static let corpus: [(String, [UInt8], String)] = {
        let f32x2 = [UInt8](repeating: 0, count: 8)
        var cases: [(String, [UInt8], String)] = [
            ("empty file", [], "shorter than the 8-byte"),
            ("5 bytes", [1, 2, 3, 4, 5], "shorter than the 8-byte"),
            (
                "length past end", fileBytes(header: "{}", length: 1000),
                "goes beyond the end of the file"
            ),
            (
                "length over limit", fileBytes(header: "{}", length: 200_000_000),
                "exceeds the limit"
            ),
            (
                "length near UInt64.max", fileBytes(header: "{}", length: UInt64.max),
                "exceeds the limit"
            ),
            ("not JSON", fileBytes(header: "hello"), "not valid JSON"),
            ("truncated JSON", fileBytes(header: "{\"a\": {\"dtype\""), "not valid JSON"),
            ("trailing text", fileBytes(header: "{} x"), "unexpected text after"),
            ("array header", fileBytes(header: "[1, 2]"), "must be a JSON object"),
            ("entry not object", fileBytes(header: "{\"a\": 3}"), "tensor 'a': entry is 3"),
            (
                "missing dtype",
                fileBytes(header: #"{"a": {"shape": [], "data_offsets": [0, 0]}}"#),
                "missing field 'dtype'"
            ),
            (
                "dtype not string",
                fileBytes(header: #"{"a": {"dtype": 12, "shape": [], "data_offsets": [0, 4]}}"#),
                "dtype is 12"
            ),
            (
                "unknown dtype",
                fileBytes(
                    header: #"{"a": {"dtype": "F128", "shape": [], "data_offsets": [0, 4]}}"#),
                "unknown dtype 'F128'"
            ),
            (
                "missing shape",
                fileBytes(header: #"{"a": {"dtype": "F32", "data_offsets": [0, 4]}}"#),
                "missing field 'shape'"
            ),
            (
                "shape not array",
                fileBytes(
                    header: #"{"a": {"dtype": "F32", "shape": "2", "data_offsets": [0, 8]}}"#,
                    data: f32x2), "expected an array of integers"
            ),
            (
                "negative dim",
                fileBytes(
                    header: #"{"a": {"dtype": "F32", "shape": [-1], "data_offsets": [0, 8]}}"#,
                    data: f32x2), "dimension -1"
            ),
            (
                "fractional dim",
                fileBytes(
                    header: #"{"a": {"dtype": "F32", "shape": [2.5], "data_offsets": [0, 8]}}"#,
                    data: f32x2), "dimension 2.5"
            ),
            (
                "shape overflow",
                fileBytes(
                    header:
                        #"{"a": {"dtype": "F32", "shape": [4294967296, 4294967296], "data_offsets": [0, 8]}}"#,
                    data: f32x2), "too many elements"
            ),
            (
                "missing offsets",
                fileBytes(header: #"{"a": {"dtype": "F32", "shape": [2]}}"#, data: f32x2),
                "missing field 'data_offsets'"
            ),
            (
                "one offset",
                fileBytes(
                    header: #"{"a": {"dtype": "F32", "shape": [2], "data_offsets": [0]}}"#,
                    data: f32x2), "expected [begin, end]"
            ),
            (
                "string offset",
                fileBytes(
                    header: #"{"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, "8"]}}"#,
                    data: f32x2), "expected [begin, end]"
            ),
            (
                "negative offset",
                fileBytes(
                    header: #"{"a": {"dtype": "F32", "shape": [2], "data_offsets": [-8, 0]}}"#,
                    data: f32x2), "expected [begin, end]"
            ),
            (
                "begin after end",
                fileBytes(
                    header: #"{"a": {"dtype": "F32", "shape": [1], "data_offsets": [8, 4]}}"#,
                    data: f32x2), "begin > end"
            ),
            (
                "out of bounds",
                fileBytes(
                    header: #"{"a": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]}}"#,
                    data: f32x2), "beyond the data section of 8 bytes"
            ),
            (
                "size mismatch",
                fileBytes(
                    header: #"{"a": {"dtype": "F32", "shape": [3], "data_offsets": [0, 8]}}"#,
                    data: f32x2), "span 8 bytes, but shape [3] of F32 needs 12 bytes"
            ),
            (
                "overlap",
                fileBytes(
                    header:
                        #"{"a": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}, "b": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}}"#,
                    data: f32x2),
                "overlap"
            ),
            (
                "metadata not object", fileBytes(header: #"{"__metadata__": ["a"]}"#),
                "__metadata__ must be an object"
            ),
            (
                "metadata non-string", fileBytes(header: #"{"__metadata__": {"epoch": 3}}"#),
                "value for key 'epoch' is 3, expected a string"
            ),
            (
                "duplicate key",
                fileBytes(
                    header:
                        #"{"a": {"dtype": "F32", "shape": [], "data_offsets": [0, 4]}, "a": {"dtype": "F32", "shape": [], "data_offsets": [4, 8]}}"#,
                    data: f32x2), "duplicate key"
            ),
            (
                "deep nesting", fileBytes(header: String(repeating: "[", count: 100_000)),
                "nesting deeper"
            ),
            ("bad escape", fileBytes(header: #"{"a\q": 1}"#), "invalid escape"),
            ("lone surrogate", fileBytes(header: #"{"\ud800": 1}"#), "surrogate"),
        ]
        cases.append(
            (
                "invalid UTF-8",
                fileBytes(rawHeader: Array("{\"".utf8) + [0xFF, 0xFE] + Array("\": 1}".utf8)),
                "not valid UTF-8"
            ))
        return cases
    }()

    @Test func rejectsEveryMalformedFileWithAClearError() throws {
        let dir = try makeTempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        for (i, (name, bytes, fragment)) in Self.corpus.enumerated() {
            let url = dir.appendingPathComponent("case\(i).safetensors")
            try Data(bytes).write(to: url)
            do {
                _ = try SafetensorsFile(url: url)
                Issue.record("\(name): accepted")
            } catch let e as LatticeError {
                #expect(e.kind == .invalidFile, "\(name): \(e)")
                #expect(e.message.contains(fragment), "\(name): \(e.message)")
                #expect(e.message.contains(url.path), "\(name): message does not name the file")
            }
        }
    }

    @Test func unsupportedButKnownDTypesAreListedNotLoaded() throws {
        let dir = try makeTempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        let url = dir.appendingPathComponent("i16.safetensors")
        try Safetensors.write(
            [:], raw: ["h": .init(dtype: .I16, shape: [2], bytes: [0xFF, 0xFF, 2, 0])], to: url)
        let file = try SafetensorsFile(url: url)
        #expect(file.info("h")?.dtype == .I16)
        #expect(try file.doubles("h") == [-1, 2])
        #expect(throws: LatticeError.self) { try file.tensor("h") }
        #expect(throws: LatticeError.self) { try file.tensor("missing") }
    }

    @Test func readsEveryParityFixture() throws {
        let urls = try FileManager.default.contentsOfDirectory(
            at: fixturesDir, includingPropertiesForKeys: nil
        ).filter { $0.pathExtension == "safetensors" }
        #expect(urls.count >= 40, "fixtures folder \(fixturesDir.path)")
        var f64 = 0
        for url in urls {
            let file = try SafetensorsFile(url: url)
            #expect(file.metadata["case"] != nil, "\(url.lastPathComponent)")
            #expect(!file.names.isEmpty)
            for e in file.allEntries {
                if e.dtype == .F64 {
                    f64 += 1
                    #expect(try file.doubles(e.name).count == e.count)
                } else {
                    let t = try file.tensor(e.name)
                    #expect(t.shape == e.shape && t.dtype == e.dtype.dtype)
                }
            }
        }
        #expect(f64 >= 2, "the README names at least two F64 outputs")
    }

    /// Random byte flips and truncations of a valid file: every outcome is a thrown error or a
    /// file whose tensors all read back; nothing may crash.
    @Test func survivesRandomCorruption() throws {
        let dir = try makeTempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        let src = dir.appendingPathComponent("src.safetensors")
        try Safetensors.write(
            [
                "a": Tensor((0..<12).map(Float.init), shape: [3, 4]),
                "b": Tensor(int64: [1, 2, 3], shape: [3]),
                "c": Tensor([1, 2], shape: [2]).to(.float16),
            ], raw: ["d": .init(doubles: [0.5], shape: [])], metadata: ["k": "v"], to: src)
        let original = [UInt8](try Data(contentsOf: src))
        let headerEnd = 8 + Int(original[0]) + Int(original[1]) << 8
        var rng = SplitMix(state: 12345)
        var accepted = 0
        let url = dir.appendingPathComponent("m.safetensors")
        for _ in 0..<300 {
            var bytes = original
            for _ in 0..<(1 + rng.below(4)) {
                // Mostly the header and length, where the structure lives.
                let i = rng.below(rng.below(4) == 0 ? bytes.count : headerEnd)
                bytes[i] = UInt8(truncatingIfNeeded: rng.next())
            }
            if rng.below(8) == 0 { bytes.removeLast(rng.below(bytes.count)) }
            try Data(bytes).write(to: url)
            guard let file = try? SafetensorsFile(url: url) else { continue }
            accepted += 1
            for e in file.allEntries {
                _ = try? file.doubles(e.name)
                if e.dtype.dtype != nil { _ = try file.tensor(e.name).toFloats() }
            }
        }
        // Flips inside JSON strings or data bytes leave a valid file, so some must be accepted.
        #expect(accepted > 0)
    }

    @Test func jsonParserKeepsIntegersExactAndRoundTrips() throws {
        let text =
            #"{"a":[1,-2,3.5,1e2,true,false,null],"b":{"c":"\u00e9\n"},"big":9007199254740993}"#
        let v = try JSONValue.parse(text, source: "test")
        #expect(v["big"] == .int(9_007_199_254_740_993))
        #expect(v["b"]?["c"]?.stringValue == "\u{e9}\n")
        #expect(try JSONValue.parse(v.serialized(), source: "again") == v)
    }
}
