// swift-tools-version: 6.1
// Benchmarks for LlamaKit, kept out of the main package so tests never time anything.
import PackageDescription

let package = Package(
    name: "LlamaKitBenchmarks",
    dependencies: [.package(name: "LlamaKit", path: "..")],
    targets: [
        .executableTarget(
            name: "read-tensors",
            dependencies: [.product(name: "TorchCheckpoint", package: "LlamaKit")],
            swiftSettings: [.unsafeFlags(["-Ounchecked"])]
        ),
        .executableTarget(
            name: "encode-tokens",
            dependencies: [.product(name: "LlamaTokenizers", package: "LlamaKit")]
        ),
    ],
    swiftLanguageModes: [.v6]
)
