#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# Enforcement modes end to end: the chart's own webhook registrations
# (rendered by helm for each webhook.enforcement default, only clientConfig
# pointed at the webhook on loopback) on a real kube-apiserver, and kubectl as
# the client. Namespaces labelled armorgate.io/enforcement=deny, warn, off, an
# unlabelled one and one with an unknown value:
#   warn: created, mutated, and kubectl prints "Warning: ..." naming the problem;
#   off:  created unmutated (the annotation stays, no nodeSelector);
#   deny: refused; unlabelled and unknown values follow the default.
# usage: enforcement_e2e.sh WEBHOOK_BINARY [REPO_ROOT]
set -euo pipefail
WEBHOOK=$1
root=${2:-$(cd "$(dirname "$0")/../.." && pwd)}
# shellcheck source=lib.sh
. "$root/test/webhook/lib.sh"
wh_tmp "$root"

helm=${XDG_CACHE_HOME:-$HOME/.cache}/armorgate/helm/current/helm
[ -x "$helm" ] || "$root/test/helm/bootstrap" >&2
[ -x "$helm" ] || die "helm not available (test/helm/bootstrap)"

"$root/test/cluster/start" "$cl" >"$t/cluster-start.log" 2>&1 || { cat "$t/cluster-start.log" >&2; die "cluster start"; }
# shellcheck disable=SC1091
. "$cl/env"
k() { kubectl --request-timeout=20s "$@"; }

wh_certs "$t"
printf '{"apiVersion":"v1","kind":"Node","metadata":{"name":"node-a","labels":{"armorgate.io/apparmor":"enabled","profiles.armorgate.io/custom.web":"loaded"}}}' |
  k create -f - >/dev/null
k create namespace armorgate-system >/dev/null
for ns in deny warn off; do
  k create namespace "ns-$ns" >/dev/null
  k label namespace "ns-$ns" "armorgate.io/enforcement=$ns" >/dev/null
done
k create namespace ns-plain >/dev/null
k create namespace ns-typo >/dev/null
k label namespace ns-typo armorgate.io/enforcement=Warn >/dev/null

# The default flag is deliberately off: the chart's paths name every mode.
wh_start "$t/webhook.log" --tls-cert "$t/a.crt" --tls-key "$t/a.key" --listen 127.0.0.1:0 \
  --probe-listen 127.0.0.1:0 --kubeconfig "$KUBECONFIG" --threads 2 --enforcement-default off
ready() { [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$WH_PROBE/readyz")" = 200 ]; }
wait_until 30 0.2 ready || { cat "$t/webhook.log" >&2; die "webhook not ready"; }
metric() { curl -s "http://127.0.0.1:$WH_PROBE/metrics" | awk -v n="$1" '$1 == n { print $2 }'; }

# register DEFAULT: the chart's registrations for webhook.enforcement=DEFAULT.
register() {
  "$helm" template armorgate "$root/charts/armorgate" --namespace armorgate-system \
    --set webhook.certs.mode=secret --set webhook.certs.secretName=tls \
    --set webhook.certs.caBundle="$(base64 -w0 <"$t/ca.crt")" --set "webhook.enforcement=$1" \
    --show-only templates/webhook-admission.yaml >"$t/chart.yaml"
  python3 - "$t/chart.yaml" "https://127.0.0.1:$WH_PORT" >"$t/webhooks.yaml" <<'PY'
import sys, yaml
docs = [d for d in yaml.safe_load_all(open(sys.argv[1])) if d]
for d in docs:
    for h in d.get("webhooks", []):
        svc = h["clientConfig"].pop("service")
        h["clientConfig"]["url"] = sys.argv[2] + svc["path"]
yaml.safe_dump_all(docs, sys.stdout)
PY
  k apply -f "$t/webhooks.yaml" >/dev/null
}

