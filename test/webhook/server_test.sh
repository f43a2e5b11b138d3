#!/usr/bin/env bash
# shellcheck disable=SC2034 source-path=SCRIPTDIR
# Integration test of the armorgate-webhook server shell over real TLS, no
# API server needed (the Node cache is seeded with --nodes-file): probe
# endpoints, 404/405/413/415/400, a real review, TLS 1.1 refused, certificate
# rotation through a kubelet-style ..data symlink swap without restart (and a
# bad pair refused), SIGTERM with a review in flight, startup errors,
# pipelined reviews and a client that never reads its answers.
# usage: server_test.sh WEBHOOK_BINARY
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=lib.sh
. "$here/lib.sh"
WEBHOOK=$1
t=$(mktemp -d)
trap 'wh_cleanup; rm -rf "$t"' EXIT
WH_CA=$t/ca.crt
WH_BODY=$t/body

wh_certs "$t"
# Kubelet's Secret volume layout: tls.crt -> ..data/tls.crt, ..data -> ..<timestamp>.
wh_certs_swap "$t/certs" v1 "$t/a.crt" "$t/a.key"

cat >"$t/nodes.json" <<'JSON'
{"kind":"NodeList","apiVersion":"v1","items":[
 {"metadata":{"name":"n1","labels":{"armorgate.io/apparmor":"enabled","profiles.armorgate.io/custom.web":"loaded"}}},
 {"metadata":{"name":"n2","labels":{}}}]}
JSON
review() { # review UID PROFILE [PADDING]
  printf '{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"%s","kind":{"group":"","version":"v1","kind":"Pod"},"resource":{"group":"","version":"v1","resource":"pods"},"namespace":"default","operation":"CREATE","userInfo":{"username":"admin"},"object":{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p","namespace":"default","annotations":{"pad":"%s","container.apparmor.security.beta.kubernetes.io/app":"localhost/%s"}},"spec":{"containers":[{"name":"app","image":"nginx"}]}}}}' \
    "$1" "${3:-}" "$2"
}

wh_start "$t/log" --tls-cert "$t/certs/tls.crt" --tls-key "$t/certs/tls.key" --listen 127.0.0.1:0 \
  --probe-listen 127.0.0.1:0 --nodes-file "$t/nodes.json" --threads 2

# Probe port.
[ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$WH_PROBE/healthz")" = 200 ] || die healthz
[ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$WH_PROBE/readyz")" = 200 ] || die readyz
curl -s "http://127.0.0.1:$WH_PROBE/metrics" >"$t/metrics"
grep -q '^armorgate_webhook_nodes 2$' "$t/metrics" || die "metrics: nodes gauge"
grep -q '^# TYPE armorgate_webhook_request_duration_seconds histogram$' "$t/metrics" || die "metrics: latency"
wh_ok "probe endpoints"

