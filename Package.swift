// swift-tools-version: 6.1
import PackageDescription

let swiftSettings: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("MemberImportVisibility"),
]

let package = Package(
    name: "tokentra",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "tokentra", targets: ["tokentra"]),
    ],
    dependencies: [
        .package(url: "https://github.com/groue/GRDB.swift.git", from: "7.10.0"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
    ],
    targets: [
        .systemLibrary(
            name: "CZstd",
            pkgConfig: "libzstd",
            providers: [.apt(["libzstd-dev"]), .brew(["zstd"])]
        ),
        .target(name: "CSystemShims"),
        .target(name: "TokentraCore", swiftSettings: swiftSettings),
        .target(name: "TDigest", swiftSettings: swiftSettings),
        .target(
            name: "UsageIndex",
            dependencies: ["TokentraCore", .product(name: "GRDB", package: "GRDB.swift")],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "SegmentStore",
            dependencies: [
                "TokentraCore", "UsageIndex", "CZstd", "CSystemShims",
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "Rollups",
            dependencies: [
                "SegmentStore", "UsageIndex", "TDigest", "TokentraCore",
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "tokentra",
            dependencies: [
                "SegmentStore", "Rollups", "UsageIndex", "TokentraCore",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        .target(name: "TokentraTestSupport", dependencies: ["TokentraCore"], path: "Tests/TokentraTestSupport"),
        .testTarget(name: "TokentraCoreTests", dependencies: ["TokentraCore", "TokentraTestSupport"], swiftSettings: swiftSettings),
        .testTarget(name: "TDigestTests", dependencies: ["TDigest"], swiftSettings: swiftSettings),
        .testTarget(
            name: "RollupsTests",
            dependencies: ["Rollups", "SegmentStore", "UsageIndex", "TDigest", "TokentraTestSupport"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "CLITests",
            dependencies: ["TokentraCore", "TokentraTestSupport", "tokentra"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "SegmentStoreTests",
            dependencies: ["SegmentStore", "UsageIndex", "TokentraTestSupport"],
            swiftSettings: swiftSettings
        ),
    ]
)
