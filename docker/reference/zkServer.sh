#!/bin/sh
# zkServer.sh in the reference image (docker/reference/Dockerfile): runs Debian's Apache ZooKeeper 3.8
# (QuorumPeerMain) on the JRE, logging to the console, the way the Kubernetes tutorial's image ran
# `zkServer.sh start-foreground`. Written for the benchmark; only what start-zookeeper needs.
#
#   zkServer.sh [--config <conf-dir>] {start-foreground|print-cmd|status} [zoo.cfg]
#
# The configuration directory: --config, else $ZOOCFGDIR, else /opt/zookeeper/conf. It is first on the
# class path, so log4j reads the log4j.properties that start-zookeeper writes there; $ZOOCFGDIR/java.env
# is sourced (JVMFLAGS, e.g. the heap that --heap sets). The 4-letter words are all allowed (the
# tutorial's probes send ruok; 3.8 allows only srvr by default) and the admin server is off.

if [ "${1:-}" = "--config" ]; then
    ZOOCFGDIR=$2
    shift 2
fi
ZOOCFGDIR=${ZOOCFGDIR:-/opt/zookeeper/conf}
ZOOCFG=${2:-$ZOOCFGDIR/zoo.cfg}
JVMFLAGS=${JVMFLAGS:-}
ZOO_LOG_DIR=${ZOO_LOG_DIR:-/var/log/zookeeper}
if [ -f "$ZOOCFGDIR/java.env" ]; then
    . "$ZOOCFGDIR/java.env"
fi
ZOO_LOG4J_PROP=${ZOO_LOG4J_PROP:-INFO,CONSOLE}
# Debian's zookeeper.jar names its other libraries in its manifest's Class-Path; the slf4j binding
# and log4j 1.2 (Debian's choice of logger for ZooKeeper) are added here.
CLASSPATH="$ZOOCFGDIR:/usr/share/java/zookeeper.jar:/usr/share/java/slf4j-log4j12.jar:/usr/share/java/log4j-1.2.jar"

run() {
    # $JVMFLAGS unquoted on purpose: a list of flags.
    # shellcheck disable=SC2086
    "$@" java $JVMFLAGS \
        "-Dzookeeper.log.dir=$ZOO_LOG_DIR" "-Dzookeeper.root.logger=$ZOO_LOG4J_PROP" \
        "-Dzookeeper.4lw.commands.whitelist=*" -Dzookeeper.admin.enableServer=false \
        -cp "$CLASSPATH" org.apache.zookeeper.server.quorum.QuorumPeerMain "$ZOOCFG"
}

case "${1:-}" in
    start-foreground)
        echo "Using config: $ZOOCFG" >&2
        run exec
        ;;
    print-cmd)
        run echo
        ;;
    status)
        port=$(sed -n 's/^[[:space:]]*clientPort[[:space:]]*=[[:space:]]*//p' "$ZOOCFG" | tail -n 1 | tr -d '[:space:]')
        mode=$(echo srvr | nc -w 5 localhost "${port:-2181}" 2>/dev/null | sed -n 's/^Mode: //p')
        if [ -z "$mode" ]; then
            echo "Error contacting service. It is probably not running."
            exit 1
        fi
        echo "Mode: $mode"
        ;;
    *)
        echo "Usage: $0 [--config <conf-dir>] {start-foreground|print-cmd|status} [zoo.cfg]" >&2
        exit 1
        ;;
esac
