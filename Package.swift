// swift-tools-version: 6.2
import PackageDescription

let strictSettings: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("MemberImportVisibility"),
    .enableUpcomingFeature("InternalImportsByDefault"),
]

let package = Package(
    name: "DeviceBackup",
    platforms: [.macOS(.v15)],
    products: [
        .library(name: "BackupModels", targets: ["BackupModels"]),
        .library(name: "DeviceTransport", targets: ["DeviceTransport"]),
        .library(name: "ConfigArchive", targets: ["ConfigArchive"]),
        .library(name: "TaskStore", targets: ["TaskStore"]),
        .library(name: "BackupExecutor", targets: ["BackupExecutor"]),
        .library(name: "BackupTestKit", targets: ["BackupTestKit"]),
        .library(name: "DeviceTransportLibSSH2", targets: ["DeviceTransportLibSSH2"]),
        .library(name: "VendorProfiles", targets: ["VendorProfiles"]),
        .library(name: "DeviceSimulator", targets: ["DeviceSimulator"]),
        .executable(name: "executor-benchmark", targets: ["ExecutorBenchmark"]),
        .executable(name: "store-benchmark", targets: ["StoreBenchmark"]),
        .executable(name: "transport-benchmark", targets: ["TransportBenchmark"]),
        .executable(name: "simulator-benchmark", targets: ["SimulatorBenchmark"]),
        .executable(name: "device-simulator", targets: ["DeviceSimulatorCLI"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-collections.git", from: "1.6.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/jpsim/Yams.git", from: "5.0.1"),
        // The DeviceSimulator's SSH server. swift-crypto (C++, minutes to build) is used by no other target.
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-nio-ssh.git", from: "0.15.1"),
        .package(url: "https://github.com/apple/swift-crypto.git", from: "4.5.2"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        // `swift package generate-documentation` (scripts/check-docs). A plugin: no target links it.
        .package(url: "https://github.com/swiftlang/swift-docc-plugin.git", from: "1.5.0"),
    ],
    targets: [
        // Internal helpers shared by the library modules (`package` access only, never a product).
        .target(
            name: "BackupSupport",
            swiftSettings: strictSettings
        ),
        .target(
            name: "BackupModels",
            dependencies: [],
            swiftSettings: strictSettings
        ),
        .target(
            name: "DeviceTransport",
            dependencies: [
                "BackupModels",
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strictSettings
        ),
        // libssh2 from the system (Debian: libssh2-1-dev). Never a product, never re-exported.
        .systemLibrary(
            name: "CLibSSH2",
            pkgConfig: "libssh2",
            providers: [.apt(["libssh2-1-dev"])]
        ),
        .target(
            name: "DeviceTransportLibSSH2",
            dependencies: [
                "CLibSSH2",
                "DeviceTransport",
                "BackupModels",
                "BackupSupport",
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strictSettings
        ),
        // The transport-agnostic CLI session engine and the built-in vendor profiles.
        .target(
            name: "VendorProfiles",
            dependencies: [
                "DeviceTransport",
                "BackupModels",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Yams", package: "Yams"),
            ],
            swiftSettings: strictSettings
        ),
        .target(
            name: "ConfigArchive",
            dependencies: [
                "BackupModels",
                "BackupSupport",
                // RetrievedConfig, the value an archive stores.
                "DeviceTransport",
            ],
            swiftSettings: strictSettings
        ),
        .target(
            name: "TaskStore",
            dependencies: [
                "BackupModels",
                "BackupSupport",
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strictSettings
        ),
        .target(
            name: "BackupExecutor",
            dependencies: [
                "BackupModels",
                "BackupSupport",
                "DeviceTransport",
                "ConfigArchive",
                "TaskStore",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "CoreMetrics", package: "swift-metrics"),
                .product(name: "HeapModule", package: "swift-collections"),
                .product(name: "DequeModule", package: "swift-collections"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: strictSettings
        ),
        .target(
            name: "BackupTestKit",
            dependencies: [
                "BackupModels",
                "DeviceTransport",
                "BackupExecutor",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "HeapModule", package: "swift-collections"),
            ],
            swiftSettings: strictSettings
        ),
        .executableTarget(
            name: "ExecutorBenchmark",
            dependencies: [
                "BenchmarkSupport", "BackupModels", "BackupExecutor", "BackupTestKit", "TaskStore", "ConfigArchive",
                "DeviceTransport",
            ],
            path: "Benchmarks/ExecutorBenchmark",
            swiftSettings: strictSettings
        ),
        .executableTarget(
            name: "StoreBenchmark",
            dependencies: ["BenchmarkSupport", "BackupModels", "TaskStore"],
            path: "Benchmarks/StoreBenchmark",
            swiftSettings: strictSettings
        ),
        .executableTarget(
            name: "TransportBenchmark",
            dependencies: [
                "BenchmarkSupport", "DeviceTransportLibSSH2", "DeviceTransport", "BackupModels",
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "Benchmarks/TransportBenchmark",
            swiftSettings: strictSettings
        ),
        .target(
            name: "BenchmarkSupport",
            path: "Benchmarks/BenchmarkSupport",
            swiftSettings: strictSettings
        ),
        .executableTarget(
            name: "SimulatorBenchmark",
            dependencies: [
                "BenchmarkSupport", "BackupExecutor", "BackupModels", "ConfigArchive", "DeviceSimulator",
                "DeviceTransport", "DeviceTransportLibSSH2", "TaskStore", "VendorProfiles",
            ],
            path: "Benchmarks/SimulatorBenchmark",
            swiftSettings: strictSettings
        ),
        // A fake SSH network-device server (swift-nio-ssh) for tests, demos and benchmarks.
        .target(
            name: "DeviceSimulator",
            dependencies: [
                "BackupModels",
                "BackupSupport",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOSSH", package: "swift-nio-ssh"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "CryptoExtras", package: "swift-crypto"),
            ],
            swiftSettings: strictSettings
        ),
        .executableTarget(
            name: "DeviceSimulatorCLI",
            dependencies: [
                "DeviceSimulator",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "IntegrationTests",
            dependencies: [
                "BackupExecutor", "BackupModels", "ConfigArchive", "DeviceSimulator", "DeviceTransport",
                "DeviceTransportLibSSH2", "TaskStore", "VendorProfiles",
            ],
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "BackupModelsTests",
            dependencies: ["BackupModels", "BackupSupport"],
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "ConfigArchiveTests",
            dependencies: ["ConfigArchive", "BackupModels", "BackupSupport", "DeviceTransport"],
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "TaskStoreTests",
            dependencies: ["TaskStore", "BackupModels", "BackupSupport"],
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "DeviceTransportLibSSH2Tests",
            dependencies: [
                "DeviceTransportLibSSH2", "DeviceTransport", "BackupModels",
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "VendorProfilesTests",
            dependencies: [
                "VendorProfiles", "DeviceTransport", "BackupModels", "BackupSupport",
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "BackupExecutorTests",
            dependencies: [
                "BackupExecutor", "BackupTestKit", "BackupModels", "TaskStore", "ConfigArchive", "DeviceTransport", "BackupSupport",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "MetricsTestKit", package: "swift-metrics"),
            ],
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "DeviceSimulatorTests",
            dependencies: [
                "DeviceSimulator", "BackupModels", "CLibSSH2",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOSSH", package: "swift-nio-ssh"),
                .product(name: "Crypto", package: "swift-crypto"),
            ],
            swiftSettings: strictSettings
        ),
    ],
    swiftLanguageModes: [.v6]
)
