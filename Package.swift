// swift-tools-version:6.0
import PackageDescription

// One package, one module per concern (see README "Layout"). The C libraries
// are system-library targets: Debian's -dev packages provide headers and .so,
// and these targets only describe how to import and link them.
let package = Package(
    name: "nasd",
    platforms: [.macOS(.v13)],
    products: [
        .executable(name: "nas", targets: ["nas"]),
        .library(name: "SearchSpace", targets: ["SearchSpace"]),
        .library(name: "Numerics", targets: ["Numerics"]),
        .library(name: "Engine", targets: ["Engine"]),
        .library(name: "Training", targets: ["Training"]),
        .library(name: "Latency", targets: ["Latency"]),
        .library(name: "VulkanEngine", targets: ["VulkanEngine"]),
        .library(name: "RunStore", targets: ["RunStore"]),
        .library(name: "Search", targets: ["Search"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.2.2"),
        // SQLite for the latency table (and, later, the run store).
        .package(url: "https://github.com/groue/GRDB.swift", from: "7.10.0"),
        // SHA-256 for the candidate hash; Foundation on Linux has no digest API.
        .package(url: "https://github.com/apple/swift-crypto", "3.12.3"..<"5.0.0"),
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

        .target(
            name: "Numerics",
            dependencies: ["CGSL"]
        ),
        .target(
            name: "SearchSpace",
            dependencies: [
                "Numerics",
                .product(name: "Yams", package: "Yams"),
                .product(name: "Crypto", package: "swift-crypto"),
            ]
        ),
        .target(
            name: "Engine",
            dependencies: ["CDNNL", "SearchSpace", "Numerics"]
        ),
        .target(
            name: "VulkanEngine",
            dependencies: ["CVulkan", "Engine", "SearchSpace"]
        ),
        .target(
            name: "Latency",
            dependencies: ["Engine", "VulkanEngine", "SearchSpace", "Numerics", .product(name: "GRDB", package: "GRDB.swift")]
        ),
        .target(
            name: "RunStore",
            dependencies: [.product(name: "GRDB", package: "GRDB.swift")]
        ),
        .target(
            name: "Search",
            dependencies: ["Numerics", "SearchSpace", "Engine", "Training", "Latency", "RunStore", "VulkanEngine"]
        ),
        // zlib, for the gzipped Fashion-MNIST files.
        .systemLibrary(name: "CZlib", pkgConfig: nil, providers: [.apt(["zlib1g-dev"])]),
        .target(
            name: "Training",
            dependencies: ["Engine", "SearchSpace", "Numerics", "CZlib"]
        ),
        .executableTarget(
            name: "nas",
            dependencies: [
                "SearchSpace",
                "Numerics",
                "Engine",
                "Training",
                "Latency",
                "VulkanEngine",
                "Search",
                "RunStore",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            linkerSettings: [.unsafeFlags(["-Xlinker", "--no-as-needed"])]
        ),

        .testTarget(name: "NumericsTests", dependencies: ["Numerics"]),
        .testTarget(name: "SearchSpaceTests", dependencies: ["SearchSpace", "Numerics"]),
        .testTarget(name: "TrainingTests", dependencies: ["Training", "Engine", "SearchSpace", "Numerics"]),
        .testTarget(name: "VulkanEngineTests", dependencies: ["VulkanEngine", "Engine", "SearchSpace", "Numerics"]),
        .testTarget(name: "SearchTests", dependencies: ["Search", "Numerics"]),
        .testTarget(name: "RunStoreTests", dependencies: ["RunStore"]),
        .testTarget(name: "LatencyTests", dependencies: ["Latency", "Engine", "SearchSpace", "Numerics"]),
        .testTarget(name: "EngineTests", dependencies: ["Engine", "SearchSpace", "Numerics"]),
        .testTarget(name: "SystemLibraryTests", dependencies: ["CDNNL", "CGSL", "CVulkan"]),
        .testTarget(name: "NasCLITests", dependencies: ["nas", "SearchSpace", "Search"]),
    ]
)
