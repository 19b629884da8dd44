// The embedded default's conditioning photo bank and the image encoder's occupancy pre-training:
// the bank holds exactly what the pipeline's preprocessing produces, round-trips through its
// file, picks views deterministically; photos rendered on demand equal the bank's; and the
// occupancy objective learns.
import Foundation
import LatticeGeometry
import LatticeModels
import LatticeNN
import LatticePipelines
import LatticeTensor
import Testing

@testable import LatticeTraining

@Suite struct ConditionPhotoBankTests {
    @Test func bankHoldsPreprocessedPhotosAndRoundTrips() throws {
        let bank = try ConditionPhotoBank.render(count: 2, views: 2, photoResolution: 128)
        // View 1 of item 1 must be the pipeline's own preprocessing of that camera's photo,
        // to the 8-bit step (the preprocessing already quantises to k/255, so exactly).
        let photo = try EmbeddedDefault.photo(
            EmbeddedDefault.shapes.shape(1).mesh,
            camera: ConditionPhotoBank.camera(item: 1, view: 1),
            size: 128)
        let expected = ImagePreprocess.batch([
            try EmbeddedDefault.conditionImage(photo, source: "shape 1")
        ]).toFloats()
        let got = bank.batch([1], views: [1]).toFloats()
        #expect(got.count == expected.count)
        let worst = zip(got, expected).map { abs($0 - $1) }.max() ?? .infinity
        #expect(worst < 1e-6, "bank photo differs from the preprocessed photo by \(worst)")
        // The object is there (not an empty frame).
        #expect(got.filter { $0 > 0.05 }.count > got.count / 10)

        let url = FileManager.default.temporaryDirectory
            .appendingPathComponent("bank-\(UUID().uuidString).safetensors")
        defer { try? FileManager.default.removeItem(at: url) }
        try bank.write(to: url)
        let back = try ConditionPhotoBank.read(url)
        #expect(back.count == 2 && back.views == 2 && back.size == bank.size)
        #expect(back.pixels == bank.pixels)

        // Views depend only on (item, step, salt): a resumed run sees the same ones, and they
        // cover every view.
        let seen = Set((0..<64).map { bank.view(item: 1, step: $0, salt: 5) })
        #expect(seen == [0, 1])
        #expect(bank.view(item: 1, step: 9, salt: 5) == back.view(item: 1, step: 9, salt: 5))
    }

