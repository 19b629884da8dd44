// `lattice inspect`: lists a safetensors file's tensors and metadata, and says which model the
// tensors fit (verified against the `{"name","args"}` JSON beside the file when there is one).
import ArgumentParser
import Foundation
import LatticeModels
import LatticePipelines
import LatticeTensor

struct Inspect: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "List the tensors (name, dtype, shape, bytes) and metadata of a safetensors file."
    )

    @Argument(help: "A .safetensors file.")
    var file: String

    @Option(
        help: """
            The model's {"name","args"} JSON to verify the tensors against (default: the .json \
            beside the file, as in upstream ckpts/ folders).
            """)
    var config: String?

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
        let jsonPath =
            config ?? (file.hasSuffix(".safetensors") ? String(file.dropLast(12)) + ".json" : "")
        var descriptor: ModelDescriptor?
        if FileManager.default.fileExists(atPath: jsonPath) {
            do {
                descriptor = try ModelDescriptor(contentsOf: URL(fileURLWithPath: jsonPath))
            } catch {
                FileHandle.standardError.write(Data("error: \(error)\n".utf8))
                throw ExitCode(2)
            }
        } else if let config {
            FileHandle.standardError.write(Data("error: \(config): no such file\n".utf8))
            throw ExitCode(2)
        }
        let fit = ModelFit.check(st, descriptor: descriptor)
        print("model:")
        for line in fit.lines { print("  \(line)") }
        if descriptor != nil && !fit.verified { throw ExitCode(1) }
    }
}
