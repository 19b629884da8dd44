// `lattice check-fixture`: runs parity fixtures and compares with the upstream outputs.
import ArgumentParser
import Foundation
import LatticeFixtures
import LatticeTensor

struct CheckFixture: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check-fixture",
        abstract: "Check Lattice against upstream golden outputs stored in parity fixtures.",
        discussion: """
            Prints one line per output (max abs error vs tolerance) and a verdict per file.
            Exit status: 0 all passed, 1 an output failed or a handler threw, 2 a file is \
            malformed or its module has no handler (unless --allow-unsupported).
            """)

    @Argument(help: "Fixture files (*.safetensors), or folders to check every fixture in.")
    var files: [String]

    @Flag(help: "Print only the verdict line of each file.")
    var quiet = false

    @Flag(
        help: """
            Report fixtures whose module has no port yet as unsupported without failing: exit \
            status then reflects only the fixtures that ran.
            """)
    var allowUnsupported = false

    @Flag(help: "Print one JSON object per output instead of text.")
    var json = false

    @Option(help: "Worker threads (default: all cores or LATTICE_THREADS).")
    var threads: Int?

    func validate() throws {
        if files.isEmpty { throw ValidationError("give at least one fixture file") }
        if let t = threads, t < 1 {
            throw ValidationError("--threads must be at least 1, got \(t)")
        }
    }

    func run() throws {
        if let threads { Parallel.threadCount = threads }
        let runner = FixtureRunner()
        var exit: Int32 = 0
        var counts: [FixtureReport.Status: Int] = [:]
        let paths = files.flatMap(CheckFixture.expand)
        for path in paths {
            let report = runner.check(URL(fileURLWithPath: path))
            if json { printJSON(report, path: path) } else { printText(report, path: path) }
            counts[report.status, default: 0] += 1
            switch report.status {
            case .passed: break
            case .failed, .error: exit = max(exit, 1)
            case .unsupported: if !allowUnsupported { exit = 2 }
            case .invalid: exit = 2
            }
        }
        if !json && paths.count > 1 {
            let order: [FixtureReport.Status] = [.passed, .failed, .error, .unsupported, .invalid]
            print(
                order.compactMap { s in counts[s].map { "\($0) \(s.rawValue)" } }.joined(
                    separator: ", "))
        }
        if exit != 0 { throw ExitCode(exit) }
    }

    /// A folder stands for its `*.safetensors` files, sorted; anything else is taken as is.
    static func expand(_ path: String) -> [String] {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory),
            isDirectory.boolValue,
            let names = try? FileManager.default.contentsOfDirectory(atPath: path)
        else { return [path] }
        return names.filter { $0.hasSuffix(".safetensors") }.sorted().map { path + "/" + $0 }
    }

    private func format(_ x: Double?) -> String {
        guard let x else { return "-".padding(toLength: 8, withPad: " ", startingAt: 0) }
        return String(format: "%.2e", x)
    }

    private func printText(_ r: FixtureReport, path: String) {
        let width = max(8, r.outputs.map(\.name.count).max() ?? 0)
        for o in r.outputs where !quiet {
            let name = o.name.padding(toLength: width, withPad: " ", startingAt: 0)
            let tol = o.tolerance.map { "\($0.tolerance)" } ?? "none"
            var line = "  \(name)  max|err| \(format(o.maxAbsError))  tol \(tol)  "
            switch o.status {
            case .passed: line += "ok"
            case .skipped: line += "skipped"
            case .failed: line += "FAIL"
            }
            if o.violations > 0 { line += " (\(o.violations) elements beyond tolerance)" }
            if let d = o.detail { line += " [\(d)]" }
            print(line)
        }
        switch r.status {
        case .passed, .failed:
            let n = r.outputs.filter { $0.status == .passed }.count
            let skipped = r.outputs.filter { $0.status == .skipped }.count
            let verdict = r.status == .passed ? "PASS" : "FAIL"
            print(
                "\(r.caseName): \(verdict) (\(n)/\(r.outputs.count - skipped) outputs ok"
                    + (skipped > 0 ? ", \(skipped) optional skipped" : "")
                    + String(format: ", %.2f s)", r.seconds))
        case .unsupported:
            print("\(r.caseName): UNSUPPORTED (\(path): \(r.message ?? ""))")
        case .invalid:
            print("\(r.caseName): INVALID (\(r.message ?? path))")
        case .error:
            print("\(r.caseName): ERROR (\(path): \(r.message ?? ""))")
        }
    }

    private func printJSON(_ r: FixtureReport, path: String) {
        func emit(_ object: [String: Any]) {
            if let data = try? JSONSerialization.data(
                withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes]),
                let s = String(data: data, encoding: .utf8)
            {
                print(s)
            }
        }
        guard r.status == .passed || r.status == .failed else {
            emit([
                "file": path, "case": r.caseName, "output": NSNull(), "pass": false,
                "status": r.status.rawValue, "message": r.message ?? "",
            ])
            return
        }
        for o in r.outputs {
            var obj: [String: Any] = [
                "file": path, "case": r.caseName, "output": o.name, "pass": o.passed,
                "status": o.status.rawValue,
                "tolerance": o.tolerance.map { "\($0.tolerance)" } ?? NSNull(),
                "max_abs_error": o.maxAbsError.map { $0.isFinite ? $0 as Any : "inf" } ?? NSNull(),
            ]
            if let t = o.tolerance { obj["tolerance_source"] = t.source }
            if let d = o.detail { obj["detail"] = d }
            emit(obj)
        }
    }
}
