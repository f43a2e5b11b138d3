#!/usr/bin/env bash
# bench/agent/vm_memory.sh KUBECONFIG VMDIR AGENT [N] [JOBS...]: the agent pod's
# peak memory as its cgroup sees it (agent + apparmor_parser children) during
# a cold first load of N (default 200) realistic profiles, on the real
# AppArmor kernel of the node VM. Each JOBS value is one run (`default` = no
# --parser-jobs, the parser's own -j: one compile child per CPU); every run is
# cold: profiles unloaded, host dir and parser cache wiped, a new cgroup v2
# group with the memory controller, agent started in it. Prints
# memory.peak per run. A program, not a test.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
src=$(cd "$here/../.." && pwd)
# shellcheck source=test/lib.sh
. "$src/test/lib.sh"
[ $# -ge 3 ] || { echo "usage: bench/agent/vm_memory.sh KUBECONFIG VMDIR AGENT [N] [JOBS...]" >&2; exit 2; }
export KUBECONFIG=$1
vm=$2
agent=$3
n=${4:-200}
shift $(($# < 4 ? $# : 4))
runs=("$@")
[ ${#runs[@]} -gt 0 ] || runs=(default 1 2 4 8)
PATH=${XDG_CACHE_HOME:-$HOME/.cache}/armorgate/bin:$PATH
ns=armorgate-vm-mem
cm=profiles
node='vm-mem-node'
work=$(mktemp -d)
trap '"$src/test/node-vm/stop" "$vm" >/dev/null 2>&1 || true; kubectl delete ns "$ns" --wait=false >/dev/null 2>&1 || true; kubectl delete node "$node" --ignore-not-found --wait=false >/dev/null 2>&1 || true; rm -rf "$work"' EXIT
x() { "$src/test/node-vm/exec" "$vm" --timeout 900 -- "$@"; }

mkdir -p "$work/p"
for i in $(seq 0 $((n - 1))); do
  printf '#include <tunables/global>\nprofile custom.vm%d flags=(attach_disconnected) {\n  #include <abstractions/base>\n  file,\n  network,\n  deny /etc/shadow r,\n}\n' "$i" >"$work/p/custom.vm$i"
done
kubectl get ns "$ns" >/dev/null 2>&1 || kubectl create ns "$ns" >/dev/null
kubectl delete node "$node" --ignore-not-found >/dev/null
printf 'apiVersion: v1\nkind: Node\nmetadata: {name: %s}\n' "$node" | kubectl apply -f - >/dev/null
kubectl -n "$ns" create configmap "$cm" --from-file="$work/p" --dry-run=client -o yaml | kubectl apply --server-side -f - >/dev/null
"$src/test/node-vm/stop" "$vm" >/dev/null 2>&1 || true
"$src/test/node-vm/start" "$vm" --kubeconfig "$KUBECONFIG" --node-name "$node" --configmap "$ns/$cm" \
  --agent "$agent" --no-agent-wait >/dev/null
x sh -c 'mkdir -p /sys/fs/cgroup && { grep -q " /sys/fs/cgroup cgroup2 " /proc/mounts || mount -t cgroup2 none /sys/fs/cgroup; } &&
  echo +memory >/sys/fs/cgroup/cgroup.subtree_control'
echo "node VM: $(x nproc) CPU(s), $(x sh -c 'grep MemTotal /proc/meminfo')"
loaded() { [ "$(x sh -c 'grep -c "^custom\.vm" /sys/kernel/security/apparmor/profiles || true')" -ge "$n" ]; }
k=0
for jobs in "${runs[@]}"; do
  k=$((k + 1))
  x agent-ctl stop >/dev/null
  # Cold: nothing loaded, no files, no cache.
  x sh -c 'cd /etc/apparmor.d/custom 2>/dev/null && ls custom.* >/dev/null 2>&1 && apparmor_parser -R -q custom.* 2>/dev/null; rm -rf /etc/apparmor.d/custom; true'
  x sh -c "[ -f /config/agent-args.orig ] || cp /config/agent-args /config/agent-args.orig
    cp /config/agent-args.orig /config/agent-args; printf '%s\n' --parser-timeout 900 >>/config/agent-args"
  [ "$jobs" = default ] || x sh -c "printf '%s\n' --parser-jobs $jobs >>/config/agent-args"
  g=/sys/fs/cgroup/agent$k
  t0=$(date +%s.%N)
  x sh -c "mkdir $g && echo \$\$ >$g/cgroup.procs && agent-ctl start" >/dev/null
  wait_until 900 1 loaded || die "run $k: $n profiles not loaded within 900 s"
  t1=$(date +%s.%N)
  peak=$(x cat "$g/memory.peak")
  # shellcheck disable=SC2016 # expanded in the VM
  agent_rss=$(x sh -c 'grep VmHWM /proc/$(agent-ctl pid)/status' | awk '{print $2}')
  printf 'parser jobs %-7s: cgroup memory.peak %6.1f MiB (agent VmHWM %5.1f MiB), %d profiles loaded in %.0f s\n' \
    "$jobs" "$(echo "$peak / 1048576" | bc -l)" "$(echo "$agent_rss / 1024" | bc -l)" "$n" "$(echo "$t1 - $t0" | bc)"
done
x agent-ctl stop >/dev/null
