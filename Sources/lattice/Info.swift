// `lattice info`: what an image or mesh file holds (size/format, counts, bounds, attributes).
import ArgumentParser
import Foundation
import LatticeIO

struct Info: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Describe an asset: PNG/JPEG size and format, or OBJ/PLY/GLB counts and bounds.")

    @Argument(help: "An image (.png, .jpg) or mesh (.obj, .ply, .glb) file.")
    var asset: String

    func run() throws {
        do {
            print(try describeAsset(at: URL(fileURLWithPath: asset)))
        } catch {
            FileHandle.standardError.write(Data("error: \(error)\n".utf8))
            throw ExitCode(2)
        }
    }
}
