#!/usr/bin/env bash
# The certificates the packaging produces work with the real webhook binary,
# under the name the API server dials (armorgate-webhook.armorgate-system.svc):
#   - the chart's self-signed mode (helm genCA/genSignedCert, RSA, PKCS#1 key):
#     Secret data and every webhook's caBundle agree, and a client trusting only
#     that caBundle completes an AdmissionReview over TLS;
#   - certs/make-certs.sh (EC P-256): the same.
# A client dialling another name is refused (SANs are not a wildcard).
# Loopback only (curl --resolve); the webhook's Node cache is seeded from a
# file, so no API server is needed.
# usage: webhook_certs_test.sh WEBHOOK_BINARY
set -euo pipefail
# shellcheck source=test/deploy/lib.sh
. "$(dirname "$0")/lib.sh"
[ $# -eq 1 ] || die "usage: $0 WEBHOOK_BINARY"
webhook=$1
td_helm
td_tmp
cd "$td_root"
svc=armorgate-webhook.armorgate-system.svc
review=test/data/admission/mutate-annotation-only.json
[ -f "$review" ] || td_skip "$review does not exist"
wh_pid=
stop_webhook() {
  [ -n "$wh_pid" ] || return 0
  kill -TERM "$wh_pid" 2>/dev/null || true
  for _ in $(seq 50); do kill -0 "$wh_pid" 2>/dev/null || break; sleep 0.1; done
  kill -KILL "$wh_pid" 2>/dev/null || true
  wait "$wh_pid" 2>/dev/null || true
  wh_pid=
}
trap 'stop_webhook; td_cleanup' EXIT
printf '{"apiVersion":"v1","kind":"NodeList","items":[]}\n' >"$TD_TMP/nodes.json"

# check_pair NAME DIR: DIR/{ca.crt,tls.crt,tls.key}.
check_pair() {
  local name=$1 d=$2 line port code
  "$webhook" --tls-cert "$d/tls.crt" --tls-key "$d/tls.key" --listen 127.0.0.1:0 \
    --probe-listen 127.0.0.1:0 --nodes-file "$TD_TMP/nodes.json" 2>"$d/log" &
  wh_pid=$!
  line=
  for _ in $(seq 100); do
    line=$(grep -m1 '"msg":"serving admission reviews"' "$d/log" 2>/dev/null || true)
    [ -n "$line" ] && break
    kill -0 "$wh_pid" 2>/dev/null || { cat "$d/log" >&2; die "$name: webhook exited at start (certificate not accepted?)"; }
    sleep 0.1
  done
  [ -n "$line" ] || { cat "$d/log" >&2; die "$name: webhook did not start"; }
  port=$(sed -n 's/.*"port":"\([0-9]*\)".*/\1/p' <<<"$line")
  code=$(curl -sS --max-time 10 --cacert "$d/ca.crt" --resolve "$svc:$port:127.0.0.1" \
    -H 'Content-Type: application/json' --data-binary "@$review" -o "$d/resp" -w '%{http_code}' \
    "https://$svc:$port/mutate") || { cat "$d/log" >&2; die "$name: TLS to $svc with the caBundle failed"; }
  [ "$code" = 200 ] || die "$name: HTTP $code"
  grep -q '"uid":"m-01"' "$d/resp" || grep -q '"uid": *"m-01"' "$d/resp" || die "$name: no AdmissionReview response"
  if curl -sS --max-time 10 --cacert "$d/ca.crt" --resolve "other.armorgate-system.svc:$port:127.0.0.1" \
    -o /dev/null "https://other.armorgate-system.svc:$port/healthz" 2>/dev/null; then
    die "$name: certificate accepted for another name"
  fi
  stop_webhook
  td_log "ok: $name: webhook serves $svc with it; the caBundle verifies it"
}

# Chart, self-signed mode.
mkdir -p "$TD_TMP/chart"
"$HELM" template armorgate charts/armorgate --namespace armorgate-system >"$TD_TMP/chart.yaml"
python3 - "$TD_TMP/chart.yaml" "$TD_TMP/chart" <<'PY'
import base64, sys, yaml
docs = [d for d in yaml.safe_load_all(open(sys.argv[1])) if d]
sec = next(d for d in docs if d["kind"] == "Secret" and d["metadata"]["name"] == "armorgate-webhook-tls")
bundles = {w["clientConfig"]["caBundle"] for d in docs if d["kind"].endswith("WebhookConfiguration") for w in d["webhooks"]}
if bundles != {sec["data"]["ca.crt"]}:
    sys.exit("chart: caBundles %d distinct, not the Secret's ca.crt" % len(bundles))
for k in ("ca.crt", "tls.crt", "tls.key"):
    open("%s/%s" % (sys.argv[2], k), "wb").write(base64.b64decode(sec["data"][k]))
PY
check_pair "chart self-signed" "$TD_TMP/chart"

# certs/make-certs.sh.
certs/make-certs.sh -o "$TD_TMP/script" >/dev/null 2>&1 || die "make-certs.sh failed"
check_pair "certs/make-certs.sh" "$TD_TMP/script"
