#!/usr/bin/env bash
# bench/fleet/run.sh [AGENT [WEBHOOK]]: the fleet load program (a benchmark,
# not a test; never registered in ctest). On a control plane of its own
# (test/cluster/start in a temp dir: real etcd + kube-apiserver on loopback)
# it runs FLEET_AGENTS (default 200) real armorgate-agent processes, each
# with its own Node object, its own fake host root (fake sysfs/securityfs/
# proc, a fake apparmor_parser) and its own client certificate
# (CN=armorgate-agent:NODE, group armorgate:fleet-agents, the chart's RBAC),
# plus the real armorgate-webhook watching all Nodes; then fleet.py makes
# FLEET_CHANGES (default 20) ConfigMap changes in a row with a
# test/cluster/restart-apiserver after change FLEET_RESTART_AFTER (default
# 10) and prints the report (bench/fleet/README.md).
# AGENT / WEBHOOK default to build/agent/armorgate-agent and
# build/webhook/armorgate-webhook of the repository.
# Environment: FLEET_AGENTS, FLEET_CHANGES, FLEET_RESTART_AFTER,
# FLEET_CHANGE_TIMEOUT (s per change, default 180), FLEET_DEADLINE (s for the
# whole run, default 2400; then everything is stopped), FLEET_PARSER (cheap:
# bench/fleet/fake-parser, the default | compile: test/agent/fake-apparmor-parser,
# a real apparmor_parser compile per agent), FLEET_POLL (agents'
# --poll-interval, default 30), FLEET_JSON (write the figures there too),
# FLEET_KEEP=1 (keep the temp dir: logs, cluster).
# Bounded and loopback only: every process it starts and the control plane
# are stopped on exit (trap), whatever the exit path.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
# shellcheck source=test/lib.sh
. "$root/test/lib.sh"
DIE_PREFIX="bench/fleet: "

AGENT=$(realpath "${1:-$root/build/agent/armorgate-agent}")
WEBHOOK=$(realpath "${2:-$root/build/webhook/armorgate-webhook}")
N=${FLEET_AGENTS:-200}
CHANGES=${FLEET_CHANGES:-20}
RESTART_AFTER=${FLEET_RESTART_AFTER:-10}
DEADLINE=${FLEET_DEADLINE:-2400}
POLL=${FLEET_POLL:-30}
case "${FLEET_PARSER:-cheap}" in
  cheap) PARSER=$here/fake-parser ;;
  compile) PARSER=$root/test/agent/fake-apparmor-parser ;;
  *) die "FLEET_PARSER must be cheap or compile" ;;
esac
[ -x "$AGENT" ] || die "no agent binary at $AGENT (build first)"
[ -x "$WEBHOOK" ] || die "no webhook binary at $WEBHOOK (build first)"
[[ "$N" =~ ^[1-9][0-9]*$ ]] || die "FLEET_AGENTS must be a positive number"

