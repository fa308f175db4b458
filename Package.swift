// swift-tools-version:6.0
import PackageDescription

let package = Package(
    name: "Tracemark",
    platforms: [.macOS(.v13)],
    products: [
        .executable(name: "tracemark", targets: ["tracemark"]),
        .library(name: "Engine", targets: ["Engine"]),
        .library(name: "Data", targets: ["Data"]),
        .library(name: "Training", targets: ["Training"]),
        .library(name: "Watermark", targets: ["Watermark"]),
        .library(name: "Vault", targets: ["Vault"]),
        .library(name: "Probe", targets: ["Probe"]),
        .library(name: "Forensics", targets: ["Forensics"]),
        .library(name: "Server", targets: ["Server"]),
        .library(name: "Service", targets: ["Service"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.0.0"),
    ],
    targets: [
        // System libraries from Debian: each wrapped with a module map and, where the C API is
        // variadic or a macro, a static inline shim Swift can call.
        .systemLibrary(name: "CBLAS", pkgConfig: "openblas", providers: [.apt(["libopenblas-dev"])]),
        .systemLibrary(name: "CCurl", pkgConfig: "libcurl", providers: [.apt(["libcurl4-openssl-dev"])]),
        .systemLibrary(name: "COpenSSL", pkgConfig: "openssl", providers: [.apt(["libssl-dev"])]),
        .systemLibrary(name: "CZlib", pkgConfig: "zlib", providers: [.apt(["zlib1g-dev"])]),
        .systemLibrary(name: "CSQLite", pkgConfig: "sqlite3", providers: [.apt(["libsqlite3-dev"])]),
        // oneDNN 2.6 ships no pkg-config file; its header is in /usr/include. The library itself is
        // opened at run time by CDNNLLoader, so tracemark starts (on its own kernels) without it.
        .systemLibrary(name: "CDNNL", providers: [.apt(["libdnnl-dev"])]),
        .target(name: "CDNNLLoader", linkerSettings: [.linkedLibrary("dl")]),

        .target(name: "Engine", dependencies: ["CBLAS", "CDNNL", "CDNNLLoader", "COpenSSL"]),
        .target(name: "Data", dependencies: ["Engine", "CZlib"]),
        .target(name: "Training", dependencies: ["Engine", "Data"]),
        .target(name: "Watermark", dependencies: ["Engine", "Data", "Training"]),
        .target(name: "Vault", dependencies: ["Engine", "COpenSSL", "CSQLite"]),
        .target(name: "Probe", dependencies: ["Engine", "Data", "Watermark", "CCurl", "CZlib"]),
        .target(name: "Forensics", dependencies: ["Engine", "Data", "Training", "Watermark", "Vault", "Probe"]),
        .target(name: "Server", dependencies: ["Engine", .product(name: "Hummingbird", package: "hummingbird")]),
        .target(name: "Service", dependencies: ["Engine", "Watermark", "Vault", "Probe", "Forensics", "Server",
                                                .product(name: "Hummingbird", package: "hummingbird")]),
        .executableTarget(
            name: "tracemark",
            dependencies: [
                "Engine", "Data", "Training", "Watermark", "Vault", "Probe", "Forensics", "Server", "Service",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),

        .testTarget(name: "SystemLibraryTests", dependencies: ["CBLAS", "CCurl", "COpenSSL", "CZlib"]),
        .testTarget(name: "EngineTests", dependencies: ["Engine"]),
        .testTarget(name: "DataTests", dependencies: ["Data", "Engine"]),
        .testTarget(name: "TrainingTests", dependencies: ["Training", "Engine", "Data"]),
        .testTarget(name: "WatermarkTests", dependencies: ["Watermark", "Training", "Engine", "Data"]),
        // Finding and running the built `tracemark` binary, for the tests that use the CLI.
        .target(name: "TestSupport", path: "Tests/TestSupport"),
        .testTarget(name: "VaultTests", dependencies: ["Vault", "Engine", "Data", "Watermark", "tracemark", "TestSupport"]),
        .testTarget(name: "ForensicsTests", dependencies: ["Forensics", "Vault", "Probe", "Engine", "Data", "Training", "Watermark", "tracemark", "TestSupport"]),
        .testTarget(name: "ProbeTests", dependencies: ["Probe", "Server", "Engine", "Data", "Training", "Watermark", "tracemark", "TestSupport",
                                                  .product(name: "Hummingbird", package: "hummingbird")]),
        // Seeded, time-bounded fuzzing of every input format (TRACEMARK_FUZZ_SECONDS per case).
        .testTarget(name: "FuzzTests", dependencies: ["Forensics", "Probe", "Server", "Vault", "Engine", "Data", "Watermark", "TestSupport"]),
        .testTarget(name: "ServiceTests", dependencies: ["Forensics", "Probe", "Engine", "Data", "Vault", "Watermark", "tracemark", "TestSupport"]),
    ],
    swiftLanguageModes: [.v5]
)
