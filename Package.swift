// swift-tools-version:6.0
import PackageDescription

// Every module builds with imports internal unless marked `public import`
// (needed when a public declaration uses the imported module's types), and
// with `any` on every existential: a C type cannot leak through a module's
// interface unnoticed, and dynamic dispatch is visible.
let strict: [SwiftSetting] = [
    .enableUpcomingFeature("InternalImportsByDefault"),
    .enableUpcomingFeature("ExistentialAny"),
]

// One package, one module per concern (see README "Layout"). The C libraries
// are system-library targets: Debian's -dev packages provide headers and .so,
// and these targets only describe how to import and link them.
let package = Package(
    name: "nasd",
    platforms: [.macOS(.v13)],
    products: [
        .executable(name: "nas", targets: ["nas"]),
        .library(name: "Core", targets: ["Core"]),
        .library(name: "SearchSpace", targets: ["SearchSpace"]),
        .library(name: "Model", targets: ["Model"]),
        .library(name: "GSLNumerics", targets: ["GSLNumerics"]),
        .library(name: "Engine", targets: ["Engine"]),
        .library(name: "Training", targets: ["Training"]),
        .library(name: "Latency", targets: ["Latency"]),
        .library(name: "VulkanEngine", targets: ["VulkanEngine"]),
        .library(name: "RunStore", targets: ["RunStore"]),
        .library(name: "Search", targets: ["Search"]),
        .library(name: "Runs", targets: ["Runs"]),
        .library(name: "Export", targets: ["Export"]),
        .library(name: "Daemon", targets: ["Daemon"]),
        .library(name: "Compression", targets: ["Compression"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.2.2"),
        // SQLite for the latency table and the run store.
        .package(url: "https://github.com/groue/GRDB.swift", from: "7.10.0"),
        // SHA-256 for the candidate hash; Foundation on Linux has no digest API.
        .package(url: "https://github.com/apple/swift-crypto", "3.12.3"..<"5.0.0"),
        // ONNX models are protocol buffers: the runtime only; the Swift for
        // onnx.proto is generated once and committed (scripts/generate-onnx-swift.sh).
        .package(url: "https://github.com/apple/swift-protobuf", from: "1.39.0"),
        // The daemon's HTTP server (`nas serve`): Hummingbird 2 on SwiftNIO, with
        // Unix-socket listening, streamed bodies for server-sent events and
        // graceful shutdown through swift-service-lifecycle.
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
        // Hummingbird's own dependencies, named for the daemon's graceful shutdown
        // (ServiceGroup), its logger and the bound channel's address.
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        // The daemon's /metrics in Prometheus's text format.
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
        // The dashboard's server-rendered pages.
        .package(url: "https://github.com/hummingbird-project/swift-mustache", from: "2.1.1"),
        // A run's store on a PostgreSQL server (`--store postgres://…`), shared by
        // the coordinator and any number of `nas worker` processes on other machines:
        // the maintained pure-Swift client on the SwiftNIO the daemon already uses.
        .package(url: "https://github.com/vapor/postgres-nio", from: "1.33.2"),
    ],
    targets: [
        // oneDNN (libdnnl-dev): training and CPU inference kernels.
        .systemLibrary(name: "CDNNL", pkgConfig: nil, providers: [.apt(["libdnnl-dev"])]),
        // GSL (libgsl-dev) with OpenBLAS's CBLAS (libopenblas-dev), never gslcblas;
        // the module map links openblas first, and the executable is linked
        // --no-as-needed so GSL's cblas_* calls bind to OpenBLAS.
        .systemLibrary(name: "CGSL", pkgConfig: nil, providers: [.apt(["libgsl-dev", "libopenblas-dev"])]),
        // The Vulkan loader (libvulkan-dev); devices come from the ICDs installed.
        .systemLibrary(name: "CVulkan", pkgConfig: nil, providers: [.apt(["libvulkan-dev", "mesa-vulkan-drivers"])]),
        // zlib, for the gzipped Fashion-MNIST files and the weights file's checksum.
        .systemLibrary(name: "CZlib", pkgConfig: nil, providers: [.apt(["zlib1g-dev"])]),

        // The error model, the shared ranges of settings, the random-source
        // protocol and the engine names: pure Swift, below everything.
        .target(name: "Core", swiftSettings: strict),
        .target(
            name: "SearchSpace",
            dependencies: ["Core", .product(name: "Yams", package: "Yams"), .product(name: "Crypto", package: "swift-crypto")],
            swiftSettings: strict
        ),
        // The inference plan (BN folded, activations and residual adds fused),
        // the weights and their one naming scheme: what every engine, exporter
        // and the latency model read. No C.
        .target(name: "Model", dependencies: ["Core", "SearchSpace"], swiftSettings: strict),
        .target(name: "GSLNumerics", dependencies: ["CGSL", "Core"], swiftSettings: strict),
        .target(name: "Engine", dependencies: ["CDNNL", "Core", "Model", "SearchSpace", "GSLNumerics"], swiftSettings: strict),
        .target(name: "VulkanEngine", dependencies: ["CVulkan", "Core", "Model", "SearchSpace"], swiftSettings: strict),
        .target(
            name: "Latency",
            dependencies: ["Core", "Model", "Engine", "VulkanEngine", "SearchSpace", "GSLNumerics",
                           .product(name: "GRDB", package: "GRDB.swift")],
            swiftSettings: strict
        ),
        .target(name: "Training", dependencies: ["Core", "Model", "Engine", "SearchSpace", "GSLNumerics", "CZlib"], swiftSettings: strict),
        // A run's storage behind a protocol; SQLite through GRDB implements it.
        .target(name: "RunStore", dependencies: ["Core", .product(name: "GRDB", package: "GRDB.swift"),
                                                .product(name: "PostgresNIO", package: "postgres-nio"),
                                                .product(name: "NIOPosix", package: "swift-nio"),
                                                .product(name: "Logging", package: "swift-log")],
                swiftSettings: strict),
        .target(
            name: "Search",
            dependencies: ["Core", "GSLNumerics", "SearchSpace", "Engine", "Training", "Latency", "RunStore", "VulkanEngine",
                           "Compression"],
            swiftSettings: strict
        ),
        // What shrinks a trained model: weight sharing, pruning, quantisation-aware
        // training, binary weights, each fine-tuned through the Training module.
        .target(
            name: "Compression",
            dependencies: ["Core", "Model", "Engine", "Training", "SearchSpace", "GSLNumerics"],
            exclude: ["mbv2-fm-compression.svg"],
            swiftSettings: strict
        ),
        // Runs as a library: names, the runs folder, opening and reporting
        // runs. What the CLI and the daemon share.
        .target(
            name: "Runs",
            dependencies: ["Core", "GSLNumerics", "SearchSpace", "Model", "Engine", "Training", "Latency", "Search", "RunStore", "Export", "Compression"],
            swiftSettings: strict
        ),
        // Models leave the machine: ONNX written from the inference plan.
        .target(
            name: "Export",
            dependencies: ["Core", "Model", "SearchSpace", .product(name: "SwiftProtobuf", package: "swift-protobuf")],
            swiftSettings: strict
        ),
        // `nas serve`: runs driven by a scheduler, served over HTTP (openapi.yaml).
        .target(
            name: "Daemon",
            dependencies: ["Core", "SearchSpace", "Search", "RunStore", "Runs",
                           .product(name: "Yams", package: "Yams"),
                           .product(name: "Hummingbird", package: "hummingbird"),
                           .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                           .product(name: "Logging", package: "swift-log"),
                           .product(name: "NIOCore", package: "swift-nio"),
                           .product(name: "NIOPosix", package: "swift-nio"),
                           .product(name: "Prometheus", package: "swift-prometheus"),
                           .product(name: "Mustache", package: "swift-mustache")],
            exclude: ["openapi.yaml", "dashboard-run.png"],
            swiftSettings: strict
        ),
        .executableTarget(
            name: "nas",
            dependencies: [
                "Core", "SearchSpace", "Model", "GSLNumerics", "Engine", "Training", "Latency", "VulkanEngine", "Search",
                "RunStore", "Runs", "Export", "Daemon", "Compression",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: strict,
            linkerSettings: [.unsafeFlags(["-Xlinker", "--no-as-needed"])]
        ),

        .testTarget(name: "CoreTests", dependencies: ["Core"]),
        .testTarget(name: "GSLNumericsTests", dependencies: ["GSLNumerics"]),
        .testTarget(name: "SearchSpaceTests", dependencies: ["SearchSpace", "GSLNumerics"]),
        .testTarget(name: "ModelTests", dependencies: ["Model", "SearchSpace", "GSLNumerics"]),
        .testTarget(name: "TrainingTests", dependencies: ["Training", "Engine", "Model", "SearchSpace", "GSLNumerics"]),
        .testTarget(name: "VulkanEngineTests", dependencies: ["VulkanEngine", "Engine", "Model", "SearchSpace", "GSLNumerics"]),
        .testTarget(name: "SearchTests", dependencies: ["Search", "GSLNumerics"]),
        .testTarget(name: "RunStoreTests", dependencies: ["RunStore", "Core"]),
        // Fixtures/ holds a run database from an earlier build; tests read it by path.
        .testTarget(name: "RunsTests", dependencies: ["Runs", "Search", "RunStore", "SearchSpace", "Core", "Engine"], exclude: ["Fixtures"]),
        .testTarget(name: "LatencyTests", dependencies: ["Latency", "Engine", "Model", "SearchSpace", "GSLNumerics"]),
        .testTarget(name: "EngineTests", dependencies: ["Engine", "Model", "SearchSpace", "GSLNumerics"]),
        .testTarget(name: "CompressionTests", dependencies: ["Compression", "Engine", "Model", "SearchSpace", "GSLNumerics", "Training", "Core"]),
        .testTarget(name: "ExportTests", dependencies: ["Export", "Engine", "Model", "SearchSpace", "GSLNumerics", "Core"]),
        .testTarget(name: "SystemLibraryTests", dependencies: ["CDNNL", "CGSL", "CVulkan"]),
        .testTarget(name: "NasCLITests", dependencies: ["nas", "Search", "Engine", .product(name: "Yams", package: "Yams")]),
        .testTarget(name: "DaemonTests", dependencies: ["Daemon", "Runs", "Core"]),
    ]
)
