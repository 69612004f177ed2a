// swift-tools-version:6.0
// The package manifest is the architecture diagram: each target may depend only on targets listed
// above it. The core (ZKCore … ZKReplica) imports the standard library only; ZKPosix is the only
// module that imports Glibc; ZKServer is the production shell that wires sockets to the core.
import PackageDescription

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
        .target(name: "ZKCore"),
        .target(name: "ZKProtocol", dependencies: ["ZKCore"]),
        .target(name: "ZKDataTree", dependencies: ["ZKCore", "ZKProtocol"]),
        .target(name: "ZKStorage", dependencies: ["ZKCore", "ZKProtocol", "ZKDataTree"]),
        // Zab: leader election, discovery, synchronization and broadcast; payloads are opaque bytes.
        .target(name: "ZKZab", dependencies: ["ZKCore", "ZKProtocol"]),
        .target(name: "ZKReplica", dependencies: ["ZKCore", "ZKProtocol", "ZKDataTree", "ZKStorage", "ZKZab"]),
        // The simulator: the real core over simulated disks, clocks and clients (no IO).
        .target(name: "ZKSimulation", dependencies: ["ZKCore", "ZKProtocol", "ZKDataTree", "ZKZab", "ZKStorage", "ZKReplica"]),
        // The POSIX shell.
        .target(name: "ZKPosix", dependencies: ["ZKCore"]),
        .target(name: "ZKServer", dependencies: ["ZKCore", "ZKProtocol", "ZKDataTree", "ZKStorage", "ZKZab", "ZKReplica", "ZKPosix"]),
        .target(name: "ZKClient", dependencies: ["ZKCore", "ZKProtocol", "ZKPosix"]),
        .executableTarget(name: "zk-server", dependencies: ["ZKServer"]),
        .executableTarget(name: "zk-bench", dependencies: ["ZKCore", "ZKProtocol", "ZKPosix"]),
        .executableTarget(name: "zk-sim", dependencies: ["ZKCore", "ZKPosix", "ZKSimulation"]),
        // A tree-less Zab peer that proves the election and quorum wire formats against Apache ZooKeeper.
        .executableTarget(name: "zk-zab-probe", dependencies: ["ZKCore", "ZKProtocol", "ZKZab", "ZKPosix"]),
        .executableTarget(name: "zk-cli", dependencies: ["ZKCore", "ZKProtocol", "ZKPosix", "ZKClient"]),
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
