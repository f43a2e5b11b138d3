# shellcheck shell=bash disable=SC2034
# Shared helpers of the webhook integration and e2e scripts. Sourced, not run.
# Every process a test starts is recorded in wh_pids and killed by wh_cleanup
# (install it with: trap wh_cleanup EXIT).
# shellcheck source=test/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
DIE_PREFIX="FAIL: "

wh_pids=()
WH_WRAP=()   # a command the webhook is started under (valgrind), empty by default
WH_START_S=10
wh_ok() { echo "ok - $*"; }

wh_cleanup() {
  local p
  for p in "${wh_pids[@]}"; do
    kill -TERM "$p" 2>/dev/null || true
  done
  for p in "${wh_pids[@]}"; do
    for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$p" 2>/dev/null || true
    wait "$p" 2>/dev/null || true
  done
  wh_pids=()
}

# wh_tmp: a scratch directory $t, with $cl for a control plane of its own;
# on exit the webhook and that control plane stop and $t goes (kept, and
# its path printed, when KEEP_E2E_DIR is set). usage: wh_tmp REPO_ROOT
wh_tmp() {
  WH_ROOT=$1
  t=$(mktemp -d)
  cl=$t/cluster
  trap wh_tmp_cleanup EXIT
}

wh_tmp_cleanup() {
  wh_cleanup
  "$WH_ROOT/test/cluster/stop" "$cl" >/dev/null 2>&1 || true
  if [ -n "${KEEP_E2E_DIR:-}" ]; then echo "kept $t"; else rm -rf "$t"; fi
}

# wh_scratch: a scratch directory $t with the certificates of wh_certs,
# WH_CA and WH_BODY set; on exit the webhook stops and $t goes.
# wh_pod_fixture: in $t, nodes.json (one node n1 with custom.web loaded, for
# --nodes-file) and pod.json (a pod review using custom.web: allowed).
wh_pod_fixture() {
  cat >"$t/nodes.json" <<'JSON'
{"items":[{"metadata":{"name":"n1","labels":{"armorgate.io/apparmor":"enabled","profiles.armorgate.io/custom.web":"loaded"}}}]}
JSON
  printf '{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"u1","kind":{"group":"","version":"v1","kind":"Pod"},"resource":{"group":"","version":"v1","resource":"pods"},"namespace":"default","operation":"CREATE","object":{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p","namespace":"default","annotations":{"container.apparmor.security.beta.kubernetes.io/app":"localhost/custom.web"}},"spec":{"containers":[{"name":"app","image":"nginx"}]}}}}' >"$t/pod.json"
}

# wh_pod_ok SECS: the fixture's pod review on a fresh connection is allowed within SECS.
wh_pod_ok() { [ "$(wh_post /validate application/json "$t/pod.json" --max-time "$1")" = 200 ] && grep -q '"allowed":true' "$WH_BODY"; }

wh_scratch() {
  t=$(mktemp -d)
  trap 'wh_cleanup; rm -rf "$t"' EXIT
  WH_CA=$t/ca.crt
  WH_BODY=$t/body
  wh_certs "$t"
}

# wh_certs DIR: a throwaway CA (DIR/ca.crt) and two serving pairs for
# 127.0.0.1 / localhost: DIR/a.{crt,key} and DIR/b.{crt,key}.
wh_certs() {
  local d=$1 n
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj /CN=armorgate-test-ca \
    -keyout "$d/ca.key" -out "$d/ca.crt" 2>/dev/null
  printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n' >"$d/ext"
  for n in a b; do
    openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=webhook-$n" \
      -keyout "$d/$n.key" -out "$d/$n.csr" 2>/dev/null
    openssl x509 -req -in "$d/$n.csr" -CA "$d/ca.crt" -CAkey "$d/ca.key" -CAcreateserial -days 2 \
      -extfile "$d/ext" -out "$d/$n.crt" 2>/dev/null
  done
}

# wh_certs_swap DIR TAG CRT KEY: DIR/tls.{crt,key} as kubelet lays out a
# Secret volume (tls.crt -> ..data/tls.crt, ..data -> ..TAG), now pointing at
# a copy of CRT and KEY: the first call creates the layout, later ones swap
# ..data atomically the way kubelet updates it.
wh_certs_swap() {
  local d=$1 tag=$2
  mkdir -p "$d/..$tag"
  cp "$3" "$d/..$tag/tls.crt"
  cp "$4" "$d/..$tag/tls.key"
  ln -s "..$tag" "$d/..data_tmp"
  mv -T "$d/..data_tmp" "$d/..data"
  [ -L "$d/tls.crt" ] || ln -s ..data/tls.crt "$d/tls.crt"
  [ -L "$d/tls.key" ] || ln -s ..data/tls.key "$d/tls.key"
}

# wh_fingerprint CERTFILE -> SHA-256 fingerprint as openssl prints it.
wh_fingerprint() { openssl x509 -in "$1" -noout -fingerprint -sha256 | cut -d= -f2; }

# wh_served_fingerprint PORT -> fingerprint of the certificate a new TLS connection gets.
wh_served_fingerprint() {
  openssl s_client -connect "127.0.0.1:$1" -servername localhost </dev/null 2>/dev/null |
    openssl x509 -noout -fingerprint -sha256 2>/dev/null | cut -d= -f2
}

# wh_start LOG ARGS...: starts the webhook (binary $WEBHOOK, under WH_WRAP
# if set) with ephemeral ports unless given; waits WH_START_S seconds for it;
# sets WH_PID, WH_PORT and WH_PROBE from its start log line.
wh_start() {
  local log=$1 i line
  shift
  "${WH_WRAP[@]}" "$WEBHOOK" "$@" 2>"$log" &
  WH_PID=$!
  wh_pids+=("$WH_PID")
  for i in $(seq $((WH_START_S * 10))); do
    line=$(grep -m1 '"msg":"serving admission reviews"' "$log" 2>/dev/null || true)
    [ -n "$line" ] && break
    kill -0 "$WH_PID" 2>/dev/null || { cat "$log" >&2; die "webhook exited during start"; }
    sleep 0.1
  done
  [ -n "$line" ] || { cat "$log" >&2; die "webhook did not start within $WH_START_S s"; }
  WH_PORT=$(sed -n 's/.*"port":"\([0-9]*\)".*/\1/p' <<<"$line")
  WH_PROBE=$(sed -n 's/.*"probePort":"\([0-9]*\)".*/\1/p' <<<"$line")
}

# wh_post PATH CONTENT_TYPE BODYFILE [curl args] -> prints "CODE" (body into $WH_BODY file).
wh_post() {
  local path=$1 ct=$2 body=$3
  shift 3
  curl -sS --max-time 20 --cacert "$WH_CA" -o "$WH_BODY" -w '%{http_code}' -X POST \
    -H "Content-Type: $ct" --data-binary "@$body" "$@" "https://127.0.0.1:$WH_PORT$path"
}
