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
    name: "netbackup",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "netbackup", targets: ["netbackup"]),
    ],
    dependencies: [
        .package(path: "../.."),
        .package(url: "https://github.com/jpsim/Yams.git", from: "5.0.1"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
    ],
    targets: [
        .target(
            name: "NetBackupKit",
            dependencies: [
                .product(name: "BackupModels", package: rootPackage),
                .product(name: "BackupExecutor", package: rootPackage),
                .product(name: "DeviceTransport", package: rootPackage),
                .product(name: "VendorProfiles", package: rootPackage),
                .product(name: "TaskStore", package: rootPackage),
                .product(name: "ConfigArchive", package: rootPackage),
                .product(name: "Yams", package: "Yams"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strictSettings
        ),
        .executableTarget(
            name: "netbackup",
            dependencies: [
                "NetBackupKit",
                .product(name: "DeviceTransportLibSSH2", package: rootPackage),
                .product(name: "DeviceSimulator", package: rootPackage),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "NetBackupKitTests",
            dependencies: ["NetBackupKit"],
            swiftSettings: strictSettings
        ),
    ],
    swiftLanguageModes: [.v6]
)
