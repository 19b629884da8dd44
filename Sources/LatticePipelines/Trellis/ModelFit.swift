// Which model a checkpoint fits: with its `{"name","args"}` JSON beside it, the model is built and
// every tensor name and shape is checked against it (no data is read); without one, the class is
// recognised from characteristic keys. Used by `lattice inspect`.
import Foundation
import LatticeModels

/// The verdict of matching a checkpoint's tensors against a model.
public struct ModelFit: Sendable {
    /// The upstream class the checkpoint fits (or appears to be).
    public var className: String?
    /// True when a built model's parameters and the file's tensors match exactly.
    public var verified: Bool
    /// Human-readable findings: what matched, what is missing, extra or mis-shaped.
    public var lines: [String]

    /// Matches `file` against `descriptor` (built with random weights), or guesses the class from
    /// key names when there is no descriptor.
    public static func check(_ file: SafetensorsFile, descriptor: ModelDescriptor?) -> ModelFit {
        let shapes = Dictionary(
            file.allEntries.map { ($0.name, $0.shape) }, uniquingKeysWith: { a, _ in a })
        guard let descriptor else {
            let guess = guessClass(shapes)
            return ModelFit(
                className: guess, verified: false,
                lines: [
                    guess.map {
                        "looks like \($0) (by its key names; put its .json beside it to verify)"
                    }
                        ?? "no known model class recognised from the key names"
                ])
        }
        let model: Module
        do {
            model = try TrellisModels.build(descriptor)
        } catch {
            return ModelFit(className: descriptor.name, verified: false, lines: ["\(error)"])
        }
        // The model's own sanitize maps foreign layouts; match on the keys it would load.
        let params = model.namedParameters()
        var missing: [String] = []
        var misShaped: [String] = []
        for (key, p) in params {
            guard let shape = shapes[key] else {
                missing.append(key)
                continue
            }
            if shape != p.value.shape {
                misShaped.append("\(key): file \(shape), model \(p.value.shape)")
            }
        }
        let known = Set(params.map(\.0))
        let extra = shapes.keys.filter { !known.contains($0) }.sorted()
        var lines: [String] = []
        let ok = missing.isEmpty && misShaped.isEmpty && extra.isEmpty
        if ok {
            lines.append(
                "fits \(descriptor.name) (\(descriptor.source)): all \(params.count) tensors match by name and shape"
            )
        } else {
            lines.append("does NOT fit \(descriptor.name) (\(descriptor.source)):")
            for (title, items) in [
                ("missing", missing), ("mis-shaped", misShaped), ("not used by the model", extra),
            ] where !items.isEmpty {
                lines.append(
                    "  \(items.count) \(title): " + items.prefix(6).joined(separator: "; ")
                        + (items.count > 6 ? "; ..." : ""))
            }
        }
        return ModelFit(className: descriptor.name, verified: ok, lines: lines)
    }

    /// The upstream class whose characteristic keys the checkpoint has.
    static func guessClass(_ shapes: [String: [Int]]) -> String? {
        let keys = Set(shapes.keys)
        func has(_ prefix: String) -> Bool { keys.contains { $0.hasPrefix(prefix) } }
        if has("register_tokens") || has("embeddings.register_tokens") {
            return "DinoVisionTransformer"
        }
        if has("text_model.") || has("embeddings.token_embedding") { return "CLIPTextModel" }
        if has("t_embedder.") {
            return has("input_blocks.") ? "SLatFlowModel" : "SparseStructureFlowModel"
        }
        if has("middle_block.") {
            // The encoder ends in 2·latent channels (mean, logvar); the decoder in occupancy logits.
            return shapes["out_layer.2.weight"]?.first == 1
                ? "SparseStructureDecoder" : "SparseStructureEncoder"
        }
        if has("upsample.") { return "SLatMeshDecoder" }
        if keys.contains("offset_perturbation") { return "SLatGaussianDecoder" }
        if has("blocks.") && has("input_layer.") && has("out_layer.") {
            // The encoder reads image features (1024 wide); decoders read 8-channel latents.
            return (shapes["input_layer.weight"]?.last ?? 0) > 64
                ? "SLatEncoder" : "SLatRadianceFieldDecoder"
        }
        return nil
    }
}
