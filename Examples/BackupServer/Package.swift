// swift-tools-version: 6.2
import Foundation
import PackageDescription

// The library is this repository's root package. A path dependency's identity is its directory name,
// which depends on where the repository was cloned, so compute it.
let rootPackage = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
    .appendingPathComponent("../..").standardizedFileURL.lastPathComponent

let strictSettings: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("MemberImportVisibility"),
]

let package = Package(
    name: "BackupServer",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "backup-server", targets: ["BackupServerCommand"]),
        .library(name: "BackupServerKit", targets: ["BackupServerKit"]),
    ],
    dependencies: [
        .package(path: "../.."),
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.28.1"),
        .package(url: "https://github.com/hummingbird-project/hummingbird-websocket.git", from: "2.8.1"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-http-types.git", from: "1.8.0"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/jpsim/Yams.git", from: "5.0.1"),
        // Tests only: a streaming HTTP client for the Server-Sent Events test (HummingbirdTesting uses it too).
        .package(url: "https://github.com/swift-server/async-http-client.git", from: "1.37.0"),
    ],
    targets: [
        // Everything but argument parsing: the HTTP API, live progress, the demo inventory. Tests use it.
        .target(
            name: "BackupServerKit",
            dependencies: [
                .product(name: "BackupModels", package: rootPackage),
                .product(name: "BackupExecutor", package: rootPackage),
                .product(name: "BackupTestKit", package: rootPackage),
                .product(name: "DeviceTransport", package: rootPackage),
                .product(name: "DeviceTransportLibSSH2", package: rootPackage),
                .product(name: "VendorProfiles", package: rootPackage),
                .product(name: "TaskStore", package: rootPackage),
                .product(name: "ConfigArchive", package: rootPackage),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "HummingbirdWebSocket", package: "hummingbird-websocket"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOWebSocket", package: "swift-nio"),
                .product(name: "Yams", package: "Yams"),
            ],
            swiftSettings: strictSettings
        ),
        .executableTarget(
            name: "BackupServerCommand",
            dependencies: [
                "BackupServerKit",
                .product(name: "BackupExecutor", package: rootPackage),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "Sources/backup-server",
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "BackupServerKitTests",
            dependencies: [
                "BackupServerKit",
                .product(name: "BackupTestKit", package: rootPackage),
                .product(name: "BackupModels", package: rootPackage),
                .product(name: "BackupExecutor", package: rootPackage),
                .product(name: "TaskStore", package: rootPackage),
                .product(name: "ConfigArchive", package: rootPackage),
                .product(name: "DeviceTransport", package: rootPackage),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOWebSocket", package: "swift-nio"),
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                .product(name: "HummingbirdWSTesting", package: "hummingbird-websocket"),
                .product(name: "HummingbirdWSClient", package: "hummingbird-websocket"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Yams", package: "Yams"),
            ],
            swiftSettings: strictSettings
        ),
    ],
    swiftLanguageModes: [.v6]
)
