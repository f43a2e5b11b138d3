#!/usr/bin/env bash
# shellcheck disable=SC2034 source-path=SCRIPTDIR
# Resource exhaustion of the webhook's ports (issue 19 item 2), with the real
# binary: connections that never handshake are closed (--tls-handshake-timeout),
# one address cannot hold more than --max-connections-per-peer, 1,100 idle
# connections from two other addresses do not keep a review from 127.0.0.1
# out, and idle connections on the probe port do not keep /healthz out.
# Attackers connect from 127.0.0.2 and 127.0.0.3. No timed assertions: each
# wait is bounded.
# usage: exhaustion_test.sh WEBHOOK_BINARY
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=lib.sh
. "$here/lib.sh"
WEBHOOK=$1
wh_scratch
wh_pod_fixture
review_ok() { wh_pod_ok 5; }

# wh_stop: SIGTERM, and the exit status must be 0 (sanitizer builds: no report).
wh_stop() {
  local rc=0
  kill -TERM "$WH_PID"
  wait "$WH_PID" || rc=$?
  wh_pids=()
  [ "$rc" = 0 ] || { tail -20 "$t"/log* >&2; die "webhook exit status $rc"; }
}

# hold NAME PORT SRC N: an attacker (hold_conns.py) from address SRC; its
# pid in H_PID[NAME], its command/answer fds in H_W[NAME] / H_R[NAME].
declare -A H_PID H_W H_R
hold() {
  local name=$1 w r
  shift
  mkfifo "$t/$name.in" "$t/$name.out"
  python3 "$here/hold_conns.py" 127.0.0.1 "$@" <"$t/$name.in" >"$t/$name.out" &
  H_PID[$name]=$!
  wh_pids+=("$!")
  exec {w}>"$t/$name.in" {r}<"$t/$name.out"
  H_W[$name]=$w
  H_R[$name]=$r
  read -r l <&"$r"
  echo "attacker $name from $2: $l"
}
open_count() { # open_count NAME -> how many of its connections the server has not closed
  local l
  echo >&"${H_W[$1]}"
  read -r l <&"${H_R[$1]}"
  echo "${l#open }"
}
release() {
  local name w r
  for name in "$@"; do
    w=${H_W[$name]}
    r=${H_R[$name]}
    echo quit >&"$w" # other attackers hold this fifo open too: no EOF
    exec {w}>&- {r}<&-
    wait "${H_PID[$name]}" || true
  done
}

wh_start "$t/log" --tls-cert "$t/a.crt" --tls-key "$t/a.key" --listen 127.0.0.1:0 --probe-listen 127.0.0.1:0 \
  --nodes-file "$t/nodes.json" --threads 2 --tls-handshake-timeout 2 --max-connections-per-peer 8
grep -q -- '--max-connections-per-peer' <<<"$("$WEBHOOK" --help 2>&1)" || die "--help lacks the flag"

# 1. Connections that never start a handshake are closed (bounded wait).
hold A "$WH_PORT" 127.0.0.2 4
[ "$(open_count A)" = 4 ] || die "attacker A could not connect"
closed_a() { [ "$(open_count A)" = 0 ]; }
wait_until 30 0.5 closed_a || die "idle connections without a handshake not closed"
review_ok || die "review after the handshake deadline: $(cat "$WH_BODY")"
wh_ok "connections without a TLS handshake closed by the handshake deadline"
release A

# 2. One address holds at most --max-connections-per-peer; 127.0.0.1 is served meanwhile.
hold B "$WH_PORT" 127.0.0.2 20
capped_b() { [ "$(open_count B)" -le 8 ]; }
wait_until 10 0.2 capped_b || die "127.0.0.2 holds more than 8 connections"
review_ok || die "review while 127.0.0.2 holds its share: $(cat "$WH_BODY")"
[ "$(open_count B)" -ge 1 ] || die "127.0.0.2 got no connection at all"
release B
wh_ok "one address capped at --max-connections-per-peer; others served"
wh_stop

