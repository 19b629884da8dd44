// Parity fixtures: finds the handler for a fixture, runs it, compares its outputs with the
// upstream golden outputs under the fixture's tolerances, and reports per output.
import Foundation
import LatticeTensor

/// A computed output a handler returns: a Lattice tensor, or float64 values for outputs that
/// upstream computes in double precision.
public protocol FixtureValue {
    /// Shape of the value.
    var fixtureShape: [Int] { get }
    /// Elements in row-major order, as Double.
    func fixtureDoubles() -> [Double]
}

extension Tensor: FixtureValue {
    public var fixtureShape: [Int] { shape }
    public func fixtureDoubles() -> [Double] {
        switch dtype {
        case .int32, .int64, .uint8, .bool: return toInts().map(Double.init)
        default: return toFloats().map(Double.init)
        }
    }
}

/// Float64 values with a shape, for outputs computed in double precision.
public struct DoubleTensor: FixtureValue, Sendable {
    public var shape: [Int]
    public var values: [Double]

    public init(_ values: [Double], shape: [Int]) {
        precondition(
            values.count == shape.reduce(1, *), "\(values.count) values do not fill shape \(shape)")
        self.values = values
        self.shape = shape
    }

    public var fixtureShape: [Int] { shape }
    public func fixtureDoubles() -> [Double] { values }
}

/// Runs a fixture's module and returns its outputs by output name (without `output.`).
public typealias FixtureHandler = @Sendable (Fixture) throws -> [String: any FixtureValue]

/// One registry line: which fixtures a handler runs.
public struct FixtureHandlerEntry: Sendable {
    public enum Match: Sendable, Equatable {
        /// Case names starting with this (`trellis__ss_flow` covers `trellis__ss_flow_fp16`).
        case casePrefix(String)
        /// The case's `module` exactly.
        case module(String)
    }

    public let match: Match
    public let handler: FixtureHandler

    /// Handles cases whose name starts with `prefix`.
    public static func casePrefix(_ prefix: String, _ handler: @escaping FixtureHandler) -> Self {
        FixtureHandlerEntry(match: .casePrefix(prefix), handler: handler)
    }

    /// Handles cases whose `module` equals `module`.
    public static func module(_ module: String, _ handler: @escaping FixtureHandler) -> Self {
        FixtureHandlerEntry(match: .module(module), handler: handler)
    }
}

/// Maps fixtures to handlers. The longest matching case prefix wins; module matches come after.
public struct FixtureRegistry: Sendable {
    public var entries: [FixtureHandlerEntry]

    /// A registry of exactly `entries` (tests build their own; the CLI uses `standard`).
    public init(_ entries: [FixtureHandlerEntry]) { self.entries = entries }

    /// Every handler in Registry.swift.
    public static let standard = FixtureRegistry(FixtureRegistry.handlers)

    /// The handler for `fixture`, or nil when none is registered.
    public func handler(for fixture: Fixture) -> FixtureHandler? {
        entry(caseName: fixture.name, module: fixture.module)?.handler
    }

    /// The entry for a case name and module, or nil.
    public func entry(caseName: String, module: String) -> FixtureHandlerEntry? {
        var best: (length: Int, entry: FixtureHandlerEntry)?
        for e in entries {
            if case .casePrefix(let p) = e.match, caseName.hasPrefix(p),
                p.count > (best?.length ?? -1)
            {
                best = (p.count, e)
            }
        }
        if let best { return best.entry }
        return entries.first { $0.match == .module(module) }
    }
}

/// The comparison of one output.
public struct OutputCheck: Sendable {
    public enum Status: String, Sendable {
        /// Within tolerance everywhere.
        case passed
        /// Some element beyond tolerance, a shape mismatch, or a required output not produced.
        case failed
        /// An optional `dbg_*` output the handler does not produce.
        case skipped
    }

    public let name: String
    public let status: Status
    /// max |computed - reference| (nil when not compared).
    public let maxAbsError: Double?
    public let tolerance: ResolvedTolerance?
    /// Elements beyond their bound.
    public let violations: Int
    /// Why it failed or was skipped.
    public let detail: String?

