#!/bin/sh
# zkCli.sh in the reference image: Apache ZooKeeper 3.8's command-line client (ZooKeeperMain) from
# Debian's zookeeper.jar. Its log lines are dropped (slf4j-nop); the client's own output stays.
#
#   zkCli.sh [-server host:port[,host:port]] [-timeout ms] [cmd args...]
# shellcheck disable=SC2086
exec java ${CLIENT_JVMFLAGS:-} -cp /usr/share/java/zookeeper.jar:/usr/share/java/slf4j-nop.jar \
    org.apache.zookeeper.ZooKeeperMain "$@"