# Requests refused before admission.
echo '{}' >"$t/empty.json"
[ "$(curl -sS --cacert "$WH_CA" -o /dev/null -w '%{http_code}' "https://127.0.0.1:$WH_PORT/mutate")" = 405 ] || die "GET -> 405"
[ "$(wh_post /other application/json "$t/empty.json")" = 404 ] || die "unknown path -> 404"
[ "$(wh_post /mutate text/plain "$t/empty.json")" = 415 ] || die "text/plain -> 415"
[ "$(wh_post /validate application/x-www-form-urlencoded "$t/empty.json")" = 415 ] || die "form -> 415"
head -c $((3 * 1024 * 1024 + 1)) /dev/zero | tr '\0' ' ' >"$t/big.json"
[ "$(wh_post /mutate application/json "$t/big.json")" = 413 ] || die "Content-Length over 3 MiB -> 413"
[ "$(wh_post /mutate application/json "$t/big.json" -H 'Transfer-Encoding: chunked')" = 413 ] ||
  die "chunked body over 3 MiB -> 413"
printf '{"apiVersion":' >"$t/bad.json"
[ "$(wh_post /mutate application/json "$t/bad.json")" = 400 ] || die "malformed JSON -> 400"
grep -qi json "$WH_BODY" || die "400 body names the problem: $(cat "$WH_BODY")"
printf '{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{}}' >"$t/nouid.json"
[ "$(wh_post /validate "application/json; charset=utf-8" "$t/nouid.json")" = 400 ] || die "missing uid -> 400"
curl -s "http://127.0.0.1:$WH_PROBE/metrics" >"$t/metrics"
grep -q '^armorgate_webhook_http_rejections_total{code="413"} 2$' "$t/metrics" || die "metrics: 413 count"
wh_ok "405/404/415/413/400"

# Real reviews: allowed (profile loaded on n1) and denied (nowhere).
review uid-allow custom.web >"$t/allow.json"
[ "$(wh_post /validate application/json "$t/allow.json")" = 200 ] || die "valid review -> 200: $(cat "$WH_BODY")"
{ grep -q '"uid":"uid-allow"' "$WH_BODY" && grep -q '"allowed":true' "$WH_BODY"; } || die "allow: $(cat "$WH_BODY")"
review uid-deny custom.missing >"$t/deny.json"
[ "$(wh_post /validate application/json "$t/deny.json")" = 200 ] || die "deny review -> 200"
{ grep -q '"allowed":false' "$WH_BODY" && grep -q 'custom.missing' "$WH_BODY"; } || die "deny: $(cat "$WH_BODY")"
[ "$(wh_post /mutate application/json "$t/allow.json")" = 200 ] || die "mutate -> 200"
grep -q '"patchType":"JSONPatch"' "$WH_BODY" || die "mutate patch: $(cat "$WH_BODY")"
# Keep-alive: several reviews over one connection.
curl -sS --cacert "$WH_CA" -o /dev/null -w '%{num_connects}\n' -H 'Content-Type: application/json' \
  --data-binary "@$t/allow.json" "https://127.0.0.1:$WH_PORT/validate" \
  --next --cacert "$WH_CA" -o /dev/null -H 'Content-Type: application/json' \
  --data-binary "@$t/allow.json" "https://127.0.0.1:$WH_PORT/validate" -w '%{num_connects}\n' >"$t/conns"
[ "$(tr '\n' ' ' <"$t/conns")" = "1 0 " ] || die "keep-alive: connects per request $(cat "$t/conns")"
wh_ok "reviews answered (allow, deny, patch), keep-alive"

# No socket option per answer (server.c, server_send): libmicrohttpd's buffer
# responses cork the socket for the header and push each answer with its own
# TCP_NODELAY setsockopt, and a corked socket whose answer leaves after that
# push sits out the kernel's 200 ms cork timer. strace watches 10 reviews
# over one new connection: one TCP_NODELAY for the connection, never a cork.
strace -f -e trace=setsockopt -o "$t/sockopts" -p "$WH_PID" 2>"$t/strace.err" &
st=$!
attached() { grep -q attached "$t/strace.err"; }
wait_until 10 0.2 attached || die "strace did not attach: $(cat "$t/strace.err")"
args=()
for i in $(seq 10); do
  [ "$i" -gt 1 ] && args+=(--next)
  args+=(--cacert "$WH_CA" -sS -o /dev/null -w '%{http_code}\n' -H 'Content-Type: application/json'
    --data-binary "@$t/allow.json" "https://127.0.0.1:$WH_PORT/validate")
done
curl "${args[@]}" >"$t/codes"
kill -INT "$st"
wait "$st" 2>/dev/null || true
[ "$(sort -u "$t/codes")" = 200 ] || die "10 reviews on one connection: $(tr '\n' ' ' <"$t/codes")"
! grep -q TCP_CORK "$t/sockopts" || die "socket corked: $(grep TCP_CORK "$t/sockopts" | head -3)"
[ "$(grep -c TCP_NODELAY "$t/sockopts")" -le 1 ] ||
  die "TCP_NODELAY set $(grep -c TCP_NODELAY "$t/sockopts") times for 10 answers on one connection"
wh_ok "no socket option per answer (one TCP_NODELAY per connection, no cork)"

# Back-to-back reviews on one connection: every answer whole and in order
# (each answer leaves as one corked TLS record, flushed after it is queued;
# the requests arrive several per recv through tlsread's buffer, and the last
# ones wait there with the socket already drained).
python3 "$here/pipeline_client.py" pipeline "$WH_PORT" "$WH_CA" "$t/allow.json" 100 >"$t/pipe" 2>&1 ||
  die "pipelined reviews: $(cat "$t/pipe")"
# A client that sends reviews and never reads the answers is cut off (after a
# 100 ms wait per answer) while other clients are still served.
python3 "$here/pipeline_client.py" stall "$WH_PORT" "$WH_CA" "$t/allow.json" 30 >"$t/stall" 2>&1 &
stall=$!
sleep 0.5
[ "$(wh_post /validate application/json "$t/allow.json" --max-time 5)" = 200 ] || die "served beside a stalled client"
wait "$stall" || die "a client that never reads is not cut off: $(cat "$t/stall")"
grep -q '"msg":"answer not delivered: the client is not reading; connection closed"' "$t/log" ||
  die "no log line for the stalled client"
grep -q '^armorgate_webhook_connections_cut_total [1-9]' <<<"$(curl -s "http://127.0.0.1:$WH_PROBE/metrics")" ||
  die "metrics: connections cut"
wh_ok "pipelined answers whole and in order; a client that never reads is cut off"

# TLS versions.
if openssl s_client -connect "127.0.0.1:$WH_PORT" -tls1_1 </dev/null >"$t/s11" 2>&1 &&
  grep -q 'Protocol *: TLSv1.1' "$t/s11" && ! grep -q 'Cipher is (NONE)' "$t/s11"; then
  die "TLS 1.1 accepted"
fi
openssl s_client -connect "127.0.0.1:$WH_PORT" -tls1_2 </dev/null 2>/dev/null | grep -q 'Cipher is ECDHE-.*GCM\|Cipher is ECDHE-.*CHACHA20' ||
  die "TLS 1.2 with an ECDHE AEAD suite"
for c in AES128-SHA ECDHE-ECDSA-AES128-SHA; do
  openssl s_client -connect "127.0.0.1:$WH_PORT" -tls1_2 -cipher "$c" </dev/null >"$t/sweak" 2>&1 || true
  grep -q 'Cipher is (NONE)' "$t/sweak" || die "TLS 1.2 suite $c accepted"
done
openssl s_client -connect "127.0.0.1:$WH_PORT" -tls1_3 </dev/null 2>/dev/null | grep -q 'TLSv1.3' || die "TLS 1.3"
wh_ok "TLS 1.1 and weak suites refused; 1.2 and 1.3 served"

# Certificate rotation: swap ..data like kubelet does; a new connection gets B.
fa=$(wh_fingerprint "$t/a.crt")
fb=$(wh_fingerprint "$t/b.crt")
[ "$(wh_served_fingerprint "$WH_PORT")" = "$fa" ] || die "serves cert A at start"
wh_certs_swap "$t/certs" v2 "$t/b.crt" "$t/b.key"
served_b() { [ "$(wh_served_fingerprint "$WH_PORT")" = "$fb" ]; }
wait_until 10 0.2 served_b || die "rotated cert B not served within 10 s"
grep -q '"serving certificate reloaded' "$t/log" || die "reload logged"
wh_ok "certificate rotated on disk is served without restart"

# A bad pair (key of A with cert of... garbage) is refused; B stays.
wh_certs_swap "$t/certs" v3 "$t/a.crt" "$t/b.key"
refused() { grep -q 'new serving certificate refused' "$t/log"; }
wait_until 10 0.2 refused || die "mismatched pair not refused"
served_b || die "old pair kept after a refused one"
grep -q '^armorgate_webhook_cert_reloads_total{result="error"} 1$' <<<"$(curl -s "http://127.0.0.1:$WH_PROBE/metrics")" ||
  die "metrics: refused reload counted"
wh_ok "a mismatched pair is refused and the previous one kept"

# SIGTERM while a review is in flight: the slow upload (~3 s) still gets its answer; exit 0.
pad=$(head -c 60000 /dev/zero | tr '\0' a)
review uid-slow custom.web "$pad" >"$t/slow.json"
curl -sS --cacert "$WH_CA" --max-time 30 --limit-rate 20K -o "$t/slowbody" -D "$t/slowhdr" -w '%{http_code}' \
  -H 'Content-Type: application/json' --data-binary "@$t/slow.json" "https://127.0.0.1:$WH_PORT/validate" \
  >"$t/slowcode" 2>"$t/slowerr" &
cpid=$!
wh_pids+=("$cpid")
in_flight() { grep -q '^armorgate_webhook_requests_in_flight 1$' <<<"$(curl -s "http://127.0.0.1:$WH_PROBE/metrics")"; }
wait_until 10 0.2 in_flight || die "slow review never in flight"
kill -TERM "$WH_PID"
stopping() { grep -q '"msg":"stopping' "$t/log"; }
wait_until 5 0.2 stopping || die "no stop log line"
# New connections are refused while the in-flight one finishes.
if curl -s --cacert "$WH_CA" --max-time 2 -o /dev/null "https://127.0.0.1:$WH_PORT/validate"; then
  die "a new connection was accepted after SIGTERM"
fi
wait "$cpid" || die "in-flight client failed: $(cat "$t/slowerr")"
[ "$(cat "$t/slowcode")" = 200 ] || die "in-flight review answered 200, got $(cat "$t/slowcode")"
grep -q '"uid":"uid-slow"' "$t/slowbody" || die "in-flight review body"
grep -qi '^connection: close' "$t/slowhdr" || die "answer during shutdown without Connection: close"
rc=0
wait "$WH_PID" || rc=$?
[ "$rc" = 0 ] || die "exit status after SIGTERM: $rc"
wh_pids=()
wh_ok "SIGTERM: stops accepting, finishes the in-flight review (Connection: close), exits 0"

# Startup errors: one clear line, non-zero exit.
rc=0
"$WEBHOOK" --tls-cert "$t/nope.crt" --tls-key "$t/a.key" --nodes-file "$t/nodes.json" 2>"$t/err1" || rc=$?
{ [ "$rc" != 0 ] && [ "$(wc -l <"$t/err1")" = 1 ] && grep -q 'nope.crt' "$t/err1"; } || die "missing cert: $(cat "$t/err1")"
rc=0
"$WEBHOOK" --tls-cert "$t/a.crt" --tls-key "$t/b.key" --nodes-file "$t/nodes.json" 2>"$t/err2" || rc=$?
{ [ "$rc" != 0 ] && grep -q 'does not belong' "$t/err2"; } || die "mismatched pair at start: $(cat "$t/err2")"
rc=0
ARMORGATE_LISTEN=nonsense "$WEBHOOK" --tls-cert "$t/a.crt" --tls-key "$t/a.key" --nodes-file "$t/nodes.json" \
  --probe-listen 127.0.0.1:0 2>"$t/err3" || rc=$?
{ [ "$rc" != 0 ] && grep -q 'nonsense' "$t/err3"; } || die "bad listen from env: $(cat "$t/err3")"
grep -q -- '--tls-cert FILE' <<<"$("$WEBHOOK" --help)" || die "--help"
wh_ok "startup errors exit non-zero with one line"

# Not ready until the Node cache synced (API server unreachable here).
cat >"$t/kubeconfig" <<'KC'
apiVersion: v1
kind: Config
clusters:
- name: c
  cluster: {server: "https://127.0.0.1:1", insecure-skip-tls-verify: true}
users:
- name: u
  user: {token: "x"}
contexts:
- name: c
  context: {cluster: c, user: u}
current-context: c
KC
wh_start "$t/log2" --tls-cert "$t/a.crt" --tls-key "$t/a.key" --listen 127.0.0.1:0 --probe-listen 127.0.0.1:0 \
  --kubeconfig "$t/kubeconfig"
[ "$(curl -s -o "$t/rz" -w '%{http_code}' "http://127.0.0.1:$WH_PROBE/readyz")" = 503 ] || die "readyz before sync"
grep -q 'not synced' "$t/rz" || die "readyz reason: $(cat "$t/rz")"
[ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$WH_PROBE/healthz")" = 200 ] || die "healthz before sync"
kill -TERM "$WH_PID"
rc=0
wait "$WH_PID" || rc=$?
[ "$rc" = 0 ] || die "exit status with the watch retrying: $rc"
wh_pids=()
wh_ok "not ready before the Node cache synced; SIGTERM while the watch retries exits 0"
echo "PASS"
