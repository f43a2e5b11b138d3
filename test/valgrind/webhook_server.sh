#!/usr/bin/env bash
# shellcheck disable=SC2034 source-path=SCRIPTDIR/../webhook
# memcheck_webhook_server: the real armorgate-webhook binary under valgrind
# memcheck, over real TLS, through the paths a unit test cannot reach: the
# libmicrohttpd shell, tlsread, the probe port, certificate reload, a
# pipelined and a stalled client, and shutdown on SIGTERM. It feeds every
# golden AdmissionReview and every fuzz-corpus input to both endpoints, then
# fails on any memory error or definite leak (or a non-zero exit). Timing
# checks are the functional test's (test/webhook/server_test.sh); here every
# wait is generous, since valgrind runs the server ~30x slower.
# usage: webhook_server.sh WEBHOOK_BINARY SOURCE_DIR
set -euo pipefail
WEBHOOK=$1
src=$2
# shellcheck source=../webhook/lib.sh
. "$src/test/webhook/lib.sh"
# shellcheck source=lib.sh
. "$src/test/valgrind/lib.sh"
t=$(mktemp -d "${TMPDIR:-/tmp}/armorgate-memcheck-webhook.XXXXXX")
trap 'wh_cleanup; rm -rf "$t"' EXIT
WH_CA=$t/ca.crt
WH_BODY=$t/body

wh_certs "$t"
wh_certs_swap "$t/certs" v1 "$t/a.crt" "$t/a.key"
mkdir "$t/vg"
vg_opts "$t/vg"
# valgrind execs the webhook in its own process: WH_PID is the server, SIGTERM reaches it.
WH_WRAP=(valgrind "${VG_OPTS[@]}")
WH_START_S=120
wh_start "$t/log" --tls-cert "$t/certs/tls.crt" --tls-key "$t/certs/tls.key" --listen 127.0.0.1:0 \
  --probe-listen 127.0.0.1:0 --nodes-file "$src/test/data/admission/nodes.json" --threads 2

for p in healthz readyz metrics nothere; do
  curl -s -o /dev/null --max-time 60 "http://127.0.0.1:$WH_PROBE/$p" || die "probe /$p"
done
echo '{}' >"$t/empty.json"
printf '{"apiVersion":' >"$t/bad.json"
head -c $((3 * 1024 * 1024 + 1)) /dev/zero | tr '\0' ' ' >"$t/big.json"
[ "$(curl -sS --max-time 60 --cacert "$WH_CA" -o /dev/null -w '%{http_code}' "https://127.0.0.1:$WH_PORT/mutate")" = 405 ] ||
  die "GET -> 405"
[ "$(wh_post /other application/json "$t/empty.json" --max-time 60)" = 404 ] || die "404"
[ "$(wh_post /mutate text/plain "$t/empty.json" --max-time 60)" = 415 ] || die "415"
[ "$(wh_post /mutate application/json "$t/big.json" --max-time 120)" = 413 ] || die "413"
[ "$(wh_post /mutate application/json "$t/big.json" --max-time 120 -H 'Transfer-Encoding: chunked')" = 413 ] ||
  die "chunked 413"
[ "$(wh_post /validate application/json "$t/bad.json" --max-time 60)" = 400 ] || die "malformed -> 400"
wh_ok "refusals answered under valgrind"

# Every golden review and fuzz input to both endpoints, over keep-alive
# connections (one curl per batch); each must get an HTTP answer.
inputs=()
for f in "$src"/test/data/admission/*.json "$src"/test/fuzz/corpus/admission/*; do
  case $f in *.expected.json | *.pod.json | */nodes.json) continue ;; esac
  inputs+=("$f")
done
n=$((2 * ${#inputs[@]}))
for path in /mutate /validate; do
  : >"$t/curl.cfg"
  for f in "${inputs[@]}"; do
    [ -s "$t/curl.cfg" ] && echo next >>"$t/curl.cfg"
    printf 'url = "https://127.0.0.1:%s%s"\ncacert = "%s"\nheader = "Content-Type: application/json"\n' \
      "$WH_PORT" "$path" "$WH_CA" >>"$t/curl.cfg"
    printf 'data-binary = "@%s"\noutput = "/dev/null"\nwrite-out = "%%{http_code}\\n"\nmax-time = 120\n' "$f" >>"$t/curl.cfg"
  done
  curl -sS -K "$t/curl.cfg" >>"$t/codes" || die "curl batch to $path: $(tail -3 "$t/codes")"
done
[ "$(wc -l <"$t/codes")" -eq "$n" ] || die "$n requests, $(wc -l <"$t/codes") answers"
! grep -qv '^[245][0-9][0-9]$' "$t/codes" || die "requests without an answer: $(sort "$t/codes" | uniq -c)"
wh_ok "$n reviews answered ($(sort "$t/codes" | uniq -c | tr -s ' \n' ' '))"

# Pipelined reviews on one connection, and a client that never reads (cut off).
review=$src/test/data/admission/validate-custom-loaded.json
python3 "$src/test/webhook/pipeline_client.py" pipeline "$WH_PORT" "$WH_CA" "$review" 20 >"$t/pipe" 2>&1 ||
  die "pipelined reviews: $(cat "$t/pipe")"
python3 "$src/test/webhook/pipeline_client.py" stall "$WH_PORT" "$WH_CA" "$review" 120 >"$t/stall" 2>&1 ||
  die "stalled client not cut off: $(cat "$t/stall")"
wh_ok "pipelined and stalled clients"

# Certificate rotation (the reload path), then a refused mismatched pair.
wh_certs_swap "$t/certs" v2 "$t/b.crt" "$t/b.key"
fb=$(wh_fingerprint "$t/b.crt")
served_b() { [ "$(wh_served_fingerprint "$WH_PORT")" = "$fb" ]; }
wait_until 60 0.2 served_b || die "rotated cert not served"
wh_certs_swap "$t/certs" v3 "$t/a.crt" "$t/b.key"
refused() { grep -q 'new serving certificate refused' "$t/log"; }
wait_until 60 0.2 refused || die "mismatched pair not refused"
wh_ok "certificate reloaded and a bad pair refused"

kill -TERM "$WH_PID"
status=0
wait "$WH_PID" || status=$?
wh_pids=()
[ "$status" = 0 ] || { tail -5 "$t/log" >&2; die "webhook exit status $status after SIGTERM"; }
vg_findings "$t/vg" || die "valgrind: memory errors or definite leaks in the webhook (above)"
wh_ok "SIGTERM: exit 0; valgrind memcheck clean"
