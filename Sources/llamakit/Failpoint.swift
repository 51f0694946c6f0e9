import Foundation

/// A pause the crash-safety tests use to interrupt `convert` and `quantize` mid-write: with
/// `LLAMAKIT_FAILPOINT=pause-after-first-tensor` in the environment, the run stops for 30 s once
/// the first tensor is written (the temporary file exists, the target does not). Nothing else
/// reads the variable.
enum Failpoint {
    static let pausing = ProcessInfo.processInfo.environment["LLAMAKIT_FAILPOINT"] == "pause-after-first-tensor"

    static func pauseAfterFirstTensor(_ index: Int) {
        if pausing && index == 1 { sleep(30) }
    }
}
