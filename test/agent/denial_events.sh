#!/usr/bin/env bash
# Denial telemetry against the real kube-apiserver. This control plane has
# no AppArmor kernel, so two things are MOCKED, and only these: the kernel
# record source (the agent's testing source --denial-source file:FIFO reads
# audit record lines in the kernel's own format from a FIFO instead of the
# audit netlink socket) and the host's /proc (--proc-root: <pid>/cgroup files
# in kubelet's layout naming a real Pod object's UID and container ID, which
# is how attribution by pid works on a node). Parsing, attribution through a
# node-scoped pod watch, aggregation, Events, metrics and the Node
# annotation are the real code against the real API. The real kernel path
# is test/node/denials (node VM with kubelet).
#  1. records of a pod on this node: one AppArmorDenied Event on the Pod
#     (count 3, container app, source armorgate-agent/<node>), an
#     AppArmorAudit one for complain mode, the metric by profile, mode and
#     operation, a JSON log line per aggregated event;
#  2. not attributable: a pod of another node (the watch is node-scoped), a
#     process already gone: counted under the profile, no Event;
#  3. armorgate.io/observed on the Node (written at once, then at most once
#     a minute): files with their masks, capabilities, network, exec; the
#     status annotation of agent_publish untouched;
#  4. more of the same within the minute: counted, no new Event write;
#  5. a flood of 200,000 identical records: one key, no drop, bounded memory
#     (VmHWM before/after printed);
#  6. a restart of the same boot keeps the observations and adds to them.
# With ARMORGATE_MEMCHECK=1 (memcheck_agent_denials) the agent runs under
# valgrind memcheck with 4x longer waits and a smaller flood.
# Usage: denial_events.sh AGENT_BINARY   (KUBECONFIG set, kubectl on PATH)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
AGENT=$1
agent_test_setup denial
NS=$NODE
cleanup() {
	[ -z "${FEEDER:-}" ] || kill "$FEEDER" 2>/dev/null || true
	agent_test_cleanup
	kubectl delete namespace "$NS" --wait=false --ignore-not-found >/dev/null 2>&1 || true
}
trap cleanup EXIT
agent_fake_root "$T"
agent_test_node
CID=4a5b6c7d8e9f0a1b2c3d4e5f6a7b8c9d0e1f2a3b4c5d6e7f8a9b0c1d2e3f4a5b
CID2=bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb

kubectl create namespace "$NS" >/dev/null
kubectl create serviceaccount -n "$NS" default >/dev/null 2>&1 || true
# pod_on NAME NODE: a Pod bound to NODE with a running container "app" (the
# status a kubelet would write); prints its UID.
pod_on() {
	kubectl create -n "$NS" -f - >/dev/null <<YAML
apiVersion: v1
kind: Pod
metadata: {name: $1}
spec:
  nodeName: $2
  automountServiceAccountToken: false
  containers: [{name: app, image: busybox}]
YAML
	kubectl patch pod -n "$NS" "$1" --subresource=status --type=merge -p \
		"{\"status\":{\"containerStatuses\":[{\"name\":\"app\",\"containerID\":\"containerd://$3\",\"image\":\"busybox\",\"imageID\":\"\",\"ready\":true,\"restartCount\":0,\"state\":{\"running\":{}}}]}}" >/dev/null
	kubectl get pod -n "$NS" "$1" -o jsonpath='{.metadata.uid}'
}
UID1=$(pod_on web-1 "$NODE" "$CID")
UID2=$(pod_on elsewhere "other-$NODE" "$CID2")
# The VM's layout (cgroup v2, cgroupfs driver, containerd), as the agent's
# own cgroup namespace shows it.
mkdir -p "$T/proc/4242" "$T/proc/4343"
echo "0::/../../besteffort/pod$UID1/$CID" >"$T/proc/4242/cgroup"
echo "0::/kubepods/besteffort/pod$UID2/$CID2" >"$T/proc/4343/cgroup"

