// Upstream checkpoint descriptors (`ckpts/<name>.json` = {"name": class, "args": kwargs}) and a
// strict decoder for config structs: unknown fields are errors that name the field and file,
// because a silently ignored kwarg would build a different model than upstream.
import Foundation
import LatticeTensor

/// The `{"name", "args"}` JSON that sits beside every upstream checkpoint.
public struct ModelDescriptor: Sendable {
    /// The upstream class name, e.g. `SLatFlowModel`.
    public let name: String
    /// The constructor kwargs as JSON bytes (decode with `decodeUpstreamConfig`).
    public let args: Data
    /// Where the descriptor came from, for error messages.
    public let source: String

    /// A descriptor from its parts.
    public init(name: String, args: Data, source: String) {
        self.name = name
        self.args = args
        self.source = source
    }

    /// Reads `url` (a `ckpts/<name>.json`).
    public init(contentsOf url: URL) throws {
        let data: Data
        do { data = try Data(contentsOf: url) } catch {
            throw LatticeError(.io, "\(url.path): cannot read model config (\(error))")
        }
        try self.init(json: data, source: url.path)
    }

    /// Parses `{"name": String, "args": {...}}`.
    public init(json data: Data, source: String) throws {
        guard let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else {
            throw LatticeError(.invalidConfig, "\(source): not a JSON object")
        }
        guard let name = object["name"] as? String else {
            throw LatticeError(
                .invalidConfig, "\(source): missing string field 'name' (the model class)")
        }
        let args = object["args"] as? [String: Any] ?? [:]
        if object["args"] != nil, !(object["args"] is [String: Any]) {
            throw LatticeError(.invalidConfig, "\(source): field 'args' must be an object")
        }
        for key in object.keys where key != "name" && key != "args" {
            throw LatticeError(
                .invalidConfig, "\(source): unknown field '\(key)' (expected 'name' and 'args')")
        }
        self.name = name
        self.args = try JSONSerialization.data(withJSONObject: args, options: [.sortedKeys])
        self.source = source
    }

    /// Decodes `args` into `T`, rejecting fields `T` does not know.
    public func config<T: Codable>(_ type: T.Type) throws -> T {
        try decodeUpstreamConfig(type, from: args, source: "\(source) (args of \(name))")
    }
}

/// Decodes an upstream kwargs object into `T` strictly: a missing required field, a wrong type or
/// a field `T` does not know is an error naming the field and `source`.
///
/// Unknown fields are found generically: `T` is decoded, encoded back with the same coding keys,
/// and every non-null input key that does not come back is one `T` ignored.
public func decodeUpstreamConfig<T: Codable>(_ type: T.Type, from data: Data, source: String)
    throws -> T
{
    let value: T
    do {
        value = try JSONDecoder().decode(T.self, from: data)
    } catch let DecodingError.keyNotFound(key, _) {
        throw LatticeError(.invalidConfig, "\(source): missing required field '\(key.stringValue)'")
    } catch let DecodingError.typeMismatch(expected, context) {
        let path = context.codingPath.map(\.stringValue).joined(separator: ".")
        throw LatticeError(
            .invalidConfig, "\(source): field '\(path)' has the wrong type (expected \(expected))")
    } catch let DecodingError.valueNotFound(expected, context) {
        let path = context.codingPath.map(\.stringValue).joined(separator: ".")
        throw LatticeError(
            .invalidConfig, "\(source): field '\(path)' is null (expected \(expected))")
    } catch let DecodingError.dataCorrupted(context) {
        let path = context.codingPath.map(\.stringValue).joined(separator: ".")
        throw LatticeError(
            .invalidConfig,
            "\(source): invalid JSON\(path.isEmpty ? "" : " at '\(path)'"): "
                + context.debugDescription)
    } catch {
        throw LatticeError(.invalidConfig, "\(source): \(error)")
    }
    guard let input = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else {
        return value
    }
    let encoded = try JSONEncoder().encode(value)
    let known = (try? JSONSerialization.jsonObject(with: encoded) as? [String: Any]) ?? [:]
    let unknown = input.keys.filter { key in known[key] == nil && !(input[key] is NSNull) }.sorted()
    if let first = unknown.first {
        let knownList = known.keys.sorted().joined(separator: ", ")
        throw LatticeError(
            .invalidConfig,
            "\(source): unknown field '\(first)'"
                + (unknown.count > 1
                    ? " (and \(unknown.count - 1) more: \(unknown.dropFirst()))" : "")
                + " for \(T.self); known fields: \(knownList)")
    }
    return value
}
