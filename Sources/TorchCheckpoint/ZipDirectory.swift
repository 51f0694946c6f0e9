import BinaryIO

/// A strict, independent parse of the zip end records and central directory.
///
/// libzip's public API does not expose where a record's data starts, and torch maps stored
/// records in place from `lho + 30 + nameLen + extraLen` of the *local* header
/// (`caffe2/serialize/inline_container.cc` `getRecordOffset`; `docs/formats.md`
/// §1.3–§1.4). This parser finds those offsets and enforces the §1.4 reject list (duplicate names,
/// encryption, overlaps, data past the directory, disagreeing zip64 counts). `PthFile` then
/// requires it to agree with libzip entry by entry, so a parser differential is an error.
struct ZipDirectory {
    struct Entry {
        var rawName: [UInt8]
        var flags: UInt16
        var method: UInt16
        var crc: UInt32
        var compressedSize: Int
        var size: Int
        var localHeaderOffset: Int
        /// Where the record's bytes start in the file (from the local header).
        var dataOffset: Int

        var name: String { String(decoding: rawName, as: UTF8.self) }
    }

    var entries: [Entry]
    var centralDirectoryOffset: Int

    /// - Throws: `InputError` with the byte offset of the first inconsistency.
    init(file: FileReader) throws {
        let size = file.size
        func error(_ message: String, _ offset: Int) -> InputError { InputError(message, at: .byteOffset(offset)) }

        // End of central directory: 22 bytes + comment (≤ 65535), found scanning back.
        guard size >= 22 else { throw error("file of \(size) bytes is too small to be a zip archive", 0) }
        let tailStart = max(0, size - 22 - 65_535)
        let tail = try file.bytes(tailStart..<size)
        var eocd: Int? = nil
        var probe = tail.count - 22
        while probe >= 0 {
            if tail[probe] == 0x50, tail[probe + 1] == 0x4B, tail[probe + 2] == 5, tail[probe + 3] == 6 {
                let commentLength = Int(tail[probe + 20]) | Int(tail[probe + 21]) << 8
                if probe + 22 + commentLength == tail.count {
                    eocd = tailStart + probe
                    break
                }
            }
            probe -= 1
        }
        guard let eocdOffset = eocd else { throw error("no end-of-central-directory record (not a zip archive, or truncated)", size) }
        var end = ByteReader(try file.bytes(eocdOffset..<eocdOffset + 22), baseOffset: eocdOffset)
        try end.skip(4)
        let disk = try end.u16le(), cdDisk = try end.u16le()
        let diskEntries = try end.u16le(), classicEntries = try end.u16le()
        let classicCDSize = try end.u32le(), classicCDOffset = try end.u32le()
        guard disk == 0 || disk == 0xFFFF, cdDisk == 0 || cdDisk == 0xFFFF, diskEntries == classicEntries else {
            throw error("multi-disk archives are not supported", eocdOffset)
        }
        var entryCount = Int(classicEntries)
        var cdSize = Int(classicCDSize)
        var cdOffset = Int(classicCDOffset)
        var endOfData = eocdOffset

        // ZIP64 locator (20 bytes right before the EOCD) → ZIP64 EOCD record.
        if eocdOffset >= 20 {
            let locatorOffset = eocdOffset - 20
            var locator = ByteReader(try file.bytes(locatorOffset..<eocdOffset), baseOffset: locatorOffset)
            if try locator.u32le() == 0x0706_4B50 {
                _ = try locator.u32le()  // disk with the zip64 EOCD
                let recordOffset = try Checked.int(try locator.u64le(), "zip64 end record offset")
                guard recordOffset <= locatorOffset - 56 else {
                    throw error("zip64 end record offset \(recordOffset) is past its locator at \(locatorOffset)", locatorOffset)
                }
                var record = ByteReader(try file.bytes(recordOffset..<recordOffset + 56), baseOffset: recordOffset)
                guard try record.u32le() == 0x0606_4B50 else {
                    throw error("zip64 end record signature missing", recordOffset)
                }
                try record.skip(8 + 2 + 2 + 4 + 4)
                let diskEntries64 = try Checked.int(try record.u64le(), "zip64 entry count")
                let entries64 = try Checked.int(try record.u64le(), "zip64 entry count")
                let cdSize64 = try Checked.int(try record.u64le(), "zip64 central directory size")
                let cdOffset64 = try Checked.int(try record.u64le(), "zip64 central directory offset")
                guard diskEntries64 == entries64 else { throw error("multi-disk archives are not supported", recordOffset) }
                if classicEntries != 0xFFFF && Int(classicEntries) != entries64 {
                    throw error("entry counts disagree: zip64 end record says \(entries64), end record says \(classicEntries)", eocdOffset)
                }
                if classicCDSize != 0xFFFF_FFFF && Int(classicCDSize) != cdSize64 {
                    throw error("central directory sizes disagree: zip64 \(cdSize64), classic \(classicCDSize)", eocdOffset)
                }
                if classicCDOffset != 0xFFFF_FFFF && Int(classicCDOffset) != cdOffset64 {
                    throw error("central directory offsets disagree: zip64 \(cdOffset64), classic \(classicCDOffset)", eocdOffset)
                }
                entryCount = entries64
                cdSize = cdSize64
                cdOffset = cdOffset64
                endOfData = recordOffset
            }
        }
        guard cdOffset <= endOfData, cdSize <= endOfData - cdOffset else {
            throw error("central directory (offset \(cdOffset), \(cdSize) bytes) runs past the end records at \(endOfData)", eocdOffset)
        }
        guard entryCount <= cdSize / 46 else {
            throw error("\(entryCount) entries cannot fit in a central directory of \(cdSize) bytes", eocdOffset)
        }

        var reader = ByteReader(try file.bytes(cdOffset..<cdOffset + cdSize), baseOffset: cdOffset)
        var parsed: [Entry] = []
        parsed.reserveCapacity(entryCount)
        var seenNames: Set<String> = []
        seenNames.reserveCapacity(entryCount)
        for _ in 0..<entryCount {
            let entryOffset = reader.fileOffset
            guard try reader.u32le("central directory signature") == 0x0201_4B50 else {
                throw error("central directory entry signature missing", entryOffset)
            }
            try reader.skip(4)  // versions
            let flags = try reader.u16le()
            let method = try reader.u16le()
            try reader.skip(4)  // time, date
            let crc = try reader.u32le()
            let csize32 = try reader.u32le(), usize32 = try reader.u32le()
            let nameLength = Int(try reader.u16le()), extraLength = Int(try reader.u16le()), commentLength = Int(try reader.u16le())
            let diskStart = try reader.u16le()
            try reader.skip(6)  // attributes
            let lho32 = try reader.u32le()
            let rawName = Array(try reader.bytes(nameLength, "entry name"))
            var extra = ByteReader(Array(try reader.bytes(extraLength, "entry extra field")), baseOffset: reader.fileOffset - extraLength)
            try reader.skip(commentLength, "entry comment")

            var usize = Int(usize32), csize = Int(csize32), lho = Int(lho32)
            if usize32 == 0xFFFF_FFFF || csize32 == 0xFFFF_FFFF || lho32 == 0xFFFF_FFFF || diskStart == 0xFFFF {
                var found = false
                while extra.remaining >= 4 {
                    let id = try extra.u16le(), length = Int(try extra.u16le())
                    guard id == 1 else {
                        try extra.skip(length, "extra field")
                        continue
                    }
                    var field = ByteReader(Array(try extra.bytes(length, "zip64 extra")), baseOffset: extra.fileOffset - length)
                    if usize32 == 0xFFFF_FFFF { usize = try Checked.int(try field.u64le("zip64 size"), "zip64 size") }
                    if csize32 == 0xFFFF_FFFF { csize = try Checked.int(try field.u64le("zip64 compressed size"), "zip64 compressed size") }
                    if lho32 == 0xFFFF_FFFF { lho = try Checked.int(try field.u64le("zip64 header offset"), "zip64 header offset") }
                    found = true
                    break
                }
                guard found else { throw error("entry needs a zip64 extra field but has none", entryOffset) }
            }
            let name = String(decoding: rawName, as: UTF8.self)
            guard flags & 1 == 0 else { throw error("record '\(name)' is encrypted", entryOffset) }
            guard seenNames.insert(String(decoding: rawName.map { $0 >= 0x41 && $0 <= 0x5A ? $0 | 0x20 : $0 }, as: UTF8.self)).inserted
            else {
                throw error("duplicate record name '\(name)' (names are compared case-insensitively, as torch does)", entryOffset)
            }
            // Local header: fixed 30 bytes, then its own name and extra (torch's FB padding).
            guard lho <= cdOffset - 30 else {
                throw error("record '\(name)' local header offset \(lho) is past the central directory at \(cdOffset)", entryOffset)
            }
            var local = ByteReader(try file.bytes(lho..<min(lho + 30 + nameLength, cdOffset)), baseOffset: lho)
            guard try local.u32le() == 0x0403_4B50 else { throw error("record '\(name)': no local header signature", lho) }
            try local.skip(22)
            let localNameLength = Int(try local.u16le()), localExtraLength = Int(try local.u16le())
            let dataOffset = lho + 30 + localNameLength + localExtraLength
            guard dataOffset <= cdOffset, csize <= cdOffset - dataOffset else {
                throw error("record '\(name)' data (\(csize) bytes at \(dataOffset)) runs past the central directory at \(cdOffset)", lho)
            }
            guard localNameLength == nameLength, local.bytes[30...].elementsEqual(rawName) else {
                throw error("record '\(name)': the local header names a different file", lho)
            }
            if method == 0 && csize != usize {
                throw error("stored record '\(name)' has compressed size \(csize) ≠ size \(usize)", entryOffset)
            }
            parsed.append(
                Entry(
                    rawName: rawName, flags: flags, method: method, crc: crc, compressedSize: csize, size: usize, localHeaderOffset: lho,
                    dataOffset: dataOffset))
        }
        // No two records may share bytes.
        let byStart = parsed.sorted { $0.localHeaderOffset < $1.localHeaderOffset }
        for (first, second) in zip(byStart, byStart.dropFirst()) where first.dataOffset + first.compressedSize > second.localHeaderOffset {
            throw error("records '\(first.name)' and '\(second.name)' overlap", second.localHeaderOffset)
        }
        entries = parsed
        centralDirectoryOffset = cdOffset
    }
}
