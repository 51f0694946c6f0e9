/// Block-quantized formats of ggml (`docs/formats.md` §3.3): a block holds
/// `elementsPerBlock` consecutive elements of a row in `bytesPerBlock` bytes.
public enum BlockFormat: String, Sendable, CaseIterable {
    /// `{ f16 d; int8 qs[32] }`
    case q8_0
    /// `{ f16 d; uint8 qs[16] }`, low nibble = element j, high nibble = element j + 16
    case q4_0

    public var elementsPerBlock: Int { 32 }

    public var bytesPerBlock: Int {
        switch self {
        case .q8_0: return 34
        case .q4_0: return 18
        }
    }

    /// Bytes for `count` elements, or nil when `count` is not a whole number of blocks.
    public func byteCount(elements count: Int) -> Int? {
        count % elementsPerBlock == 0 ? count / elementsPerBlock * bytesPerBlock : nil
    }
}