# create NS NAME PROFILE -> 0 when stored (object in $t/out.json, kubectl's stderr in $t/err).
create() {
  printf '{"apiVersion":"v1","kind":"Pod","metadata":{"name":"%s","namespace":"%s","annotations":{"container.apparmor.security.beta.kubernetes.io/app":"localhost/%s"}},"spec":{"containers":[{"name":"app","image":"registry.k8s.io/pause:3.10"}]}}' \
    "$2" "$1" "$3" >"$t/pod.json"
  k create -f "$t/pod.json" -o json >"$t/out.json" 2>"$t/err"
}
jcheck() { python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); sys.exit(0 if eval(sys.argv[2], {"d": d}) else 1)' "$@"; }
mutated() {
  jcheck "$t/out.json" 'd["spec"]["nodeSelector"] == {"profiles.armorgate.io/custom.db": "loaded"} and d["spec"]["containers"][0]["securityContext"]["appArmorProfile"]["localhostProfile"] == "custom.db"'
}
n=0
# expect_warn NS: an unloaded profile is admitted, mutated, with the warning.
expect_warn() {
  n=$((n + 1))
  create "$1" "w$n" custom.db || die "$1: pod refused in warn mode: $(cat "$t/err")"
  grep -q '^Warning: armorgate (enforcement=warn, admitted anyway) would deny this pod: container "app" uses AppArmor profile "custom.db"' "$t/err" ||
    die "$1: no warning printed by kubectl: $(cat "$t/err")"
  mutated || die "$1: pod not mutated in warn mode: $(cat "$t/out.json")"
}
# expect_off NS: admitted and not mutated: no nodeSelector, the annotation
# kept (the API server itself copies it into the field since 1.30).
expect_off() {
  n=$((n + 1))
  create "$1" "o$n" custom.db || die "$1: pod refused in off mode: $(cat "$t/err")"
  ! grep -q armorgate "$t/err" || die "$1: off mode printed: $(cat "$t/err")"
  jcheck "$t/out.json" '"nodeSelector" not in d["spec"] and "container.apparmor.security.beta.kubernetes.io/app" in d["metadata"]["annotations"]' ||
    die "$1: pod mutated in off mode: $(cat "$t/out.json")"
}
# expect_deny NS
expect_deny() {
  n=$((n + 1))
  create "$1" "d$n" custom.db && die "$1: pod with an unloaded profile admitted in deny mode"
  grep -q 'denied the request: armorgate: container "app" uses AppArmor profile "custom.db"' "$t/err" ||
    die "$1: denial: $(cat "$t/err")"
}
# The apiserver picks up new registrations within a moment.
settle() { # NS MODE: until that namespace answers in that mode
  local ns=$1 mode=$2
  n=$((n + 1))
  case $mode in
    deny) create "$ns" "s$n" custom.db && return 1; grep -q 'denied the request' "$t/err" ;;
    warn) create "$ns" "s$n" custom.db && grep -q '^Warning: armorgate' "$t/err" ;;
    off) create "$ns" "s$n" custom.db && jcheck "$t/out.json" '"nodeSelector" not in d["spec"]' ;;
  esac
}

register deny
wait_until 20 0.2 settle ns-warn warn || die "registrations (default deny) not in effect: $(cat "$t/err")"
w0=$(metric armorgate_webhook_warnings_total)
expect_warn ns-warn
[ "$(metric armorgate_webhook_warnings_total)" = $((w0 + 1)) ] || die "warnings metric: $(metric armorgate_webhook_warnings_total)"
create ns-warn good custom.web || die "loaded profile refused in warn mode: $(cat "$t/err")"
[ ! -s "$t/err" ] || die "warning for a pod that deny admits: $(cat "$t/err")"
expect_off ns-off
expect_deny ns-deny
expect_deny ns-plain
expect_deny ns-typo
wh_ok "default deny: warn namespace admits with 'Warning:' and mutates, off admits untouched, deny/unlabelled/unknown value refuse"

# An ephemeral container in a warn namespace: admitted with the warning too.
create ns-warn eph custom.web || die "pod for the ephemeral container: $(cat "$t/err")"
printf '{"apiVersion":"v1","kind":"Pod","metadata":{"name":"eph","namespace":"ns-warn"},"spec":{"ephemeralContainers":[{"name":"debug","image":"busybox","securityContext":{"appArmorProfile":{"type":"Localhost","localhostProfile":"custom.db"}}}]}}' >"$t/eph.json"
k replace --raw /api/v1/namespaces/ns-warn/pods/eph/ephemeralcontainers -f "$t/eph.json" >/dev/null 2>"$t/err" ||
  die "ephemeral container refused in warn mode: $(cat "$t/err")"
grep -q 'Warning: armorgate (enforcement=warn' "$t/err" || die "no warning for the ephemeral container: $(cat "$t/err")"
wh_ok "warn: ephemeral container admitted with the warning"

register warn
wait_until 20 0.2 settle ns-plain warn || die "registrations (default warn) not in effect: $(cat "$t/err")"
expect_warn ns-plain
expect_warn ns-typo
expect_deny ns-deny
expect_off ns-off
wh_ok "default warn: unlabelled and unknown value warn; deny and off labels keep theirs"

register off
wait_until 20 0.2 settle ns-plain off || die "registrations (default off) not in effect: $(cat "$t/err")"
expect_off ns-plain
expect_off ns-typo
expect_deny ns-deny
expect_warn ns-warn
wh_ok "default off: unlabelled and unknown value untouched; deny and warn labels keep theirs"
echo PASS
