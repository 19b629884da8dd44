// TEMPORARY safetensors reader for the model fixture tests, until the io helper's
// SafetensorsFile (LatticeTensor/IO) lands; then the tests switch to it and this file goes.
import Foundation
import LatticeTensor

/// One parity fixture file: tensors by full name and the `case` metadata object.
struct TempFixtureFile {
    let tensors: [String: Tensor]
    let caseInfo: [String: Any]

    init(url: URL) throws {
        let data = try Data(contentsOf: url)
        let bytes = [UInt8](data)
        guard bytes.count >= 8 else { throw LatticeError(.invalidFile, "\(url.path): too short") }
        var headerLength = 0
        for i in 0..<8 { headerLength |= Int(bytes[i]) << (8 * i) }
        guard 8 + headerLength <= bytes.count,
            let header = try JSONSerialization.jsonObject(
                with: data.subdata(in: 8..<(8 + headerLength))) as? [String: Any]
        else { throw LatticeError(.invalidFile, "\(url.path): bad header") }
        let base = 8 + headerLength
        var tensors: [String: Tensor] = [:]
        var info: [String: Any] = [:]
        for (name, value) in header {
            if name == "__metadata__" {
                if let meta = value as? [String: String], let c = meta["case"],
                    let obj = try JSONSerialization.jsonObject(with: Data(c.utf8)) as? [String: Any]
                {
                    info = obj
                }
                continue
            }
            guard let entry = value as? [String: Any], let dt = entry["dtype"] as? String,
                let dtype = DType(safetensorsName: dt), let shape = entry["shape"] as? [Int],
                let offsets = entry["data_offsets"] as? [Int]
            else { throw LatticeError(.invalidFile, "\(url.path): unsupported entry \(name)") }
            let t = Tensor(empty: shape, dtype: dtype)
            let n = offsets[1] - offsets[0]
            precondition(n == t.count * dtype.byteSize, "\(name): byte count mismatch")
            bytes.withUnsafeBufferPointer { src in
                t.storage.data.copyMemory(from: src.baseAddress! + base + offsets[0], byteCount: n)
            }
            tensors[name] = t
        }
        self.tensors = tensors
        self.caseInfo = info
    }

    /// Tensors whose names start with `prefix`, keyed without it.
    func group(_ prefix: String) -> [String: Tensor] {
        var out: [String: Tensor] = [:]
        for (k, v) in tensors where k.hasPrefix(prefix) {
            out[String(k.dropFirst(prefix.count))] = v
        }
        return out
    }
}