FLOOD=200000
# shellcheck source=test/valgrind/lib.sh
. "$here/../valgrind/lib.sh"
if vg_agent_wrap "$T/vg"; then FLOOD=20000; fi
FIFO=$T/records
mkfifo "$FIFO"
mkdir -p "$T/src/..v1" # kubelet's layout of an empty ConfigMap: no profiles
ln -s ..v1 "$T/src/..data"
start_agent() {
	"${wrap[@]}" "$AGENT" --node-name "$NODE" --kubeconfig "$KUBECONFIG" --profiles-dir "$T/src" "${FAKE_ARGS[@]}" \
		--denial-source "file:$FIFO" --probe-listen "127.0.0.1:$PORT" 2>>"$AGENT_LOG" &
	PID=$!
	agent_wait 30 "ready" agent_http_ok "http://127.0.0.1:$PORT/readyz"
	agent_wait 10 "pod watch synced" agent_metric_is armorgate_agent_denial_pods 1
}
agent_metric_is() { [ "$(agent_metric "$1")" = "$2" ]; }
# series NAME LABELS: the value of one labelled series.
series() {
	curl -fsS "http://127.0.0.1:$PORT/metrics" | awk -v k="$1{$2}" '$1 == k { print $2 }'
}
series_is() { [ "$(series "$1" "$2")" = "$3" ]; }
rec() { # MODE OP PID REST...: one kernel audit line
	local mode=$1 op=$2 pid=$3
	shift 3
	printf 'type=1400 audit(1765000000.%03d:%d): apparmor="%s" operation="%s" profile="custom.web" pid=%s %s\n' \
		$((RANDOM % 1000)) $RANDOM "$mode" "$op" "$pid" "$*"
}
# pod_events NS POD: "reason<TAB>type<TAB>count<TAB>component/host<TAB>message" lines.
pod_events() {
	kubectl get events -n "$1" -o json --field-selector "involvedObject.kind=Pod,involvedObject.name=$2" | python3 -c '
import json, sys
for e in sorted(json.load(sys.stdin)["items"], key=lambda e: e["reason"]):
    s = e.get("source", {})
    print("%s\t%s\t%s\t%s/%s\t%s\t%s" % (e["reason"], e["type"], e.get("count"), s.get("component"), s.get("host"),
                                 e["involvedObject"].get("uid", ""), e["message"]))'
}
observed() { # PYEXPR over o = the parsed armorgate.io/observed
	kubectl get node "$NODE" -o json | python3 -c '
import json, sys
ann = json.load(sys.stdin)["metadata"].get("annotations", {})
o = json.loads(ann.get("armorgate.io/observed", "{}"))
p = o.get("profiles", {}).get("custom.web", {})
sys.exit(0 if eval("(" + sys.argv[1] + ")") else 1)' "$1"
}
start_agent
exec 7<>"$FIFO"

echo "1. a pod on this node: aggregated Events, metric, log line"
{
	for _ in 1 2 3; do rec DENIED open 4242 'name="/etc/shadow" comm="cat" requested_mask="r" denied_mask="r" fsuid=0 ouid=0'; done
	rec ALLOWED open 4242 'name="/data/x" comm="sh" requested_mask="wc" denied_mask="wc" fsuid=0 ouid=0'
	rec DENIED capable 4242 'comm="ping" capability=13 capname="net_raw"'
	rec ALLOWED create 4242 'comm="nc" family="inet" sock_type="stream" protocol=6 requested_mask="create" denied_mask="create"'
	rec DENIED exec 4242 'name="/bin/wget" comm="sh" requested_mask="x" denied_mask="x" fsuid=0 ouid=0'
	# A userspace or other-profile line is ignored.
	printf 'type=1400 audit(1765000000.001:1): apparmor="DENIED" operation="open" profile="/usr/bin/x" name="/a" pid=4242 comm="x" requested_mask="r" denied_mask="r"\n'
} >&7
want="AppArmorDenied	Warning	3	armorgate-agent/$NODE	$UID1	AppArmor custom.web denied open /etc/shadow (r) by cat in container app (3×)"
# Here-strings, not pipes into grep -q: it exits at the first match and the
# writer's SIGPIPE fails the pipeline under pipefail (CI saw it).
has_want() { grep -qxF "$want" <<<"$(pod_events "$NS" web-1)"; }
# One flush writes the five one after the other: wait for all of them.
five() { has_want && [ "$(pod_events "$NS" web-1 | wc -l)" -ge 5 ]; }
agent_wait 15 "the five Events on web-1" five
ev=$(pod_events "$NS" web-1)
[ "$(wc -l <<<"$ev")" -eq 5 ] || die "want 5 Events on web-1 (open x2, capable, create, exec), got: $ev"
grep -qxF "AppArmorAudit	Normal	1	armorgate-agent/$NODE	$UID1	AppArmor custom.web would deny (complain mode) open /data/x (wc) by sh in container app (1×)" <<<"$ev" ||
	die "no complain-mode Event: $ev"
