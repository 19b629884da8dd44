// `lattice-bench`: runs the benchmarks in Registry.swift whose names match, and prints a table or
// JSON lines (one object per BenchResult). Never part of the test suite.
import ArgumentParser
import Foundation
import LatticeModels
import LatticeTensor

@main
struct LatticeBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "lattice-bench",
        abstract: "Run Lattice benchmarks by name.",
        discussion: """
            NAMES select benchmarks by prefix (`gemm`) or glob (`*attention*`); none selects all. \
            Speedup > 1 means Lattice beats the baseline.
            """)

    @Argument(help: "Benchmark name prefixes or globs (default: all).")
    var names: [String] = []

    @Flag(help: "List matching benchmarks without running them.")
    var list = false

    @Flag(help: "Print one JSON object per result instead of a table.")
    var json = false

    @Option(help: "Worker threads (default: all cores or LATTICE_THREADS).")
    var threads: Int?

    func validate() throws {
        if let t = threads, t < 1 {
            throw ValidationError("--threads must be at least 1, got \(t)")
        }
    }

    func run() throws {
        if let threads { Parallel.threadCount = threads }
        let selected = allBenchmarks.filter { b in
            names.isEmpty || names.contains { BenchSelection.matches(pattern: $0, name: b.name) }
        }
        guard !selected.isEmpty else {
            let known = allBenchmarks.map(\.name).joined(separator: ", ")
            throw ValidationError("no benchmark matches \(names) (known: \(known))")
        }
        if list {
            let width = selected.map(\.name.count).max() ?? 0
            for b in selected {
                print(
                    "\(b.name.padding(toLength: width, withPad: " ", startingAt: 0))  \(b.summary)")
            }
            return
        }
        if !json { print(BenchTable.header) }
        var failed = false
        for b in selected {
            do {
                for r in try b.run() { print(json ? BenchTable.jsonLine(r) : BenchTable.row(r)) }
            } catch {
                failed = true
                FileHandle.standardError.write(Data("\(b.name): error: \(error)\n".utf8))
            }
        }
        if failed { throw ExitCode(1) }
    }
}

/// Name selection: a pattern with `*` or `?` is a glob over the whole name, otherwise a prefix.
enum BenchSelection {
    static func matches(pattern: String, name: String) -> Bool {
        if pattern.contains("*") || pattern.contains("?") { return glob(pattern[...], name[...]) }
        return name.hasPrefix(pattern)
    }

    private static func glob(_ p: Substring, _ s: Substring) -> Bool {
        guard let c = p.first else { return s.isEmpty }
        if c == "*" {
            var rest = s
            while true {
                if glob(p.dropFirst(), rest) { return true }
                guard !rest.isEmpty else { return false }
                rest = rest.dropFirst()
            }
        }
        guard let d = s.first, c == "?" || c == d else { return false }
        return glob(p.dropFirst(), s.dropFirst())
    }
}

/// Text and JSON renderings of results.
enum BenchTable {
    static let header =
        pad("name", 44) + pad("value", 12) + pad("unit", 8) + pad("baseline", 44) + "speedup"

    static func pad(_ s: String, _ n: Int) -> String {
        s.count >= n ? s + " " : s.padding(toLength: n, withPad: " ", startingAt: 0)
    }

    static func number(_ x: Double) -> String {
        x.magnitude >= 1e5 || (x != 0 && x.magnitude < 1e-2)
            ? String(format: "%.3e", x) : String(format: "%.3f", x)
    }

    static func row(_ r: BenchResult) -> String {
        var baseline = "-"
        if let v = r.baselineValue { baseline = number(v) + (r.baseline.map { " (\($0))" } ?? "") }
        let speedup = r.speedup.map { String(format: "%.2fx", $0) } ?? "-"
        var line =
            pad(r.name, 44) + pad(number(r.value), 12) + pad(r.unit, 8) + pad(baseline, 44)
            + speedup
        if let n = r.notes { line += "  # \(n)" }
        return line
    }

    static func jsonLine(_ r: BenchResult) -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        guard let data = try? encoder.encode(r), let s = String(data: data, encoding: .utf8) else {
            return "{\"name\": \"\(r.name)\", \"error\": \"cannot encode\"}"
        }
        return s
    }
}
