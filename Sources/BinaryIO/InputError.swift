/// A problem with the *data* a reader was given: what is wrong, where, expected vs found.
///
/// Every reader in LlamaKit throws this for bad input: the `kind` says what class of problem it
/// is (callers and tests branch on it), the message names what was expected against what was
/// found, and `file` and `location` say where (a byte offset, a record, a tensor or a key).
/// Programmer errors trap instead.
public struct InputError: Error, CustomStringConvertible, Sendable, Equatable {
    /// The class of problem, stable across rewordings of the message.
    public enum Kind: String, Sendable, CaseIterable {
        /// The data ends before a structure it declares.
        case truncated
        /// A count, offset, size or value lies outside what the format or the file allows.
        case outOfRange
        /// Bytes that do not parse as the format (bad magic, bad encoding, bad syntax).
        case malformed
        /// Well-formed, but refused on purpose (pickle globals, non-finite weights, …).
        case notAllowed
        /// Two facts disagree (a shape vs params.json, a size vs a record, duplicates).
        case mismatch
        /// A valid construct LlamaKit does not handle (a dtype, a version, an architecture).
        case unsupported
        /// Something required is absent (a file, a key, a tensor, a record).
        case missing
        /// A resource cap was hit (depth, count, string or allocation size).
        case overLimit
        /// The operating system refused a file operation.
        case io
    }

    /// Where inside the file the problem is.
    public enum Location: Sendable, Equatable {
        case none
        case byteOffset(Int)
        case record(String)
        case tensor(String)
        case key(String)
    }

    public var kind: Kind
    public var file: String?
    public var location: Location
    public var message: String

    public init(_ kind: Kind, _ message: String, at location: Location = .none, file: String? = nil) {
        self.kind = kind
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
