#!/usr/bin/env bash
# bench/agent/vm_reboot.sh KUBECONFIG VMDIR AGENT [N] [ROUNDS]: a node reboot
# with N (default 200) realistic profiles on the real AppArmor kernel of the
# node VM, measured as "agent start -> all N labels back on the Node".
# What a reboot leaves is reproduced without rebooting the VM (its root is an
# initramfs, so a real reboot would also lose the host profiles dir): the
# agent is SIGKILLed, every managed profile is removed from the kernel, the
# host profiles dir (files + binary policy store) stays. The VM keeps its
# boot id, so the Node's labels and status from "before the reboot" would
# look current to the agent; the webhook ignores them after a real reboot
# (status bootID != nodeInfo.bootID), so the bench removes them while the
# agent is down. Each round prints, from the host:
#   labels back: agent-ctl start sent -> the Node event that shows all N
#     labels again (includes the command channel's latency, printed too)
#   in VM: the agent's parser runs and Node patches (/metrics)
# then one agent restart with nothing changed (parser runs and patches must
# be 0). ROUNDS default 3. A program, not a test.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
src=$(cd "$here/../.." && pwd)
# shellcheck source=test/lib.sh
. "$src/test/lib.sh"
[ $# -ge 3 ] || { echo "usage: bench/agent/vm_reboot.sh KUBECONFIG VMDIR AGENT [N] [ROUNDS]" >&2; exit 2; }
export KUBECONFIG=$1
vm=$2
agent=$3
n=${4:-200}
rounds=${5:-3}
PATH=${XDG_CACHE_HOME:-$HOME/.cache}/armorgate/bin:$PATH
ns=armorgate-vm-reboot
cm=profiles
node='vm-reboot-node'
work=$(mktemp -d)
watcher=
cleanup() {
  [ -z "$watcher" ] || kill "$watcher" 2>/dev/null || true
  "$src/test/node-vm/stop" "$vm" >/dev/null 2>&1 || true
  kubectl delete ns "$ns" --wait=false >/dev/null 2>&1 || true
  kubectl delete node "$node" --ignore-not-found --wait=false >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
x() { "$src/test/node-vm/exec" "$vm" --timeout 900 -- "$@"; }
now() { date +%s.%N; }

mkdir -p "$work/p"
for i in $(seq 0 $((n - 1))); do
  printf '#include <tunables/global>\nprofile custom.rb%d flags=(attach_disconnected) {\n  #include <abstractions/base>\n  file,\n  network,\n  deny /etc/shadow r,\n}\n' "$i" >"$work/p/custom.rb$i"
done
kubectl get ns "$ns" >/dev/null 2>&1 || kubectl create ns "$ns" >/dev/null
kubectl delete node "$node" --ignore-not-found >/dev/null
printf 'apiVersion: v1\nkind: Node\nmetadata: {name: %s}\n' "$node" | kubectl apply -f - >/dev/null
kubectl -n "$ns" create configmap "$cm" --from-file="$work/p" --dry-run=client -o yaml |
  kubectl apply --server-side -f - >/dev/null
"$src/test/node-vm/stop" "$vm" >/dev/null 2>&1 || true
"$src/test/node-vm/start" "$vm" --kubeconfig "$KUBECONFIG" --node-name "$node" --configmap "$ns/$cm" \
  --agent "$agent" --agent-arg --parser-timeout --agent-arg 900 --no-agent-wait >/dev/null

# One line per Node event: host time and how many profile labels it carries.
kubectl get node "$node" -w -o 'jsonpath={.metadata.resourceVersion}{" "}{.metadata.labels}{"\n"}' 2>/dev/null |
  while IFS= read -r line; do
    printf '%s %s\n' "$(now)" "$(printf '%s' "$line" | grep -o '"profiles\.armorgate\.io/custom\.rb[0-9]*":"loaded"' | wc -l)"
  done >"$work/events" &
watcher=$!
# labels_at K SINCE ge|lt: the first event after SINCE with >= K (< K) labels; prints its time.
labels_at() {
  awk -v k="$1" -v s="$2" -v cmp="$3" '$1 > s && ((cmp == "ge" && $2 >= k) || (cmp == "lt" && $2 < k)) { print $1; exit }' "$work/events"
}
wait_labels() { # wait_labels K SINCE ge|lt TIMEOUT
  local deadline t
  deadline=$(echo "$(now) + $4" | bc)
  while :; do
    t=$(labels_at "$1" "$2" "$3")
    [ -z "$t" ] || { echo "$t"; return 0; }
    [ "$(echo "$(now) > $deadline" | bc)" = 1 ] && return 1
    sleep 0.05
  done
}
metric() { # metric NAME: its value in the agent's /metrics
  x sh -c "wget -qO- http://127.0.0.1:8082/metrics" | awk -v m="$1" '$1 == m && !seen { print $2; seen = 1 }'
}
ready() { x sh -c "wget -qO- http://127.0.0.1:8082/readyz" >/dev/null 2>&1; }
# agent_span FROM: from the agent's own log (lines after FROM, one process):
# its first line (less the store's hashing time, logged before it) to its
# last "node readiness updated" (the PATCH acknowledged), in seconds.
agent_span() {
  x sh -c "tail -n +$(($1 + 1)) /run/agent.log" | awk '
    function sec(l,  t, p) { match(l, /"ts":"[^"]*"/); t = substr(l, RSTART + 17, 12); split(t, p, ":"); return p[1] * 3600 + p[2] * 60 + p[3] }
    NR == 1 { first = sec($0); if ($0 ~ /"binary policy store"/ && match($0, /"seconds":"[0-9.]*"/)) first -= substr($0, RSTART + 11, RLENGTH - 12) }
    /"node readiness updated"/ { last = sec($0) }
    END { if (last) printf "%.3f", last - first; else printf "?" }'
}

# The merge patch that removes every profile label and the status.
strip='{"metadata":{"annotations":{"armorgate.io/status":null},"labels":{'
for i in $(seq 0 $((n - 1))); do strip="$strip\"profiles.armorgate.io/custom.rb$i\":null,"; done
strip="${strip%,}}}}"
echo "node VM: $(x nproc) CPU(s); $n profiles"
t0=$(now)
wait_labels "$n" 0 ge 1200 >/dev/null || die "first load: $n labels not seen within 1200 s"
printf 'first load (cold, from VM boot): %.1f s\n' "$(echo "$(now) - $t0" | bc)"
wait_until 60 0.2 ready || die "agent not ready"

# The command channel's own latency, to read the figures below with.
lat=()
for _ in 1 2 3; do a=$(now); x true; lat+=("$(echo "$(now) - $a" | bc)"); done
printf 'command channel round trip: %s s\n' "$(printf '%s\n' "${lat[@]}" | sort -n | sed -n 2p)"

for r in $(seq 1 "$rounds"); do
  x agent-ctl kill >/dev/null
  # Unloaded by name through the kernel interface (apparmor_parser -R would
  # parse all N texts first: about a minute under TCG).
  # shellcheck disable=SC2016 # expanded in the VM
  x sh -c 'for f in /etc/apparmor.d/armorgate/custom.*; do printf %s "${f##*/}" >/sys/kernel/security/apparmor/.remove; done'
  left=$(x sh -c 'grep -c "^custom\." /sys/kernel/security/apparmor/profiles || true')
  [ "$left" = 0 ] || die "round $r: $left profiles still in the kernel"
  m0=$(now)
  kubectl patch node "$node" --type=merge -p "$strip" >/dev/null
  wait_labels 1 "$m0" lt 60 >/dev/null || die "round $r: labels not stripped"
  from=$(x sh -c 'wc -l </run/agent.log')
  mark=$(now)
  x agent-ctl start >/dev/null
  sent=$(now)
  back=$(wait_labels "$n" "$mark" ge 600) || die "round $r: labels not back within 600 s"
  sleep 1 # the agent's last log lines
  span=$(agent_span "$from")
  runs=$(metric armorgate_agent_parser_runs_total)
  patches=$(metric armorgate_agent_node_patches_total)
  printf 'reboot round %d: agent start -> %d labels back %.3f s from the host (start command returned after %.3f s), %s s in the agent log; parser runs %s, Node patches %s\n' \
    "$r" "$n" "$(echo "$back - $mark" | bc)" "$(echo "$sent - $mark" | bc)" "$span" "$runs" "$patches"
done

# Restart with nothing changed: no parser run, no Node write.
wait_until 60 0.2 ready || die "agent not ready"
x agent-ctl kill >/dev/null
x agent-ctl start >/dev/null
wait_until 60 0.2 ready || die "agent not ready after restart"
sleep 2
printf 'restart, nothing changed: parser runs %s, Node patches %s, profiles in kernel %s\n' \
  "$(metric armorgate_agent_parser_runs_total)" "$(metric armorgate_agent_node_patches_total)" \
  "$(x sh -c 'grep -c "^custom\.rb" /sys/kernel/security/apparmor/profiles')"
x agent-ctl stop >/dev/null
