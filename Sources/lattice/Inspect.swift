// `lattice inspect`: lists a safetensors file's tensors and metadata.
import ArgumentParser
import Foundation
import LatticeTensor

struct Inspect: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "List the tensors (name, dtype, shape, bytes) and metadata of a safetensors file."
    )

    @Argument(help: "A .safetensors file.")
    var file: String

    func run() throws {
        let st: SafetensorsFile
        do {
            st = try SafetensorsFile(path: file)
        } catch {
            FileHandle.standardError.write(Data("error: \(error)\n".utf8))
            throw ExitCode(2)
        }
        let entries = st.allEntries
        func pad(_ s: String, _ n: Int) -> String {
            s.padding(toLength: n, withPad: " ", startingAt: 0)
        }
        let width = max(4, entries.map(\.name.count).max() ?? 0)
        let shapes = entries.map { "\($0.shape)" }
        let shapeWidth = max(5, shapes.map(\.count).max() ?? 0)
        print("\(pad("name", width))  dtype  \(pad("shape", shapeWidth))  bytes")
        for (e, shape) in zip(entries, shapes) {
            print(
                "\(pad(e.name, width))  \(pad(e.dtype.rawValue, 5))  \(pad(shape, shapeWidth))  \(e.byteCount)"
            )
        }
        let total = entries.reduce(0) { $0 + $1.byteCount }
        print("\(entries.count) tensors, \(total) bytes of data")
        if !st.metadata.isEmpty {
            print("metadata:")
            for (k, v) in st.metadata.sorted(by: { $0.key < $1.key }) { print("  \(k): \(v)") }
        }
    }
}
