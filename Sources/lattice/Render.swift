// `lattice render`: a turntable (animated GIF, optionally PNG frames) of a mesh or 3DGS asset.
import ArgumentParser
import Foundation
import LatticeIO
import LatticePipelines
import LatticeRender

struct Render: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Render a turntable of a GLB/OBJ/PLY mesh or a 3DGS PLY (TRELLIS's video path).")

    @Argument(help: "The asset file.")
    var asset: String

    @Option(help: "Output folder.")
    var out: String = "out"

    @Option(help: "Number of frames.")
    var frames: Int = 60

    @Option(help: "Frame size in pixels.")
    var size: Int = 256

    @Flag(help: "Also write every frame as a PNG.")
    var pngFrames = false

    func validate() throws {
        if frames < 1 { throw ValidationError("--frames must be at least 1, got \(frames)") }
        if size < 8 { throw ValidationError("--size must be at least 8, got \(size)") }
    }

    func run() throws {
        let url = URL(fileURLWithPath: asset)
        let outDir = URL(fileURLWithPath: out)
        let stem = url.deletingPathExtension().lastPathComponent
        do {
            try FileManager.default.createDirectory(at: outDir, withIntermediateDirectories: true)
            let start = Date()
            let images = try AssetRender.turntable(
                of: url, settings: TurntableSettings(frames: frames, resolution: size, ssaa: 2))
            let gif = outDir.appendingPathComponent("\(stem)_turntable.gif")
            try GIF.write(images, to: gif)
            print(
                "wrote \(gif.path) (\(images.count) frames of \(size)², "
                    + String(format: "%.1f s)", Date().timeIntervalSince(start)))
            if pngFrames {
                let files = try writeFrameSequence(
                    images, to: outDir.appendingPathComponent("\(stem)_frames"))
                print("wrote \(files.count) PNG frames to \(out)/\(stem)_frames")
            }
        } catch {
            FileHandle.standardError.write(Data("error: \(error)\n".utf8))
            throw ExitCode(1)
        }
    }
}
