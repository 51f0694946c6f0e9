import TensorCore
import Testing

@testable import Quantization

@Suite struct BlockFormatTests {
    /// `BlockFormat.dtype` is a switch: each case must name the element type spelled as itself,
    /// and `BlockFormat(dtype)` must find it back.
    @Test func everyFormatIsTheElementTypeOfItsName() {
        for format in BlockFormat.allCases {
            #expect(format.dtype.rawValue == format.rawValue)
            #expect(BlockFormat(format.dtype) == format)
        }
    }
}
