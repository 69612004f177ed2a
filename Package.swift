// swift-tools-version:6.0
// The package manifest is the architecture diagram: each target may depend only on targets listed
// above it. The core (ZKCore … ZKReplica) imports the standard library only; ZKPosix is the only
// module that imports Glibc; ZKServer is the production shell that wires sockets to the core.
import PackageDescription

/// Release builds drop the runtime exclusivity checks (`swift_beginAccess` on every class property
/// modified in place: about 1% of a request's CPU). Debug builds, which every test runs, keep them,
/// so an overlapping access is still caught there.
let release: [SwiftSetting] = [.unsafeFlags(["-enforce-exclusivity=unchecked"], .when(configuration: .release))]

let package = Package(
    name: "swift-zookeeper",
    products: [
        .executable(name: "zk-server", targets: ["zk-server"]),
        .executable(name: "zk-cli", targets: ["zk-cli"]),
        .library(name: "ZKClient", targets: ["ZKClient"]),
        .executable(name: "zk-bench", targets: ["zk-bench"]),
    ],
    targets: [
        // Deterministic core: no IO, no clock, no Foundation.
        .target(name: "ZKCore", swiftSettings: release),
        .target(name: "ZKProtocol", dependencies: ["ZKCore"], swiftSettings: release),
        .target(name: "ZKDataTree", dependencies: ["ZKCore", "ZKProtocol"], swiftSettings: release),
        .target(name: "ZKStorage", dependencies: ["ZKCore", "ZKProtocol", "ZKDataTree"], swiftSettings: release),
        // Zab: leader election, discovery, synchronization and broadcast; payloads are opaque bytes.
        .target(name: "ZKZab", dependencies: ["ZKCore", "ZKProtocol"], swiftSettings: release),
        .target(name: "ZKReplica", dependencies: ["ZKCore", "ZKProtocol", "ZKDataTree", "ZKStorage", "ZKZab"], swiftSettings: release),
        // The simulator: the real core over simulated disks, clocks and clients (no IO).
        .target(name: "ZKSimulation", dependencies: ["ZKCore", "ZKProtocol", "ZKDataTree", "ZKZab", "ZKStorage", "ZKReplica"], swiftSettings: release),
        // The POSIX shell.
        .target(name: "ZKPosix", dependencies: ["ZKCore"], swiftSettings: release),
        .target(name: "ZKServer", dependencies: ["ZKCore", "ZKProtocol", "ZKDataTree", "ZKStorage", "ZKZab", "ZKReplica", "ZKPosix"], swiftSettings: release),
        .target(name: "ZKClient", dependencies: ["ZKCore", "ZKProtocol", "ZKPosix"], swiftSettings: release),
        .executableTarget(name: "zk-server", dependencies: ["ZKServer"], swiftSettings: release),
        .executableTarget(name: "zk-bench", dependencies: ["ZKCore", "ZKProtocol", "ZKPosix"], swiftSettings: release),
        .executableTarget(name: "zk-sim", dependencies: ["ZKCore", "ZKPosix", "ZKSimulation"], swiftSettings: release),
        // A tree-less Zab peer that proves the election and quorum wire formats against Apache ZooKeeper.
        .executableTarget(name: "zk-zab-probe", dependencies: ["ZKCore", "ZKProtocol", "ZKZab", "ZKPosix"], swiftSettings: release),
        // Fuzz targets for every decoder facing the outside (scripts/fuzz builds them with libFuzzer;
        // a plain build replays inputs, so kept crashes run as tests).
        .executableTarget(name: "zk-fuzz", dependencies: ["ZKCore", "ZKProtocol", "ZKDataTree", "ZKStorage", "ZKZab", "ZKReplica", "ZKServer", "ZKPosix"]),
        // Checks histories recorded from real servers (Tests/faults) for linearizability.
        .executableTarget(name: "zk-lincheck", dependencies: ["ZKPosix", "ZKSimulation"], swiftSettings: release),
        .executableTarget(name: "zk-cli", dependencies: ["ZKCore", "ZKProtocol", "ZKPosix", "ZKClient"], swiftSettings: release),
        // Tests.
        .testTarget(name: "ZKCoreTests", dependencies: ["ZKCore"]),
        .testTarget(name: "ZKProtocolTests", dependencies: ["ZKCore", "ZKProtocol"]),
        .testTarget(name: "ZKDataTreeTests", dependencies: ["ZKCore", "ZKProtocol", "ZKDataTree"]),
        .testTarget(name: "ZKStorageTests", dependencies: ["ZKCore", "ZKProtocol", "ZKDataTree", "ZKStorage", "ZKSimulation"]),
        .testTarget(name: "ZKSimulationTests", dependencies: ["ZKCore", "ZKProtocol", "ZKDataTree", "ZKStorage", "ZKReplica", "ZKSimulation"]),
        .testTarget(name: "ZKReplicaTests", dependencies: ["ZKCore", "ZKProtocol", "ZKDataTree", "ZKStorage", "ZKZab", "ZKReplica"]),
        .testTarget(name: "ZKZabTests", dependencies: ["ZKCore", "ZKProtocol", "ZKZab", "ZKSimulation"]),
        .testTarget(name: "ZKPosixTests", dependencies: ["ZKCore", "ZKPosix"]),
        .testTarget(name: "ZKClientTests", dependencies: ["ZKCore", "ZKProtocol", "ZKPosix", "ZKClient", "ZKServer"]),
        .testTarget(name: "ZKServerTests", dependencies: ["ZKCore", "ZKProtocol", "ZKPosix", "ZKServer"]),
    ],
    swiftLanguageModes: [.v6]
)