grep -qF "denied capable net_raw by ping in container app (1×)" <<<"$ev" || die "no capability Event: $ev"
grep -qF "would deny (complain mode) create inet stream by nc in container app (1×)" <<<"$ev" || die "no network Event: $ev"
series_is armorgate_apparmor_events_total 'profile="custom.web",mode="enforce",operation="open"' 3 || die "metric: $(series armorgate_apparmor_events_total 'profile="custom.web",mode="enforce",operation="open"')"
series_is armorgate_apparmor_events_total 'profile="custom.web",mode="complain",operation="create"' 1 || die "create metric"
grep '"msg":"apparmor denial"' "$AGENT_LOG" | grep -F '"name":"/etc/shadow"' | grep -F '"pod":"web-1"' |
	grep -F '"container":"app"' | grep -F '"count":"3"' >/dev/null || die "no JSON log line for the open event"

echo "2. a pod of another node and a process already gone: counted, no Event"
{
	rec DENIED open 4343 'name="/etc/hosts" comm="cat" requested_mask="r" denied_mask="r"'
	rec DENIED open 99999 'name="/etc/gone" comm="true" requested_mask="r" denied_mask="r"'
} >&7
agent_wait 10 "both counted" series_is armorgate_apparmor_events_total 'profile="custom.web",mode="enforce",operation="open"' 5
agent_wait 10 "logged" grep -qF '"name":"/etc/gone"' "$AGENT_LOG"
sleep 1.5
[ -z "$(pod_events "$NS" elsewhere)" ] || die "an Event on a pod of another node"
grep -F '"name":"/etc/hosts"' "$AGENT_LOG" | grep -F "\"podUID\":\"$UID2\"" >/dev/null || die "the other node's pod UID not logged"

echo "3. the observed annotation (and the status annotation beside it)"
# Written once at the first change, then at most once a minute: what step 2
# added waits for the next minute.
agent_wait 10 "observed annotation" observed '
o["bootID"] == "11111111-2222-3333-4444-555555555555" and p["mode"] == "mixed" and
p["files"] == {"/etc/shadow": "r", "/data/x": "wc"} and
p["capabilities"] == ["net_raw"] and p["network"] == ["inet stream"] and p["exec"] == ["/bin/wget"] and
p["truncated"] is False'
agent_node_query "$NODE" '"armorgate.io/status" in ann' || die "the status annotation is gone"

echo "4. more of the same within the minute: counted, no Event write"
writes=$(agent_metric armorgate_agent_denial_event_writes_total)
for _ in 1 2; do rec DENIED open 4242 'name="/etc/shadow" comm="cat" requested_mask="r" denied_mask="r"'; done >&7
agent_wait 10 "counted" series_is armorgate_apparmor_events_total 'profile="custom.web",mode="enforce",operation="open"' 7
sleep 2
[ "$(agent_metric armorgate_agent_denial_event_writes_total)" = "$writes" ] || die "an Event write within the minute"
has_want || die "the open Event changed within the minute"

echo "5. a flood of $FLOOD identical records: one key, bounded memory"
hwm() { sed -n 's/^VmHWM:[[:space:]]*//p' "/proc/$PID/status"; }
before=$(hwm)
keys=$(agent_metric armorgate_agent_denial_keys)
line=$(rec DENIED open 4242 'name="/etc/shadow" comm="cat" requested_mask="r" denied_mask="r"')
start=$(date +%s.%N)
python3 -c 'import sys; sys.stdout.write((sys.argv[1] + "\n") * int(sys.argv[2]))' "$line" "$FLOOD" >&7
agent_wait 60 "flood counted" series_is armorgate_apparmor_events_total 'profile="custom.web",mode="enforce",operation="open"' $((FLOOD + 7))
secs=$(python3 -c "import time; print('%.2f' % (time.time() - $start))")
after=$(hwm)
echo "   flood: $FLOOD records in ${secs}s; agent VmHWM ${before} -> ${after}"
[ "$(agent_metric armorgate_agent_denial_keys)" = "$keys" ] || die "the flood made new keys"
for r in keys rate observations; do
	series_is armorgate_apparmor_events_dropped_total "reason=\"$r\"" 0 || die "dropped ($r) under a flood of one key"
done

echo "6. a restart of the same boot keeps the observations and adds to them"
agent_stop "$PID"
exec 7>&-
start_agent
exec 7<>"$FIFO"
rec DENIED open 4242 'name="/etc/after-restart" comm="cat" requested_mask="w" denied_mask="w"' >&7
agent_wait 15 "observations merged" observed 'p["files"].get("/etc/shadow") == "r" and p["files"].get("/etc/after-restart") == "w" and p["exec"] == ["/bin/wget"]'
agent_stop "$PID"
PID=""
if [ "${ARMORGATE_MEMCHECK:-0}" = 1 ]; then
	vg_findings "$T/vg" || die "valgrind: memory errors or definite leaks in the agent (above)"
	echo "valgrind memcheck clean"
fi
echo PASS
