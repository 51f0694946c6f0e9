import Foundation
import FuzzHarnesses

/// The libFuzzer entry point; `LLAMAKIT_HARNESS` (zip, pickle, pth, gguf, tiktoken,
/// sentencepiece, tokenizerjson, params, npy, imatrix) picks the reader. Built only by `Fuzz/run`.
let harness: Harness = {
    guard let name = ProcessInfo.processInfo.environment["LLAMAKIT_HARNESS"], let harness = Harness(rawValue: name) else {
        fatalError("set LLAMAKIT_HARNESS to one of \(Harness.allCases.map(\.rawValue))")
    }
    return harness
}()

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOne(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    harness.run(Array(UnsafeBufferPointer(start: data, count: size)))
    return 0
}

/// SwiftPM links executables with `main` aliased to `<target>_main`; hand control to libFuzzer's
/// driver from there.
@_silgen_name("LLVMFuzzerRunDriver")
func runDriver(
    _ argc: UnsafeMutablePointer<CInt>, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>,
    _ callback: @convention(c) (UnsafePointer<UInt8>, Int) -> CInt
) -> CInt

@_cdecl("Fuzz_main")
public func fuzzMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    var count = argc
    var arguments = argv
    return runDriver(&count, &arguments) { data, size in fuzzOne(data, size) }
}
