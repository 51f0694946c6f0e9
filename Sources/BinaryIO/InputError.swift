/// A problem with the *data* a reader was given: what is wrong, where, expected vs found.
///
/// Every reader in LlamaKit throws this for bad input (`docs/architecture.md` §3, rules for untrusted input):
/// the message names the file, the place inside it (a byte offset, a record or a tensor) and
/// what was expected against what was found. Programmer errors trap instead.
public struct InputError: Error, CustomStringConvertible, Sendable, Equatable {
    /// Where inside the file the problem is.
    public enum Location: Sendable, Equatable {
        case none
        case byteOffset(Int)
        case record(String)
        case tensor(String)
        case key(String)
    }

    public var file: String?
    public var location: Location
    public var message: String

    public init(_ message: String, at location: Location = .none, file: String? = nil) {
        self.message = message
        self.location = location
        self.file = file
    }

    /// The same error attributed to `file` unless a file is already named.
    public func inFile(_ path: String) -> InputError {
        var copy = self
        if copy.file == nil { copy.file = path }
        return copy
    }

    /// The same error with its byte offset shifted by `base` (for readers over a sub-range).
    public func shifted(by base: Int) -> InputError {
        guard case .byteOffset(let offset) = location else { return self }
        var copy = self
        copy.location = .byteOffset(offset + base)
        return copy
    }

    public var description: String {
        var parts: [String] = []
        if let file { parts.append(file) }
        switch location {
        case .none: break
        case .byteOffset(let offset): parts.append("byte \(offset)")
        case .record(let name): parts.append("record '\(name)'")
        case .tensor(let name): parts.append("tensor '\(name)'")
        case .key(let name): parts.append("key '\(name)'")
        }
        return parts.isEmpty ? message : parts.joined(separator: ": ") + ": " + message
    }
}

/// Runs `body`, attributing any `InputError` it throws to `file`.
public func attributing<R>(to file: String, _ body: () throws -> R) throws -> R {
    do {
        return try body()
    } catch let error as InputError {
        throw error.inFile(file)
    }
}
