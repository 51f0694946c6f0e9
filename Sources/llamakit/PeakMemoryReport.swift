import Foundation

/// With `LLAMAKIT_REPORT_PEAK_RSS=1` in the environment, llamakit prints its peak resident set
/// (`VmHWM` of `/proc/self/status`) as a last stderr line `llamakit: peak RSS N kB` when it
/// exits, whatever the exit status. The resource-cap tests read it: a parent's `wait4` cannot,
/// because Linux carries the spawning process's peak into the child's `ru_maxrss` across exec.
enum PeakMemoryReport {
    static func installIfAsked() {
        guard ProcessInfo.processInfo.environment["LLAMAKIT_REPORT_PEAK_RSS"] == "1" else { return }
        atexit {
            guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
                let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmHWM:") })
            else { return }
            let kilobytes = line.dropFirst("VmHWM:".count).trimmingCharacters(in: .whitespaces).split(separator: " ").first ?? "?"
            FileHandle.standardError.write(Data("llamakit: peak RSS \(kilobytes) kB\n".utf8))
        }
    }
}
