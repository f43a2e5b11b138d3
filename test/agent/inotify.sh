#!/usr/bin/env bash
# The --profiles-dir source reacts to kubelet's ..data swap through inotify:
# with --poll-interval 3600 nothing but inotify can make the agent see a
# change within seconds. Unsupported node (no AppArmor roots), shared cluster.
# Usage: inotify.sh AGENT_BINARY   (KUBECONFIG set)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
AGENT=$1
agent_test_setup inotify
mkdir -p "$T/src/..v1"
printf 'profile custom.one { nonsense }\n' >"$T/src/..v1/custom.one"
ln -s ..v1 "$T/src/..data"
ln -s ..data/custom.one "$T/src/custom.one"
agent_test_node
"$AGENT" --node-name "$NODE" --kubeconfig "$KUBECONFIG" --profiles-dir "$T/src" --sysfs-root "$T/none" \
	--securityfs-root "$T/none" --host-profiles-dir "$T/host" --poll-interval 3600 \
	--probe-listen "127.0.0.1:$PORT" 2>"$AGENT_LOG" &
PID=$!
agent_wait 30 "ready" agent_http_ok "http://127.0.0.1:$PORT/readyz"
agent_wait 10 "first status" agent_node_query "$NODE" 'profiles.get("custom.one", {}).get("state") == "error"'

echo "1. ..data swap to a new version is seen without polling"
mkdir "$T/src/..v2"
printf 'profile custom.two { nonsense }\n' >"$T/src/..v2/custom.two"
ln -s ..v2 "$T/src/..data_tmp" && mv -T "$T/src/..data_tmp" "$T/src/..data"
ln -s ..data/custom.two "$T/src/custom.two"
rm -f "$T/src/custom.one"
agent_wait 8 "swap seen" agent_node_query "$NODE" '"custom.one" not in profiles and "custom.two" in profiles'

echo "2. swap to an empty ..data (a confirmed empty ConfigMap) means no profiles"
mkdir "$T/src/..v3"
ln -s ..v3 "$T/src/..data_tmp" && mv -T "$T/src/..data_tmp" "$T/src/..data"
rm -f "$T/src/custom.two"
agent_wait 8 "empty seen" agent_node_query "$NODE" 'profiles == {}'
agent_stop "$PID"
PID=""
echo PASS
