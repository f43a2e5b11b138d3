#!/usr/bin/env bash
# bench/agent/denial_flood.sh KUBECONFIG VMDIR AGENT [SECONDS] [MODE] [KIND]:
# what a denial flood costs the agent (issue 22 item 5), on the node VM's
# real AppArmor kernel. A process confined by custom.flood (MODE enforce,
# default, or complain) opens a file it may not write in a tight loop for
# SECONDS (default 30); KIND same (default: one path, one aggregation key)
# or distinct (a new path each time: fills the aggregation table and the
# 32 KiB observation bound). Prints the agent's CPU% and VmRSS/VmHWM idle
# before, during and after the flood (after: does a backlog keep it busy?),
# the records counted and dropped (armorgate_apparmor_events_total,
# armorgate_apparmor_events_dropped_total by reason), Event writes and
# observation patches from /metrics, and what the kernel itself lost
# (audit backlog, printk rate limit). The flood runs outside any pod, so
# no Event is written (no pod to attribute it to): Event writes are bounded
# by --denial-events-per-minute whatever the flood; this measures the read,
# parse, aggregate path. KUBECONFIG: a control plane (test/cluster/start DIR,
# no nodes needed); the VM joins it as Node denial-flood. A program, not a test.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
src=$(cd "$here/../.." && pwd)
# shellcheck source=test/lib.sh
. "$src/test/lib.sh"
[ $# -ge 3 ] || { echo "usage: bench/agent/denial_flood.sh KUBECONFIG VMDIR AGENT [SECONDS] [enforce|complain] [same|distinct]" >&2; exit 2; }
export KUBECONFIG=$1
vm=$2
agent=$3
secs=${4:-30}
mode=${5:-enforce}
kind=${6:-same}
[[ "$secs" =~ ^[1-9][0-9]*$ ]] || die "SECONDS must be a positive integer"
case "$mode" in enforce) flags='' ;; complain) flags='flags=(complain) ' ;; *) die "MODE is enforce or complain" ;; esac
case "$kind" in same | distinct) ;; *) die "KIND is same or distinct" ;; esac
PATH=${XDG_CACHE_HOME:-$HOME/.cache}/armorgate/bin:$PATH
ns=armorgate-denial-flood
cm=profiles
node=denial-flood
work=$(mktemp -d)
trap '"$src/test/node-vm/stop" "$vm" >/dev/null 2>&1 || true; kubectl delete ns "$ns" --wait=false >/dev/null 2>&1 || true; kubectl delete node "$node" --ignore-not-found --wait=false >/dev/null 2>&1 || true; rm -rf "$work"' EXIT
x() { "$src/test/node-vm/exec" "$vm" --timeout $((secs + 120)) -- "$@"; }

mkdir -p "$work/p"
# Nothing under /tmp/flood is allowed: every open for writing there is a
# record. /tmp/flood-count takes the loop's own count when it is stopped,
# by a signal from the unconfined measuring shell (signals are mediated too).
printf 'abi <abi/3.0>,\ninclude <tunables/global>\nprofile custom.flood %s{\n  /dev/null rw,\n  /tmp/flood-count w,\n  signal (receive) peer=unconfined,\n}\n' "$flags" >"$work/p/custom.flood"
kubectl get ns "$ns" >/dev/null 2>&1 || kubectl create ns "$ns" >/dev/null
kubectl delete node "$node" --ignore-not-found >/dev/null
printf 'apiVersion: v1\nkind: Node\nmetadata: {name: %s}\n' "$node" | kubectl apply -f - >/dev/null
kubectl -n "$ns" create configmap "$cm" --from-file="$work/p" --dry-run=client -o yaml | kubectl apply --server-side -f - >/dev/null
"$src/test/node-vm/stop" "$vm" >/dev/null 2>&1 || true
"$src/test/node-vm/start" "$vm" --kubeconfig "$KUBECONFIG" --node-name "$node" --configmap "$ns/$cm" \
  --agent "$agent" >/dev/null
