// LatticeIO: file formats (PNG/JPEG/GIF images, PLY incl. the 3DGS layout, GLB/glTF, OBJ) and
// image resampling. Readers validate everything and throw errors naming the file; writers write a
// temporary file and rename it, so a failure never leaves a half-written output.
import Foundation
import LatticeGeometry
import LatticeTensor

/// Writes `data` to `url` atomically: a temporary sibling file, then a rename.
public func writeAtomically(_ data: Data, to url: URL) throws {
    let dir = url.deletingLastPathComponent()
    let tmp = dir.appendingPathComponent(".\(url.lastPathComponent).tmp-\(getpid())")
    do {
        try data.write(to: tmp)
        // POSIX rename replaces an existing file atomically (Foundation's replaceItemAt does not
        // on Linux).
        guard rename(tmp.path, url.path) == 0 else {
            throw LatticeError(.io, "\(url.path): rename failed (errno \(errno))")
        }
    } catch let error as LatticeError {
        try? FileManager.default.removeItem(at: tmp)
        throw error
    } catch {
        try? FileManager.default.removeItem(at: tmp)
        throw LatticeError(.io, "\(url.path): could not write (\(error))")
    }
}
