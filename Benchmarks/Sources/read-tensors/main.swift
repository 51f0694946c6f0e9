// Reads every tensor of a checkpoint once through LlamaKit's TensorSource and prints the time,
// and optionally a checksum per tensor that bench_read.py compares with torch's bytes.
//
//   read-tensors PATH [--via mapped|libzip] [--checksums]
import Foundation
import TorchCheckpoint

let arguments = CommandLine.arguments.dropFirst()
guard let path = arguments.first else {
    FileHandle.standardError.write("usage: read-tensors PATH [--via mapped|libzip] [--checksums]\n".data(using: .utf8)!)
    exit(2)
}
var via = PthFile.ReadPath.mapped
if let index = arguments.firstIndex(of: "--via"), index + 1 < arguments.endIndex,
    let chosen = PthFile.ReadPath(rawValue: arguments[index + 1])
{
    via = chosen
}
let printChecksums = arguments.contains("--checksums")

// --list: only open the checkpoint and list every tensor (the library work of `inspect`),
// timed in-process like torch.load(mmap=True) + listing is in bench_read.py.
// --repeat N repeats it and reports the median (for profiling a steady state).
if arguments.contains("--list") {
    var repeats = 1
    if let index = arguments.firstIndex(of: "--repeat"), index + 1 < arguments.endIndex { repeats = Int(arguments[index + 1]) ?? 1 }
    var times: [Double] = []
    var count = 0
    for _ in 0..<repeats {
        let start = DispatchTime.now().uptimeNanoseconds
        let checkpoint = try CheckpointDirectory.open(path)
        let listing = checkpoint.source.tensorInfos.map { ($0.name, $0.dtype, $0.shape, $0.byteCount) }
        times.append(Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9)
        count = listing.count
    }
    print("{\"tensors\": \(count), \"seconds\": \(times.sorted()[times.count / 2])}")
    exit(0)
}

let start = DispatchTime.now().uptimeNanoseconds
let checkpoint = try CheckpointDirectory.open(path, readPath: via)
var total = 0
var lines: [String] = []
var sink: UInt64 = 0
for info in checkpoint.source.tensorInfos {
    let sum = try checkpoint.source.withBytes(of: info.name) { printChecksums ? Checksum.weighted($0) : Checksum.plain($0) }
    total += info.byteCount
    sink &+= sum
    if printChecksums { lines.append("\(info.name)\t\(sum)") }
}
let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
for line in lines { print(line) }
if !printChecksums { print("sum \(sink)") }
print("{\"via\": \"\(via.rawValue)\", \"bytes\": \(total), \"seconds\": \(seconds), \"gb_per_s\": \(Double(total) / seconds / 1e9)}")
