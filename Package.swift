// swift-tools-version:6.0
import PackageDescription

let package = Package(
    name: "graphd",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "graphd", targets: ["graphd"]),
        .executable(name: "graphctl", targets: ["graphctl"]),
        .executable(name: "graphd-bench", targets: ["graphd-bench"]),
        .library(name: "GraphdClient", targets: ["GraphdClient"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-protobuf.git", from: "1.39.0"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-collections.git", from: "1.6.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-numerics.git", from: "1.1.1"),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
        .package(url: "https://github.com/apple/swift-nio-ssl.git", from: "2.37.6"),
    ],
    targets: [
        // MARK: C libraries from Debian's -dev packages
        .systemLibrary(name: "CIgraph", pkgConfig: "igraph", providers: [.apt(["libigraph-dev"])]),
        .target(name: "CIgraphSupport", dependencies: ["CIgraph"]),
        .systemLibrary(name: "CBLAS", pkgConfig: "openblas", providers: [.apt(["libopenblas-dev"])]),
        .systemLibrary(name: "CSQLite", pkgConfig: "sqlite3", providers: [.apt(["libsqlite3-dev"])]),
        .systemLibrary(name: "CNats", pkgConfig: "libnats", providers: [.apt(["libnats-dev"])]),

        // MARK: Domain: graph model, snapshots, igraph topology (no NIO, no protobuf)
        // A write's inputs by name: what client-side importers build without the engine.
        .target(name: "GraphInputs"),
        .target(
            name: "GraphCore",
            dependencies: [
                "GraphInputs", "CIgraph", "CIgraphSupport",
                .product(name: "Collections", package: "swift-collections"),
            ]
        ),

        // MARK: Message passing: CSR SpMM and OpenBLAS GEMM, shared by every GNN layer
        .target(
            name: "MessagePassing",
            dependencies: ["CBLAS", .product(name: "RealModule", package: "swift-numerics")]
        ),

        // MARK: Graph algorithms: personalized PageRank (forward push, power iteration)
        .target(name: "GraphAlgorithms", dependencies: ["GraphCore"]),

        // MARK: Text embeddings: hashed n-grams and a native all-MiniLM-L6-v2 on OpenBLAS
        .target(
            name: "TextEmbedding",
            dependencies: ["CBLAS", .product(name: "RealModule", package: "swift-numerics")]
        ),

        // MARK: Background work: serial job queues with one ordered shutdown, values rebuilt aside
        .target(name: "BackgroundWork"),

        // MARK: Recommendation: interaction matrices and item scorers (RP3β, graph filter)
        .target(
            name: "Recommendation",
            dependencies: ["GraphCore", "GraphAlgorithms", "MessagePassing", .product(name: "RealModule", package: "swift-numerics")]
        ),

        // MARK: The router's conventions in the graph (types, attributes, documents, limits, query text): shared with graphctl
        .target(name: "RoutingSchema"),

        // MARK: LLM routing: GraphRouter-style heterogeneous GNN predicting effect and cost of query→LLM edges
        .target(
            name: "Routing",
            dependencies: ["RoutingSchema", "GraphCore", "MessagePassing", "TextEmbedding", "BackgroundWork",
                           .product(name: "RealModule", package: "swift-numerics"), .product(name: "Logging", package: "swift-log")]
        ),

        // MARK: Conversational recommendation (G-CRS): INSPIRED data, conversation–entity–item graph, retrieval
        // Its content and conventions alone (INSPIRED data, entity linking, dialogues as
        // graph inputs), which client-side importers use without the engine.
        .target(name: "ConversationContent", dependencies: ["GraphInputs"]),
        .target(name: "Conversational", dependencies: ["ConversationContent", "GraphCore", "GraphAlgorithms", "MessagePassing"]),

        // MARK: Storage: SQLite store of record and the single-writer database actor
        .target(name: "GraphStore", dependencies: ["GraphCore", "CSQLite", .product(name: "Metrics", package: "swift-metrics")]),

        // MARK: Replication: the JetStream log every write goes through, and the primary's lease (NATS C client)
        .target(name: "Replication", dependencies: [
            "CNats", "GraphCore", "GraphStore",
            .product(name: "SwiftProtobuf", package: "swift-protobuf"), .product(name: "Logging", package: "swift-log"),
        ]),

        // MARK: Wire: generated protobuf messages, ttrpc framing and dispatch
        .target(
            name: "GraphdProto",
            dependencies: [.product(name: "SwiftProtobuf", package: "swift-protobuf")]
        ),
        .target(
            name: "TTRPC",
            dependencies: [
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "SwiftProtobuf", package: "swift-protobuf"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),

        // MARK: RPC services, listeners and daemon lifecycle
        .target(
            name: "GraphdServer",
            dependencies: [
                "GraphCore", "GraphStore", "GraphAlgorithms", "MessagePassing", "Recommendation", "Routing", "Conversational", "TextEmbedding",
                "BackgroundWork", "Replication", "GraphdProto", "TTRPC",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "SwiftProtobuf", package: "swift-protobuf"),
            ]
        ),

        // MARK: Client library
        .target(
            name: "GraphdClient",
            dependencies: [
                "GraphdProto", "TTRPC",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "SwiftProtobuf", package: "swift-protobuf"),
            ]
        ),

        // MARK: Executables
        .executableTarget(
            name: "graphd",
            dependencies: [
                "GraphdServer", "TextEmbedding", "Routing",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .executableTarget(
            name: "graphctl",
            dependencies: [
                "GraphdClient", "GraphdTools", "GraphdProto", "RoutingSchema", "ConversationContent", "TextEmbedding",
                "GraphCore",  // igraph reads GraphML for import --format graphml
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "SwiftProtobuf", package: "swift-protobuf"),
            ]
        ),
        .executableTarget(
            name: "graphd-bench",
            dependencies: [
                "GraphdTools", "GraphdHarness", "GraphdClient", "GraphdProto", "TTRPC",
                "GraphCore", "GraphStore", "GraphAlgorithms", "Recommendation", "Routing", "Conversational", "TextEmbedding", "CBLAS",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "SwiftProtobuf", package: "swift-protobuf"),
            ]
        ),

        // MARK: What graphctl and graphd-bench share: exit codes and output, client-side importers (batched writes, RouterBench, INSPIRED)
        .target(
            name: "GraphdTools",
            dependencies: [
                "GraphdClient", "GraphdProto", "RoutingSchema", "GraphInputs", "ConversationContent", "TextEmbedding",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "SwiftProtobuf", package: "swift-protobuf"),
            ]
        ),

        // MARK: A graphd child process and raw sockets: the end-to-end tests' and the benchmarks' harness
        .target(name: "GraphdHarness", dependencies: ["GraphdClient"]),

        // MARK: Tests
        .testTarget(name: "GraphCoreTests", dependencies: ["GraphCore", "CBLAS"]),
        .testTarget(name: "MessagePassingTests", dependencies: ["MessagePassing", "GraphCore"]),
        .testTarget(name: "GraphAlgorithmsTests", dependencies: ["GraphAlgorithms", "GraphCore"]),
        .testTarget(name: "TextEmbeddingTests", dependencies: ["TextEmbedding"], resources: [.copy("Fixtures")]),
        .testTarget(name: "RecommendationTests", dependencies: ["Recommendation", "GraphAlgorithms", "GraphCore"]),
        .testTarget(name: "ConversationalTests", dependencies: ["Conversational", "ConversationContent", "GraphCore", "MessagePassing"]),
        .testTarget(name: "RoutingTests", dependencies: ["Routing", "GraphCore", "MessagePassing", "BackgroundWork", "TextEmbedding"]),
        .testTarget(name: "ReplicationTests", dependencies: ["Replication", "GraphdHarness", "GraphCore", "GraphStore"]),
        .testTarget(name: "GraphStoreTests", dependencies: ["GraphStore", "GraphCore", "Replication"]),
        .testTarget(name: "GraphdServerTests", dependencies: ["GraphdServer", "BackgroundWork", "GraphdProto", "GraphStore", "GraphAlgorithms", "Routing", "TTRPC"]),
        .testTarget(
            name: "TTRPCTests",
            dependencies: [
                "TTRPC",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "SwiftProtobuf", package: "swift-protobuf"),
            ]
        ),
        .testTarget(
            name: "EndToEndTests",
            dependencies: ["GraphdClient", "GraphdHarness", "GraphdProto", "Replication", "TTRPC", .product(name: "NIOPosix", package: "swift-nio"),
                           .product(name: "SwiftProtobuf", package: "swift-protobuf"),
                           .product(name: "NIOSSL", package: "swift-nio-ssl")],
            resources: [.copy("Interop")]
        ),
    ],
    swiftLanguageModes: [.v6]
)

// MARK: Fuzz targets (libFuzzer), built only by scripts/fuzz: they need -sanitize=fuzzer,
// which supplies their main.
if Context.environment["GRAPHD_FUZZ"] != nil {
    package.targets += [
        .target(name: "FuzzDriver", path: "Fuzz/FuzzDriver"),
        .executableTarget(name: "FuzzFrames", dependencies: ["FuzzDriver", "TTRPC", .product(name: "NIOCore", package: "swift-nio")],
                          path: "Fuzz/FuzzFrames"),
        .executableTarget(name: "FuzzDispatch",
                          dependencies: ["FuzzDriver", "GraphdServer", "GraphdProto", "TTRPC", .product(name: "NIOCore", package: "swift-nio"),
                                         .product(name: "NIOPosix", package: "swift-nio"), .product(name: "Logging", package: "swift-log")],
                          path: "Fuzz/FuzzDispatch"),
    ]
}
