#!/usr/bin/env bash
# shellcheck disable=SC2034 source-path=SCRIPTDIR
# Compile checks of profiles-ConfigMap reviews (issue 19 item 3), with the
# real binary: a slow compile runs off the HTTPS threads (pod reviews on fresh
# TLS connections are answered meanwhile, even with one HTTPS thread), is
# refused at --compile-timeout with its parser killed, and its result is
# cached (a repeated ConfigMap runs no parser; metrics count the hits); the
# parser runs under an address-space and CPU limit; a full queue is refused
# at once; SIGTERM during a compile still exits 0.
# The parser is fake-slow-parser (a MOCK: a profile holding SLOW sleeps until
# killed), so the slow compile is deterministic; the real parser's slow
# profiles depend on its version and the host. Waits are bounded; the one
# time check is the API server's own ceiling (timeoutSeconds is at most 5).
# usage: compile_test.sh WEBHOOK_BINARY
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=lib.sh
. "$here/lib.sh"
WEBHOOK=$1
wh_scratch
mkdir "$t/bin"
cp "$here/fake-slow-parser" "$t/bin/apparmor_parser"
export PATH="$t/bin:$PATH"
wh_pod_fixture
pod_ok() { wh_pod_ok 2; }

# cm FILE KEY=MARK...: a profiles-ConfigMap review (CREATE) whose profile KEY
# holds the word MARK (SLOW, BROKEN, or anything: compiles).
cm() {
  python3 - "$@" <<'PY'
import json, sys
data = {}
for kv in sys.argv[2:]:
    k, mark = kv.split("=", 1)
    data[k] = "profile %s {\n  # %s\n  /tmp/** r,\n}\n" % (k, mark)
obj = {"apiVersion": "v1", "kind": "ConfigMap",
       "metadata": {"name": "armorgate-profiles", "namespace": "armorgate-system"}, "data": data}
req = {"uid": "c1", "kind": {"group": "", "version": "v1", "kind": "ConfigMap"},
       "resource": {"group": "", "version": "v1", "resource": "configmaps"},
       "namespace": "armorgate-system", "name": "armorgate-profiles", "operation": "CREATE", "object": obj}
json.dump({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": req}, open(sys.argv[1], "w"))
PY
}
# post_bg FILE OUT: posts a review in the background; its pid in BG, the
# HTTP code then the body in OUT.
post_bg() {
  curl -sS --max-time 30 --cacert "$WH_CA" -w '\n%{http_code}\n' -X POST -H 'Content-Type: application/json' \
    --data-binary "@$1" "https://127.0.0.1:$WH_PORT/validate" >"$2" 2>&1 &
  BG=$!
}
metric() { # metric 'NAME{LABELS}' -> its value (0 when absent)
  curl -s --max-time 5 "http://127.0.0.1:$WH_PROBE/metrics" | awk -v m="$1" '$1 == m {print $2; f=1} END {if (!f) print 0}'
}
runs() { wc -l <"$t/runs" 2>/dev/null || echo 0; }
slow_running() { [ -s "$t/slow.pid" ] && kill -0 "$(cat "$t/slow.pid")" 2>/dev/null; }
slow_gone() { ! slow_running; }
wh_stop() {
  local rc=0
  kill -TERM "$WH_PID"
  wait "$WH_PID" || rc=$?
  wh_pids=()
  [ "$rc" = 0 ] || { tail -20 "$t"/log* >&2; die "webhook exit status $rc"; }
}

cm "$t/slow.json" custom.slow=SLOW
cm "$t/good.json" custom.web=fine custom.db=fine
cm "$t/broken.json" custom.bad=BROKEN
cm "$t/slow2.json" custom.other=SLOW

# 1. One HTTPS thread, default compile settings. A slow compile: pod reviews
# on fresh connections are answered while it runs; it is refused at the
# deadline (3 s) and its parser killed.
wh_start "$t/log1" --tls-cert "$t/a.crt" --tls-key "$t/a.key" --listen 127.0.0.1:0 --probe-listen 127.0.0.1:0 \
  --nodes-file "$t/nodes.json" --threads 1
start=$(date +%s%N)
post_bg "$t/slow.json" "$t/slow.out"
wait_until 10 0.05 slow_running || die "the slow compile did not start: $(cat "$t/slow.out" "$t/log1")"
for i in 1 2 3 4 5; do
  pod_ok || die "pod review $i while a compile runs: $(cat "$WH_BODY" 2>/dev/null)"
done
slow_running || die "the slow compile ended before the pod reviews were answered"
wh_ok "5 pod reviews on fresh TLS connections answered while a compile ran (one HTTPS thread)"
wait "$BG" || die "slow ConfigMap review: $(cat "$t/slow.out")"
elapsed_ms=$((($(date +%s%N) - start) / 1000000))
[ "$(tail -1 "$t/slow.out")" = 200 ] || die "slow ConfigMap review: $(cat "$t/slow.out")"
grep -q '"allowed":false' "$t/slow.out" || die "slow profile admitted: $(cat "$t/slow.out")"
grep -q 'custom.slow: not compiled within the webhook.s 3000 ms deadline (--compile-timeout)' "$t/slow.out" ||
  die "refusal message: $(cat "$t/slow.out")"
[ "$elapsed_ms" -lt 5000 ] || die "slow ConfigMap review answered after $elapsed_ms ms (timeoutSeconds is at most 5 s)"
wait_until 5 0.1 slow_gone || die "the slow parser still runs after its refusal"
wh_ok "slow compile refused at the deadline after $elapsed_ms ms, its parser killed"

# 2. The parser's limits: 64 MiB address space, a CPU limit, niceness 10.
read -r _ _ vmem cpu nic < <(grep '^compile custom.slow' "$t/runs" | head -1)
[ "$vmem" = 65536 ] || die "parser address-space limit $vmem KiB, want 65536"
cpu_ok() { [ "$cpu" != unlimited ] && [ "$cpu" -ge 1 ] && [ "$cpu" -le 5 ]; }
cpu_ok || die "parser CPU limit: $cpu"
[ "$nic" -ge 10 ] || die "parser niceness $nic"
wh_ok "parser limited: address space $vmem KiB, CPU $cpu s, nice $nic"

# 3. The cache: the same ConfigMap again is answered without a parser run,
# with the same refusal; a good one compiles once, then hits.
n=$(runs)
hits=$(metric 'armorgate_webhook_compile_cache_total{result="hit"}')
[ "$(wh_post /validate application/json "$t/slow.json" --max-time 2)" = 200 ] || die "repeated slow ConfigMap: $(cat "$WH_BODY")"
grep -q 'custom.slow: not compiled within' "$WH_BODY" || die "repeated slow ConfigMap: $(cat "$WH_BODY")"
[ "$(runs)" = "$n" ] || die "the repeated slow ConfigMap ran the parser again"
good_ok() { [ "$(wh_post /validate application/json "$t/good.json" --max-time 5)" = 200 ] && grep -q '"allowed":true' "$WH_BODY"; }
for i in 1 2; do
  good_ok || die "good ConfigMap $i: $(cat "$WH_BODY")"
done
[ "$(runs)" = $((n + 4)) ] || die "good ConfigMap twice: $(($(runs) - n)) parser runs, want 4 (2 profiles x 2 passes, once)"
for i in 1 2; do
  [ "$(wh_post /validate application/json "$t/broken.json" --max-time 5)" = 200 ] || die "broken ConfigMap: $(cat "$WH_BODY")"
  grep -q 'custom.bad: does not compile: AppArmor parser error' "$WH_BODY" || die "broken ConfigMap $i: $(cat "$WH_BODY")"
done
[ "$(runs)" = $((n + 6)) ] || die "broken ConfigMap twice: parser ran again"
[ "$(metric 'armorgate_webhook_compile_cache_total{result="hit"}')" = $((hits + 4)) ] ||
  die "cache hits: $(metric 'armorgate_webhook_compile_cache_total{result="hit"}'), want $((hits + 4))"
wh_ok "repeated ConfigMaps (refused at the deadline, good, broken) answered from the cache, no parser run"
wh_stop

# 4. A full queue is refused at once; pods are still served; SIGTERM during a
# compile exits 0 after answering it.
rm -f "$t/slow.pid"
wh_start "$t/log2" --tls-cert "$t/a.crt" --tls-key "$t/a.key" --listen 127.0.0.1:0 --probe-listen 127.0.0.1:0 \
  --nodes-file "$t/nodes.json" --threads 2 --compile-workers 1 --compile-queue 1 --compile-timeout 2000
post_bg "$t/slow.json" "$t/slow.out"
wait_until 10 0.05 slow_running || die "the slow compile did not start: $(cat "$t/slow.out")"
[ "$(wh_post /validate application/json "$t/slow2.json" --max-time 2)" = 200 ] || die "second ConfigMap: $(cat "$WH_BODY")"
grep -q 'custom.other: not compiled: compile queue full (1 ConfigMap reviews compiling or waiting, --compile-queue); retry' \
  "$WH_BODY" || die "queue-full message: $(cat "$WH_BODY")"
pod_ok || die "pod review with the compile queue full: $(cat "$WH_BODY")"
[ "$(metric 'armorgate_webhook_compile_refusals_total{reason="queue_full"}')" = 1 ] || die "queue_full metric"
wh_ok "a ConfigMap review beyond --compile-queue refused at once; pod reviews served"
wait "$BG" || true
grep -q 'within the webhook.s 2000 ms deadline' "$t/slow.out" || die "slow review: $(cat "$t/slow.out")"
rm -f "$t/slow.pid"
post_bg "$t/slow2.json" "$t/slow2.out"
wait_until 10 0.05 slow_running || die "the slow compile did not start: $(cat "$t/slow2.out")"
wh_stop
wait "$BG" || die "review in flight at SIGTERM: $(cat "$t/slow2.out")"
grep -q '"allowed":false' "$t/slow2.out" || die "review in flight at SIGTERM: $(cat "$t/slow2.out")"
wait_until 5 0.1 slow_gone || die "the slow parser outlived the webhook"
wh_ok "SIGTERM during a compile: the review answered (refused), exit 0, parser gone"
echo PASS
