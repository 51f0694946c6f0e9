import BinaryIO

/// A strict, independent parse of the zip end records and central directory.
///
/// libzip's public API does not expose where a record's data starts, and torch maps stored
/// records in place from `lho + 30 + nameLen + extraLen` of the *local* header
/// (`caffe2/serialize/inline_container.cc` `getRecordOffset`; `docs/formats.md` §1.3–§1.4).
/// This parser finds those offsets and enforces the reject list (duplicate names,
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

    /// Where the central directory is, from the end records.
    private struct Directory {
        var entryCount: Int
        var size: Int
        var offset: Int
    }

    /// The classic end record's fields that a zip64 end record may replace.
    private struct EndRecord {
        var offset: Int
        var entries: UInt16
        var cdSize: UInt32
        var cdOffset: UInt32
    }

    /// - Throws: `InputError` with the byte offset of the first inconsistency.
    init(file: FileReader) throws {
        let end = try Self.endRecord(file)
        let directory = try Self.directory(file, end)
        var parsed: [Entry] = []
        parsed.reserveCapacity(directory.entryCount)
        var seenNames: Set<String> = []
        seenNames.reserveCapacity(directory.entryCount)
        try Self.read(file, directory.offset..<directory.offset + directory.size) { reader in
            for _ in 0..<directory.entryCount {
                parsed.append(try Self.entry(&reader, file: file, cdOffset: directory.offset, seenNames: &seenNames))
            }
        }
        try Self.checkNoOverlap(parsed)
        entries = parsed
        centralDirectoryOffset = directory.offset
    }

    private static func error(_ kind: InputError.Kind, _ message: String, _ offset: Int) -> InputError {
        InputError(kind, message, at: .byteOffset(offset))
    }

    /// Runs `body` over the file's bytes in `range`, with errors at file offsets.
    private static func read<R>(_ file: FileReader, _ range: Range<Int>, _ body: (inout ByteReader) throws -> R) throws -> R {
        try ByteReader.withReader(try file.bytes(range), baseOffset: range.lowerBound, body)
    }

    /// The end-of-central-directory record: 22 bytes + a comment of at most 65,535, found
    /// scanning back from the end.
    private static func endRecord(_ file: FileReader) throws -> EndRecord {
        let size = file.size
        guard size >= 22 else { throw error(.outOfRange, "file of \(size) bytes is too small to be a zip archive", 0) }
        let tailStart = max(0, size - 22 - 65_535)
        let tail = try file.bytes(tailStart..<size)
        var probe = tail.count - 22
        while probe >= 0 {
            if tail[probe] == 0x50, tail[probe + 1] == 0x4B, tail[probe + 2] == 5, tail[probe + 3] == 6,
                probe + 22 + (Int(tail[probe + 20]) | Int(tail[probe + 21]) << 8) == tail.count
            {
                break
            }
            probe -= 1
        }
        guard probe >= 0 else { throw error(.truncated, "no end-of-central-directory record (not a zip archive, or truncated)", size) }
        let offset = tailStart + probe
        return try read(file, offset..<offset + 22) { end in
            try end.skip(4)
            let disk = try end.u16le(), cdDisk = try end.u16le()
            let diskEntries = try end.u16le(), entries = try end.u16le()
            let cdSize = try end.u32le(), cdOffset = try end.u32le()
            guard disk == 0 || disk == 0xFFFF, cdDisk == 0 || cdDisk == 0xFFFF, diskEntries == entries else {
                throw error(.unsupported, "multi-disk archives are not supported", offset)
            }
            return EndRecord(offset: offset, entries: entries, cdSize: cdSize, cdOffset: cdOffset)
        }
    }

    /// The central directory's place and entry count, from the zip64 end record when a locator
    /// precedes the end record (its values must agree with the classic ones that are not
    /// saturated), checked to lie before the end records.
    private static func directory(_ file: FileReader, _ end: EndRecord) throws -> Directory {
        var directory = Directory(entryCount: Int(end.entries), size: Int(end.cdSize), offset: Int(end.cdOffset))
        var endOfData = end.offset
        if end.offset >= 20, let (zip64, recordOffset) = try zip64Directory(file, end) {
            directory = zip64
            endOfData = recordOffset
        }
        guard directory.offset <= endOfData, directory.size <= endOfData - directory.offset else {
            throw error(
                .outOfRange,
                "central directory (offset \(directory.offset), \(directory.size) bytes) runs past the end records at \(endOfData)",
                end.offset)
        }
        guard directory.entryCount <= directory.size / 46 else {
            throw error(
                .outOfRange, "\(directory.entryCount) entries cannot fit in a central directory of \(directory.size) bytes", end.offset)
        }
        return directory
    }

    /// The zip64 locator (20 bytes right before the end record) and the zip64 end record it
    /// points to, or nil when there is no locator.
    private static func zip64Directory(_ file: FileReader, _ end: EndRecord) throws -> (Directory, Int)? {
        let locatorOffset = end.offset - 20
        let recordOffset: Int? = try read(file, locatorOffset..<end.offset) { locator in
            guard try locator.u32le() == 0x0706_4B50 else { return nil }
            _ = try locator.u32le()  // disk with the zip64 EOCD
            let recordOffset = try Checked.int(try locator.u64le(), "zip64 end record offset")
            guard recordOffset <= locatorOffset - 56 else {
                throw error(.outOfRange, "zip64 end record offset \(recordOffset) is past its locator at \(locatorOffset)", locatorOffset)
            }
            return recordOffset
        }
        guard let recordOffset else { return nil }
        let directory = try read(file, recordOffset..<recordOffset + 56) { record in
            guard try record.u32le() == 0x0606_4B50 else {
                throw error(.missing, "zip64 end record signature missing", recordOffset)
            }
            try record.skip(8 + 2 + 2 + 4 + 4)
            let diskEntries64 = try Checked.int(try record.u64le(), "zip64 entry count")
            let entries64 = try Checked.int(try record.u64le(), "zip64 entry count")
            let cdSize64 = try Checked.int(try record.u64le(), "zip64 central directory size")
            let cdOffset64 = try Checked.int(try record.u64le(), "zip64 central directory offset")
            guard diskEntries64 == entries64 else { throw error(.unsupported, "multi-disk archives are not supported", recordOffset) }
            return Directory(entryCount: entries64, size: cdSize64, offset: cdOffset64)
        }
        try checkAgreement(end, directory)
        return (directory, recordOffset)
    }

    private static func checkAgreement(_ end: EndRecord, _ zip64: Directory) throws {
        if end.entries != 0xFFFF && Int(end.entries) != zip64.entryCount {
            throw error(
                .mismatch, "entry counts disagree: zip64 end record says \(zip64.entryCount), end record says \(end.entries)", end.offset)
        }
        if end.cdSize != 0xFFFF_FFFF && Int(end.cdSize) != zip64.size {
            throw error(.mismatch, "central directory sizes disagree: zip64 \(zip64.size), classic \(end.cdSize)", end.offset)
        }
        if end.cdOffset != 0xFFFF_FFFF && Int(end.cdOffset) != zip64.offset {
            throw error(.mismatch, "central directory offsets disagree: zip64 \(zip64.offset), classic \(end.cdOffset)", end.offset)
        }
    }

    /// One central directory entry, its zip64 extra applied and its local header checked.
    private static func entry(_ reader: inout ByteReader, file: FileReader, cdOffset: Int, seenNames: inout Set<String>) throws -> Entry {
        let entryOffset = reader.fileOffset
        guard try reader.u32le("central directory signature") == 0x0201_4B50 else {
            throw error(.missing, "central directory entry signature missing", entryOffset)
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
        var extra = ByteReader(try reader.bytes(extraLength, "entry extra field"), baseOffset: reader.fileOffset - extraLength)
        try reader.skip(commentLength, "entry comment")

        var entry = Entry(
            rawName: rawName, flags: flags, method: method, crc: crc, compressedSize: Int(csize32), size: Int(usize32),
            localHeaderOffset: Int(lho32), dataOffset: 0)
        if usize32 == 0xFFFF_FFFF || csize32 == 0xFFFF_FFFF || lho32 == 0xFFFF_FFFF || diskStart == 0xFFFF {
            try applyZip64Extra(&extra, to: &entry, usize32: usize32, csize32: csize32, lho32: lho32, entryOffset: entryOffset)
        }
        guard flags & 1 == 0 else { throw error(.unsupported, "record '\(entry.name)' is encrypted", entryOffset) }
        // torch compares names case-insensitively.
        guard seenNames.insert(String(decoding: rawName.map { $0 >= 0x41 && $0 <= 0x5A ? $0 | 0x20 : $0 }, as: UTF8.self)).inserted else {
            throw error(
                .mismatch, "duplicate record name '\(entry.name)' (names are compared case-insensitively, as torch does)", entryOffset)
        }
        entry.dataOffset = try localDataOffset(file, entry, cdOffset: cdOffset, entryOffset: entryOffset)
        if method == 0 && entry.compressedSize != entry.size {
            throw error(
                .mismatch, "stored record '\(entry.name)' has compressed size \(entry.compressedSize) ≠ size \(entry.size)", entryOffset)
        }
        return entry
    }

    /// Replaces the saturated 32-bit fields with the zip64 extra field's 64-bit values, in the
    /// order the format stores them.
    private static func applyZip64Extra(
        _ extra: inout ByteReader, to entry: inout Entry, usize32: UInt32, csize32: UInt32, lho32: UInt32, entryOffset: Int
    ) throws {
        while extra.remaining >= 4 {
            let id = try extra.u16le(), length = Int(try extra.u16le())
            guard id == 1 else {
                try extra.skip(length, "extra field")
                continue
            }
            var field = ByteReader(try extra.bytes(length, "zip64 extra"), baseOffset: extra.fileOffset - length)
            if usize32 == 0xFFFF_FFFF { entry.size = try Checked.int(try field.u64le("zip64 size"), "zip64 size") }
            if csize32 == 0xFFFF_FFFF {
                entry.compressedSize = try Checked.int(try field.u64le("zip64 compressed size"), "zip64 compressed size")
            }
            if lho32 == 0xFFFF_FFFF {
                entry.localHeaderOffset = try Checked.int(try field.u64le("zip64 header offset"), "zip64 header offset")
            }
            return
        }
        throw error(.missing, "entry needs a zip64 extra field but has none", entryOffset)
    }

    /// Where the record's data starts: after the local header's fixed 30 bytes, its own name
    /// and its own extra field (torch pads with it), checked to end before the directory.
    private static func localDataOffset(_ file: FileReader, _ entry: Entry, cdOffset: Int, entryOffset: Int) throws -> Int {
        let lho = entry.localHeaderOffset, name = entry.name
        guard lho <= cdOffset - 30 else {
            throw error(
                .outOfRange, "record '\(name)' local header offset \(lho) is past the central directory at \(cdOffset)", entryOffset)
        }
        return try read(file, lho..<min(lho + 30 + entry.rawName.count, cdOffset)) { local in
            guard try local.u32le() == 0x0403_4B50 else { throw error(.malformed, "record '\(name)': no local header signature", lho) }
            try local.skip(22)
            let localNameLength = Int(try local.u16le()), localExtraLength = Int(try local.u16le())
            let dataOffset = lho + 30 + localNameLength + localExtraLength
            guard dataOffset <= cdOffset, entry.compressedSize <= cdOffset - dataOffset else {
                throw error(
                    .outOfRange,
                    "record '\(name)' data (\(entry.compressedSize) bytes at \(dataOffset)) runs past the central directory at \(cdOffset)",
                    lho)
            }
            guard localNameLength == entry.rawName.count, local.bytes[30...].elementsEqual(entry.rawName) else {
                throw error(.malformed, "record '\(name)': the local header names a different file", lho)
            }
            try checkExtraFields(file, at: lho + 30 + localNameLength, length: localExtraLength, record: name)
            return dataOffset
        }
    }

    /// The local extra field must be a chain of (id, length, data) fields that fills its stated
    /// length exactly: otherwise a damaged length would move where the record's data starts,
    /// and the data descriptors torch writes leave room for that to go unnoticed.
    private static func checkExtraFields(_ file: FileReader, at offset: Int, length: Int, record name: String) throws {
        try read(file, offset..<offset + length) { extra in
            while !extra.isAtEnd {
                let fieldOffset = extra.fileOffset
                guard extra.remaining >= 4 else {
                    throw error(.malformed, "record '\(name)': \(extra.remaining) stray bytes end the local extra field", fieldOffset)
                }
                _ = try extra.u16le("extra field id")
                let size = Int(try extra.u16le("extra field length"))
                guard size <= extra.remaining else {
                    throw error(
                        .mismatch,
                        "record '\(name)': a local extra field of \(size) bytes overruns the extra length (\(extra.remaining) remain)",
                        fieldOffset)
                }
                try extra.skip(size, "extra field")
            }
        }
    }

    /// No two records may share bytes.
    private static func checkNoOverlap(_ entries: [Entry]) throws {
        let byStart = entries.sorted { $0.localHeaderOffset < $1.localHeaderOffset }
        for (first, second) in zip(byStart, byStart.dropFirst()) where first.dataOffset + first.compressedSize > second.localHeaderOffset {
            throw error(.outOfRange, "records '\(first.name)' and '\(second.name)' overlap", second.localHeaderOffset)
        }
    }
}
