#!/usr/bin/env bash
# bench/webhook/run.sh BUILD_DIR: the armorgate-webhook server benchmark (a
# program, not a test). Starts the real webhook over TLS with 5,000 Nodes in
# its cache (--nodes-file, the testing-only seed flag), drives it with
# bench_webhook_loadgen (HTTPS/1.1 keep-alive, several connections, a realistic
# 3-container pod AdmissionReview: mutate + validate, half allowed, half
# denied), then drives nginx (Debian) serving a fixed body of the same size
# over TLS on loopback the same way as the ceiling. Prints reviews/s, p50/p99
# (closed loop at peak and open loop at half the peak rate), the webhook's
# peak RSS (VmHWM), our/ceiling, and server CPU microseconds per request for
# both (utime+stime of the server's processes over the closed-loop run).
# Environment: BENCH_DURATION (s, default 10), BENCH_CONNECTIONS (default 8),
# BENCH_LOADGEN_THREADS (default 1), BENCH_WEBHOOK_THREADS (default 0 = one per CPU;
# nginx's worker_processes follows it, so BENCH_WEBHOOK_THREADS=1 compares one
# worker each: the server on one core, the load generator on the other),
# BENCH_ROUNDS (default 1: closed-loop peak rounds, webhook and nginx
# alternating; the best round of each side is reported, and the medians over
# the rounds of webhook/nginx peak rate and of nginx/webhook CPU per request).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
build=$(cd "${1:?usage: run.sh BUILD_DIR}" && pwd)
WEBHOOK=$build/webhook/armorgate-webhook
LOADGEN=$build/bench/webhook/bench_webhook_loadgen
dur=${BENCH_DURATION:-10}
conns=${BENCH_CONNECTIONS:-8}
lgthreads=${BENCH_LOADGEN_THREADS:-1}
rounds=${BENCH_ROUNDS:-1}
whthreads=${BENCH_WEBHOOK_THREADS:-0}
if ! [ -x "$WEBHOOK" ] || ! [ -x "$LOADGEN" ]; then
  echo "build first: cmake --build $build" >&2
  exit 2
fi
command -v nginx >/dev/null || { echo "nginx missing (apt-get install nginx)" >&2; exit 2; }

t=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  sleep 0.3
  rm -rf "$t"
}
trap cleanup EXIT

# shellcheck source=test/lib.sh
. "$here/../../test/lib.sh"

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj /CN=127.0.0.1 \
  -addext subjectAltName=IP:127.0.0.1 -keyout "$t/tls.key" -out "$t/tls.crt" 2>/dev/null
"$here/gen_nodes.sh" 5000 >"$t/nodes.json"
# Allowed: custom.p3 / custom.p5 are loaded on enabled nodes. Denied: custom.nothere is nowhere.
sed 's/@APP@/custom.p3/; s/@SIDECAR@/custom.p5/' "$here/review.json.in" >"$t/allow.json"
sed 's/@APP@/custom.p3/; s/@SIDECAR@/custom.nothere/' "$here/review.json.in" >"$t/deny.json"
reqs=(--req "/mutate=$t/allow.json" --req "/validate=$t/allow.json" --req "/mutate=$t/deny.json"
  --req "/validate=$t/deny.json")

{ read -r port; read -r probe; } < <(free_port 2)
"$WEBHOOK" --tls-cert "$t/tls.crt" --tls-key "$t/tls.key" --listen "127.0.0.1:$port" \
  --probe-listen "127.0.0.1:$probe" --nodes-file "$t/nodes.json" --threads "$whthreads" --log-level warn \
  2>"$t/webhook.log" &
wpid=$!
pids+=("$wpid")
for _ in $(seq 100); do
  curl -sf "http://127.0.0.1:$probe/readyz" >/dev/null 2>&1 && break
  sleep 0.1
done
curl -sf "http://127.0.0.1:$probe/readyz" >/dev/null || { cat "$t/webhook.log" >&2; exit 1; }
nodes=$(curl -s "http://127.0.0.1:$probe/metrics" | awk '$1 == "armorgate_webhook_nodes" { print $2 }')

