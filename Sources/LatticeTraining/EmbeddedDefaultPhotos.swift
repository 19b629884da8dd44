// The embedded default's conditioning photos, rendered once, and the image encoder's supervised
// pre-training on them. Rendering a fresh photo per item and step made the structure flow's steps
// mostly rasterization; and an encoder trained only through the flow's CFM loss learnt to ignore
// the image (the flow produced one average blob). So the recipe renders a fixed bank of views,
// pre-trains the encoder to predict each shape's coarse occupancy from one photo (a strong,
// direct signal), then trains the flows on the frozen encoder's cached tokens.
import Foundation
import LatticeGeometry
import LatticeModels
import LatticeNN
import LatticePipelines
import LatticeTensor

/// Preprocessed conditioning photos of shapes `0..<count`, `views` random views each.
public struct ConditionPhotoBank: Sendable {
    /// Shapes (items `0..<count` of `EmbeddedDefault.shapes`).
    public let count: Int
    /// Views per shape.
    public let views: Int
    /// Image side (the encoder input size).
    public let size: Int
    /// [count, views, 3, size, size]: the pipeline's preprocessed (premultiplied) RGB, 8-bit.
    public let pixels: [UInt8]

    /// Floats per photo.
    public var photoSize: Int { 3 * size * size }

    public init(count: Int, views: Int, size: Int, pixels: [UInt8]) throws {
        guard count > 0, views > 0, size > 0, pixels.count == count * views * 3 * size * size
        else {
            throw LatticeError(
                .shapeMismatch,
                "photo bank: \(pixels.count) bytes for \(count) shapes × \(views) views of "
                    + "3×\(size)×\(size)")
        }
        (self.count, self.views, self.size, self.pixels) = (count, views, size, pixels)
    }

    /// The camera of view `view` of `item` (fixed per pair, so every stage sees the same bank).
    public static func camera(item: Int, view: Int) throws -> (
        extrinsics: Matrix4, intrinsics: Matrix3
    ) {
        try EmbeddedDefault.conditionCamera(seed: cameraSeed(item: item, view: view))
    }

    /// The `EmbeddedDefault.conditionCamera` seed of view `view` of `item`.
    public static func cameraSeed(item: Int, view: Int) -> UInt64 {
        UInt64(item) &* 0x9E37_79B9 &+ UInt64(view) &* 0x85EB_CA6B &+ 0xBA4C
    }

    /// Renders the bank (the rasterizer uses every core); `progress` gets the photos done.
    public static func render(
        count: Int, views: Int, photoResolution: Int = 192, progress: (Int) -> Void = { _ in }
    ) throws -> ConditionPhotoBank {
        let size = EmbeddedDefault.imageSize
        let per = 3 * size * size
        var pixels = [UInt8](repeating: 0, count: count * views * per)
        let family = EmbeddedDefault.shapes
        for item in 0..<count {
            let mesh = family.shape(item).mesh
            for view in 0..<views {
                let base = (item * views + view) * per
                pixels.replaceSubrange(
                    base..<base + per,
                    with: try photoBytes(
                        mesh, item: item, view: view, photoResolution: photoResolution))
                progress(item * views + view + 1)
            }
        }
        return try ConditionPhotoBank(count: count, views: views, size: size, pixels: pixels)
    }

    /// View `view` of shape `item` (its `mesh`) rendered at `photoResolution`, preprocessed as
    /// the pipeline does and stored as the bank stores it.
    static func photoBytes(_ mesh: TriangleMesh, item: Int, view: Int, photoResolution: Int)
        throws -> [UInt8]
    {
        let photo = try EmbeddedDefault.photo(
            mesh, camera: camera(item: item, view: view), size: photoResolution)
        return quantized(try EmbeddedDefault.conditionImage(photo, source: "shape \(item)"))
    }

    /// The hash that picks a training step's view of `item`.
    static func viewHash(item: Int, step: Int, salt: UInt64) -> UInt64 {
        splitMix(UInt64(item) &* 0x9E37_79B9 ^ UInt64(step) &* 0xC2B2_AE35 ^ salt)
    }

