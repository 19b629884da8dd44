// A TRELLIS model folder laid out like the upstream hub repos: `pipeline.json` ({"name", "args"})
// plus `ckpts/<name>.json` and `ckpts/<name>.safetensors`. Text pipelines point at the image
// repo's decoders with hub paths ("JeffreyXiang/TRELLIS-image-large/ckpts/..."); those resolve to
// sibling folders on disk. Nothing is downloaded: a missing file is an error that says where
// Lattice looked.
import Foundation
import LatticeModels

/// `pipeline.json` `args` of TrellisImageTo3DPipeline / TrellisTextTo3DPipeline.
public struct TrellisPipelineConfig: Codable, Sendable {
    /// A sampler entry: class name, constructor args and default call params.
    public struct Sampler: Codable, Sendable {
        public var name: String
        public var args: SamplerArgs?
        public var params: SamplerParams?
    }
    /// Sampler constructor args.
    public struct SamplerArgs: Codable, Sendable {
        public var sigmaMin: Double?
        enum CodingKeys: String, CodingKey { case sigmaMin = "sigma_min" }
    }
    /// Sampler call params; a user override replaces them key by key.
    public struct SamplerParams: Codable, Sendable {
        public var steps: Int?
        public var cfgStrength: Double?
        public var cfgInterval: [Double]?
        public var rescaleT: Double?
        enum CodingKeys: String, CodingKey {
            case steps
            case cfgStrength = "cfg_strength"
            case cfgInterval = "cfg_interval"
            case rescaleT = "rescale_t"
        }
        public init(
            steps: Int? = nil, cfgStrength: Double? = nil, cfgInterval: [Double]? = nil,
            rescaleT: Double? = nil
        ) {
            self.steps = steps
            self.cfgStrength = cfgStrength
            self.cfgInterval = cfgInterval
            self.rescaleT = rescaleT
        }
        /// `self` with every key `override` sets replaced.
        public func overridden(by override: SamplerParams) -> SamplerParams {
            SamplerParams(
                steps: override.steps ?? steps, cfgStrength: override.cfgStrength ?? cfgStrength,
                cfgInterval: override.cfgInterval ?? cfgInterval,
                rescaleT: override.rescaleT ?? rescaleT)
        }
    }
    /// Per-channel SLat normalisation.
    public struct Normalization: Codable, Sendable {
        public var mean: [Double]
        public var std: [Double]
    }

    public var models: [String: String]
    /// Silhouette velocity compensation of the structure stage (`StructureGuidance`).
    public var structureGuidance: StructureGuidanceConfig?
    public var sparseStructureSampler: Sampler
    public var slatSampler: Sampler
    public var slatNormalization: Normalization?
    public var imageCondModel: String?
    public var textCondModel: String?

    enum CodingKeys: String, CodingKey {
        case models
        case structureGuidance = "structure_guidance"
        case sparseStructureSampler = "sparse_structure_sampler"
        case slatSampler = "slat_sampler"
        case slatNormalization = "slat_normalization"
        case imageCondModel = "image_cond_model"
        case textCondModel = "text_cond_model"
    }
}

/// A model folder on disk (`pipeline.json` + `ckpts/`).
public struct ModelFolder: Sendable {
    /// The folder holding `pipeline.json`.
    public let root: URL
    /// The upstream pipeline class, e.g. `TrellisImageTo3DPipeline`.
    public let pipelineName: String
    /// The parsed `args`.
    public let config: TrellisPipelineConfig

    /// A checkpoint's two files.
    public struct Checkpoint: Sendable {
        public let descriptor: ModelDescriptor
        public let weights: URL
    }

    /// Reads `root/pipeline.json`.
    public init(root: URL) throws {
        self.root = root
        let url = root.appendingPathComponent("pipeline.json")
        guard FileManager.default.fileExists(atPath: url.path) else {
            throw LatticeError(
                .io,
                "\(url.path): no pipeline.json; --model must be a folder laid out like the "
                    + "upstream hub repo (pipeline.json + ckpts/)")
        }
        let d = try ModelDescriptor(contentsOf: url)
        pipelineName = d.name
        config = try d.config(TrellisPipelineConfig.self)
    }

    /// The checkpoint that `pipeline.json` names under `models[key]`.
    public func checkpoint(_ key: String) throws -> Checkpoint {
        guard let path = config.models[key] else {
            throw LatticeError(
                .missingKey,
                "\(root.path)/pipeline.json: models has no '\(key)' (has "
                    + "\(config.models.keys.sorted().joined(separator: ", ")))")
        }
        let candidates = Self.candidates(for: path, root: root)
        for base in candidates {
            let json = URL(fileURLWithPath: base + ".json")
            let weights = URL(fileURLWithPath: base + ".safetensors")
            if FileManager.default.fileExists(atPath: json.path),
                FileManager.default.fileExists(atPath: weights.path)
            {
                return Checkpoint(
                    descriptor: try ModelDescriptor(contentsOf: json), weights: weights)
            }
        }
        throw LatticeError(
            .io,
            "model '\(key)' = \"\(path)\" from \(root.path)/pipeline.json: no .json + "
                + ".safetensors pair at any of: "
                + candidates.map { $0 + ".{json,safetensors}" }.joined(separator: ", "))
    }

    /// Where a `models` entry may live: under the root (`ckpts/x`), or for a hub path
    /// `owner/repo/ckpts/x` in a sibling folder named `repo` or `owner/repo`.
    static func candidates(for path: String, root: URL) -> [String] {
        var out = [root.appendingPathComponent(path).path]
        let parts = path.split(separator: "/").map(String.init)
        if parts.count >= 3 {
            let parent = root.deletingLastPathComponent()
            let rest = parts.dropFirst(2).joined(separator: "/")
            out.append(parent.appendingPathComponent(parts[1]).appendingPathComponent(rest).path)
            out.append(
                parent.appendingPathComponent(parts[0]).appendingPathComponent(parts[1])
                    .appendingPathComponent(rest).path)
            out.append(root.appendingPathComponent(rest).path)
        }
        return out
    }
}

/// Process memory from /proc/self/status (Linux); nil elsewhere.
public enum ResourceUsage {
    /// Peak resident set size in bytes (VmHWM).
    public static var peakRSS: Int? { statusField("VmHWM") }
    /// Resets the kernel's peak-RSS counter (Linux: write 5 to /proc/self/clear_refs), so
    /// `peakRSS` measures from here.
    public static func resetPeakRSS() {
        try? "5".write(toFile: "/proc/self/clear_refs", atomically: false, encoding: .utf8)
    }
    /// Current resident set size in bytes (VmRSS).
    public static var currentRSS: Int? { statusField("VmRSS") }

    static func statusField(_ name: String) -> Int? {
        guard let text = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8) else {
            return nil
        }
        for line in text.split(separator: "\n") where line.hasPrefix(name + ":") {
            let digits = line.split(separator: " ").compactMap { Int($0) }
            if let kb = digits.first { return kb * 1024 }
        }
        return nil
    }
}
