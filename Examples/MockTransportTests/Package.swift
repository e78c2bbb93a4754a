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

// "NightlyBackup" stands for your own automation built on DeviceBackup; its tests show how to test such
// code with BackupTestKit: no SSH, no real time, no sleeping.
let package = Package(
    name: "MockTransportTests",
    platforms: [.macOS(.v15)],
    products: [
        .library(name: "NightlyBackup", targets: ["NightlyBackup"]),
    ],
    dependencies: [
        .package(path: "../.."),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
    ],
    targets: [
        .target(
            name: "NightlyBackup",
            dependencies: [
                .product(name: "BackupExecutor", package: rootPackage),
                .product(name: "BackupModels", package: rootPackage),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "NightlyBackupTests",
            dependencies: [
                "NightlyBackup",
                .product(name: "BackupTestKit", package: rootPackage),
                .product(name: "BackupExecutor", package: rootPackage),
                .product(name: "BackupModels", package: rootPackage),
                .product(name: "ConfigArchive", package: rootPackage),
                .product(name: "DeviceTransport", package: rootPackage),
                .product(name: "TaskStore", package: rootPackage),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strictSettings
        ),
    ],
    swiftLanguageModes: [.v6]
)