    /// A preprocessed photo ([H, W, 3] floats) as the bank stores it: channel-major [3, H, W],
    /// 8-bit.
    static func quantized(_ image: RasterImage) -> [UInt8] {
        let (w, h) = (image.width, image.height)
        var out = [UInt8](repeating: 0, count: 3 * w * h)
        for y in 0..<h {
            for x in 0..<w {
                for c in 0..<3 {
                    let v = image.pixels[(y * w + x) * 3 + c]
                    out[(c * h + y) * w + x] = UInt8((min(max(v, 0), 1) * 255).rounded())
                }
            }
        }
        return out
    }

    /// Photos [B, 3, S, S] (floats in [0, 1]) of `items`, view `views[i]` of each.
    public func batch(_ items: [Int], views chosen: [Int]) -> Tensor {
        precondition(items.count == chosen.count, "photo bank: one view per item")
        var out = [Float](repeating: 0, count: items.count * photoSize)
        for (b, (item, view)) in zip(items, chosen).enumerated() {
            precondition(
                item >= 0 && item < count && view >= 0 && view < views,
                "photo bank: item \(item) view \(view) outside \(count)×\(views)")
            let base = (item * views + view) * photoSize
            for i in 0..<photoSize { out[b * photoSize + i] = Float(pixels[base + i]) / 255 }
        }
        return Tensor(out, shape: [items.count, 3, size, size])
    }

    /// The view of `item` a training step uses: a hash of (item, step, salt), so a resumed run
    /// sees the same views.
    public func view(item: Int, step: Int, salt: UInt64) -> Int {
        Int(Self.viewHash(item: item, step: step, salt: salt) % UInt64(views))
    }

    /// Writes the bank as a safetensors file (`photos`, U8 [count, views, 3, S, S]), atomically.
    public func write(to url: URL) throws {
        try Safetensors.write(
            [:],
            raw: [
                "photos": .init(dtype: .U8, shape: [count, views, 3, size, size], bytes: pixels)
            ],
            metadata: ["format": "lattice-condition-photos"], to: url)
    }

    /// Reads a bank written by `write(to:)`.
    public static func read(_ url: URL) throws -> ConditionPhotoBank {
        let file = try SafetensorsFile(url: url)
        guard let info = file.info("photos"), info.dtype == .U8, info.shape.count == 5,
            info.shape[2] == 3, info.shape[3] == info.shape[4]
        else {
            throw LatticeError(
                .invalidArgument,
                "\(url.path): expected tensor 'photos' U8 [count, views, 3, S, S], got "
                    + "\(file.info("photos").map { "\($0.dtype) \($0.shape)" } ?? "none")")
        }
        let t = try file.tensor("photos")
        let bytes = Array(
            UnsafeBufferPointer(
                start: t.storage.data.advanced(by: t.offset).assumingMemoryBound(to: UInt8.self),
                count: t.count))
        return try ConditionPhotoBank(
            count: info.shape[0], views: info.shape[1], size: info.shape[3], pixels: bytes)
    }
}

/// Conditioning photos and coarse occupancy rendered on demand, for pre-training on as many
/// shapes as the procedural family has: item `i` is shape `i`, and each step sees a fresh view
/// (`ConditionPhotoBank.camera` of a view index hashed from the step), 8-bit like the bank's. A
/// fixed bank of 4000 shapes let the encoder memorise it (training loss 0.71 -> 0.45 while the
/// held-out IoU stayed at 0.40); rendering (≈ 90 photos/s here) keeps up with training.
public struct OnlineConditionPhotos: Sendable {
    /// Training shapes `0..<count` (must stay below `EmbeddedDefault.heldOutStart`).
    public let count: Int
    /// Render size before the pipeline's preprocessing.
    public let photoResolution: Int

    public init(count: Int, photoResolution: Int = 192) throws {
        guard count > 0, count <= EmbeddedDefault.heldOutStart else {
            throw LatticeError(
                .invalidArgument,
                "online photos: count \(count) must be in 1...\(EmbeddedDefault.heldOutStart) "
                    + "(shapes from \(EmbeddedDefault.heldOutStart) on are held out)")
        }
        (self.count, self.photoResolution) = (count, photoResolution)
    }

    /// The view index step `step` uses for `item`.
    public func view(item: Int, step: Int, salt: UInt64) -> Int {
        Int(ConditionPhotoBank.viewHash(item: item, step: step, salt: salt) >> 40)
    }

    /// The 8-bit preprocessed photo [3, S, S] of view `view` of `item`.
    public func photo(item: Int, view: Int) throws -> [UInt8] {
        try ConditionPhotoBank.photoBytes(
            EmbeddedDefault.shapes.shape(item).mesh, item: item, view: view,
            photoResolution: photoResolution)
    }

