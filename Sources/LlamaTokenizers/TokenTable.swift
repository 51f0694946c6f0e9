/// Token bytes → rank, as one byte blob and an open-addressing hash table.
///
/// Kernel file: the hot lookup of BPE. Keys are compared as bytes (never as `String`); FNV-1a
/// hashing and linear probing over a power-of-two table at most half full.
struct TokenTable: Sendable {
    private var blob: [UInt8] = []
    /// `offsets[r] ..< offsets[r + 1]` are the bytes of rank r.
    private var offsets: [Int32] = [0]
    /// rank + 1, or 0 for an empty slot.
    private var slots: [Int32]
    private let mask: Int

    init(capacity: Int) {
        var size = 16
        while size < capacity * 2 { size <<= 1 }
        slots = [Int32](repeating: 0, count: size)
        mask = size - 1
    }

    var count: Int { offsets.count - 1 }

    @inline(__always) private static func hash(_ bytes: UnsafeRawBufferPointer) -> Int {
        var h: UInt64 = 0xCBF2_9CE4_8422_2325
        for byte in bytes { h = (h ^ UInt64(byte)) &* 0x100_0000_01B3 }
        return Int(truncatingIfNeeded: h ^ (h >> 29))
    }

    /// The bytes of rank `rank`.
    func bytes(of rank: Int) -> ArraySlice<UInt8> {
        blob[Int(offsets[rank])..<Int(offsets[rank + 1])]
    }

    /// Appends `bytes` as the next rank; returns the existing rank instead if already present.
    mutating func append(_ bytes: ArraySlice<UInt8>) -> Int? {
        let hash = bytes.withUnsafeBytes { Self.hash($0) }
        if let existing = bytes.withUnsafeBytes({ find($0, hash: hash) }) { return Int(existing) }
        let rank = count
        blob.append(contentsOf: bytes)
        offsets.append(Int32(blob.count))
        var index = hash & mask
        while slots[index] != 0 { index = (index + 1) & mask }
        slots[index] = Int32(rank + 1)
        return nil
    }

    @inline(__always) func rank(_ key: ArraySlice<UInt8>) -> Int32? {
        key.withUnsafeBytes { rank($0) }
    }

    func rank(_ key: UnsafeRawBufferPointer) -> Int32? {
        find(key, hash: Self.hash(key))
    }

    private func find(_ key: UnsafeRawBufferPointer, hash: Int) -> Int32? {
        var index = hash & mask
        return blob.withUnsafeBytes { blobBytes in
            slots.withUnsafeBufferPointer { table in
                offsets.withUnsafeBufferPointer { offsets in
                    while true {
                        let entry = table[index]
                        if entry == 0 { return nil }
                        let rank = Int(entry - 1)
                        let start = Int(offsets[rank])
                        let length = Int(offsets[rank + 1]) - start
                        if length == key.count
                            && (length == 0 || memcmp(blobBytes.baseAddress! + start, key.baseAddress!, length) == 0)
                        {
                            return Int32(rank)
                        }
                        index = (index + 1) & mask
                    }
                }
            }
        }
    }
}

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif
