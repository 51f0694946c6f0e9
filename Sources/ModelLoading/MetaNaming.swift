import TensorCore

/// Another layout's tensors listed under Meta's names: each stored name mapped (names outside the
/// table kept; the first of two that map alike wins), and a file without an output matrix tied
/// to its embedding, `output.weight` served from the embedding as Meta's Llama 3.2 files hold it.
struct MetaNaming {
    let infos: [TensorInfo]
    /// Meta name → stored name.
    let storedName: [String: String]
    let infoByName: [String: TensorInfo]
    let tiedOutput: Bool

    init(_ stored: [TensorInfo], metaName: (String) -> String?) {
        var infos: [TensorInfo] = []
        var storedName: [String: String] = [:]
        for var info in stored {
            let meta = metaName(info.name) ?? info.name
            guard storedName[meta] == nil else { continue }
            storedName[meta] = info.name
            if meta != info.name { info.location = "\(info.name) @ \(info.location)" }
            info.name = meta
            infos.append(info)
        }
        let embeddingName = storedName["tok_embeddings.weight"]
        tiedOutput = storedName["output.weight"] == nil && embeddingName != nil
        if tiedOutput, let embeddingName, var embedding = infos.first(where: { $0.name == "tok_embeddings.weight" }) {
            embedding.name = "output.weight"
            embedding.location = "tied to \(embeddingName)"
            storedName["output.weight"] = embeddingName
            infos.append(embedding)
        }
        self.infos = infos
        self.storedName = storedName
        infoByName = Dictionary(uniqueKeysWithValues: infos.map { ($0.name, $0) })
    }
}
