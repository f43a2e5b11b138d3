# shellcheck shell=bash
# Helpers shared by the agent's shell tests (sourced). Needs KUBECONFIG and
# kubectl on PATH (from the cluster's env file).
# shellcheck source=test/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
DIE_PREFIX="FAIL: "

# die shows the agent's last words.
on_die() {
	if [ -n "${AGENT_LOG:-}" ] && [ -f "$AGENT_LOG" ]; then
		echo "--- agent log (last 40 lines) ---"
		tail -n 40 "$AGENT_LOG"
	fi
}

# agent_test_setup NAME: the shared-cluster test's scratch dir $T, a Node name
# $NODE unique to it, and an EXIT trap that kills the agent ($PID), deletes
# the Node and removes $T.
agent_test_setup() {
	: "${KUBECONFIG:?}"
	export KUBECONFIG
	command -v kubectl >/dev/null || PATH="${XDG_CACHE_HOME:-$HOME/.cache}/armorgate/bin:$PATH"
	T=$(mktemp -d "/tmp/agent-$1.XXXXXX")
	NODE=$1-$(basename "$T" | tr 'A-Z.' 'a-z-')
	PID=""
	trap agent_test_cleanup EXIT
}

agent_test_cleanup() {
	if [ -n "$PID" ]; then kill -KILL "$PID" 2>/dev/null || true; fi
	kubectl delete node "$NODE" --ignore-not-found >/dev/null 2>&1 || true
	rm -rf "$T"
}

# agent_wait SECONDS DESCRIPTION CMD...: wait_until CMD succeeds (quietly,
# every 0.2 s), for SECONDS times AGENT_WAIT_SCALE (default 1; the valgrind
# run sets more), or die.
agent_wait() {
	local secs=$(($1 * ${AGENT_WAIT_SCALE:-1})) what=$2
	shift 2
	wait_until "$secs" 0.2 "$@" >/dev/null 2>&1 || die "timed out after ${secs}s waiting for: $what"
}

# agent_node_query NODE PYEXPR: evaluates PYEXPR with m = node metadata,
# labels, st = parsed armorgate.io/status (or {}); exit 0 when truthy.
agent_node_query() {
	kubectl get node "$1" -o json | python3 -c '
import json, sys
m = json.load(sys.stdin)["metadata"]
labels = m.get("labels", {})
ann = m.get("annotations", {})
st = json.loads(ann.get("armorgate.io/status", "{}"))
profiles = st.get("profiles", {})
sys.exit(0 if eval("(" + sys.argv[1] + ")") else 1)' "$2"
}

agent_node_show() {
	kubectl get node "$1" -o json | python3 -c '
import json, sys
m = json.load(sys.stdin)["metadata"]
print(json.dumps(m.get("labels", {}), indent=1))
print(m.get("annotations", {}).get("armorgate.io/status", ""))'
}

agent_http_ok() {
	python3 -c 'import sys, urllib.request; sys.exit(0 if urllib.request.urlopen(sys.argv[1], timeout=2).status == 200 else 1)' "$1"
}

# agent_stop PID: SIGTERM, expect exit 0 within 10 s.
agent_stop() {
	kill -TERM "$1"
	i=0
	while kill -0 "$1" 2>/dev/null; do
		i=$((i + 1))
		[ $i -lt $((100 * ${AGENT_WAIT_SCALE:-1})) ] ||
			{ kill -KILL "$1"; die "agent did not exit within $((10 * ${AGENT_WAIT_SCALE:-1})) s of SIGTERM"; }
		sleep 0.1
	done
	rc=0
	wait "$1" || rc=$?
	[ "$rc" -eq 0 ] || die "agent exited $rc after SIGTERM, want 0"
}

# agent_fake_root DIR: a node's filesystem under DIR for the supported path
# (AppArmor on in sys/, a kernel list in securityfs/ holding a stale custom.*
# and two profiles armorgate must not touch, proc/, a boot id, host/) and the
# MOCK parser in bin/; FAKE_ARGS gets the agent flags that point there.
agent_fake_root() {
	mkdir -p "$1/sys/module/apparmor/parameters" "$1/securityfs/apparmor" "$1/proc/1/attr" \
		"$1/proc/sys/kernel/random" "$1/bin" "$1/host"
	echo Y >"$1/sys/module/apparmor/parameters/enabled"
	printf 'custom.stale (enforce)\n/usr/bin/foo (enforce)\ndocker-default (enforce)\n' >"$1/securityfs/apparmor/profiles"
	echo unconfined >"$1/proc/1/attr/current"
	echo 11111111-2222-3333-4444-555555555555 >"$1/proc/sys/kernel/random/boot_id"
	cp "$(dirname "${BASH_SOURCE[0]}")/fake-apparmor-parser" "$1/bin/apparmor_parser"
	# shellcheck disable=SC2034 # read by the sourcing test
	FAKE_ARGS=(--host-profiles-dir "$1/host" --parser-path "$1/bin/apparmor_parser" --sysfs-root "$1/sys"
		--securityfs-root "$1/securityfs" --proc-root "$1/proc")
}

# agent_metric NAME: its value (no labels) from the agent's probe port $PORT.
agent_metric() {
	curl -fsS "http://127.0.0.1:$PORT/metrics" | sed -n "s/^$1 //p"
}

# agent_test_node: the bare Node $NODE, a free probe port $PORT and the log
# file $AGENT_LOG for the agent under test.
agent_test_node() {
	kubectl create -f - >/dev/null <<YAML
apiVersion: v1
kind: Node
metadata:
  name: $NODE
YAML
	PORT=$(free_port 1)
	AGENT_LOG=$T/agent.log
}
