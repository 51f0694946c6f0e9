/// Copies a strided view into a contiguous row-major buffer, and swaps byte order.
///
/// Kernel file: raw buffers are used only inside these functions.
public enum StridedGather {
    /// Gathers `shape`/`strides` (in elements, starting at element `offset` of `source`) into
    /// `destination`, which must hold `shape.product × itemSize` bytes. The caller has checked
    /// that every addressed element lies inside `source`.
    public static func gather(
        from source: UnsafeRawBufferPointer, offset: Int, shape: [Int], strides: [Int], itemSize: Int,
        into destination: UnsafeMutableRawBufferPointer
    ) {
        let count = shape.reduce(1, *)
        guard count > 0 else { return }
        precondition(destination.count >= count * itemSize)
        let rank = shape.count
        if rank == 0 {
            destination.baseAddress!.copyMemory(from: source.baseAddress! + offset * itemSize, byteCount: itemSize)
            return
        }
        // The innermost dimension is copied as one run when it is contiguous.
        let innerCount = shape[rank - 1]
        let innerStride = strides[rank - 1]
        var index = [Int](repeating: 0, count: max(rank - 1, 0))
        var out = destination.baseAddress!
        let base = source.baseAddress!
        let rows = count / innerCount
        for _ in 0..<rows {
            var start = offset
            for axis in 0..<(rank - 1) { start += index[axis] * strides[axis] }
            if innerStride == 1 {
                out.copyMemory(from: base + start * itemSize, byteCount: innerCount * itemSize)
                out += innerCount * itemSize
            } else {
                for inner in 0..<innerCount {
                    out.copyMemory(from: base + (start + inner * innerStride) * itemSize, byteCount: itemSize)
                    out += itemSize
                }
            }
            var axis = rank - 2
            while axis >= 0 {
                index[axis] += 1
                if index[axis] < shape[axis] { break }
                index[axis] = 0
                axis -= 1
            }
        }
    }

    /// Reverses the byte order of every `unit`-byte value in `buffer` in place.
    public static func byteSwap(_ buffer: UnsafeMutableRawBufferPointer, unit: Int) {
        guard unit > 1 else { return }
        let bytes = buffer.bindMemory(to: UInt8.self)
        var start = 0
        while start + unit <= bytes.count {
            var low = start
            var high = start + unit - 1
            while low < high {
                bytes.swapAt(low, high)
                low += 1
                high -= 1
            }
            start += unit
        }
    }

    /// True when `shape`/`strides` describe a row-major contiguous layout.
    public static func isContiguous(shape: [Int], strides: [Int]) -> Bool {
        var expected = 1
        for axis in stride(from: shape.count - 1, through: 0, by: -1) {
            if shape[axis] != 1 && strides[axis] != expected { return false }
            expected *= shape[axis]
        }
        return true
    }
}
