#!/usr/bin/env bash
# Fake-root test of the "AppArmor supported" path, against the real control
# plane: temp dirs stand in for sysfs, securityfs and /proc, and
# fake-apparmor-parser (a MOCK of the kernel side only: it compiles with the
# real apparmor_parser, then edits the fake securityfs profile list) stands in
# for loading. The real kernel path is covered by the node VM test.
# Usage: fake_root.sh AGENT_BINARY   (KUBECONFIG set, kubectl on PATH)
# With ARMORGATE_MEMCHECK=1 (memcheck_agent_fake_root) the agent runs under
# valgrind memcheck, waits are 4x longer, and any memory error or definite
# leak fails the run.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
AGENT=$1
agent_test_setup fake

agent_fake_root "$T"
mkdir "$T/src"

prof() { # name [extra rule]
	printf '#include <tunables/global>\nprofile %s flags=(attach_disconnected) {\n  #include <abstractions/base>\n  file,\n  %s\n}\n' "$1" "${2:-network,}"
}
# Kubelet's ConfigMap layout: ..data -> ..TS dir, keys are symlinks into ..data.
cm_swap() { # dirname-suffix, then files are already in $T/src/..$1
	ln -sfn "..$1" "$T/src/..data_tmp"
	mv -T "$T/src/..data_tmp" "$T/src/..data"
	for f in "$T/src/..$1"/*; do
		k=$(basename "$f")
		[ -L "$T/src/$k" ] || ln -s "..data/$k" "$T/src/$k"
	done
	for l in "$T/src"/custom.*; do
		[ -e "$l" ] || rm -f "$l"
	done
}
mkdir "$T/src/..v1"
prof custom.a >"$T/src/..v1/custom.a"
prof custom.b >"$T/src/..v1/custom.b"
printf 'profile custom.bad { garbage }\n' >"$T/src/..v1/custom.bad"
printf 'ignored\n' >"$T/src/..v1/.hidden"
cm_swap v1

kubectl create -f - >/dev/null <<YAML
apiVersion: v1
kind: Node
metadata:
  name: $NODE
  labels:
    armorgate.io/apparmor: unsupported
    profiles.armorgate.io/custom.gone: loaded
YAML

PORT=$(free_port 1)
AGENT_LOG=$T/agent.log
# shellcheck source=test/valgrind/lib.sh
. "$here/../valgrind/lib.sh"
vg_agent_wrap "$T/vg" || true
agent_start() { # LOG
	"${wrap[@]}" "$AGENT" --node-name "$NODE" --kubeconfig "$KUBECONFIG" --profiles-dir "$T/src" "${FAKE_ARGS[@]}" \
		--poll-interval 1 --probe-listen "127.0.0.1:$PORT" --log-level debug 2>"$1" &
	PID=$!
}
agent_start "$AGENT_LOG"

echo "1. first load: good profiles loaded + labelled, bad refused, stale custom.* removed, others untouched"
agent_wait 30 "ready" agent_http_ok "http://127.0.0.1:$PORT/readyz"
agent_wait 20 "labels after first load" agent_node_query "$NODE" '
labels.get("armorgate.io/apparmor") == "enabled" and
labels.get("profiles.armorgate.io/custom.a") == "loaded" and
labels.get("profiles.armorgate.io/custom.b") == "loaded" and
"profiles.armorgate.io/custom.gone" not in labels and
"profiles.armorgate.io/custom.stale" not in labels and
"profiles.armorgate.io/custom.bad" not in labels and
profiles["custom.a"]["state"] == "loaded" and profiles["custom.a"]["mode"] == "enforce" and
profiles["custom.bad"]["state"] == "error" and "custom.bad" in profiles["custom.bad"]["message"] and
st["bootID"] == "11111111-2222-3333-4444-555555555555"'
grep -qx '/usr/bin/foo (enforce)' "$T/securityfs/apparmor/profiles" || die "a non-custom profile was touched"
grep -qx 'docker-default (enforce)' "$T/securityfs/apparmor/profiles" || die "a non-custom profile was touched"
grep -q 'custom.stale' "$T/securityfs/apparmor/profiles" && die "custom.stale not removed"
{ [ -f "$T/host/custom.a" ] && [ -f "$T/host/custom.b" ]; } || die "profiles not written to the host dir"
[ ! -e "$T/host/custom.bad" ] || die "refused profile written to the host dir"
cmp -s "$T/host/custom.a" "$T/src/..v1/custom.a" || die "host file differs from the source"
[ -n "$(kubectl get events -n default --field-selector "involvedObject.name=$NODE,reason=ProfileRefused" -o name)" ] ||
	die "no ProfileRefused Event on the Node"

echo "2. no change -> no Node write across polls"
rv1=$(kubectl get node "$NODE" -o jsonpath='{.metadata.resourceVersion}')
sleep 3.5
rv2=$(kubectl get node "$NODE" -o jsonpath='{.metadata.resourceVersion}')
[ "$rv1" = "$rv2" ] || die "the Node was written although nothing changed ($rv1 -> $rv2)"

echo "3. custom.b leaves the ConfigMap while a process is confined by it -> removal-deferred, still labelled"
mkdir -p "$T/proc/4242/attr"
echo 'custom.b (enforce)' >"$T/proc/4242/attr/current"
mkdir "$T/src/..v2"
cp "$T/src/..v1/custom.a" "$T/src/..v1/custom.bad" "$T/src/..v2/"
cm_swap v2
agent_wait 10 "custom.b removal-deferred" agent_node_query "$NODE" '
profiles.get("custom.b", {}).get("state") == "removal-deferred" and "1 process" in profiles["custom.b"]["message"] and
labels.get("profiles.armorgate.io/custom.b") == "loaded"'
grep -q '^custom.b ' "$T/securityfs/apparmor/profiles" || die "custom.b unloaded while confining a process"

echo "4. the process exits -> custom.b removed from kernel, disk and labels"
rm -rf "$T/proc/4242"
agent_wait 10 "custom.b removed" agent_node_query "$NODE" '
"custom.b" not in profiles and "profiles.armorgate.io/custom.b" not in labels'
grep -q '^custom.b ' "$T/securityfs/apparmor/profiles" && die "custom.b still in the kernel list"
[ ! -e "$T/host/custom.b" ] || die "custom.b still on disk"

echo "5. a bad update of custom.a keeps the last good version loaded and on disk"
mkdir "$T/src/..v3"
printf 'profile custom.a { nonsense here }\n' >"$T/src/..v3/custom.a"
cm_swap v3
agent_wait 10 "custom.a error, still labelled" agent_node_query "$NODE" '
profiles["custom.a"]["state"] == "error" and labels.get("profiles.armorgate.io/custom.a") == "loaded"'
cmp -s "$T/host/custom.a" "$T/src/..v1/custom.a" || die "last good custom.a was overwritten on disk"

echo "6. a fixed update loads again (changed content, new hash)"
mkdir "$T/src/..v4"
prof custom.a 'capability net_raw,' >"$T/src/..v4/custom.a"
cm_swap v4
agent_wait 10 "custom.a loaded again" agent_node_query "$NODE" '
profiles["custom.a"]["state"] == "loaded" and "custom.bad" not in profiles'
cmp -s "$T/host/custom.a" "$T/src/..v4/custom.a" || die "new custom.a not on disk"

echo "7. the kernel loses custom.a (reboot) -> label removed, then reloaded"
: >"$T/securityfs/apparmor/profiles.new"
grep -v '^custom.a ' "$T/securityfs/apparmor/profiles" >"$T/securityfs/apparmor/profiles.new" || true
mv "$T/securityfs/apparmor/profiles.new" "$T/securityfs/apparmor/profiles"
agent_wait 10 "custom.a reloaded" sh -c "grep -q '^custom.a ' '$T/securityfs/apparmor/profiles'"
agent_wait 10 "custom.a labelled" agent_node_query "$NODE" 'labels.get("profiles.armorgate.io/custom.a") == "loaded"'

echo "8. metrics exposed"
python3 -c 'import sys,urllib.request; b=urllib.request.urlopen(sys.argv[1]).read().decode(); sys.exit(0 if "armorgate_agent_profiles{state=\"loaded\"} 1" in b and "armorgate_agent_reconcile_duration_seconds_count" in b else 1)' \
	"http://127.0.0.1:$PORT/metrics" || die "metrics missing"

echo "9. a load that fails (MOCK: the fake parser fails 4 loads, as a timeout/EAGAIN/OOM kill would) heals by itself"
mkdir "$T/src/..v5"
cp "$T/src/..v4/custom.a" "$T/src/..v5/"
prof custom.c >"$T/src/..v5/custom.c"
echo 4 >"$T/fail-loads"
cm_swap v5
agent_wait 10 "custom.c error, retry announced" agent_node_query "$NODE" '
profiles.get("custom.c", {}).get("state") == "error" and "retried in" in profiles["custom.c"]["message"]'
! agent_http_ok "http://127.0.0.1:$PORT/readyz" || die "/readyz 200 while custom.c waits for a retry"
[ "$(agent_metric armorgate_agent_load_retry_pending)" = 1 ] || die "retry-pending metric is not 1"
[ -n "$(kubectl get events -n default --field-selector "involvedObject.name=$NODE,reason=ProfileLoadFailed" -o name)" ] ||
	die "no ProfileLoadFailed Event on the Node"
agent_wait 20 "custom.c loaded after the retries" agent_node_query "$NODE" '
profiles.get("custom.c", {}).get("state") == "loaded" and labels.get("profiles.armorgate.io/custom.c") == "loaded"'
agent_wait 5 "ready again" agent_http_ok "http://127.0.0.1:$PORT/readyz"
[ "$(agent_metric armorgate_agent_load_retries_total)" -ge 1 ] || die "no retry counted"
[ "$(agent_metric armorgate_agent_load_retry_pending)" = 0 ] || die "retry-pending metric not cleared"
grep -q '"profile loaded after failed attempts","profile":"custom.c"' "$AGENT_LOG" || die "no log of the healed load"

echo "10. restart with nothing changed: zero parser runs, zero Node writes"
agent_stop "$PID"
rv1=$(kubectl get node "$NODE" -o jsonpath='{.metadata.resourceVersion}')
agent_start "$T/agent2.log"
agent_wait 30 "ready after restart" agent_http_ok "http://127.0.0.1:$PORT/readyz"
sleep 2.5 # two more polls
[ "$(agent_metric armorgate_agent_parser_runs_total)" = 0 ] || die "restart ran the parser $(agent_metric armorgate_agent_parser_runs_total) time(s)"
[ "$(agent_metric armorgate_agent_node_patches_total)" = 0 ] || die "restart patched the Node $(agent_metric armorgate_agent_node_patches_total) time(s)"
rv2=$(kubectl get node "$NODE" -o jsonpath='{.metadata.resourceVersion}')
[ "$rv1" = "$rv2" ] || die "the Node was written by the restart ($rv1 -> $rv2)"

echo "11. SIGTERM -> exit 0, nothing unloaded"
before=$(sort "$T/securityfs/apparmor/profiles")
agent_stop "$PID"
PID=""
after=$(sort "$T/securityfs/apparmor/profiles")
[ "$before" = "$after" ] || die "profiles changed on shutdown"
if [ "${ARMORGATE_MEMCHECK:-0}" = 1 ]; then
	vg_findings "$T/vg" || die "valgrind: memory errors or definite leaks in the agent (above)"
	echo "valgrind memcheck clean"
fi
echo PASS