loaded() { grep -qx "custom.flood ($mode)" <<<"$(x cat /sys/kernel/security/apparmor/profiles)"; }
wait_until 300 1 loaded || die "custom.flood ($mode) not loaded within 300 s"
echo "node VM: $(x nproc) CPU(s), $(x sh -c 'grep MemTotal /proc/meminfo'); flood: $secs s, $mode mode, $kind path(s)"

# One guest script does the whole measurement: a host round trip per sample
# would cost more than the samples (TCG).
# shellcheck disable=SC2016 # expanded by the guest's shell
guest='secs=$1 kind=$2
pid=$(agent-ctl pid)
[ -n "$pid" ] || { echo "no agent running" >&2; exit 1; }
now() { cut -d" " -f1 /proc/uptime; }
ticks() { awk "{ print \$14 + \$15 }" /proc/$pid/stat; }
mem() { awk "/^VmRSS|^VmHWM/ { printf \"%s %d kB  \", \$1, \$2 }" /proc/$pid/status; }
metrics() { wget -q -O - http://127.0.0.1:8082/metrics | grep -E "^armorgate_(apparmor_events|agent_denial)" | sed "s/^/  $1 /"; }
# phase NAME SECONDS: the agent CPU% over SECONDS (ticks are 1/100 s), then its memory.
phase() {
  t0=$(now) c0=$(ticks)
  sleep $2
  t1=$(now) c1=$(ticks)
  echo "phase $1: agent CPU $(awk -v a=$c0 -v b=$c1 -v x=$t0 -v y=$t1 "BEGIN { printf \"%.1f%%\", (b - a) / (y - x) }") over $(awk -v x=$t0 -v y=$t1 "BEGIN { printf \"%.1f\", y - x }") s; $(mem)"
}
mkdir -p /tmp/flood
lost0=$(dmesg | grep -o "audit_lost=[0-9]*" | tail -n1)
metrics before
phase idle-before 10
# echo, not ":": a failed redirection of a special built-in ends the shell.
f=/tmp/flood/f
[ "$kind" = same ] || f="/tmp/flood/f\$i"
loop="i=0; trap \"echo \\\$i >/tmp/flood-count; exit\" TERM; while :; do i=\$((i + 1)); echo -n >$f; done"
(echo -n "exec custom.flood" >/proc/self/attr/exec && exec /bin/sh -c "$loop") >/dev/null 2>&1 &
fp=$!
phase flood $secs
kill -0 $fp 2>/dev/null || { echo "the flood loop ended early; the kernel log ends:" >&2; dmesg | grep -vE "apparmor=.(DENIED|ALLOWED)" | tail -n 8 >&2; exit 1; }
kill $fp; wait $fp 2>/dev/null
echo "flood loop: $(cat /tmp/flood-count 2>/dev/null || echo ?) attempts, each a record"
metrics flood-end
phase idle-after 10
metrics after
echo "kernel: audit lost before ${lost0:-audit_lost=0}, after $(dmesg | grep -o "audit_lost=[0-9]*" | tail -n1 | grep . || echo audit_lost=0); printk suppressed lines: $(dmesg | grep -c "callbacks suppressed" || true); backlog-limit lines: $(dmesg | grep -c "backlog limit exceeded" || true)"
echo "agent log lines: $(wc -l </run/agent.log)"'
x sh -c "$guest" sh "$secs" "$kind" | tee "$work/out"
# The lines that matter, side by side.
sum() { # PHASE METRIC [LABEL-FILTER]: a metric summed over its series at PHASE
  awk -v ph="$1" -v m="$2" -v f="${3:-}" '$1 == ph && index($2, m) == 1 && (f == "" || index($2, f)) { s += $3 } END { printf "%d", s }' "$work/out"
}
echo
printf '%-48s %12s %12s %12s\n' "" before flood-end after
for m in armorgate_apparmor_events_total armorgate_apparmor_events_dropped_total armorgate_agent_denial_event_writes_total armorgate_agent_denial_annotation_patches_total; do
  printf '%-48s %12s %12s %12s\n' "$m" "$(sum before "$m")" "$(sum flood-end "$m")" "$(sum after "$m")"
done
x agent-ctl stop >/dev/null
