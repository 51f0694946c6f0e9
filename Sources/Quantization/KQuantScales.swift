/// How the K formats pack their sub-block scales (`docs/formats.md` §4.5): the one definition
/// shared by the quantizers, the dequantizer and the forward pass's dot kernels.
///
/// Kernel file: raw pointers stay inside these functions.
public enum KQuantScales {
    /// Q4_K/Q5_K (ggml's `get_scale_min_k4`): the 6-bit scale and min of sub-block `j` (0..<8)
    /// from the 12 packed bytes at `q`.
    @inlinable @inline(__always) public static func k4(_ j: Int, _ q: UnsafePointer<UInt8>) -> (scale: UInt8, min: UInt8) {
        if j < 4 { return (q[j] & 63, q[j + 4] & 63) }
        return ((q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4), (q[j + 4] >> 4) | ((q[j] >> 6) << 4))
    }

    /// Q3_K: the 6-bit scale of group `j` (0..<16) minus 32, from the 12 packed bytes at
    /// `scales`: low 4 bits in bytes 0–7 (two per byte), high 2 bits in bytes 8–11.
    @inlinable @inline(__always) public static func q3K(_ j: Int, _ scales: UnsafePointer<UInt8>) -> Int32 {
        let low = j < 8 ? scales[j] & 0xF : scales[j - 8] >> 4
        let high = (scales[8 + j % 4] >> (2 * (j / 4))) & 3
        return Int32(low | (high << 4)) - 32
    }
}