    @Test func onlinePhotosEqualTheBanksAndVaryByStep() throws {
        // The on-demand source renders the same camera and quantisation as the bank, so view v
        // of item i is the bank's byte for byte; its target is the voxelized shape's 16³ grid.
        let bank = try ConditionPhotoBank.render(count: 3, views: 2, photoResolution: 128)
        let online = try OnlineConditionPhotos(count: 3, photoResolution: 128)
        let per = bank.photoSize
        for item in 0..<3 {
            for view in 0..<2 {
                let base = (item * 2 + view) * per
                #expect(
                    try online.photo(item: item, view: view)
                        == Array(bank.pixels[base..<base + per]),
                    "item \(item) view \(view)")
            }
        }
        let voxels = ProceduralVoxelDataset(
            shapes: EmbeddedDefault.shapes, count: 3, resolution: EmbeddedDefault.resolution)
        #expect(
            online.occupancy(item: 2)
                == ImageEncoderOccupancyPretraining.coarseOccupancy(
                    try voxels.coords(2), resolution: EmbeddedDefault.resolution))
        // A fresh view per step (not a handful), fixed by (item, step, salt) for exact resume.
        let views = Set((0..<32).map { online.view(item: 1, step: $0, salt: 1) })
        #expect(views.count > 24)
        #expect(online.view(item: 1, step: 7, salt: 1) == online.view(item: 1, step: 7, salt: 1))
        // Held-out shapes can never be drawn.
        #expect(throws: LatticeError.self) {
            try OnlineConditionPhotos(count: EmbeddedDefault.heldOutStart + 1)
        }
        #expect(throws: LatticeError.self) { try OnlineConditionPhotos(count: 0) }
    }

    @Test func malformedBankFileIsRejected() throws {
        let url = FileManager.default.temporaryDirectory
            .appendingPathComponent("bank-bad-\(UUID().uuidString).safetensors")
        defer { try? FileManager.default.removeItem(at: url) }
        try Safetensors.write(["photos": Tensor(zeros: [2, 3])], to: url)
        #expect(throws: LatticeError.self) { try ConditionPhotoBank.read(url) }
    }

    @Test(arguments: ImageEncoderOccupancyPretraining.Head.allCases)
    func occupancyPretrainingLearns(head: ImageEncoderOccupancyPretraining.Head) throws {
        // 4 shapes, 2 views: 40 steps must cut the BCE + Dice loss well below the first steps'
        // (a memorisable set; a broken gradient path leaves it flat), through either head.
        let bank = try ConditionPhotoBank.render(count: 4, views: 2, photoResolution: 128)
        let occupancy = (0..<4).map { i in
            ImageEncoderOccupancyPretraining.coarseOccupancy(
                Voxelizer.voxelizeSurface(EmbeddedDefault.shapes.shape(i).mesh, resolution: 32),
                resolution: 32)
        }
        // The coarse target is the max-pool: some cells set, most empty.
        #expect(occupancy.allSatisfy { o in o.contains(1) && o.filter { $0 > 0 }.count < 2048 })
        var g = RandomGenerator(seed: 3)
        let encoder = try DinoVisionTransformer(EmbeddedDefault.imageEncoderConfig)
        EmbeddedDefault.initializeImageEncoder(encoder, generator: &g)
        let objective = try ImageEncoderOccupancyPretraining(
            encoder: encoder, bank: bank, occupancy: occupancy, head: head, generator: &g)
        var options = TrainerOptions(maxSteps: 40)
        options.batchSize = 4
        options.learningRate = 1e-3
        options.emaRates = []
        options.seed = 1
        let trainer = try Trainer(objective: objective, options: options)
        objective.trainer = trainer
        try trainer.run()
        let losses = trainer.history.map(\.loss)
        let first = losses.prefix(5).reduce(0, +) / 5
        let last = losses.suffix(5).reduce(0, +) / 5
        // Linear head, 0.5: its 33.6M parameters memorise 4 occupancies in 40 steps, removing
        // most of BCE + Dice; half is a margin that still catches a dead gradient. Query head,
        // 0.8: 0.12M parameters cannot memorise that fast (measured 1.38 -> 0.93); with a dead
        // gradient the 5-step means differ only by batch noise (a few percent).
        let bar: Float = head == .linear ? 0.5 : 0.8
        #expect(last < bar * first, "\(head) head: pre-training loss \(first) -> \(last)")
        #expect(try objective.predictLogits(bank.batch([0], views: [0])).shape == [1, 4096])
    }

    @Test func queryHeadWritesEachBlockToItsCells() {
        // Block-major logits whose value encodes (block, cell) must land at grid (x, y, z) with
        // block (x/k, y/k, z/k) and cell (x%k, y%k, z%k): a wrong permutation scrambles the
        // occupancy the encoder is trained to predict.
        let (n, k) = (2, 3)
        let values = (0..<(n * n * n * k * k * k)).map(Float.init)  // block * k³ + cell
        let grid = OccupancyQueryHead.gridOrder(
            Tensor(values, shape: [1, n * n * n, k * k * k]), blocksPerSide: n, block: k
        ).toFloats()
        let r = n * k
        var wrong = 0
        for x in 0..<r {
            for y in 0..<r {
                for z in 0..<r {
                    let block = ((x / k) * n + y / k) * n + z / k
                    let cell = ((x % k) * k + y % k) * k + z % k
                    if grid[(x * r + y) * r + z] != Float(block * k * k * k + cell) { wrong += 1 }
                }
            }
        }
        #expect(wrong == 0)
        // The head's own output has the grid's size, one row per image.
        var g = RandomGenerator(seed: 5)
        let head = OccupancyQueryHead(dim: 16, heads: 2, resolution: 8, block: 4)
        head.resetParameters(generator: &g)
        #expect(head(Tensor.randn([2, 5, 16], generator: &g)).shape == [2, 512])
    }
}
