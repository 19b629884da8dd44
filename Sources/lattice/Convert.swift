// `lattice convert`: mesh format conversion (OBJ/PLY/GLB by extension), keeping colours.
import ArgumentParser
import Foundation
import LatticeIO

struct Convert: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Convert a mesh between OBJ, PLY and GLB (by extension), keeping colours.")

    @Argument(help: "Input mesh (.obj, .ply, .glb).")
    var input: String

    @Argument(help: "Output mesh (.obj, .ply, .glb); written atomically.")
    var output: String

    func run() throws {
        do {
            let mesh = try convertMesh(
                from: URL(fileURLWithPath: input), to: URL(fileURLWithPath: output))
            print("wrote \(output): \(mesh.vertices.count) vertices, \(mesh.faces.count) faces")
        } catch {
            FileHandle.standardError.write(Data("error: \(error)\n".utf8))
            throw ExitCode(2)
        }
    }
}
