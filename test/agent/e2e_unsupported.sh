#!/usr/bin/env bash
# End to end on the real control plane of this machine (no AppArmor here):
# the agent labels its Node armorgate.io/apparmor=unsupported, clears stale
# profiles.armorgate.io/* labels, reports refused profiles, stays up and
# healthy, survives an apiserver restart and publishes again after it.
# Starts and stops its OWN cluster (it restarts the apiserver).
# Usage: e2e_unsupported.sh AGENT_BINARY CLUSTER_DIR
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
src=$(cd "$here/../.." && pwd)
. "$here/lib.sh"
AGENT=$1
CDIR=$2
PID=""
cleanup() {
	if [ -n "$PID" ]; then kill -KILL "$PID" 2>/dev/null || true; fi
	"$src/test/cluster/stop" "$CDIR" >/dev/null 2>&1 || true
}
trap cleanup EXIT
"$src/test/cluster/stop" "$CDIR" >/dev/null 2>&1 || true
"$src/test/cluster/start" "$CDIR" >"$CDIR.start.log" 2>&1 || { cat "$CDIR.start.log"; die "cluster start"; }
# shellcheck disable=SC1091
. "$CDIR/env"
NODE=e2e-node

kubectl create namespace armorgate-system >/dev/null
kubectl create -f - >/dev/null <<YAML
apiVersion: v1
kind: Node
metadata:
  name: $NODE
  labels:
    armorgate.io/apparmor: enabled
    profiles.armorgate.io/custom.stale1: loaded
    profiles.armorgate.io/custom.stale2: loaded
    kubernetes.io/hostname: $NODE
YAML
good='#include <tunables/global>
profile custom.good {
  #include <abstractions/base>
  file,
}'
kubectl create configmap -n armorgate-system armorgate-profiles --from-literal=custom.good="$good" \
	--from-literal=custom.bad='profile custom.bad { nonsense }' >/dev/null

PORT=$(free_port 1)
AGENT_LOG=$CDIR/agent.log
# No AppArmor roots exist under this fake sysfs root on purpose: on a host
# that has AppArmor the test still exercises the unsupported path.
NODE_NAME=$NODE "$AGENT" --kubeconfig "$KUBECONFIG" --configmap armorgate-system/armorgate-profiles \
	--sysfs-root "$CDIR/no-sysfs" --securityfs-root "$CDIR/no-securityfs" \
	--host-profiles-dir "$CDIR/host" --poll-interval 1 --probe-listen "127.0.0.1:$PORT" 2>"$AGENT_LOG" &
PID=$!

echo "1. unsupported + stale labels cleared + refused profile reported"
agent_wait 30 "ready" agent_http_ok "http://127.0.0.1:$PORT/readyz"
agent_wait 20 "labels" agent_node_query "$NODE" '
labels.get("armorgate.io/apparmor") == "unsupported" and
not any(k.startswith("profiles.armorgate.io/") for k in labels) and
labels.get("kubernetes.io/hostname") == "'"$NODE"'" and
st["apparmor"] == "unsupported" and profiles["custom.bad"]["state"] == "error" and "custom.good" not in profiles'
agent_http_ok "http://127.0.0.1:$PORT/healthz" || die "healthz"
[ "$(grep -c 'AppArmor is not usable' "$AGENT_LOG")" -eq 1 ] || die "unsupported not logged exactly once"
[ ! -e "$CDIR/host/custom.good" ] || die "something was written on an unsupported node"

echo "2. apiserver restart: agent stays up and healthy"
"$src/test/cluster/restart-apiserver" "$CDIR" >/dev/null 2>&1 || die "restart-apiserver"
kill -0 "$PID" || die "agent died during the apiserver restart"
agent_http_ok "http://127.0.0.1:$PORT/healthz" || die "healthz after restart"

echo "3. after the restart: drift repaired and ConfigMap changes seen again"
kubectl label node "$NODE" profiles.armorgate.io/custom.stale3=loaded armorgate.io/apparmor=enabled --overwrite >/dev/null
agent_wait 40 "drift repaired" agent_node_query "$NODE" '
labels.get("armorgate.io/apparmor") == "unsupported" and "profiles.armorgate.io/custom.stale3" not in labels'
kubectl patch configmap -n armorgate-system armorgate-profiles --type merge \
	-p '{"data":{"custom.bad":null,"custom.worse":"profile custom.other {}"}}' >/dev/null
agent_wait 40 "new ConfigMap content reported" agent_node_query "$NODE" '
"custom.bad" not in profiles and profiles.get("custom.worse", {}).get("state") == "error"'

echo "4. ConfigMap deleted: not an empty one (everything kept), source reported missing, still healthy"
kubectl delete configmap -n armorgate-system armorgate-profiles >/dev/null
agent_wait 20 "status source missing" agent_node_query "$NODE" 'st.get("source") == "missing" and labels.get("armorgate.io/apparmor") == "unsupported"'
agent_http_ok "http://127.0.0.1:$PORT/readyz" || die "readyz"
grep -qx 'armorgate_agent_source_missing 1' <<<"$(curl -fsS "http://127.0.0.1:$PORT/metrics")" || die "no source_missing metric"
grep -q 'profiles ConfigMap missing; keeping every loaded profile' "$AGENT_LOG" || die "no log line for the missing ConfigMap"
kubectl create configmap -n armorgate-system armorgate-profiles >/dev/null
agent_wait 20 "empty ConfigMap: no profiles, source back" agent_node_query "$NODE" '"source" not in st and profiles == {}'
grep -qx 'armorgate_agent_source_missing 0' <<<"$(curl -fsS "http://127.0.0.1:$PORT/metrics")" || die "source_missing not cleared"

echo "5. SIGTERM -> exit 0"
agent_stop "$PID"
PID=""
echo PASS
