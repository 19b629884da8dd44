// Assembling the embedded default: the bundled example photos of held-out shapes, and the model
// folder (pipeline.json, ckpts/*.json + *.safetensors, image_encoder.*) from the training runs'
// EMA weights.
import Foundation
import LatticeGeometry
import LatticeIO
import LatticeModels
import LatticeNN
import LatticePipelines
import LatticeRender
import LatticeTensor

extension EmbeddedDefault {
    /// Writes `count` example photos (256² RGBA) of held-out shapes and their meshes into
    /// `<folder>/examples` as `<kind>-<k>.png` and `<kind>-<k>_gt.ply`.
    public static func writeExamples(count: Int, to folder: URL) throws -> [String] {
        let dir = folder.appendingPathComponent("examples")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        var names: [String] = []
        for k in 0..<count {
            let index = heldOutStart + k
            let shape = shapes.shape(index)
            let name =
                "\(shape.kind.rawValue)-\(shape.parts.map(\.rawValue).joined(separator: "-"))-\(k)"
            let camera = try conditionCamera(seed: UInt64(index))
            try writePNG(
                try photo(shape.mesh, camera: camera), to: dir.appendingPathComponent("\(name).png")
            )
            try MeshPLY.write(shape.mesh, to: dir.appendingPathComponent("\(name)_gt.ply"))
            names.append(name)
        }
        return names
    }

    /// One model of the folder: its pipeline.json key, file stem, descriptor JSON and weights.
    public struct PackagedModel {
        public var key: String
        public var stem: String
        public var descriptor: ModelDescriptor
        public var weights: URL
        public init(key: String, stem: String, descriptor: ModelDescriptor, weights: URL) {
            self.key = key
            self.stem = stem
            self.descriptor = descriptor
            self.weights = weights
        }
    }

    /// Writes the model folder: each model's weights are loaded into its architecture (strict:
    /// a wrong run or config fails here, not at demo time) and written as float32 safetensors.
    public static func writeModelFolder(
        _ models: [PackagedModel], slatNormalization: (mean: [Float], std: [Float]),
        samplerSteps: Int, cfgStrength: Double, layeredDepth: URL? = nil, to folder: URL
    ) throws {
        let ckpts = folder.appendingPathComponent("ckpts")
        try FileManager.default.createDirectory(at: ckpts, withIntermediateDirectories: true)
        var entries: [String] = []
        var conditioner = "image_encoder"
        for m in models {
            let module = try TrellisModels.build(m.descriptor)
            try module.load(try SafetensorsFile(url: m.weights).tensors(), source: m.weights.path)
            let isConditioner = m.key == "image_cond_model"
            let stem = (isConditioner ? folder : ckpts).appendingPathComponent(m.stem)
            let args = String(decoding: m.descriptor.args, as: UTF8.self)
            try writeAtomically(
                Data("{\"name\": \"\(m.descriptor.name)\", \"args\": \(args)}\n".utf8),
                to: stem.appendingPathExtension("json"))
            try Safetensors.write(
                module.stateDict(), to: stem.appendingPathExtension("safetensors"))
            if isConditioner {
                conditioner = m.stem
            } else {
                entries.append("\"\(m.key)\": \"ckpts/\(m.stem)\"")
            }
        }
        let sampler = """
            {"name": "FlowEulerCfgSampler", "args": {"sigma_min": 1e-5},
            "params": {"steps": \(samplerSteps), "cfg_strength": \(cfgStrength), "rescale_t": 3.0}}
            """
        // The layered-depth prior, written like the conditioner (a config and its weights).
        var depthEntry = ""
        if let layeredDepth {
            let weights = try SafetensorsFile(url: layeredDepth).tensors()
            let config = layeredDepthConfig(matching: weights)
            let model = try LayeredDepthModel(config)
            try model.load(weights, source: layeredDepth.path)
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys]
            let stem = folder.appendingPathComponent("layered_depth")
            try writeAtomically(
                try encoder.encode(config), to: stem.appendingPathExtension("json"))
            try Safetensors.write(model.stateDict(), to: stem.appendingPathExtension("safetensors"))
            // On by default, with the lift as the structure: it scores above both the flow alone
            // and the flow compensated toward the lift (Recipes/embedded-default/README.md). The
            // SLat decoders carry no colour (0.5 grey), so the colours come from the photo.
            depthEntry =
                ", \"layered_depth\": \"layered_depth\", \"layered_depth_use\": \"structure\", "
                + "\"enabled\": true, \"photo_colors\": true"
        }
        // The conditioning camera (`conditionCamera`'s centre and jitter), for --structure-guidance.
        let guidance = """
            "structure_guidance": {"yaw": \(frontYaw), "pitch": 0.3, "fov": 40, "yaw_range": 0.15, "pitch_range": 0.15, "start_t": 0.95, "inner_steps": 10\(depthEntry)},
            """
        func list(_ v: [Float]) -> String { "[" + v.map { "\($0)" }.joined(separator: ", ") + "]" }
        let json = """
            {"name": "TrellisImageTo3DPipeline", "args": {"models": {\(entries.joined(separator: ", "))},
            \(guidance)
            "sparse_structure_sampler": \(sampler), "slat_sampler": \(sampler),
            "slat_normalization": {"mean": \(list(slatNormalization.mean)), "std": \(list(slatNormalization.std))},
            "image_cond_model": "\(conditioner)"}}
            """
        try writeAtomically(Data(json.utf8), to: folder.appendingPathComponent("pipeline.json"))
    }
}