# 3. The finding: 1,100 idle connections from two addresses, default limits.
wh_start "$t/log2" --tls-cert "$t/a.crt" --tls-key "$t/a.key" --listen 127.0.0.1:0 --probe-listen 127.0.0.1:0 \
  --nodes-file "$t/nodes.json" --threads 2
hold C "$WH_PORT" 127.0.0.2 550
hold D "$WH_PORT" 127.0.0.3 550
for i in 1 2 3; do review_ok || die "review $i with 1,100 idle connections held: $(cat "$WH_BODY")"; done
wh_ok "3 reviews answered while 1,100 idle connections from two addresses were held"
release C D

# 4. The probe port: idle connections from another address, /healthz still answers.
hold E "$WH_PROBE" 127.0.0.2 200
hold F "$WH_PROBE" 127.0.0.3 200
for i in 1 2 3; do
  [ "$(curl -s --max-time 5 -o /dev/null -w '%{http_code}' "http://127.0.0.1:$WH_PROBE/healthz")" = 200 ] ||
    die "/healthz $i with idle connections held on the probe port"
done
release E F
wh_ok "/healthz answered while 400 idle connections were held on the probe port"
wh_stop

# 5. Request bytes: with an 8 MiB budget, large bodies share 5.3 MiB. One
# 3 MB body being received leaves no room for a second (503, busy) while a
# small review is answered; once it is gone the second is taken.
wh_start "$t/log3" --tls-cert "$t/a.crt" --tls-key "$t/a.key" --listen 127.0.0.1:0 --probe-listen 127.0.0.1:0 \
  --nodes-file "$t/nodes.json" --threads 2 --request-buffer-budget 8 --full-parse-budget 64
hold G "$WH_PORT" 127.0.0.2 1 body:3000000
python3 -c 'import sys; sys.stdout.write("[" + "0," * 1400000 + "0]")' >"$t/big.json"
[ "$(wh_post /validate application/json "$t/big.json")" = 503 ] || die "second large body: $(head -c 200 "$WH_BODY")"
grep -q 'busy' "$WH_BODY" || die "503 body: $(cat "$WH_BODY")"
review_ok || die "small review while a large body is held: $(cat "$WH_BODY")"
release G
taken() { [ "$(wh_post /validate application/json "$t/big.json")" = 400 ]; }
wait_until 10 0.2 taken || die "large body after the first one ended: $(head -c 200 "$WH_BODY")"
wh_ok "request-byte budget: a second large body refused (503) while one is held; small reviews served"

# 6. Full parses: an escaped member name forces the full parse; a review of
# that kind over --full-parse-budget (64 KiB here) is refused (503), a small
# one is answered as usual.
sed 's/"kind":"AdmissionReview"/"k\\u0069nd":"AdmissionReview"/' "$t/pod.json" >"$t/esc.json"
grep -q 'k\\u0069nd' "$t/esc.json" || die "escaped review not written"
[ "$(wh_post /validate application/json "$t/esc.json")" = 200 ] || die "small escaped review: $(cat "$WH_BODY")"
python3 - "$t/pod.json" "$t/esc-big.json" <<'PY'
import sys
r = open(sys.argv[1]).read().replace('"kind":"AdmissionReview"', '"k\\u0069nd":"AdmissionReview","pad":[' + "0," * 40000 + "0]")
open(sys.argv[2], "w").write(r)
PY
[ "$(wh_post /validate application/json "$t/esc-big.json")" = 503 ] || die "large escaped review: $(head -c 200 "$WH_BODY")"
grep -q 'full JSON parse' "$WH_BODY" || die "503 body: $(cat "$WH_BODY")"
review_ok || die "review after a refused full parse: $(cat "$WH_BODY")"
wh_ok "full-parse budget: an escaped review over it refused (503), a small one answered"
wh_stop
echo PASS
