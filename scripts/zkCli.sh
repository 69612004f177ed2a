#!/usr/bin/env bash
# zkCli.sh for swift-zookeeper: Apache ZooKeeper's command-line client, by name and arguments,
# running zk-cli instead of the JVM.
#
#   zkCli.sh [-server host:port[,host:port][/chroot]] [-timeout ms] [-r] [cmd args...]
#
# -server defaults to localhost:2181. Without a command it is the interactive shell. zk-cli is run
# under the name zkCli.sh, so with ZKCLI_COMPAT=3.4 in the environment it behaves like zkCli 3.4
# (`get path` prints the data and then the stat block, as the Kubernetes ZooKeeper tutorial expects).
#
# The binary: $ZK_CLI_BIN, else zk-cli next to this script, else zk-cli on PATH, else the one
# `swift build` left in this checkout (.build/release, then .build/debug).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
bin=${ZK_CLI_BIN:-}
if [ -z "$bin" ]; then
    for candidate in "$here/zk-cli" "$(command -v zk-cli 2>/dev/null || true)" \
                     "$here/../.build/release/zk-cli" "$here/../.build/debug/zk-cli"; do
        if [ -n "$candidate" ] && [ -x "$candidate" ]; then
            bin=$candidate
            break
        fi
    done
fi
if [ -z "$bin" ]; then
    echo "zkCli.sh: zk-cli not found (set ZK_CLI_BIN, put zk-cli on PATH, or run swift build)" >&2
    exit 127
fi
exec -a zkCli.sh "$bin" "$@"