    public var passed: Bool { status != .failed }
}

/// The result of checking one fixture file.
public struct FixtureReport: Sendable {
    public enum Status: String, Sendable {
        case passed, failed
        /// No handler is registered for the case.
        case unsupported
        /// The file is malformed (bad safetensors, missing metadata, unreadable tolerance).
        case invalid
        /// The handler threw.
        case error
    }

    public let url: URL
    /// Case name (file name stem when the file could not be read).
    public let caseName: String
    public let module: String
    public let status: Status
    public let message: String?
    public let outputs: [OutputCheck]
    /// Handler wall time in seconds.
    public let seconds: Double
}

extension FixtureReport: CustomStringConvertible {
    /// One line: case, status, message, and every output that did not pass (for test messages).
    public var description: String {
        var s = "\(caseName): \(status.rawValue)"
        if let message { s += " (\(message))" }
        for o in outputs where o.status == .failed {
            let err = o.maxAbsError.map { "max|err| \($0)" } ?? (o.detail ?? "")
            s += "; \(o.name): \(err) vs \(o.tolerance.map { "\($0.tolerance)" } ?? "no tolerance")"
        }
        return s
    }
}

/// Checks fixture files against the registered handlers.
public struct FixtureRunner: Sendable {
    public let registry: FixtureRegistry

    public init(registry: FixtureRegistry = .standard) { self.registry = registry }

    /// Checks `url` with the standard registry.
    public static func check(_ url: URL) -> FixtureReport { FixtureRunner().check(url) }

    /// Loads `url`, runs its handler and compares every golden output. Never throws: problems
    /// become the report's status and message.
    public func check(_ url: URL) -> FixtureReport {
        let stem = url.deletingPathExtension().lastPathComponent
        let fixture: Fixture
        do {
            fixture = try Fixture(url: url)
        } catch {
            return FixtureReport(
                url: url, caseName: stem, module: "", status: .invalid, message: "\(error)",
                outputs: [],
                seconds: 0)
        }
        guard let handler = registry.handler(for: fixture) else {
            return FixtureReport(
                url: url, caseName: fixture.name, module: fixture.module, status: .unsupported,
                message:
                    "no handler registered for case '\(fixture.name)' or module '\(fixture.module)'",
                outputs: [], seconds: 0)
        }
        let t0 = DispatchTime.now().uptimeNanoseconds
        let computed: [String: any FixtureValue]
        do {
            computed = try handler(fixture)
        } catch {
            return FixtureReport(
                url: url, caseName: fixture.name, module: fixture.module, status: .error,
                message: "\(error)", outputs: [], seconds: 0)
        }
        let seconds = Double(DispatchTime.now().uptimeNanoseconds - t0) * 1e-9
        var checks: [OutputCheck] = []
        for name in fixture.outputNames {
            checks.append(
                FixtureRunner.compare(fixture: fixture, output: name, computed: computed[name]))
        }
        let failed = checks.contains { $0.status == .failed }
        return FixtureReport(
            url: url, caseName: fixture.name, module: fixture.module,
            status: failed ? .failed : .passed,
            message: nil, outputs: checks, seconds: seconds)
    }

