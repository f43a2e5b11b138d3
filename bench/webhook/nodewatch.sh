#!/usr/bin/env bash
# nodewatch.sh WEBHOOK [WEBHOOK2 ...]: the Node list and watch on a real
# kube-apiserver (test/cluster/start) holding N full Nodes
# (gen_nodes.sh N full, N=BENCH_NODES, default 5000). Each webhook binary, in
# turn and BENCH_ROUNDS times (default 2, alternating), is started against it
# and reports: seconds to ready (the list), its CPU seconds for the list,
# peak RSS (VmHWM) at ready, then its CPU seconds for BENCH_EVENTS (default
# 1000) Node MODIFIED events (one label change each) and peak RSS after them.
# A program, not a test.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
n=${BENCH_NODES:-5000}
rounds=${BENCH_ROUNDS:-2}
events=${BENCH_EVENTS:-1000}
t=$(mktemp -d)
cl=$t/cluster
wpid=
cleanup() {
  [ -n "$wpid" ] && kill "$wpid" 2>/dev/null
  "$root/test/cluster/stop" "$cl" >/dev/null 2>&1 || true
  rm -rf "$t"
}
trap cleanup EXIT
# shellcheck source=test/lib.sh
. "$root/test/lib.sh"
"$root/test/cluster/start" "$cl" >"$t/start.log" 2>&1 || { cat "$t/start.log" >&2; exit 1; }
# shellcheck disable=SC1091
. "$cl/env"
"$here/gen_nodes.sh" "$n" full >"$t/nodes.json"
s0=$(date +%s)
kubectl create -f "$t/nodes.json" >/dev/null
echo "created $n full Nodes in $(($(date +%s) - s0)) s ($(stat -c %s "$t/nodes.json") bytes as created)"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj /CN=127.0.0.1 \
  -addext subjectAltName=IP:127.0.0.1 -keyout "$t/tls.key" -out "$t/tls.crt" 2>/dev/null
cpu_s() { awk -v hz="$(getconf CLK_TCK)" '{ printf "%.2f", ($14 + $15) / hz }' "/proc/$1/stat"; }
rss_kb() { awk '/^VmHWM/ { print $2 }' "/proc/$1/status"; }
metric() { curl -s "http://127.0.0.1:$2/metrics" | awk -v n="$1" '$1 == n { print $2 }'; }
flip=0
for r in $(seq "$rounds"); do
  for wh in "$@"; do
    { read -r port; read -r probe; } < <(free_port 2)
    s0=$(date +%s.%N)
    "$wh" --tls-cert "$t/tls.crt" --tls-key "$t/tls.key" --listen "127.0.0.1:$port" \
      --probe-listen "127.0.0.1:$probe" --kubeconfig "$KUBECONFIG" --log-level warn 2>"$t/webhook.log" &
    wpid=$!
    ready() { [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$probe/readyz")" = 200 ]; }
    wait_until 120 0.05 ready || { cat "$t/webhook.log" >&2; exit 1; }
    ready_s=$(awk "BEGIN { printf \"%.2f\", $(date +%s.%N) - $s0 }")
    list_cpu=$(cpu_s "$wpid")
    rss_ready=$(rss_kb "$wpid")
    ev0=$(metric armorgate_webhook_node_events_total "$probe")
    flip=$((1 - flip))
    # shellcheck disable=SC2016
    seq -f 'node-%05g' 0 $((events - 1)) |
      xargs sh -c 'exec kubectl label --overwrite nodes "$@" "bench.armorgate.io/flip=$0"' "$flip" >/dev/null
    seen() { [ "$(metric armorgate_webhook_node_events_total "$probe")" -ge $((ev0 + events)) ]; }
    wait_until 120 0.1 seen || echo "  only $(metric armorgate_webhook_node_events_total "$probe") events seen"
    watch_cpu=$(awk "BEGIN { printf \"%.2f\", $(cpu_s "$wpid") - $list_cpu }")
    echo "round $r $wh: nodes $(metric armorgate_webhook_nodes "$probe") enabled $(metric armorgate_webhook_nodes_apparmor_enabled "$probe"); ready ${ready_s} s, list CPU ${list_cpu} s, RSS at ready $rss_ready kB; $events events CPU ${watch_cpu} s, peak RSS $(rss_kb "$wpid") kB"
    kill "$wpid"
    wait "$wpid" 2>/dev/null || true
    wpid=
  done
done
