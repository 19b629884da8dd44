// Raw (non-differentiable) strided copies and dtype conversion. Differentiable wrappers live in
// Autodiff/Views.swift.
import CLatticeKernels

extension Tensor {
    /// Copies this view's elements, row-major, into `dst` (contiguous, same dtype and count).
    func copyElements(to dst: UnsafeMutableRawPointer) {
        let es = dtype.byteSize
        let src = storage.data + offset * es
        if isContiguous {
            dst.copyMemory(from: src, byteCount: count * es)
            return
        }
        Tensor.stridedCopy(
            src: src, srcStrides: strides, dst: dst,
            dstStrides: Tensor.contiguousStrides(for: shape),
            shape: shape, elementSize: es)
    }

    /// Copies elements between two strided layouts of the same shape (element strides).
    static func stridedCopy(
        src: UnsafeRawPointer, srcStrides: [Int], dst: UnsafeMutableRawPointer, dstStrides: [Int],
        shape: [Int], elementSize es: Int
    ) {
        let n = count(of: shape)
        if n == 0 { return }
        if shape.isEmpty {
            dst.copyMemory(from: src, byteCount: es)
            return
        }
        // Merge the innermost dimension loop; iterate the outer ones with an index counter.
        let r = shape.count
        let inner = shape[r - 1]
        let sIn = srcStrides[r - 1]
        let dIn = dstStrides[r - 1]
        let outer = n / inner
        let outerShape = Array(shape[0..<(r - 1)])
        let work = { (lo: Int, hi: Int) in
            var idx = [Int](repeating: 0, count: r - 1)
            // Decompose `lo` into a multi-index.
            var rem = lo
            for d in stride(from: r - 2, through: 0, by: -1) {
                idx[d] = rem % outerShape[d]
                rem /= outerShape[d]
            }
            for _ in lo..<hi {
                var so = 0
                var dof = 0
                for d in 0..<(r - 1) {
                    so += idx[d] * srcStrides[d]
                    dof += idx[d] * dstStrides[d]
                }
                switch es {
                case 4:
                    let s = src.assumingMemoryBound(to: UInt32.self) + so
                    let t = dst.assumingMemoryBound(to: UInt32.self) + dof
                    if sIn == 1 && dIn == 1 {
                        t.update(from: s, count: inner)
                    } else {
                        for i in 0..<inner { t[i * dIn] = s[i * sIn] }
                    }
                case 2:
                    let s = src.assumingMemoryBound(to: UInt16.self) + so
                    let t = dst.assumingMemoryBound(to: UInt16.self) + dof
                    for i in 0..<inner { t[i * dIn] = s[i * sIn] }
                case 8:
                    let s = src.assumingMemoryBound(to: UInt64.self) + so
                    let t = dst.assumingMemoryBound(to: UInt64.self) + dof
                    for i in 0..<inner { t[i * dIn] = s[i * sIn] }
                default:
                    let s = src.assumingMemoryBound(to: UInt8.self) + so
                    let t = dst.assumingMemoryBound(to: UInt8.self) + dof
                    for i in 0..<inner { t[i * dIn] = s[i * sIn] }
                }
                // Advance the outer multi-index.
                var d = r - 2
                while d >= 0 {
                    idx[d] += 1
                    if idx[d] < outerShape[d] { break }
                    idx[d] = 0
                    d -= 1
                }
            }
        }
        if n >= 1 << 16 && outer >= 2 {
            Parallel.forRange(outer, grain: 1) { rg in work(rg.lowerBound, rg.upperBound) }
        } else {
            work(0, outer)
        }
    }

    /// A contiguous copy (or self when already contiguous), without autodiff.
    func rawContiguous() -> Tensor {
        if isContiguous { return self }
        let out = Tensor(empty: shape, dtype: dtype)
        copyElements(to: out.storage.data)
        return out
    }

    /// Converts to `target` dtype without autodiff. Float -> int truncates toward zero.
    func rawConverted(to target: DType) -> Tensor {
        if target == dtype { return self }
        let src = rawContiguous()
        let n = src.count
        let out = Tensor(empty: shape, dtype: target)
        // Go through float32 for float formats; integers convert directly.
        switch (src.dtype, target) {
        case (.float16, .float32):
            lt_f16_to_f32(src.pointer(as: UInt16.self), out.pointer(as: Float.self), Int64(n))
        case (.bfloat16, .float32):
            lt_bf16_to_f32(src.pointer(as: UInt16.self), out.pointer(as: Float.self), Int64(n))
        case (.float32, .float16):
            lt_f32_to_f16(src.pointer(as: Float.self), out.pointer(as: UInt16.self), Int64(n))
        case (.float32, .bfloat16):
            lt_f32_to_bf16(src.pointer(as: Float.self), out.pointer(as: UInt16.self), Int64(n))
        case (.float16, _), (.bfloat16, _):
            return src.rawConverted(to: .float32).rawConverted(to: target)
        case (_, .float16), (_, .bfloat16):
            return src.rawConverted(to: .float32).rawConverted(to: target)
        default:
            let values = src.readDoubles()
            out.writeDoubles(values)
        }
        return out
    }

    private func readDoubles() -> [Double] {
        let n = count
        switch dtype {
        case .float32: return (0..<n).map { Double(pointer(as: Float.self)[$0]) }
        case .int32: return (0..<n).map { Double(pointer(as: Int32.self)[$0]) }
        case .int64: return (0..<n).map { Double(pointer(as: Int64.self)[$0]) }
        case .uint8, .bool: return (0..<n).map { Double(pointer(as: UInt8.self)[$0]) }
        case .float16, .bfloat16: return rawConverted(to: .float32).readDoubles()
        }
    }

    private func writeDoubles(_ v: [Double]) {
        switch dtype {
        case .float32: for i in v.indices { pointer(as: Float.self)[i] = Float(v[i]) }
        case .int32: for i in v.indices { pointer(as: Int32.self)[i] = Int32(v[i]) }
        case .int64: for i in v.indices { pointer(as: Int64.self)[i] = Int64(v[i]) }
        case .uint8: for i in v.indices { pointer(as: UInt8.self)[i] = UInt8(clamping: Int(v[i])) }
        case .bool: for i in v.indices { pointer(as: UInt8.self)[i] = v[i] != 0 ? 1 : 0 }
        case .float16, .bfloat16: fatalError("unreachable: half formats convert through float32")
        }
    }
}