# Response sizes, for the same-size static body, and a sanity check of the verdicts.
total=0
for pair in mutate:allow validate:allow mutate:deny validate:deny; do
  size=$(curl -sk -o "$t/resp" -w '%{size_download}' -H 'Content-Type: application/json' \
    --data-binary "@$t/${pair#*:}.json" "https://127.0.0.1:$port/${pair%%:*}")
  total=$((total + size))
  echo "  $pair -> $size bytes: $(head -c 160 "$t/resp")..."
done
avg=$((total / 4))

rss_kb() { awk '/^VmHWM/ { print $2 }' "/proc/$1/status"; }
lg() { "$LOADGEN" --port "$1" --connections "$conns" --threads "$lgthreads" --duration "$dur" --warmup 1 "${@:2}"; }
# Server CPU time (utime+stime, all its processes) per request over the
# measured window of a closed-loop run: sampled after the 1 s warm-up and at
# the end; a secondary figure (the loadgen shares the same two cores).
hz=$(getconf CLK_TCK)
cpu_ticks() { # PIDs... -> utime+stime ticks summed
  local sum=0 p f
  for p in "$@"; do
    # After "(comm)": state is field 0, utime 11, stime 12.
    read -ra f < <(cut -d')' -f2- "/proc/$p/stat" 2>/dev/null) || continue
    sum=$((sum + f[11] + f[12]))
  done
  echo "$sum"
}
# lg_cpu PORT PIDS-CMD ARGS...: a closed-loop run; prints its line plus cpu_us_per_req=
lg_cpu() {
  local port=$1 pidcmd=$2 a b out req ps
  shift 2
  { sleep 1; read -ra ps <<<"$($pidcmd)"; cpu_ticks "${ps[@]}" >"$t/cpu0"; } &
  out=$(lg "$port" "$@")
  read -ra ps <<<"$($pidcmd)"
  b=$(cpu_ticks "${ps[@]}")
  wait
  a=$(cat "$t/cpu0")
  req=$(field requests "$out")
  echo "$out cpu_us_per_req=$(awk "BEGIN { printf \"%.1f\", ($b - $a) * 1e6 / $hz / ($req > 0 ? $req : 1) }")"
}
field() { sed -n "s/.* $1=\([^ ]*\).*/\1/p; s/^$1=\([^ ]*\).*/\1/p" <<<"$2" | head -1; }

# Ceiling: nginx, same TLS key type, same loopback, fixed body of the average size.
nworkers=$whthreads
[ "$nworkers" -gt 0 ] || nworkers=$(nproc)
nport=$(free_port)
mkdir -p "$t/nginx"
body=$(head -c $((avg > 2 ? avg - 2 : 1)) /dev/zero | tr '\0' x)
cat >"$t/nginx.conf" <<EOF
worker_processes $nworkers;
daemon off;
pid $t/nginx.pid;
error_log $t/nginx/error.log warn;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path $t/nginx/body;
  proxy_temp_path $t/nginx/proxy;
  fastcgi_temp_path $t/nginx/fastcgi;
  uwsgi_temp_path $t/nginx/uwsgi;
  scgi_temp_path $t/nginx/scgi;
  keepalive_requests 100000000;
  keepalive_timeout 120s;
  client_body_buffer_size 64k;
  server {
    listen 127.0.0.1:$nport ssl;
    ssl_certificate $t/tls.crt;
    ssl_certificate_key $t/tls.key;
    ssl_protocols TLSv1.2 TLSv1.3;
    location / { default_type application/json; return 200 '"$body"'; }
  }
}
EOF
nginx -p "$t/nginx" -c "$t/nginx.conf" -e "$t/nginx/error.log" 2>"$t/nginx/stderr.log" &
npid=$!
pids+=("$npid")
nginx_pids() { echo "$npid" $(pgrep -P "$npid"); }
for _ in $(seq 50); do
  curl -sk -o /dev/null "https://127.0.0.1:$nport/" 2>/dev/null && break
  sleep 0.1
done
csize=$(curl -sk -o /dev/null -w '%{size_download}' -H 'Content-Type: application/json' \
  --data-binary "@$t/allow.json" "https://127.0.0.1:$nport/validate")
