// swift-tools-version: 6.0
// Lattice: a Swift-native engine for TRELLIS, ReconViaGen and VIST3A.
// Layering (one way): CLatticeKernels <- LatticeTensor <- LatticeNN <- LatticeSparse
//   <- LatticeModels <- LatticePipelines <- LatticeTraining <- lattice (CLI);
//   LatticeTensor <- LatticeGeometry <- LatticeRender, LatticeIO <- LatticeModels;
//   LatticeFixtures checks everything against upstream goldens; lattice-bench sits beside the CLI.
import PackageDescription

let package = Package(
    name: "Lattice",
    platforms: [.macOS(.v13)],
    products: [
        .library(name: "LatticeTensor", targets: ["LatticeTensor"]),
        .library(name: "LatticeNN", targets: ["LatticeNN"]),
        .library(name: "LatticeSparse", targets: ["LatticeSparse"]),
        .library(name: "LatticeModels", targets: ["LatticeModels"]),
        .library(name: "LatticePipelines", targets: ["LatticePipelines"]),
        .library(name: "LatticeGeometry", targets: ["LatticeGeometry"]),
        .library(name: "LatticeRender", targets: ["LatticeRender"]),
        .library(name: "LatticeIO", targets: ["LatticeIO"]),
        .library(name: "LatticeTraining", targets: ["LatticeTraining"]),
        .library(name: "LatticeFixtures", targets: ["LatticeFixtures"]),
        .executable(name: "lattice", targets: ["lattice"]),
        .executable(name: "lattice-bench", targets: ["lattice-bench"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0")
    ],
    targets: [
        // C kernels: per-ISA code paths selected at run time (target attributes and
        // target_clones), so no unsafeFlags are needed and other packages can depend on us.
        .target(name: "CLatticeKernels"),
        .target(name: "LatticeTensor", dependencies: ["CLatticeKernels"]),
        .target(name: "LatticeNN", dependencies: ["LatticeTensor"]),
        .target(name: "LatticeSparse", dependencies: ["LatticeNN", "CLatticeKernels"]),
        .target(
            name: "LatticeModels",
            dependencies: [
                "LatticeNN", "LatticeSparse", "LatticeGeometry", "LatticeRender", "LatticeIO",
            ]),
        .target(
            name: "LatticePipelines",
            dependencies: ["LatticeModels", "LatticeGeometry", "LatticeRender", "LatticeIO"]),
        // Cameras, conventions, meshes, FlexiCubes; rendering (splats, meshes, fields) on top.
        .target(name: "LatticeGeometry", dependencies: ["LatticeTensor"]),
        .target(name: "LatticeRender", dependencies: ["LatticeGeometry", "LatticeTensor"]),
        // File formats and image resampling.
        .target(name: "LatticeIO", dependencies: ["LatticeGeometry", "LatticeTensor"]),
        // Datasets, trainers, checkpoints.
        .target(
            name: "LatticeTraining",
            dependencies: ["LatticePipelines", "LatticeRender", "LatticeIO", "LatticeGeometry"],
            resources: [.copy("Resources/EmbeddedDefault")]),
        .target(
            name: "LatticeFixtures",
            dependencies: ["LatticePipelines", "LatticeGeometry", "LatticeRender", "LatticeIO"]),
        .executableTarget(
            name: "lattice",
            dependencies: [
                "LatticeFixtures", "LatticeTraining",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]),
        .executableTarget(
            name: "lattice-bench",
            dependencies: [
                "LatticeModels", "LatticeGeometry", "LatticeRender", "LatticeIO",
                "LatticePipelines", "LatticeTraining",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]),
        // Helpers shared by the test targets (finite-difference gradient checks).
        .target(
            name: "LatticeTestSupport", dependencies: ["LatticeTensor"],
            path: "Tests/LatticeTestSupport"),
        .testTarget(
            name: "LatticeTensorTests", dependencies: ["LatticeTensor", "LatticeTestSupport"]),
        .testTarget(name: "LatticeNNTests", dependencies: ["LatticeNN", "LatticeTestSupport"]),
        .testTarget(
            name: "LatticeSparseTests",
            dependencies: [
                "LatticeSparse", "LatticeFixtures", "CLatticeKernels", "LatticeTestSupport",
            ]),
        // Fixture files live in Tests/Fixtures and are found relative to #filePath.
        .testTarget(
            name: "LatticeModelsTests", dependencies: ["LatticeFixtures", "LatticePipelines"]),
        .testTarget(
            name: "LatticeGeometryTests", dependencies: ["LatticeGeometry", "LatticeTestSupport"]),
        .testTarget(
            name: "LatticeIOTests", dependencies: ["LatticeIO", "LatticeFixtures"]),
        .testTarget(
            name: "LatticeTrainingTests",
            dependencies: ["LatticeTraining", "LatticeTestSupport"]),
        .testTarget(
            name: "LatticeRenderTests",
            dependencies: [
                "LatticeGeometry", "LatticeRender", "LatticeFixtures", "LatticeTestSupport",
            ]),
    ]
)
