// `lattice-bench`: speed and memory measurements (never run in tests).
import ArgumentParser
import LatticeModels

@main
struct LatticeBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "lattice-bench", abstract: "Run Lattice benchmarks by name.")
    func run() throws {}
}
