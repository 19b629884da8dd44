// `lattice demo`: the README's first command. Generates an asset from each bundled example photo
// with the embedded default model (no download), writes GLB, PLY and a turntable GIF per example
// and prints a quality table against the held-out ground truth.
import ArgumentParser
import Foundation
import LatticePipelines
import LatticeTensor
import LatticeTraining

struct Demo: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract:
            "Generate 3D assets from the bundled example photos with the embedded default model "
            + "and score them against the shapes the photos came from.")

    @Option(help: "Output folder.")
    var out = "demo-output"

    @Option(help: "Only these examples (repeatable).")
    var example: [String] = []

    @Option(help: "Sampling seed.")
    var seed: UInt64 = 1

    @Option(help: "Use this model folder instead of the embedded default (for trained candidates).")
    var model: String?

    @Flag(
        help: ArgumentHelp(
            "Take the sparse structure from each example's ground-truth mesh instead of the "
                + "structure flow: scores the SLat flow and decoders alone."))
    var oracleStructure = false

    @Flag(
        inversion: .prefixedNo,
        help: ArgumentHelp(
            "Guide the structure stage by each photo (ReconViaGen-style): toward the "
                + "layered-depth prior's lifted surface when the model folder has one "
                + "(pipeline.json structure_guidance.layered_depth), else toward the silhouette."
                + " Default: as the model folder's pipeline.json says (structure_guidance.enabled)."
        ))
    var structureGuidance: Bool?

    func run() throws {
        let outURL = URL(fileURLWithPath: out)
        do {
            let modelURL = model.map { URL(fileURLWithPath: $0) }
            let names = try EmbeddedDefault.examples().map(\.name)
            print(
                "\(model ?? "embedded default"): \(names.count) bundled example(s) "
                    + "(\(names.joined(separator: ", ")))"
                    + (oracleStructure ? "; structure from the ground truth" : ""))
            var bars: [String: ProgressBar] = [:]
            let scores = try EmbeddedDefault.runDemo(
                outputDirectory: outURL, only: example, seed: seed, model: modelURL,
                oracleStructure: oracleStructure, structureGuidance: structureGuidance
            ) { name, event in
                switch event {
                case .started(let stage, _) where stage != "load":
                    bars[stage] = nil
                case .step(let stage, let index, let total):
                    let bar = bars[stage] ?? ProgressBar("\(name) \(stage)", total: total)
                    bars[stage] = bar
                    bar.update(index + 1)
                case .warning(let text):
                    FileHandle.standardError.write(Data("warning: \(text)\n".utf8))
                case .note(let text):
                    FileHandle.standardError.write(Data("\(name): \(text)\n".utf8))
                default: break
                }
            }
            print("")
            let width = max(8, scores.map(\.name.count).max() ?? 0) + 2
            print(
                "example".padding(toLength: width, withPad: " ", startingAt: 0)
                    + "F-score@0.1  Chamfer   PSNR(dB)  time    F all faces")
            for s in scores {
                print(
                    s.name.padding(toLength: width, withPad: " ", startingAt: 0)
                        + String(
                            format: "%11.3f  %7.4f  %8.2f  %5.1fs  %11.3f", s.fScore, s.chamfer,
                            s.psnr, s.seconds, s.fScoreAllFaces))
            }
            let meanF = scores.map(\.fScore).reduce(0, +) / Float(max(scores.count, 1))
            print(String(format: "mean F-score %.3f over %d example(s)", meanF, scores.count))
            print(
                "(F-score and Chamfer: 20k surface points per mesh, each normalised to [-1, 1]³, "
                    + "on the ground truth's outer surface; F all faces: the same with points on "
                    + "the faces of its parts that lie inside other parts too; PSNR: shaded "
                    + "renders of the GLB vs the ground truth from 4 views)")
            for s in scores {
                print("\(s.name): " + s.files.map(\.path).joined(separator: ", "))
            }
        } catch let e as LatticeError {
            FileHandle.standardError.write(Data("error: \(e)\n".utf8))
            throw ExitCode(2)
        }
    }
}
