import Foundation
import Synchronization

/// The largest `RssAnon` seen so far, in kB.
private let peakAnonymousKilobytes = Atomic<Int>(0)

/// With `LLAMAKIT_REPORT_PEAK_RSS=1` in the environment, llamakit prints its peak resident set
/// (`VmHWM` of `/proc/self/status`) as a stderr line `llamakit: peak RSS N kB` when it exits,
/// whatever the exit status, then the peak of its anonymous memory as
/// `llamakit: peak anonymous RSS N kB`. The resource-cap tests read the first: a parent's
/// `wait4` cannot, because Linux carries the spawning process's peak into the child's
/// `ru_maxrss` across exec. `VmHWM` counts the pages of mapped model files, which are page cache
/// and excluded from the memory budget (`docs/memory.md`); the kernel keeps no peak of
/// `RssAnon`, so a background thread samples it every 20 ms.
enum PeakMemoryReport {
    static func installIfAsked() {
        guard ProcessInfo.processInfo.environment["LLAMAKIT_REPORT_PEAK_RSS"] == "1" else { return }
        sampleAnonymous()
        let sampler = Thread {
            while true {
                PeakMemoryReport.sampleAnonymous()
                Thread.sleep(forTimeInterval: 0.02)
            }
        }
        sampler.start()
        atexit {
            PeakMemoryReport.sampleAnonymous()
            if let peak = PeakMemoryReport.statusField("VmHWM:") {
                FileHandle.standardError.write(Data("llamakit: peak RSS \(peak) kB\n".utf8))
            }
            let anonymous = peakAnonymousKilobytes.load(ordering: .relaxed)
            FileHandle.standardError.write(Data("llamakit: peak anonymous RSS \(anonymous) kB\n".utf8))
        }
    }

    private static func sampleAnonymous() {
        guard let kilobytes = statusField("RssAnon:") else { return }
        _ = peakAnonymousKilobytes.max(kilobytes, ordering: .relaxed)
    }

    /// A `kB` field of `/proc/self/status`.
    private static func statusField(_ prefix: String) -> Int? {
        guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
            let line = status.split(separator: "\n").first(where: { $0.hasPrefix(prefix) })
        else { return nil }
        return line.dropFirst(prefix.count).split(whereSeparator: { $0 == " " || $0 == "\t" }).first.flatMap { Int($0) }
    }
}
