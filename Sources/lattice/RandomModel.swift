// `lattice random-model`: writes a model folder in the upstream layout with seeded random weights
// (tiny for smoke runs, image-large for memory and speed measurements without downloads).
import ArgumentParser
import Foundation
import LatticePipelines

struct RandomModel: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "random-model",
        abstract: "Write a TRELLIS model folder (pipeline.json + ckpts/) with random weights.",
        discussion: """
            Presets: tiny (a few MB, generates in seconds) and image-large (the released \
            TRELLIS-image-large architectures, about 4.5 GB). The assets such a model generates \
            are noise; the folder exists to exercise and measure the pipeline.
            """)

    @Option(help: "tiny or image-large.")
    var preset: String = "tiny"

    @Option(help: "Output folder.")
    var out: String

    @Option(help: "Random seed for the weights.")
    var seed: UInt64 = 0

    func validate() throws {
        if RandomModelFolder.Preset(rawValue: preset) == nil {
            throw ValidationError("--preset must be tiny or image-large, got '\(preset)'")
        }
    }

    func run() throws {
        guard let p = RandomModelFolder.Preset(rawValue: preset) else { throw ExitCode(2) }
        do {
            try RandomModelFolder.write(p, to: URL(fileURLWithPath: out), seed: seed) { name in
                FileHandle.standardError.write(Data("writing \(name)\n".utf8))
            }
        } catch {
            FileHandle.standardError.write(Data("error: \(error)\n".utf8))
            throw ExitCode(1)
        }
        print("wrote \(out)/pipeline.json and its checkpoints")
    }
}
