import BinaryIO
import Foundation
import TensorCore
import Testing

@testable import TorchCheckpoint

/// Crafted archives from `fixtures/hostile/` and refused formats: each is refused with one
/// precise error, and no pickle payload ever runs.
@Suite(.serialized) struct HostileInputTests {
    /// The file the payloads would create if any pickle code ran (see make_fixtures.py).
    static let marker = "/tmp/llamakit-pickle-payload-ran"

    static let cases: [(file: String, message: String, kind: InputError.Kind)] = [
        ("hostile/global-os-system.pth", "byte 2: global 'posix.system' is not allowed", .notAllowed),
        ("hostile/global-builtins-eval.pth", "byte 2: global 'builtins.eval' is not allowed", .notAllowed),
        ("hostile/global-subprocess.pth", "byte 2: global 'subprocess.check_call' is not allowed", .notAllowed),
        ("hostile/stack-global.pth", "pickle opcode STACK_GLOBAL (0x93) is not allowed", .notAllowed),
        ("hostile/inst.pth", "pickle opcode INST (0x69) is not allowed", .notAllowed),
        ("hostile/obj.pth", "pickle opcode OBJ (0x6F) is not allowed", .notAllowed),
        ("hostile/reduce-bad-args.pth", "_rebuild_tensor_v2 called with 1 arguments, expected 6 or 7", .mismatch),
        ("hostile/build-on-list.pth", "global 'posix.system' is not allowed", .notAllowed),
        ("hostile/build-setstate-global.pth", "global 'posix.system' is not allowed", .notAllowed),
        ("hostile/numel-larger-than-record.pth", "storage declares 200 × float32 = 800 bytes, the record holds 16", .mismatch),
        ("hostile/view-past-storage.pth", "tensor view reaches element 5 of storage '0', which holds 4 elements", .outOfRange),
        ("hostile/negative-size.pth", "size[0] = -1 is negative", .outOfRange),
        ("hostile/negative-stride.pth", "stride[0] = -1 is negative", .outOfRange),
        ("hostile/overflowing-size.pth", "tensor element count overflows", .outOfRange),
        ("hostile/huge-numel.pth", "storage '0' byte count overflows", .outOfRange),
        ("hostile/bad-memo-index.pth", "BINGET of memo index 5, which was never set", .malformed),
        ("hostile/stack-underflow.pth", "byte 2: stack underflow", .malformed),
        ("hostile/setitem-on-list.pth", "SETITEM on a list, expected a dict", .mismatch),
        ("hostile/deep-nesting.pth", "containers nest deeper than 64 levels", .overLimit),
        ("hostile/deep-nesting-tuple.pth", "containers nest deeper than 64 levels", .overLimit),
        ("hostile/deep-nesting-memo.pth", "containers nest deeper than 64 levels", .overLimit),
        ("hostile/huge-string.pth", "string of 4294967280 bytes exceeds the cap of 1048576", .overLimit),
        ("hostile/protocol-4-frame.pth", "pickle opcode FRAME (0x95) is not allowed", .notAllowed),
        ("hostile/not-a-dict.pth", "top-level object is a list, expected a dict of tensors", .mismatch),
        ("hostile/persid-not-storage.pth", "persistent id has 2 fields, expected 5", .mismatch),
        ("hostile/unknown-opcode.pth", "unknown pickle opcode 0xFF", .malformed),
        ("hostile/no-stop.pth", "the pickle ends without STOP", .truncated),
        ("hostile/missing-storage-record.pth", "storage '0' has no record 'archive/data/0'", .missing),
        ("hostile/record-outside-prefix.pth", "record 'evil/data/0' is outside the archive folder 'archive/'", .outOfRange),
        ("hostile/bad-byteorder.pth", "byteorder record holds 'middle', expected 'little' or 'big'", .mismatch),
        ("hostile/no-data-pkl.pth", "no 'archive/data.pkl' record", .missing),
        ("hostile/duplicate-name.pth", "duplicate record name 'archive/DATA/0'", .mismatch),
        ("hostile/claims-4gib-record.pth", "data (4294967280 bytes at 228) runs past the central directory", .outOfRange),
        ("torch/legacy.pth", "legacy (torch < 1.6) checkpoint, which is not supported", .unsupported),
        ("torch/torchscript.pt", "TorchScript archive (torch.jit.save), which is not supported", .unsupported),
    ]

    @Test(arguments: cases)
    func refusedWithAPreciseError(_ fixture: (file: String, message: String, kind: InputError.Kind)) throws {
        try? FileManager.default.removeItem(atPath: Self.marker)
        let path = Fixtures.path(fixture.file)
        let error = #expect(throws: InputError.self) { _ = try PthFile(path: path) }
        #expect(error?.kind == fixture.kind, "\(String(describing: error))")
        #expect(error?.file == path)
        #expect(error?.description.contains(fixture.message) == true, "\(error?.description ?? "no error")")
        #expect(!FileManager.default.fileExists(atPath: Self.marker), "a pickle payload ran")
    }

    @Test func payloadsWouldHaveRunUnderPickle() throws {
        // The payload pickles are real: each names a callable that would create the marker.
        let bytes = try Data(contentsOf: URL(fileURLWithPath: Fixtures.path("hostile/global-os-system.pth")))
        #expect(bytes.range(of: Data("touch \(Self.marker)".utf8)) != nil)
    }

    @Test func minimalValidArchiveReads() throws {
        let file = try PthFile(path: Fixtures.path("hostile/valid-minimal.pth"))
        try file.withBytes(of: "w") { bytes in
            #expect(Array(bytes.bindMemory(to: Float.self)) == [1, 2, 3, 4])
        }
    }
}
