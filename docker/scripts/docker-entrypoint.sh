#!/usr/bin/env bash
# The entrypoint for the official `zookeeper` Docker image's habits (docker run / docker-compose):
#   ZOO_MY_ID, ZOO_SERVERS ("server.1=zoo1:2888:3888;2181 server.2=..."), ZOO_TICK_TIME,
#   ZOO_INIT_LIMIT, ZOO_SYNC_LIMIT, ZOO_MAX_CLIENT_CNXNS, ZOO_STANDALONE_ENABLED,
#   ZOO_ADMINSERVER_ENABLED, ZOO_4LW_COMMANDS_WHITELIST, ZOO_AUTOPURGE_PURGEINTERVAL,
#   ZOO_AUTOPURGE_SNAPRETAINCOUNT, ZOO_CFG_EXTRA ("key=value key=value"), with /conf, /data,
#   /datalog and /logs. A zoo.cfg already in $ZOO_CONF_DIR (mounted) is used as it is; myid is
#   written only if the data directory has none. Started as root, it hands the directories to
#   the zookeeper user (uid 1000) and drops to it. Any command other than zkServer.sh is run as given
#   (the Kubernetes manifest's `sh -c "start-zookeeper ..."` replaces this entrypoint altogether).
set -e

if [ "${1:-}" = "zkServer.sh" ] && [ "$(id -u)" = "0" ]; then
    chown -R zookeeper:zookeeper "$ZOO_DATA_DIR" "$ZOO_DATA_LOG_DIR" "$ZOO_LOG_DIR"
    exec setpriv --reuid=zookeeper --regid=zookeeper --init-groups "$0" "$@"
fi

if [ "${1:-}" = "zkServer.sh" ]; then
    CONFIG="$ZOO_CONF_DIR/zoo.cfg"
    if [ ! -f "$CONFIG" ]; then
        {
            echo "dataDir=$ZOO_DATA_DIR"
            echo "dataLogDir=$ZOO_DATA_LOG_DIR"
            echo "tickTime=$ZOO_TICK_TIME"
            echo "initLimit=$ZOO_INIT_LIMIT"
            echo "syncLimit=$ZOO_SYNC_LIMIT"
            echo "autopurge.snapRetainCount=$ZOO_AUTOPURGE_SNAPRETAINCOUNT"
            echo "autopurge.purgeInterval=$ZOO_AUTOPURGE_PURGEINTERVAL"
            echo "maxClientCnxns=$ZOO_MAX_CLIENT_CNXNS"
            echo "standaloneEnabled=$ZOO_STANDALONE_ENABLED"
            echo "admin.enableServer=$ZOO_ADMINSERVER_ENABLED"
            for server in ${ZOO_SERVERS:-server.1=localhost:2888:3888;2181}; do
                echo "$server"
            done
            if [ -n "${ZOO_4LW_COMMANDS_WHITELIST:-}" ]; then
                echo "4lw.commands.whitelist=$ZOO_4LW_COMMANDS_WHITELIST"
            fi
            for entry in ${ZOO_CFG_EXTRA:-}; do
                echo "$entry"
            done
        } > "$CONFIG"
    fi
    if [ ! -f "$ZOO_DATA_DIR/myid" ]; then
        echo "${ZOO_MY_ID:-1}" > "$ZOO_DATA_DIR/myid"
    fi
    export ZOOCFGDIR="$ZOO_CONF_DIR"
fi

exec "$@"
