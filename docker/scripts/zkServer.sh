#!/usr/bin/env bash
# zkServer.sh for swift-zookeeper: Apache ZooKeeper's server control script, by name and arguments,
# running zk-server instead of a JVM.
#
#   zkServer.sh [--config <conf-dir>] {start-foreground|status|version|print-cmd} [zoo.cfg]
#
# The configuration directory: --config, else $ZOOCFGDIR, else /opt/zookeeper/conf (the image's, which
# /usr/etc/zookeeper links to). $ZOOCFGDIR/java.env is sourced as Apache's zkEnv.sh does, and JVMFLAGS
# and SERVER_JVMFLAGS are passed on: zk-server reads -Dzookeeper.* properties and logs that it ignores
# heap flags. The log level comes from zookeeper.console.threshold in $ZOOCFGDIR/log4j.properties
# (what start-zookeeper's --log_level writes) and ZOO_LOG4J_PROP (default INFO,CONSOLE).
# start-foreground execs the server, so it receives SIGTERM itself and the exit status is its own.
# Prometheus metrics are on by default in this image (/metrics on port 7000): ZOO_PROMETHEUS_METRICS=false
# turns them off; metricsProvider.* keys in zoo.cfg (or -Dzookeeper.metricsProvider.* flags) win.
set -u

if [ "${1:-}" = "--config" ]; then
    ZOOCFGDIR=${2:?zkServer.sh: --config needs a directory}
    shift 2
elif [ -n "${ZOOCFGDIR:-}" ] && [ ! -f "$ZOOCFGDIR/zoo.cfg" ] && [ -z "${2:-}" ]; then
    # The image's ZOOCFGDIR (/conf, for the official image's layout) holds no zoo.cfg when the
    # container was started the Kubernetes way (start-zookeeper writes /opt/zookeeper/conf).
    ZOOCFGDIR=/opt/zookeeper/conf
fi
ZOOCFGDIR=${ZOOCFGDIR:-/opt/zookeeper/conf}
ZOOCFG=${2:-$ZOOCFGDIR/zoo.cfg}
JVMFLAGS=${JVMFLAGS:-}
SERVER_JVMFLAGS=${SERVER_JVMFLAGS:-}
if [ -f "$ZOOCFGDIR/java.env" ]; then
    . "$ZOOCFGDIR/java.env"
fi
ZOO_LOG4J_PROP=${ZOO_LOG4J_PROP:-INFO,CONSOLE}

usage() {
    echo "Usage: $0 [--config <conf-dir>] {start-foreground|status|version|print-cmd} [zoo.cfg]" >&2
}

config_value() {  # the last value of key $1 in zoo.cfg, trimmed
    sed -n -e "s/^[[:space:]]*$1[[:space:]]*[=:][[:space:]]*//p" "$ZOOCFG" 2>/dev/null | tail -n 1 | tr -d '[:space:]'
}

server_command() {  # fills SERVER_COMMAND
    local threshold
    threshold=$(sed -n -e 's/^[[:space:]]*zookeeper\.console\.threshold[[:space:]]*=[[:space:]]*//p' \
        "$ZOOCFGDIR/log4j.properties" 2>/dev/null | tail -n 1 | tr -d '[:space:]')
    SERVER_COMMAND=(zk-server "-Dzookeeper.root.logger=$ZOO_LOG4J_PROP")
    if [ "${ZOO_PROMETHEUS_METRICS:-true}" != false ]; then
        SERVER_COMMAND+=("-Dzookeeper.metricsProvider.className=org.apache.zookeeper.metrics.prometheus.PrometheusMetricsProvider")
    fi
    if [ -n "$threshold" ]; then SERVER_COMMAND+=("-Dzookeeper.console.threshold=$threshold"); fi
    # Word splitting on purpose: JVMFLAGS is a list of flags, as on Apache's java command line.
    # shellcheck disable=SC2206
    SERVER_COMMAND+=($JVMFLAGS $SERVER_JVMFLAGS "$ZOOCFG")
}

case "${1:-}" in
    start-foreground)
        echo "ZooKeeper JMX enabled by default" >&2
        echo "Using config: $ZOOCFG" >&2
        server_command
        exec "${SERVER_COMMAND[@]}"
        ;;
    print-cmd)
        server_command
        echo "${SERVER_COMMAND[@]}"
        ;;
    status)
        echo "ZooKeeper JMX enabled by default" >&2
        echo "Using config: $ZOOCFG" >&2
        port=$(config_value clientPort)
        address=$(config_value clientPortAddress)
        address=${address:-localhost}
        if [ -z "$port" ]; then
            echo "Unable to find either secure or unsecure client port in any configs. Terminating."
            exit 1
        fi
        echo "Client port found: $port. Client address: $address. Client SSL: false."
        mode=$(echo srvr | nc -w 5 "$address" "$port" 2>/dev/null | sed -n 's/^Mode: //p')
        if [ -z "$mode" ]; then
            echo "Error contacting service. It is probably not running."
            exit 1
        fi
        echo "Mode: $mode"
        ;;
    version)
        zk-server --version
        ;;
    start|stop|restart)
        echo "zkServer.sh $1: not supported in this image; the container runs the server in the foreground" \
             "(zkServer.sh start-foreground), and stopping the container stops it" >&2
        exit 1
        ;;
    *)
        usage
        exit 1
        ;;
esac
