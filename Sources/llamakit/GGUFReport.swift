import BinaryIO
import Conversion
import GGUF

/// `inspect` of a GGUF file: metadata (long arrays summarised) and tensors, like gguf-dump.
struct GGUFReport {
    let file: GGUFSplitSet

    static func describe(_ value: GGUFValue, limit: Int = 8) -> String {
        switch value {
        case .u8(let x): return "\(x)"
        case .i8(let x): return "\(x)"
        case .u16(let x): return "\(x)"
        case .i16(let x): return "\(x)"
        case .u32(let x): return "\(x)"
        case .i32(let x): return "\(x)"
        case .f32(let x): return "\(x)"
        case .bool(let x): return "\(x)"
        case .string(let x): return JSONOutput.string(String(x.prefix(120))).rendered()
        case .u64(let x): return "\(x)"
        case .i64(let x): return "\(x)"
        case .f64(let x): return "\(x)"
        case .array(let type, let items):
            let shown = items.prefix(limit).map { describe($0) }.joined(separator: ", ")
            return "[\(type) × \(items.count)] \(shown)\(items.count > limit ? ", …" : "")"
        }
    }

    static func json(_ value: GGUFValue) -> JSONOutput {
        switch value {
        case .u8(let x): return .int(Int(x))
        case .i8(let x): return .int(Int(x))
        case .u16(let x): return .int(Int(x))
        case .i16(let x): return .int(Int(x))
        case .u32(let x): return .int(Int(x))
        case .i32(let x): return .int(Int(x))
        case .f32(let x): return .double(Double(x))
        case .bool(let x): return .bool(x)
        case .string(let x): return .string(x)
        case .u64(let x): return x <= UInt64(Int.max) ? .int(Int(x)) : .string("\(x)")
        case .i64(let x): return .int(Int(x))
        case .f64(let x): return .double(x)
        case .array(let type, let items):
            if items.count <= 16 { return .array(items.map(json)) }
            return .object([("type", .string("\(type)")), ("count", .int(items.count)), ("head", .array(items.prefix(8).map(json)))])
        }
    }

    func text() -> String {
        let kind = file.isSplit ? "GGUF v\(file.version) split set of \(file.members.count) files" : "GGUF v\(file.version)"
        var out = [
            "\(file.path): \(kind), \(file.metadata.count) metadata keys, \(file.tensors.count) tensors, alignment \(file.alignment)"
        ]
        if file.isSplit {
            out += file.members.enumerated().map { "  \($0 + 1). \($1.path): \($1.tensors.count) tensors" }
        }
        out.append("")
        out.append(
            Formatting.table(["key", "type", "value"], file.metadata.map { [$0.key, "\($0.value.type)", Self.describe($0.value)] }))
        out.append("")
        let rows = file.tensors.map {
            [
                $0.name, $0.type.name, Formatting.shape($0.shape), Formatting.grouped($0.shape.reduce(1, *)),
                Formatting.grouped($0.byteCount), "\(offset(of: $0))",
            ] + (file.isSplit ? [file.member(holding: $0.name).map { FileSystem.baseName($0.path) } ?? ""] : [])
        }
        let columns = ["tensor", "dtype", "shape", "params", "bytes", "offset"] + (file.isSplit ? ["file"] : [])
        out.append(Formatting.table(columns, rows, rightAligned: [3, 4, 5]))
        let total = file.tensors.reduce(0) { $0 + $1.byteCount }
        out.append(
            "\ntotal: \(Formatting.grouped(file.tensors.reduce(0) { $0 + $1.shape.reduce(1, *) })) params, \(Formatting.bytes(total))")
        out.append(
            "types: \(GGMLType.summary(file.tensors.map(\.type)))"
                + (preset.map { " (general.file_type \($0.fileType) = \($0.rawValue))" } ?? ""))
        return out.joined(separator: "\n")
    }

    /// The tensor's byte offset within the file that holds it.
    func offset(of tensor: GGUFFile.TensorInfo) -> Int {
        (file.member(holding: tensor.name)?.dataOffset ?? 0) + tensor.offset
    }

    /// The llama.cpp preset `general.file_type` names, if it names one.
    var preset: ConversionType? {
        guard case .u32(let fileType)? = file.value("general.file_type") else { return nil }
        return ConversionType.allCases.first { $0.fileType == fileType }
    }

    func json() -> String {
        JSONOutput.object([
            ("format", .string("gguf")),
            (
                "files",
                .array(
                    file.members.map {
                        .object([
                            ("path", .string($0.path)), ("version", .int(Int($0.version))), ("alignment", .int($0.alignment)),
                            ("tensor_count", .int($0.tensors.count)),
                        ])
                    })
            ),
            (
                "tensors",
                .array(
                    file.tensors.map {
                        .object([
                            ("name", .string($0.name)), ("dtype", .string($0.type.name)), ("shape", .array($0.shape.map { .int($0) })),
                            ("bytes", .int($0.byteCount)), ("offset", .int(offset(of: $0))),
                            ("file", .string(file.member(holding: $0.name)?.path ?? "")),
                        ])
                    })
            ),
            ("type_counts", .object(GGMLType.counts(file.tensors.map(\.type)).map { ($0.type.name, .int($0.count)) })),
            ("metadata", .object(file.metadata.map { ($0.key, Self.json($0.value)) })),
        ]).rendered()
    }
}
