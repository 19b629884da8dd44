// Typed errors for user-facing failures. Each message names the file, key, value and what was
// expected, so a user can fix the input without reading code.

/// An error Lattice reports to its users.
public struct LatticeError: Error, CustomStringConvertible, Sendable, Equatable {
    /// What kind of failure this is, for programmatic handling.
    public enum Kind: String, Sendable {
        case invalidFile, invalidConfig, shapeMismatch, missingKey, unexpectedKey, unsupported
        case invalidArgument, io
    }
    public let kind: Kind
    public let message: String

    public init(_ kind: Kind, _ message: String) {
        self.kind = kind
        self.message = message
    }

    public var description: String { message }
}
