import BinaryIO

/// Several files' tensors as one source (the shards of a Hugging Face directory): each tensor
/// served by the one file that holds it, a name held by two files refused.
public final class TensorSourceUnion: TensorSource {
    public struct Part {
        /// The file's name, shown in locations (`model-00001-of-00002.safetensors:data+0`).
        public var name: String
        public var path: String
        public var source: any TensorSource

        public init(name: String, path: String, source: any TensorSource) {
            self.name = name
            self.path = path
            self.source = source
        }
    }

    public let parts: [Part]
    public let tensorInfos: [TensorInfo]
    private let partByTensor: [String: Int]
    private let infoByName: [String: TensorInfo]

    /// - Throws: `InputError` (.mismatch) naming a tensor that two parts hold.
    public init(_ parts: [Part]) throws {
        self.parts = parts
        var infos: [TensorInfo] = []
        var owner: [String: Int] = [:]
        for (index, part) in parts.enumerated() {
            for var info in part.source.tensorInfos {
                if let other = owner[info.name] {
                    throw InputError(.mismatch, "held by both \(parts[other].path) and \(part.path)", at: .tensor(info.name))
                }
                owner[info.name] = index
                if parts.count > 1 { info.location = "\(part.name):\(info.location)" }
                infos.append(info)
            }
        }
        tensorInfos = infos
        partByTensor = owner
        infoByName = Dictionary(uniqueKeysWithValues: infos.map { ($0.name, $0) })
    }

    /// The name of the part holding `tensor`, or nil.
    public func partName(holding tensor: String) -> String? { partByTensor[tensor].map { parts[$0].name } }

    public func info(named name: String) -> TensorInfo? { infoByName[name] }

    private func part(holding name: String) throws -> any TensorSource {
        guard let index = partByTensor[name] else { throw InputError(.missing, "no such tensor", at: .tensor(name)) }
        return parts[index].source
    }

    public func withBytes<R>(of name: String, _ body: (UnsafeRawBufferPointer) throws -> R) throws -> R {
        try part(holding: name).withBytes(of: name, body)
    }

    public func residentBytes(of name: String) throws -> UnsafeRawBufferPointer? {
        try part(holding: name).residentBytes(of: name)
    }

    public func storedRange(of name: String) throws -> StoredRange? {
        try part(holding: name).storedRange(of: name)
    }

    public func parts(of name: String) throws -> TensorParts? {
        try part(holding: name).parts(of: name)
    }
}
