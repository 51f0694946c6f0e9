import Foundation
import Testing

@testable import Llama

/// Which kernel paths the library was built with, read from its behaviour and its API rather
/// than from this file's flags. `make test` runs the kernel suites a second time with the
/// release build's `NATIVE_FLAGS` and `LLAMAKIT_EXPECT_NATIVE=1`; then the F16C, FMA and AVX2 paths
/// must be there, so a Makefile that stopped passing the flags fails here instead of quietly
/// testing the baseline kernels twice.
@Suite struct NativeBuildTests {
    /// `madd` of (1 + 2⁻¹²)² onto −(1 + 2⁻¹¹): the exact product 1 + 2⁻¹¹ + 2⁻²⁴ rounds (a tie,
    /// to even) to 1 + 2⁻¹¹, so an unfused multiply-add gives 0 and a fused one 2⁻²⁴.
    static var maddIsFused: Bool {
        var acc = SIMD8<Float>(repeating: -(1 + 0x1p-11))
        let a = SIMD8<Float>(repeating: 1 + 0x1p-12)
        VectorKernels.madd(&acc, a, a)
        return acc == SIMD8(repeating: 0x1p-24)
    }

    /// Whether the F16C row kernel exists: the call compiles only if the library has it.
    static var hasF16CRowKernel: Bool {
        #if LLAMAKIT_F16C
            let weights: [Float16] = [1.5, -2]
            let x: [Float] = [2, 0.25]
            return weights.withUnsafeBytes { VectorKernels.dot(f16: $0.baseAddress!, x, 2) } == 2.5
        #else
            return false
        #endif
    }

    /// Whether the AVX2 block dots exist: the call compiles only if the library has them.
    static var hasAVX2BlockKernels: Bool {
        #if arch(x86_64) && LLAMAKIT_AVX2
            let zeros = [UInt8](repeating: 0, count: 256), sums = [Int32](repeating: 0, count: 16)
            return zeros.withUnsafeBufferPointer { b in
                b.withMemoryRebound(to: Int8.self) { QuantizedKernels.AVX2.q4KSums(b.baseAddress!, $0.baseAddress!, sums) == (0, 0) }
            }
        #else
            return false
        #endif
    }

    @Test func compiledKernelPathsAreTheOnesThisBuildAskedFor() {
        #if LLAMAKIT_FMA || arch(arm64)
            #expect(Self.maddIsFused, "LLAMAKIT_FMA build, but madd rounds the product")
        #else
            #expect(!Self.maddIsFused, "baseline build, but madd is fused")
        #endif
        if ProcessInfo.processInfo.environment["LLAMAKIT_EXPECT_NATIVE"] == "1" {
            #expect(Self.hasF16CRowKernel, "the native run was built without LLAMAKIT_F16C")
            #expect(Self.maddIsFused, "the native run was built without LLAMAKIT_FMA")
            #expect(Self.hasAVX2BlockKernels, "the native run was built without LLAMAKIT_AVX2")
        }
    }
}