echo "nginx $(nginx -v 2>&1 | cut -d/ -f2): fixed ${csize}-byte body (webhook average ${avg}), worker_processes $nworkers"
echo "webhook: $nodes nodes cached, threads=${whthreads} (0 = per CPU), $(nproc) CPUs, $conns connections, ${dur}s runs, $rounds round(s)"
webhook_pids() { echo "$wpid"; }
# Closed-loop peaks, webhook and nginx alternating round by round so both see
# the same machine; the best round of each side is kept.
peak='' ceil='' peak_rps=0 ceil_rps=0 pair_ratios=() cpu_ratios=()
# CPU time the hypervisor gave to other guests while measuring (/proc/stat
# "steal"): a run with a few percent of it is not comparable to a quiet one.
host_ticks() { awk '$1 == "cpu" { t = 0; for (i = 2; i <= NF; i++) t += $i; print $9, t }' /proc/stat; }
read -r steal0 total0 < <(host_ticks)
for r in $(seq "$rounds"); do
  p=$(lg_cpu "$port" webhook_pids "${reqs[@]}")
  echo "  round $r webhook peak (closed loop): $p"
  c=$(lg_cpu "$nport" nginx_pids "${reqs[@]}")
  echo "  round $r nginx peak (closed loop):   $c"
  if [ "$(field rps "$p")" -gt "$peak_rps" ]; then peak=$p peak_rps=$(field rps "$p"); fi
  if [ "$(field rps "$c")" -gt "$ceil_rps" ]; then ceil=$c ceil_rps=$(field rps "$c"); fi
  # The same round's pair saw the same machine: its ratios are steadier than best over best.
  pair_ratios+=("$(awk "BEGIN { printf \"%.3f\", $(field rps "$p") / $(field rps "$c") }")")
  cpu_ratios+=("$(awk "BEGIN { w = $(field cpu_us_per_req "$p"); printf \"%.3f\", (w > 0 ? $(field cpu_us_per_req "$c") / w : 0) }")")
done
median() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { printf "%.2f", NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
half=$((peak_rps / 2))
halfrun=$(lg "$port" --rate "$half" "${reqs[@]}")
echo "  webhook at $half/s (open loop):  $halfrun"
cease=$(lg "$nport" --rate "$half" "${reqs[@]}")
echo "  nginx at $half/s (open loop):    $cease"
read -r steal1 total1 < <(host_ticks)
steal_pct=$(awk "BEGIN { d = $total1 - $total0; printf \"%.1f\", (d > 0 ? 100 * ($steal1 - $steal0) / d : 0) }")
rss=$(rss_kb "$wpid")
kill -TERM "$wpid"
wait "$wpid" || { echo "webhook exit status $?" >&2; }
pids=("$npid")

p99_half=$(field p99_ms "$halfrun")
echo
echo "RESULT reviews_per_s=$peak_rps p50_ms=$(field p50_ms "$peak") p99_ms=$(field p99_ms "$peak")" \
  "p99_ms_at_half_rate=$p99_half (from send: $(field sent_p99_ms "$halfrun")) peak_rss_kb=$rss ceiling_rps=$ceil_rps" \
  "ratio=$(awk "BEGIN { printf \"%.2f\", $peak_rps / $ceil_rps }")" \
  "nginx_p99_ms_at_same_half_rate=$(field p99_ms "$cease")" \
  "cpu_us_per_review=$(field cpu_us_per_req "$peak") nginx_cpu_us_per_req=$(field cpu_us_per_req "$ceil")" \
  "round_ratio_median=$(median "${pair_ratios[@]}") cpu_ratio_median=$(median "${cpu_ratios[@]}")" "loadavg=$(cut -d' ' -f1 /proc/loadavg) steal_pct=$steal_pct" \
  "stall_p99_ms_at_half_rate=$(field stall_p99_ms "$halfrun") (nginx run: $(field stall_p99_ms "$cease"))" \
  "stall_over_2ms_pct=$(field stall_over_2ms_pct "$halfrun") (nginx run: $(field stall_over_2ms_pct "$cease"))"
echo "targets (2 cores): >= 20000 reviews/s, ratio >= 0.8, p99 at half rate < 2 ms, RSS < 20480 kB"