    /// Photos [B, 3, S, S] in [0, 1] of `items` for training step `step`.
    public func batch(_ items: [Int], step: Int, salt: UInt64) throws -> Tensor {
        let size = EmbeddedDefault.imageSize
        var out: [Float] = []
        out.reserveCapacity(items.count * 3 * size * size)
        for item in items {
            out += try photo(item: item, view: view(item: item, step: step, salt: salt)).map {
                Float($0) / 255
            }
        }
        return Tensor(out, shape: [items.count, 3, size, size])
    }

    /// The 16³ pre-training target of `item`.
    public func occupancy(item: Int) -> [Float] {
        ImageEncoderOccupancyPretraining.target(item: item)
    }
}

/// Conditioning tokens of every bank photo under a frozen image encoder, computed once.
public final class CachedConditionTokens: @unchecked Sendable {
    public let bank: ConditionPhotoBank
    /// Tokens per photo and their width.
    public let length: Int
    public let width: Int
    private let tokens: [Float]  // [count * views, length, width]

    public init(
        bank: ConditionPhotoBank, encoder: DinoVisionTransformer, progress: (Int) -> Void = { _ in }
    ) throws {
        encoder.train(false)
        self.bank = bank
        var all: [Float] = []
        var (length, width) = (0, 0)
        let photos = bank.count * bank.views
        var start = 0
        while start < photos {
            let ids = Array(start..<min(photos, start + 32))
            let batch = bank.batch(ids.map { $0 / bank.views }, views: ids.map { $0 % bank.views })
            let t = try withNoGrad { try TrellisPipeline.conditionTokens(encoder, batch) }
            (length, width) = (t.shape[1], t.shape[2])
            all += t.contiguous().toFloats()
            start += ids.count
            progress(start)
        }
        (self.length, self.width, self.tokens) = (length, width, all)
    }

    /// Tokens [B, length, width] of `items` for training step `step`.
    public func tokens(_ items: [Int], step: Int, salt: UInt64) -> Tensor {
        let per = length * width
        var out = [Float](repeating: 0, count: items.count * per)
        for (b, item) in items.enumerated() {
            let photo = item * bank.views + bank.view(item: item, step: step, salt: salt)
            out.replaceSubrange(
                b * per..<(b + 1) * per, with: tokens[photo * per..<(photo + 1) * per])
        }
        return Tensor(out, shape: [items.count, length, width])
    }
}

/// Pre-trains the image encoder to predict a shape's coarse occupancy from one photo: a head on
/// the tokens exactly as the flows see them (`TrellisPipeline.conditionTokens`) gives logits of
/// the 16³ occupancy (the 32³ surface voxels max-pooled by 2), trained with BCE + Dice. Models:
/// `image_encoder`, `head`.
///
/// Which head matters more than how well it predicts. A Linear on the flattened patch tokens
/// (8192 -> 4096) predicts well (held-out IoU 0.40, voxel F 0.93 at 16³) but a structure flow
/// conditioned on those tokens used them poorly: its samples had the right size but not the
/// shape or orientation (voxel F 0.58 at 32³ on 24 held-out shapes), and more flow steps did
/// not help. A flow reads tokens by cross-attention, and one dense Linear is not something
/// cross-attention can emulate. `OccupancyQueryHead` reads them the flow's way (learned 3D
/// queries cross-attending to the tokens): with the encoder continued through it, the same flow
/// reached voxel F 0.68 (demo generation F on 24 held-out shapes 0.53 -> 0.59). It also cannot
/// memorise (0.12M parameters against 33.6M).
///
/// Why occupancy and not the SS latent: regressing the SS VAE's latent (MSE) learnt almost nothing
/// in 2000 steps (loss 0.83 against 0.89 for the mean; its held-out prediction decoded to 0.09
/// IoU): most of the latent's variance does not change the decoded shape. Occupancy is the signal
/// the structure flow needs the tokens to carry. A pooled (class + mean token) head learnt slowly
/// (BCE + Dice 1.19 -> 1.03 in 800 steps).
public final class ImageEncoderOccupancyPretraining: TrainingObjective {
    public let encoder: DinoVisionTransformer
    /// How the occupancy is read from the tokens.
    public enum Head: String, Sendable, CaseIterable {
        /// One Linear on all patch tokens flattened (8192 -> 4096, 33.6M parameters).
        case linear
        /// `OccupancyQueryHead`: learned 3D queries cross-attending to the tokens, as the
        /// structure flow reads them (0.12M parameters).
        case query
    }
    public let head: Module
    /// Where photos and targets come from.
    public enum Source {
        /// A fixed bank with the coarse occupancy (0/1) of each of its items,
        /// `targetResolution`³ each (x, y, z; z fastest).
        case bank(ConditionPhotoBank, occupancy: [[Float]])
        /// Rendered on demand.
        case online(OnlineConditionPhotos)
    }
    public let source: Source
    public static let targetResolution = 16
    public weak var trainer: Trainer?

