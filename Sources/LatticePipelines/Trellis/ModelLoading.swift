// Building a model from its upstream descriptor (class name + args) and loading its weights, one
// stage at a time: the pipelines load a model right before its stage and drop it after, so a
// TRELLIS-image-large generation never holds more than one big model in memory.
import Foundation
import LatticeModels

/// Constructs upstream model classes by name from their `ckpts/<name>.json` descriptors.
public enum TrellisModels {
    /// Builds the module `descriptor.name` names with its args (random/zero weights).
    public static func build(_ descriptor: ModelDescriptor) throws -> Module {
        switch descriptor.name {
        case "SparseStructureFlowModel":
            return try SparseStructureFlowModel(
                descriptor.config(SparseStructureFlowModel.Config.self))
        case "SparseStructureEncoder":
            return try SparseStructureEncoder(descriptor.config(SparseStructureEncoder.Config.self))
        case "SparseStructureDecoder":
            return try SparseStructureDecoder(descriptor.config(SparseStructureDecoder.Config.self))
        case "SLatFlowModel":
            return try SLatFlowModel(descriptor.config(SLatFlowModel.Config.self))
        case "SLatEncoder":
            return try SLatEncoder(descriptor.config(SLatEncoder.Config.self))
        case "SLatGaussianDecoder":
            return try SLatGaussianDecoder(descriptor.config(SLatGaussianDecoder.Config.self))
        case "SLatRadianceFieldDecoder":
            return try SLatRadianceFieldDecoder(
                descriptor.config(SLatRadianceFieldDecoder.Config.self))
        case "SLatMeshDecoder":
            return try SLatMeshDecoder(descriptor.config(SLatMeshDecoder.Config.self))
        case "DinoVisionTransformer":
            return try DinoVisionTransformer(descriptor.config(DinoVisionTransformer.Config.self))
        default:
            throw LatticeError(
                .unsupported,
                "\(descriptor.source): model class '\(descriptor.name)' is not known to Lattice "
                    + "(known: \(knownClasses.joined(separator: ", ")))")
        }
    }

    /// The upstream class names `build` understands.
    public static let knownClasses = [
        "DinoVisionTransformer", "SLatEncoder", "SLatFlowModel", "SLatGaussianDecoder",
        "SLatMeshDecoder", "SLatRadianceFieldDecoder", "SparseStructureDecoder",
        "SparseStructureEncoder", "SparseStructureFlowModel",
    ]

    /// Builds the model and loads `weights` strictly (dtypes as stored).
    public static func load(_ checkpoint: ModelFolder.Checkpoint) throws -> Module {
        let model = try build(checkpoint.descriptor)
        let file = try SafetensorsFile(url: checkpoint.weights)
        try model.load(try file.tensors(), source: checkpoint.weights.path)
        return model
    }

    /// Loads a checkpoint and checks it is a `T`.
    public static func load<T: Module>(_ checkpoint: ModelFolder.Checkpoint, as type: T.Type)
        throws -> T
    {
        let model = try load(checkpoint)
        guard let typed = model as? T else {
            throw LatticeError(
                .invalidConfig,
                "\(checkpoint.descriptor.source): class '\(checkpoint.descriptor.name)' where "
                    + "\(T.self) was expected")
        }
        return typed
    }
}
