// One parity fixture file: its case metadata (module, config, call, notes, tolerances) and its
// `param.*`, `input.*` and `output.*` tensors, as described in Tests/Fixtures/README*.md.
import Foundation
import LatticeTensor

/// A parity fixture: upstream weights, inputs and golden outputs plus how they were made.
public final class Fixture: @unchecked Sendable {
    /// Where the fixture was read from.
    public let url: URL
    /// The underlying file, for tensors the dictionaries below do not cover (e.g. F64 inputs).
    public let file: SafetensorsFile
    /// Case name (`trellis__ss_flow_small`): `case.name`, or the file name without extension.
    public let name: String
    /// Upstream class or function name.
    public let module: String
    /// `repo@commit:path` of the upstream code.
    public let upstream: String
    /// How forward was called and what each output is.
    public let call: String
    /// The math a re-implementer needs (eps, casts, orders).
    public let notes: String
    /// The whole `case` object.
    public let caseInfo: JSONValue
    /// The constructor kwargs; an object for most cases (a string when upstream's were not JSON).
    public let configJSON: JSONValue
    /// Upstream weights by state_dict key (`param.` stripped), stored dtypes kept.
    public let params: [String: Tensor]
    /// Forward inputs (`input.` stripped). F64 inputs appear as float32; see `inputDoubles(_:)`.
    public let inputs: [String: Tensor]
    /// Golden output names (`output.` stripped), in file order.
    public let outputNames: [String]
    /// Per-output tolerances from the metadata.
    public let tolerances: ToleranceTable

    /// Reads and validates `url`; throws `LatticeError(.invalidFile)` naming what is wrong.
    public init(url: URL) throws {
        self.url = url
        let file = try SafetensorsFile(url: url)
        self.file = file
        let path = url.path
        guard let caseText = file.metadata["case"] else {
            throw LatticeError(
                .invalidFile, "\(path): __metadata__ has no 'case' entry (not a parity fixture)")
        }
        let info = try JSONValue.parse(caseText, source: "\(path): __metadata__.case")
        guard case .object = info else {
            throw LatticeError(.invalidFile, "\(path): __metadata__.case is not a JSON object")
        }
        caseInfo = info
        func text(_ key: String) -> String { Fixture.unwrapString(info[key]) ?? "" }
        let stem = url.deletingPathExtension().lastPathComponent
        name = info["name"]?.stringValue ?? stem
        module = text("module")
        upstream = text("upstream")
        call = text("call")
        notes = text("notes")
        // Some generators wrote config as a JSON string holding the object.
        if case .string(let s) = info["config"], let parsed = try? JSONValue.parse(s, source: path),
            case .object = parsed
        {
            configJSON = parsed
        } else {
            configJSON = info["config"] ?? .object([])
        }
        guard !module.isEmpty else {
            throw LatticeError(.invalidFile, "\(path): __metadata__.case has no 'module'")
        }
        params = try file.tensors(prefix: "param.")
        inputs = try file.tensors(prefix: "input.")
        outputNames = file.names.filter { $0.hasPrefix("output.") }.map { String($0.dropFirst(7)) }
        tolerances = try ToleranceTable(info["tolerance"], source: path)
    }

    /// Convenience for a file path.
    public convenience init(path: String) throws { try self.init(url: URL(fileURLWithPath: path)) }

    /// Strings some generators double-encoded (`"\"text\""`) come back plain.
    static func unwrapString(_ v: JSONValue?) -> String? {
        guard let s = v?.stringValue else { return v.map { $0.serialized() } }
        if s.hasPrefix("\""), let inner = try? JSONValue.parse(s, source: ""),
            let t = inner.stringValue
        {
            return t
        }
        return s
    }

    /// The config as JSON bytes.
    public var configData: Data { Data(configJSON.serialized().utf8) }

    /// Decodes the config, e.g. `try fixture.config(SparseStructureFlowModel.Config.self)`.
    public func config<T: Decodable>(_ type: T.Type = T.self) throws -> T {
        do {
            return try JSONDecoder().decode(T.self, from: configData)
        } catch {
            throw LatticeError(
                .invalidConfig,
                "\(url.path): config does not decode as \(T.self): \(error) (config: \(configJSON.serialized().prefix(300)))"
            )
        }
    }

    /// The input `name` (without `input.`); throws `.missingKey` naming the file.
    public func input(_ name: String) throws -> Tensor {
        guard let t = inputs[name] else {
            throw LatticeError(
                .missingKey,
                "\(url.path): no input '\(name)' (have: \(inputs.keys.sorted().joined(separator: ", ")))"
            )
        }
        return t
    }

    /// An input at full precision, for F64 inputs.
    public func inputDoubles(_ name: String) throws -> [Double] {
        try file.doubles("input." + name)
    }

    /// The golden output `name` (without `output.`) as Double, whatever its stored dtype.
    public func reference(_ name: String) throws -> [Double] { try file.doubles("output." + name) }

    /// Stored dtype and shape of output `name`.
    public func outputInfo(_ name: String) -> (dtype: SafetensorsDType, shape: [Int])? {
        file.info("output." + name)
    }

    /// Whether output `name` is an optional debugging intermediate (a part starting with `dbg_`).
    public static func isOptional(_ name: String) -> Bool {
        name.split(separator: ".").contains { $0.hasPrefix("dbg_") }
    }
}
