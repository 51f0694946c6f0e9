/// Overflow-checked arithmetic for sizes and offsets that come from files.
///
/// A file controls nothing: every product and sum of file-supplied numbers goes through these,
/// and an overflow becomes an `InputError` instead of a trap.
public enum Checked {
    public static func add(_ a: Int, _ b: Int, _ what: @autoclosure () -> String) throws -> Int {
        let (value, overflow) = a.addingReportingOverflow(b)
        if overflow { throw InputError(.outOfRange, "\(what()) overflows: \(a) + \(b)") }
        return value
    }

    public static func multiply(_ a: Int, _ b: Int, _ what: @autoclosure () -> String) throws -> Int {
        let (value, overflow) = a.multipliedReportingOverflow(by: b)
        if overflow { throw InputError(.outOfRange, "\(what()) overflows: \(a) × \(b)") }
        return value
    }

    /// The product of `values`, or an error naming `what` on overflow.
    public static func product(_ values: [Int], _ what: @autoclosure () -> String) throws -> Int {
        var result = 1
        for value in values { result = try multiply(result, value, what()) }
        return result
    }

    /// Converts a file-supplied unsigned value to `Int`, refusing values that do not fit.
    public static func int<T: BinaryInteger>(_ value: T, _ what: @autoclosure () -> String) throws -> Int {
        guard let result = Int(exactly: value) else {
            throw InputError(.outOfRange, "\(what()) \(value) does not fit in a 64-bit signed integer")
        }
        return result
    }
}
