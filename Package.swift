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
        .library(name: "TokentraKit", targets: ["TokentraCore", "TDigest", "UsageIndex", "SegmentStore"]),
    ],
    dependencies: [
        .package(url: "https://github.com/groue/GRDB.swift.git", from: "7.10.0"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", exact: "2.28.1"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", exact: "2.13.0"),
        .package(url: "https://github.com/apple/swift-metrics.git", exact: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", exact: "2.4.1"),
        .package(url: "https://github.com/apple/swift-nio.git", exact: "2.101.2"),
        .package(url: "https://github.com/apple/swift-http-types.git", from: "1.0.0"),  // already required by Hummingbird
        .package(url: "https://github.com/LebJe/TOMLKit.git", exact: "0.6.0"),
        .package(url: "https://github.com/swift-server/async-http-client.git", exact: "1.37.0"),
        .package(url: "https://github.com/apple/swift-crypto.git", from: "3.12.3"),
    ],
    targets: [
        .systemLibrary(
            name: "CZstd",
            pkgConfig: "libzstd",
            providers: [.apt(["libzstd-dev"]), .brew(["zstd"])]
        ),
        .target(name: "CSystemShims"),
        .systemLibrary(name: "CZlib", providers: [.apt(["zlib1g-dev"]), .brew(["zlib"])]),
        .target(name: "TokentraCore", dependencies: [.product(name: "Crypto", package: "swift-crypto")], swiftSettings: swiftSettings),
        .target(name: "TDigest", swiftSettings: swiftSettings),
        .target(
            name: "TokentraConfig",
            dependencies: ["TokentraCore", .product(name: "TOMLKit", package: "TOMLKit")],
            swiftSettings: swiftSettings
        ),
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
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "Query",
            dependencies: ["Rollups", "UsageIndex", "TDigest", "TokentraCore"],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "Repricing",
            dependencies: ["Rollups", "SegmentStore", "UsageIndex", "TokentraCore", .product(name: "Logging", package: "swift-log")],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "Alerts",
            dependencies: ["Query", "Rollups", "SegmentStore", "UsageIndex", "TDigest", "TokentraCore"],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "TokentraHTTP",
            dependencies: [
                "SegmentStore", "Rollups", "Query", "Alerts", "Repricing", "UsageIndex", "TokentraConfig", "TokentraCore", "CZlib",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
            ],
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "tokentra",
            dependencies: [
                "SegmentStore", "Rollups", "Query", "Alerts", "Repricing", "UsageIndex", "TokentraConfig", "TokentraCore", "TokentraHTTP",
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        .target(name: "TokentraTestSupport", dependencies: ["TokentraCore"], path: "Tests/TokentraTestSupport"),
        .testTarget(name: "TokentraCoreTests", dependencies: ["TokentraCore", "TokentraTestSupport"], swiftSettings: swiftSettings),
        .testTarget(
            name: "QueryTests",
            dependencies: ["Query", "Repricing", "Rollups", "SegmentStore", "UsageIndex", "TDigest", "TokentraCore", "TokentraTestSupport",
                           .product(name: "Logging", package: "swift-log")],
            swiftSettings: swiftSettings
        ),
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
            name: "TokentraHTTPTests",
            dependencies: [
                "TokentraHTTP", "Alerts", "Query", "Repricing", "Rollups", "SegmentStore", "UsageIndex", "TokentraConfig", "TokentraCore", "TokentraTestSupport", "CZlib",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "ServiceLifecycleTestKit", package: "swift-service-lifecycle"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "InMemoryLogging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "SegmentStoreTests",
            dependencies: ["SegmentStore", "Rollups", "UsageIndex", "TokentraTestSupport"],
            resources: [.copy("Fixtures")],
            swiftSettings: swiftSettings
        ),
    ]
)
