#!/usr/bin/env bash
# zkCli.sh in the image: zk-cli under Apache's name, printing zkCli 3.4.10's output by default as the
# Kubernetes tutorial's image did (`get /hello` prints the data, then the stat block). The 3.5+ forms
# (`get -s`, `ls -R`, `create -e -s -c -t`) work too. ZKCLI_COMPAT=3.8 gives 3.8's output.
#
#   zkCli.sh [-server host:port[,host:port][/chroot]] [-timeout ms] [-r] [cmd args...]
export ZKCLI_COMPAT=${ZKCLI_COMPAT:-3.4}
exec -a zkCli.sh zk-cli "$@"
