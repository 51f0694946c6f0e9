import BinaryIO

/// The anonymous memory a command will take, term by term, worked out before it starts, so an
/// over-budget run is refused with a message instead of being killed by the kernel
/// (`docs/memory.md`). Mapped files are not counted: their pages are page cache, which the
/// kernel reclaims under pressure.
public struct MemoryPlan: Sendable, Equatable {
    public struct Term: Sendable, Equatable {
        /// What the bytes are for, as the message names them ("KV cache", "weights copied").
        public var label: String
        public var bytes: Int
        /// What sets the term, shown after it ("for --ctx 131072").
        public var reason: String?

        public init(_ label: String, _ bytes: Int, reason: String? = nil) {
            self.label = label
            self.bytes = bytes
            self.reason = reason
        }
    }

    /// The command the plan is for (`verify`), as the message names it.
    public var command: String
    public var terms: [Term]
    /// What the user can change, besides the limit ("lower --ctx").
    public var advice: String?

    public init(command: String, terms: [Term], advice: String? = nil) {
        self.command = command
        self.terms = terms
        self.advice = advice
    }

    /// The process itself: the Swift runtime, code, the tokenizer and tensor tables.
    public static let baseline = 48 << 20

    public var total: Int { terms.reduce(0) { $0 &+ $1.bytes } }

    /// The same plan with `other`'s terms added (a second model run beside the first): a term
    /// of the same label grows, a new one is appended.
    public func adding(_ other: [Term]) -> MemoryPlan {
        var plan = self
        for term in other {
            if let index = plan.terms.firstIndex(where: { $0.label == term.label }) {
                plan.terms[index].bytes &+= term.bytes
            } else {
                plan.terms.append(term)
            }
        }
        return plan
    }

    /// - Throws: `InputError` (`.overLimit`) giving the plan, its terms and the limit when the
    ///   plan exceeds `limit` bytes.
    public func check(limit: Int) throws {
        guard total > limit else { return }
        let parts = terms.map { term in
            "\(term.label) \(Self.format(term.bytes))" + (term.reason.map { " \($0)" } ?? "")
        }
        let remedy = (advice.map { "\($0) or " } ?? "") + "raise --max-memory"
        throw InputError(
            .overLimit,
            "\(command) needs about \(Self.format(total)) of memory (\(parts.joined(separator: ", "))) but --max-memory is \(Self.format(limit)): \(remedy)"
        )
    }

    /// A command that only reads tables (`inspect`): the process and one entry per tensor.
    public static func listing(command: String, tensorCount: Int) -> MemoryPlan {
        MemoryPlan(
            command: command, terms: [Term("tensor table", tensorCount * 512), Term("process", baseline)])
    }

    /// Bytes as people read them: `0 B`, `512 kB`, `9.1 GB` (powers of 1000, as `--max-memory` reads `G`).
    public static func format(_ bytes: Int) -> String {
        let units: [(String, Double)] = [("TB", 1e12), ("GB", 1e9), ("MB", 1e6), ("kB", 1e3)]
        for (unit, size) in units where Double(bytes) >= size {
            let value = Double(bytes) / size
            let rounded = value >= 100 ? "\(Int(value.rounded()))" : "\((value * 10).rounded() / 10)"
            return rounded + " " + unit
        }
        return "\(bytes) B"
    }

    /// `--max-memory`'s default: 80 % of the memory this process may use — the physical RAM
    /// (`MemTotal`), or a smaller cgroup limit (`memory.max`) when one is set — leaving the rest to the
    /// system and the page cache.
    public static func defaultLimit() -> Int {
        let physical = meminfoTotal() ?? (8 << 30)
        let limit = min(physical, cgroupLimit() ?? Int.max)
        return limit / 5 * 4
    }

    /// `MemTotal` of `/proc/meminfo`, in bytes.
    static func meminfoTotal() -> Int? {
        guard let text = FileSystem.readPseudoFile("/proc/meminfo", limit: 1 << 16) else { return nil }
        for line in text.split(separator: "\n") where line.hasPrefix("MemTotal:") {
            let fields = line.split(separator: " ")
            guard fields.count >= 2, let kilobytes = Int(fields[1]) else { return nil }
            return kilobytes * 1024
        }
        return nil
    }

    /// The cgroup v2 limit of this process (`memory.max` of `/sys/fs/cgroup`), nil when unlimited or absent.
    static func cgroupLimit() -> Int? {
        guard let text = FileSystem.readPseudoFile("/sys/fs/cgroup/memory.max", limit: 256) else { return nil }
        return text.split(whereSeparator: \.isWhitespace).first.flatMap { Int($0) }
    }
}