T=$(mktemp -d /tmp/fleet.XXXXXX)
cl=$T/cluster
agent_pids=()
WH_PID=""
WATCHDOG=""
PY=""
cleanup() {
  local rc=$? p i
  trap - EXIT INT TERM
  if [ -n "$WATCHDOG" ]; then kill "$WATCHDOG" 2>/dev/null || true; fi
  if [ -n "$PY" ]; then kill -TERM "$PY" 2>/dev/null || true; fi
  # SIGTERM to everything first (they stop in parallel), then a bounded wait, then SIGKILL.
  for p in "${agent_pids[@]}" $WH_PID; do kill -TERM "$p" 2>/dev/null || true; done
  for ((i = 0; i < 100; i++)); do
    local alive=0
    for p in "${agent_pids[@]}" $WH_PID; do kill -0 "$p" 2>/dev/null && alive=1 && break; done
    [ "$alive" = 0 ] && break
    sleep 0.1
  done
  for p in "${agent_pids[@]}" $WH_PID; do kill -KILL "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  "$root/test/cluster/stop" "$cl" >/dev/null 2>&1 || true
  if [ "${FLEET_KEEP:-0}" = 1 ]; then echo "kept $T" >&2; else rm -rf "$T"; fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
# The whole run is bounded: the watchdog ends it (through the trap) after DEADLINE s.
(
  trap 'kill "$s" 2>/dev/null; exit 0' TERM
  sleep "$DEADLINE" &
  s=$!
  wait "$s"
  echo "bench/fleet: deadline of $DEADLINE s reached, stopping" >&2
  kill -TERM $$
) &
WATCHDOG=$!

echo "fleet: $N agents, $CHANGES changes, apiserver restart after change $RESTART_AFTER; agent $AGENT; parser mock $PARSER; dir $T"
t0=$(date +%s)
"$root/test/cluster/start" "$cl" >"$T/cluster-start.log" 2>&1 || { cat "$T/cluster-start.log" >&2; die "cluster start"; }
# shellcheck disable=SC1091
. "$cl/env"
url=$ARMORGATE_APISERVER_URL
ca_b64=$(base64 -w0 <"$cl/pki/ca.crt")

# A client certificate signed by the cluster CA, in a kubeconfig with all data inline.
# client_kubeconfig NAME CN O OUT
client_kubeconfig() {
  local k=$T/pki/$1
  openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$k.key" 2>/dev/null
  openssl req -new -key "$k.key" -subj "/O=$3/CN=$2" 2>/dev/null |
    openssl x509 -req -CA "$cl/pki/ca.crt" -CAkey "$cl/pki/ca.key" -CAcreateserial -days 2 -sha256 \
      -extfile <(printf 'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=clientAuth\n') \
      -out "$k.crt" 2>/dev/null
  cat >"$4" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: fleet
  cluster:
    server: $url
    certificate-authority-data: $ca_b64
users:
- name: $2
  user:
    client-certificate-data: $(base64 -w0 <"$k.crt")
    client-key-data: $(base64 -w0 <"$k.key")
contexts:
- name: fleet
  context: {cluster: fleet, user: $2}
current-context: fleet
EOF
}

mkdir -p "$T/pki" "$T/nodes"
python3 "$here/fleet.py" setup --cluster "$cl" --nodes "$N" >"$T/setup.log" 2>&1 || { cat "$T/setup.log" >&2; die "setup"; }
echo "fleet: control plane, RBAC, FlowSchemas, ConfigMap and $N Nodes ready ($(($(date +%s) - t0)) s)"

# The webhook: its own identity (list/watch nodes), serving TLS on loopback.
client_kubeconfig webhook armorgate-webhook armorgate:fleet-webhook "$T/webhook.kubeconfig"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj /CN=127.0.0.1 \
  -addext subjectAltName=IP:127.0.0.1 -keyout "$T/pki/wh-tls.key" -out "$T/pki/wh-tls.crt" 2>/dev/null
mapfile -t ports < <(free_port $((N + 2)))
WH_PORT=${ports[N]} WH_PROBE=${ports[N + 1]}
"$WEBHOOK" --tls-cert "$T/pki/wh-tls.crt" --tls-key "$T/pki/wh-tls.key" --listen "127.0.0.1:$WH_PORT" \
  --probe-listen "127.0.0.1:$WH_PROBE" --kubeconfig "$T/webhook.kubeconfig" --log-level info 2>"$T/webhook.log" &
WH_PID=$!

# The agents: per node a fake root (as test/agent/fake_root.sh lays it out), a certificate, a probe port.
boot_id() { printf '%08x-0000-4000-8000-%012x\n' "$1" "$1"; }
: >"$T/agents.tsv"
for ((i = 1; i <= N; i++)); do
  node=node-$i r=$T/nodes/$node
  mkdir -p "$r/sys/module/apparmor/parameters" "$r/securityfs/apparmor" "$r/proc/1/attr" \
    "$r/proc/sys/kernel/random" "$r/bin" "$r/host"
  echo Y >"$r/sys/module/apparmor/parameters/enabled"
  printf '/usr/bin/foo (enforce)\n' >"$r/securityfs/apparmor/profiles"
  echo unconfined >"$r/proc/1/attr/current"
  boot_id "$i" >"$r/proc/sys/kernel/random/boot_id"
  cp "$PARSER" "$r/bin/apparmor_parser"
  client_kubeconfig "$node" "armorgate-agent:$node" armorgate:fleet-agents "$r/kubeconfig"
done
echo "fleet: $N fake roots and agent certificates ($(($(date +%s) - t0)) s)"
for ((i = 1; i <= N; i++)); do
  node=node-$i r=$T/nodes/$node port=${ports[i - 1]}
  "$AGENT" --node-name "$node" --kubeconfig "$r/kubeconfig" --configmap armorgate-system/armorgate-profiles \
    --host-profiles-dir "$r/host" --parser-path "$r/bin/apparmor_parser" --sysfs-root "$r/sys" \
    --securityfs-root "$r/securityfs" --proc-root "$r/proc" --poll-interval "$POLL" \
    --probe-listen "127.0.0.1:$port" --log-level info 2>"$r/agent.log" &
  agent_pids+=($!)
  printf '%s\t%s\t%s\t%s\n' "$node" "$!" "$port" "$r" >>"$T/agents.tsv"
done
echo "fleet: $N agents started ($(($(date +%s) - t0)) s)"

json_args=()
[ -n "${FLEET_JSON:-}" ] && json_args=(--json "$FLEET_JSON")
python3 "$here/fleet.py" run --cluster "$cl" --agents "$T/agents.tsv" --webhook-pid "$WH_PID" \
  --webhook-port "$WH_PORT" --webhook-probe "$WH_PROBE" --webhook-log "$T/webhook.log" \
  --changes "$CHANGES" --restart-after "$RESTART_AFTER" --change-timeout "${FLEET_CHANGE_TIMEOUT:-180}" \
  --restart-cmd "$root/test/cluster/restart-apiserver" --parser "${FLEET_PARSER:-cheap}" "${json_args[@]}" &
# In the background so that the deadline's SIGTERM interrupts the wait at once.
PY=$!
wait "$PY"
