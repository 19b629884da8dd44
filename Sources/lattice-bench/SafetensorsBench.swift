// Safetensors I/O speed: opening (header + views), first full read through the map, and writing,
// against plain whole-file reads and writes measured in the same run.
import Foundation
import LatticeTensor

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

enum SafetensorsBench {
    /// File size in MB (`LATTICE_BENCH_ST_MB`, default 256).
    static var megabytes: Int {
        ProcessInfo.processInfo.environment["LATTICE_BENCH_ST_MB"].flatMap { Int($0) } ?? 256
    }

    static let benchmarks: [Benchmark] = [
        Benchmark(
            name: "safetensors-f16-256MB",
            summary:
                "open, full read (to f32) and write of 64 f16 tensors; vs plain read(2)/write(2)",
            run: run)
    ]

    /// 64 f16 tensors filling `megabytes`: [rows, 4096] each.
    static func makeTensors() -> [String: Tensor] {
        let tensorCount = 64
        let elementsPerTensor = megabytes * 1_000_000 / 2 / tensorCount
        let rows = max(1, elementsPerTensor / 4096)
        var g = RandomGenerator(seed: 1)
        var tensors: [String: Tensor] = [:]
        let base = Tensor.randn([rows, 4096], generator: &g).to(.float16)  // [rows, 4096]
        for i in 0..<tensorCount { tensors["blocks.\(i).weight"] = base }
        return tensors
    }

    static func run() throws -> [BenchResult] {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent(
            "lattice-bench-\(getpid())")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let url = dir.appendingPathComponent("model.safetensors")
        let tensors = makeTensors()
        let label = "safetensors-f16-\(megabytes)MB"

        var writeError: Error?
        let writeSeconds = Timing.median(warmup: 1, repeats: 3) {
            do { try Safetensors.write(tensors, metadata: ["format": "pt"], to: url) } catch {
                writeError = error
            }
        }
        if let writeError { throw writeError }
        let bytes = Double(
            (try FileManager.default.attributesOfItem(atPath: url.path)[.size] as? Int) ?? 0)
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: Int(bytes), alignment: 64)
        defer { buffer.deallocate() }
        let plainPath = dir.appendingPathComponent("plain.bin").path
        let plainWriteSeconds = Timing.median(warmup: 1, repeats: 3) {
            posixWrite(buffer, to: plainPath)
        }

        // Page cache is warm after writing: these measure mapping and memory traffic, not the disk.
        var openError: Error?
        let openSeconds = Timing.median(warmup: 2, repeats: 9) {
            do {
                let f = try SafetensorsFile(url: url)
                _ = try f.tensors()
            } catch { openError = error }
        }
        if let openError { throw openError }
        let readSeconds = Timing.median(warmup: 1, repeats: 5) {
            guard let f = try? SafetensorsFile(url: url), let ts = try? f.tensors() else { return }
            for (_, t) in ts { _ = t.to(.float32) }
        }
        let plainReadSeconds = Timing.median(warmup: 1, repeats: 5) {
            posixRead(url.path, into: buffer)
        }

        let gb = bytes / 1e9
        return [
            BenchResult(
                name: "\(label)-open", value: openSeconds * 1e3, unit: "ms",
                baseline: "read(2) of the whole file, same run",
                baselineValue: plainReadSeconds * 1e3, notes: "header parse + 64 lazy views"),
            BenchResult(
                name: "\(label)-read-to-f32", value: gb / readSeconds, unit: "GB/s",
                baseline: "read(2) of the whole file, same run",
                baselineValue: gb / plainReadSeconds,
                notes: "open + convert every tensor to f32 (touches every page)"),
            BenchResult(
                name: "\(label)-write", value: gb / writeSeconds, unit: "GB/s",
                baseline: "write(2) + fsync, same run", baselineValue: gb / plainWriteSeconds,
                notes: "temp file + fsync + rename"),
        ]
    }

    /// Reads the whole file with read(2) into `buffer` (the baseline for loading).
    static func posixRead(_ path: String, into buffer: UnsafeMutableRawBufferPointer) {
        let fd = open(path, O_RDONLY)
        guard fd >= 0, let base = buffer.baseAddress else { return }
        defer { close(fd) }
        var done = 0
        while done < buffer.count {
            let n = read(fd, base + done, buffer.count - done)
            if n <= 0 { break }
            done += n
        }
    }

    /// Writes `buffer` with write(2) and fsyncs (the baseline for saving).
    static func posixWrite(_ buffer: UnsafeMutableRawBufferPointer, to path: String) {
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        guard fd >= 0, let base = buffer.baseAddress else { return }
        defer { close(fd) }
        var done = 0
        while done < buffer.count {
            let n = write(fd, base + done, buffer.count - done)
            if n <= 0 { break }
            done += n
        }
        fsync(fd)
    }
}