    /// Compares one output with its reference (in Double, so F64 references keep their precision).
    static func compare(fixture: Fixture, output name: String, computed: (any FixtureValue)?)
        -> OutputCheck
    {
        guard let info = fixture.outputInfo(name) else {
            return OutputCheck(
                name: name, status: .failed, maxAbsError: nil, tolerance: nil, violations: 0,
                detail: "not in the file")
        }
        let tol =
            ToleranceOverride.resolve(case: fixture.name, output: name)
            ?? fixture.tolerances.resolve(name, dtype: info.dtype)
        guard let computed else {
            if Fixture.isOptional(name) {
                return OutputCheck(
                    name: name, status: .skipped, maxAbsError: nil, tolerance: tol, violations: 0,
                    detail: "optional, not produced")
            }
            return OutputCheck(
                name: name, status: .failed, maxAbsError: nil, tolerance: tol, violations: 0,
                detail: "not produced by the handler")
        }
        guard let tol else {
            return OutputCheck(
                name: name, status: .failed, maxAbsError: nil, tolerance: nil, violations: 0,
                detail: "the fixture gives no tolerance for this output")
        }
        guard computed.fixtureShape == info.shape else {
            return OutputCheck(
                name: name, status: .failed, maxAbsError: nil, tolerance: tol, violations: 0,
                detail: "shape \(computed.fixtureShape), expected \(info.shape)")
        }
        let reference: [Double]
        do {
            reference = try fixture.reference(name)
        } catch {
            return OutputCheck(
                name: name, status: .failed, maxAbsError: nil, tolerance: tol, violations: 0,
                detail: "\(error)")
        }
        if name.hasSuffix("ply_bytes"), info.dtype == .U8,
            let floatTol = fixture.tolerances.resolve(name, dtype: .F32)
        {
            return comparePLYBytes(
                name: name, computed.fixtureDoubles(), reference, floatTol, bytesTol: tol)
        }
        let (maxErr, violations) = compare(computed.fixtureDoubles(), reference, tol.tolerance)
        return OutputCheck(
            name: name, status: violations == 0 ? .passed : .failed, maxAbsError: maxErr,
            tolerance: tol, violations: violations, detail: nil)
    }

    /// Binary PLY bytes (`*ply_bytes`): the fixtures ask for the header byte-exact and the
    /// float32 payload within the float tolerance, since float bytes differ at the last ulp.
    static func comparePLYBytes(
        name: String, _ a: [Double], _ b: [Double], _ floatTol: ResolvedTolerance,
        bytesTol: ResolvedTolerance
    ) -> OutputCheck {
        let marker = Array("end_header\n".utf8).map(Double.init)
        func headerEnd(_ v: [Double]) -> Int? {
            guard v.count >= marker.count else { return nil }
            for i in 0...(v.count - marker.count) where Array(v[i..<(i + marker.count)]) == marker {
                return i + marker.count
            }
            return nil
        }
        guard let ha = headerEnd(a), let hb = headerEnd(b), ha == hb, a[..<ha] == b[..<hb],
            (a.count - ha) % 4 == 0
        else {
            let (maxErr, bad) = compare(a, b, .exact)
            return OutputCheck(
                name: name, status: bad == 0 ? .passed : .failed, maxAbsError: maxErr,
                tolerance: bytesTol, violations: bad, detail: "PLY headers differ")
        }
        func floats(_ v: [Double]) -> [Double] {
            stride(from: ha, to: v.count, by: 4).map { i in
                let bits = (0..<4).reduce(UInt32(0)) { $0 | UInt32(v[i + $1]) << (8 * $1) }
                return Double(Float(bitPattern: bits))
            }
        }
        let (maxErr, bad) = compare(floats(a), floats(b), floatTol.tolerance)
        return OutputCheck(
            name: name, status: bad == 0 ? .passed : .failed, maxAbsError: maxErr,
            tolerance: floatTol, violations: bad,
            detail: "header exact; float32 payload compared as floats")
    }

    /// max |a - b| and the number of elements beyond `tolerance`. Equal values (infinities
    /// included) and NaN against NaN agree; NaN against a number counts as an infinite error.
    public static func compare(_ a: [Double], _ b: [Double], _ tolerance: Tolerance) -> (
        maxAbsError: Double, violations: Int
    ) {
        precondition(a.count == b.count, "compare: \(a.count) vs \(b.count) values")
        var maxErr = 0.0
        var bad = 0
        for i in a.indices {
            let x = a[i]
            let y = b[i]
            if x == y || (x.isNaN && y.isNaN) { continue }
            let err = (x - y).magnitude
            let e = err.isNaN ? Double.infinity : err
            maxErr = Swift.max(maxErr, e)
            if !(e <= tolerance.bound(reference: y)) { bad += 1 }
        }
        return (maxErr, bad)
    }
}
