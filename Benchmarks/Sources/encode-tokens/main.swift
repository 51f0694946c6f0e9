// Loads a Llama 3 tokenizer.model and encodes a text file with Meta's encode (bos/eos off),
// printing load time, encode time and the token count as JSON (bench_tokenize.py compares).
//
//   encode-tokens TOKENIZER.model TEXT_FILE
import Foundation
import LlamaTokenizers

let arguments = CommandLine.arguments
guard arguments.count == 3 else {
    FileHandle.standardError.write("usage: encode-tokens TOKENIZER.model TEXT_FILE\n".data(using: .utf8)!)
    exit(2)
}
let modelBytes = Array(try Data(contentsOf: URL(fileURLWithPath: arguments[1])))
let text = try String(contentsOfFile: arguments[2], encoding: .utf8)

var start = DispatchTime.now().uptimeNanoseconds
let tokenizer = try Llama3Tokenizer(parsing: modelBytes)
let loadSeconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9

start = DispatchTime.now().uptimeNanoseconds
let ids = tokenizer.encode(text)
let encodeSeconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
print("{\"load_seconds\": \(loadSeconds), \"encode_seconds\": \(encodeSeconds), \"tokens\": \(ids.count), \"bytes\": \(text.utf8.count)}")
