// swift-tools-version: 6.1
import Foundation
import PackageDescription

let package = Package(
    name: "LlamaKit",
    products: [
        .executable(name: "llamakit", targets: ["llamakit"]),
        .library(name: "TorchCheckpoint", targets: ["TorchCheckpoint"]),
        .library(name: "Llama", targets: ["Llama"]),
        .library(name: "LlamaTokenizers", targets: ["LlamaTokenizers"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2")
    ],
    targets: [
        .systemLibrary(
            name: "CLibzip",
            pkgConfig: "libzip",
            providers: [.apt(["libzip-dev", "pkg-config"])]
        ),
        .target(name: "BinaryIO"),
        .target(name: "TensorCore", dependencies: ["BinaryIO"]),
        .target(name: "TorchCheckpoint", dependencies: ["TensorCore", "BinaryIO", "CLibzip", "Quantization"]),
        .target(name: "LlamaTokenizers", dependencies: ["BinaryIO"]),
        .target(name: "Quantization", dependencies: ["TensorCore"]),
        .target(name: "GGUF", dependencies: ["TensorCore", "BinaryIO"]),
        .target(name: "Safetensors", dependencies: ["TensorCore", "BinaryIO"]),
        .target(name: "ImportanceMatrix", dependencies: ["GGUF", "BinaryIO"]),
        .target(
            name: "ModelLoading",
            dependencies: ["TorchCheckpoint", "GGUF", "Safetensors", "Llama", "LlamaTokenizers", "TensorCore", "BinaryIO"]
        ),
        .target(
            name: "Verification",
            dependencies: ["Conversion", "ModelLoading", "Llama", "GGUF", "Quantization", "TorchCheckpoint", "TensorCore", "BinaryIO"]
        ),
        .target(
            name: "Conversion",
            dependencies: [
                "ModelLoading", "Llama", "GGUF", "ImportanceMatrix", "Quantization", "LlamaTokenizers", "Safetensors", "TensorCore",
                "BinaryIO",
            ]
        ),
        .target(name: "Llama", dependencies: ["TensorCore", "BinaryIO", "Quantization", "LlamaTokenizers"]),
        .target(
            name: "FuzzHarnesses",
            dependencies: [
                "TorchCheckpoint", "GGUF", "ImportanceMatrix", "Llama", "LlamaTokenizers", "Safetensors", "TensorCore", "Verification",
                "BinaryIO",
            ]),
        .executableTarget(
            name: "llamakit",
            dependencies: [
                "TorchCheckpoint", "Llama", "LlamaTokenizers", "TensorCore", "BinaryIO", "ModelLoading", "Verification", "Conversion",
                "GGUF", "ImportanceMatrix", .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        // Seeded generators shared by the test targets.
        .target(name: "TestSupport", path: "Tests/TestSupport"),
        .testTarget(name: "BinaryIOTests", dependencies: ["BinaryIO"]),
        .testTarget(name: "TorchCheckpointTests", dependencies: ["TorchCheckpoint", "TensorCore", "BinaryIO", "Quantization"]),
        .testTarget(
            name: "LlamaTests",
            dependencies: ["TestSupport", "Llama", "Verification", "TorchCheckpoint", "LlamaTokenizers", "TensorCore", "BinaryIO"]),
        .testTarget(name: "LlamaTokenizersTests", dependencies: ["LlamaTokenizers", "BinaryIO"]),
        .testTarget(name: "QuantizationTests", dependencies: ["TestSupport", "Quantization", "TensorCore"]),
        .testTarget(name: "GGUFTests", dependencies: ["TestSupport", "GGUF", "BinaryIO"]),
        .testTarget(name: "SafetensorsTests", dependencies: ["Safetensors", "TensorCore", "BinaryIO"]),
        .testTarget(name: "ImportanceMatrixTests", dependencies: ["ImportanceMatrix", "GGUF", "BinaryIO"]),
        .testTarget(
            name: "ConversionTests",
            dependencies: [
                "Conversion", "ModelLoading", "Verification", "GGUF", "Llama", "LlamaTokenizers", "Quantization", "Safetensors",
                "TorchCheckpoint",
                "BinaryIO", "TestSupport",
            ]
        ),
        .testTarget(name: "LlamaKitCLITests", dependencies: ["llamakit", "GGUF", "LlamaTokenizers"]),
        .testTarget(name: "FuzzCorpusTests", dependencies: ["FuzzHarnesses"]),
    ],
    swiftLanguageModes: [.v6]
)

// libFuzzer executables, one per reader: only with LLAMAKIT_FUZZ=1 (Fuzz/run builds them with
// -sanitize=fuzzer,address -parse-as-library; libFuzzer supplies main).
if ProcessInfo.processInfo.environment["LLAMAKIT_FUZZ"] != nil {
    package.targets.append(.executableTarget(name: "Fuzz", dependencies: ["FuzzHarnesses"], path: "Sources/Fuzz"))
}