    public var models: [(name: String, module: Module)] {
        [("image_encoder", encoder), ("head", head)]
    }
    public var datasetCount: Int {
        switch source {
        case .bank(let bank, let occupancy): return min(bank.count, occupancy.count)
        case .online(let online): return online.count
        }
    }

    public init(
        encoder: DinoVisionTransformer, bank: ConditionPhotoBank, occupancy: [[Float]],
        head: Head = .linear, generator: inout RandomGenerator
    ) throws {
        let cells = Self.targetResolution * Self.targetResolution * Self.targetResolution
        guard !occupancy.isEmpty, occupancy.allSatisfy({ $0.count == cells }) else {
            throw LatticeError(
                .invalidArgument, "occupancy pre-training: targets must be \(cells) cells each")
        }
        self.encoder = encoder
        source = .bank(bank, occupancy: occupancy)
        self.head = Self.makeHead(head, encoder: encoder.config, generator: &generator)
    }

    /// Pre-training on photos and targets rendered on demand.
    public init(
        encoder: DinoVisionTransformer, online: OnlineConditionPhotos, head: Head = .linear,
        generator: inout RandomGenerator
    ) {
        self.encoder = encoder
        source = .online(online)
        self.head = Self.makeHead(head, encoder: encoder.config, generator: &generator)
    }

    static func makeHead(
        _ kind: Head, encoder config: DinoVisionTransformer.Config, generator: inout RandomGenerator
    ) -> Module {
        let r = targetResolution
        switch kind {
        case .linear:
            let patches =
                (config.imgSize / config.patchSize) * (config.imgSize / config.patchSize)
            let head = Linear(patches * config.embedDim, r * r * r)
            head.resetParameters(generator: &generator)
            return head
        case .query:
            let head = OccupancyQueryHead(
                dim: config.embedDim, heads: config.numHeads, resolution: r, block: 4)
            head.resetParameters(generator: &generator)
            return head
        }
    }

    /// The target of shape `item` of the family: its `EmbeddedDefault.resolution`³ surface
    /// voxels max-pooled to 16³.
    public static func target(item: Int) -> [Float] {
        let r = EmbeddedDefault.resolution
        return coarseOccupancy(
            Voxelizer.voxelizeSurface(EmbeddedDefault.shapes.shape(item).mesh, resolution: r),
            resolution: r)
    }

    /// The coarse target of surface voxels `coords` on an R³ grid: max-pooled to 16³.
    public static func coarseOccupancy(_ coords: [SIMD3<Int32>], resolution: Int) -> [Float] {
        let r = targetResolution
        let factor = max(1, resolution / r)
        var grid = [Float](repeating: 0, count: r * r * r)
        for c in coords {
            let (x, y, z) = (Int(c.x) / factor, Int(c.y) / factor, Int(c.z) / factor)
            guard x < r, y < r, z < r else { continue }
            grid[(x * r + y) * r + z] = 1
        }
        return grid
    }

    /// Occupancy logits [B, 16³] from photos [B, 3, S, S].
    public func predict(_ photos: Tensor) throws -> Tensor {
        let tokens = try TrellisPipeline.conditionTokens(encoder, photos)  // [B, 1 + P, C]
        switch head {
        case let query as OccupancyQueryHead:
            return query(tokens)  // [B, 16³]
        case let linear as Linear:
            let patches = tokens.slice(1, 1).contiguous()  // [B, P, C]
            return linear(patches.reshape([tokens.shape[0], -1]))  // [B, 16³]
        default:
            preconditionFailure("unknown occupancy head \(type(of: head))")
        }
    }

