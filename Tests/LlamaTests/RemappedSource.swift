import BinaryIO
import TensorCore

/// A checkpoint seen through a map: `hidden` names are absent and each `aliases` name serves
/// another tensor's bytes, as a Llama 3.2 file without `output.weight`, or with it tied to the
/// embedding, would.
final class RemappedSource: TensorSource {
    let base: any TensorSource
    let hidden: Set<String>
    let aliases: [String: String]
    let tensorInfos: [TensorInfo]

    init(_ base: any TensorSource, hiding hidden: Set<String> = [], aliasing aliases: [String: String] = [:]) {
        self.base = base
        self.hidden = hidden
        self.aliases = aliases
        tensorInfos = base.tensorInfos.filter { !hidden.contains($0.name) }.map { info in
            guard let target = aliases[info.name].flatMap(base.info(named:)) else { return info }
            return TensorInfo(name: info.name, dtype: target.dtype, shape: target.shape, location: target.location)
        }
    }

    func info(named name: String) -> TensorInfo? { tensorInfos.first { $0.name == name } }

    func withBytes<R>(of name: String, _ body: (UnsafeRawBufferPointer) throws -> R) throws -> R {
        guard !hidden.contains(name) else { throw InputError(.missing, "hidden", at: .tensor(name)) }
        return try base.withBytes(of: aliases[name] ?? name, body)
    }
}
