#!/usr/bin/env bash
# attack.sh WEBHOOK [N]: the webhook with 5,000 Nodes (gen_nodes.sh), then
# attack.py: N pod reviews (default 200) on fresh TLS connections from
# 127.0.0.1 per phase while attackers on 127.0.0.2/127.0.0.3 hold idle,
# half-handshaken and idle-after-TLS connections, or idle probe connections,
# or flood /validate with profiles-ConfigMap reviews that each carry a new
# slow profile (the compile pool; the real apparmor_parser from PATH).
# ATTACK_PHASES=compile,escaped runs only the phases whose names start so
# (and the unloaded ones). A load program, not a test (figures in README.md).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
WEBHOOK=$1
t=$(mktemp -d)
wpid=
trap '[ -n "$wpid" ] && kill "$wpid" 2>/dev/null; rm -rf "$t"' EXIT
# shellcheck source=test/lib.sh
. "$here/../../test/lib.sh"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj /CN=127.0.0.1 \
  -addext subjectAltName=IP:127.0.0.1 -keyout "$t/tls.key" -out "$t/tls.crt" 2>/dev/null
"$here/gen_nodes.sh" 5000 >"$t/nodes.json"
sed 's/@APP@/custom.p3/; s/@SIDECAR@/custom.p5/' "$here/review.json.in" >"$t/allow.json"
{ read -r port; read -r probe; } < <(free_port 2)
"$WEBHOOK" --tls-cert "$t/tls.crt" --tls-key "$t/tls.key" --listen "127.0.0.1:$port" \
  --probe-listen "127.0.0.1:$probe" --nodes-file "$t/nodes.json" --log-level warn 2>"$t/webhook.log" &
wpid=$!
ready() { curl -sf "http://127.0.0.1:$probe/readyz" >/dev/null 2>&1; }
wait_until 20 0.1 ready || { cat "$t/webhook.log" >&2; exit 1; }
echo "webhook $WEBHOOK, $(nproc) CPUs, parser $(command -v apparmor_parser || echo 'none (compile checks cannot run)')"
python3 "$here/attack.py" "$port" "$probe" "$t/allow.json" "$wpid" "${2:-200}"