    public func losses(items: [Int], generator: inout RandomGenerator) throws -> [String: Tensor] {
        let step = trainer?.step ?? 0
        let cells = Self.targetResolution * Self.targetResolution * Self.targetResolution
        let photos: Tensor
        let target: Tensor
        switch source {
        case .online(let online):
            photos = try online.batch(items, step: step, salt: 1)
            target = Tensor(
                items.flatMap { online.occupancy(item: $0) }, shape: [items.count, cells])
        case .bank(let bank, let occupancy):
            photos = bank.batch(
                items, views: items.map { bank.view(item: $0, step: step, salt: 1) })
            target = Tensor(items.flatMap { occupancy[$0] }, shape: [items.count, cells])
        }
        let logits = try predict(photos)
        let bce = Loss.bceWithLogits(logits, target)
        let dice = Loss.dice(logits, target)
        return ["loss": bce + dice, "bce": bce, "dice": dice]
    }

    /// Occupancy logits [B, 16³] for photos; no gradients, encoder in eval mode.
    public func predictLogits(_ photos: Tensor) throws -> Tensor {
        encoder.train(false)
        defer { encoder.train(true) }
        return try withNoGrad { try predict(photos) }
    }
}

/// Reads a coarse occupancy from image tokens the way the structure flow reads them: one learned
/// query per `block`³ cell block of the `resolution`³ grid cross-attends to the tokens (class +
/// patches), and a small MLP turns each query into its block's `block`³ logits. Pre-training the
/// encoder through this head (instead of one Linear on the flattened tokens, which a flow's
/// cross-attention cannot emulate and which memorises) makes the tokens say what is where in a
/// form cross-attention can look up. Keys: `queries` [blocks, C], `attn.{to_q,to_kv,to_out}`,
/// `norm`, `mlp.0`, `mlp.2`.
public final class OccupancyQueryHead: Module, @unchecked Sendable {
    public let resolution: Int
    public let block: Int
    public let queries: Parameter
    public let attn: MultiHeadAttention
    public let norm: LayerNorm
    public let fc1: Linear
    public let fc2: Linear

    public init(dim: Int, heads: Int, resolution: Int, block: Int) {
        precondition(
            resolution % block == 0, "OccupancyQueryHead: \(block) must divide \(resolution)")
        self.resolution = resolution
        self.block = block
        let blocks = (resolution / block) * (resolution / block) * (resolution / block)
        queries = Parameter(Tensor(zeros: [blocks, dim]))
        attn = MultiHeadAttention(
            dim: dim, heads: heads, contextDim: dim, projection: .fusedKV(q: "to_q", kv: "to_kv"))
        norm = LayerNorm(dim)
        fc1 = Linear(dim, 2 * dim)
        fc2 = Linear(2 * dim, block * block * block)
        super.init()
        register("queries", queries)
        register("attn", attn)
        register("norm", norm)
        register("mlp.0", fc1)
        register("mlp.2", fc2)
    }

    override public func resetParameters(generator: inout RandomGenerator) {
        super.resetParameters(generator: &generator)
        // Distinct unit-scale queries, so each block attends somewhere of its own from the start.
        Initializer.normal(queries, std: 1, generator: &generator)
    }

    /// Tokens [B, T, C] -> occupancy logits [B, R³] in grid order (x, y, z; z fastest).
    public func callAsFunction(_ tokens: Tensor) -> Tensor {
        let b = tokens.shape[0]
        let (n, k) = (resolution / block, block)
        let q = queries.value.reshape([1] + queries.value.shape).expand(
            [b] + queries.value.shape)  // [B, n³, C]
        let h = q + attn(q, context: tokens)
        return Self.gridOrder(fc2(fc1(norm(h)).gelu()), blocksPerSide: n, block: k)
    }

    /// Block-major logits [B, n³ blocks (bx, by, bz), k³ cells (ix, iy, iz)] -> grid order
    /// [B, (n·k)³] over (x, y, z) = (bx·k + ix, by·k + iy, bz·k + iz), z fastest.
    static func gridOrder(_ logits: Tensor, blocksPerSide n: Int, block k: Int) -> Tensor {
        let b = logits.shape[0]
        return logits.reshape([b, n, n, n, k, k, k]).permute([0, 1, 4, 2, 5, 3, 6]).contiguous()
            .reshape([b, n * k * n * k * n * k])
    }
}
