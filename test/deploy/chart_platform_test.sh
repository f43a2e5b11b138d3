#!/usr/bin/env bash
# The chart as a production cluster needs it (issue 20), on `helm template`
# output: each image its own tag or digest; a PDB that never blocks a drain
# and refuses a minAvailable that would; one webhook replica per node;
# profiles.extra as YAML block scalars that round-trip exactly; cert-manager
# as a CA chain whose caBundle cannot change on renewal, cert-manager's
# namespace outside the pod webhooks; GitOps-stable caBundle in secret mode;
# the ResourceQuota for system-* PriorityClasses; the optional
# NetworkPolicy, PrometheusRule and dashboard. No cluster needed.
set -euo pipefail
# shellcheck source=test/deploy/lib.sh
. "$(dirname "$0")/lib.sh"
td_helm
td_tmp
chart=$td_root/charts/armorgate
render() { "$HELM" template armorgate "$chart" --namespace armorgate-system "$@"; }
render >/dev/null || die "default render failed"

# py RENDER_ARGS... <<'PY' ... PY: the rendered documents as `docs` (a list),
# `by` ((kind, name) -> doc) and `fail(msg)`, for the Python on stdin.
py() {
  render "$@" >"$TD_TMP/r.yaml" || die "render $* failed"
  cat >"$TD_TMP/check.py"
  python3 - "$TD_TMP/r.yaml" "$TD_TMP/check.py" <<'PY'
import sys, yaml
docs = [d for d in yaml.safe_load_all(open(sys.argv[1])) if d]
by = {(d["kind"], d["metadata"]["name"]): d for d in docs}
def fail(msg):
    print("chart_platform_test.sh: FAIL: " + msg, file=sys.stderr); sys.exit(1)
exec(open(sys.argv[2]).read())
PY
}
refused() { # MSG_FRAGMENT RENDER_ARGS...: the render must fail naming MSG_FRAGMENT
  local want=$1
  shift
  if render "$@" >/dev/null 2>"$TD_TMP/err"; then die "accepted: $*"; fi
  grep -q -- "$want" "$TD_TMP/err" || { cat "$TD_TMP/err" >&2; die "refused without '$want': $*"; }
}

digest="sha256:$(printf '%064d' 7)"
py --set image.agent.digest="$digest" --set image.webhook.tag=w1 --set image.tag=t0 <<PY
img = lambda k, n: by[(k, n)]["spec"]["template"]["spec"]["containers"][0]["image"]
if img("DaemonSet", "armorgate-agent") != "ghcr.io/armorgate/armorgate-agent@$digest": fail("agent digest: " + img("DaemonSet", "armorgate-agent"))
if img("Deployment", "armorgate-webhook") != "ghcr.io/armorgate/armorgate-webhook:w1": fail("webhook tag: " + img("Deployment", "armorgate-webhook"))
PY
py --set image.tag=t0 <<'PY'
if not by[("DaemonSet", "armorgate-agent")]["spec"]["template"]["spec"]["containers"][0]["image"].endswith(":t0"): fail("image.tag is not the default tag")
PY
refused "image" --set image.digest="$digest"
td_log "ok: each image its own tag/digest (image.tag the default; one digest for both refused)"

py <<'PY'
pdb = by[("PodDisruptionBudget", "armorgate-webhook")]["spec"]
if pdb.get("maxUnavailable") != 1 or "minAvailable" in pdb: fail("PDB: %r" % pdb)
dep = by[("Deployment", "armorgate-webhook")]["spec"]
tsc = {c["topologyKey"]: c["whenUnsatisfiable"] for c in dep["template"]["spec"]["topologySpreadConstraints"]}
if tsc.get("kubernetes.io/hostname") != "DoNotSchedule" or tsc.get("topology.kubernetes.io/zone") != "ScheduleAnyway":
    fail("spread: %r" % tsc)
if dep["strategy"]["rollingUpdate"] != {"maxUnavailable": 1, "maxSurge": 1}: fail("rollout: %r" % dep["strategy"])
PY
py --set webhook.replicas=1 <<'PY'
if by[("PodDisruptionBudget", "armorgate-webhook")]["spec"].get("maxUnavailable") != 1: fail("one replica: the PDB must allow a drain")
PY
py --set webhook.topologySpread=soft <<'PY'
dep = by[("Deployment", "armorgate-webhook")]["spec"]
if any(c["whenUnsatisfiable"] != "ScheduleAnyway" for c in dep["template"]["spec"]["topologySpreadConstraints"]): fail("soft spread")
if dep["strategy"]["rollingUpdate"]["maxUnavailable"] != 0: fail("soft spread keeps every replica during a rollout")
PY
py --set webhook.replicas=3 --set webhook.pdb.minAvailable=2 <<'PY'
if by[("PodDisruptionBudget", "armorgate-webhook")]["spec"].get("minAvailable") != 2: fail("minAvailable 2 of 3")
PY
refused "must be below webhook.replicas" --set webhook.replicas=1 --set webhook.pdb.minAvailable=1
refused "must be below webhook.replicas" --set webhook.replicas=2 --set webhook.pdb.minAvailable=2
td_log "ok: PDB never blocks a drain (minAvailable >= replicas refused), one replica per node, rollouts cannot deadlock"

cat >"$TD_TMP/extra.yaml" <<'YAML'
profiles:
  extra:
    custom.a: |
      include <tunables/global>
      profile custom.a flags=(attach_disconnected) {
        file,

        # "quoted" 'and' #comment: {braces}
      }
    custom.b: "  profile custom.b {\n}"
    custom.c: "profile custom.c {}\n\n\n"
    custom.d: "profile custom.d {\r\n}\n"
YAML
render -f "$TD_TMP/extra.yaml" --show-only templates/profiles-configmap.yaml >"$TD_TMP/cm.yaml"
{ grep -q '^  custom.a: |2$' "$TD_TMP/cm.yaml" && grep -q '^  custom.b: |2-$' "$TD_TMP/cm.yaml"; } ||
  { cat "$TD_TMP/cm.yaml" >&2; die "profiles.extra not rendered as block scalars"; }
python3 - "$TD_TMP/cm.yaml" "$TD_TMP/extra.yaml" <<'PY' || die "profiles.extra does not round-trip"
import sys, yaml
got = yaml.safe_load(open(sys.argv[1]))["data"]
want = yaml.safe_load(open(sys.argv[2]))["profiles"]["extra"]
bad = [k for k in want if got.get(k) != want[k]]
if bad:
    print("differs: %r" % [(k, got.get(k), want[k]) for k in bad], file=sys.stderr); sys.exit(1)
PY
td_log "ok: profiles.extra as block scalars, byte for byte (quoted only where a block scalar cannot hold the text)"

py --set webhook.certs.mode=cert-manager <<'PY'
ca = by[("Certificate", "armorgate-ca")]["spec"]
if not ca.get("isCA") or ca["issuerRef"]["name"] != "armorgate-selfsigned": fail("CA certificate: %r" % ca)
if by[("Issuer", "armorgate-ca")]["spec"] != {"ca": {"secretName": "armorgate-ca"}}: fail("CA issuer")
leaf = by[("Certificate", "armorgate-webhook")]["spec"]
if leaf["issuerRef"]["name"] != "armorgate-ca": fail("the serving certificate must be signed by the CA issuer, not self-signed")
for kind in ("MutatingWebhookConfiguration", "ValidatingWebhookConfiguration"):
    w = by[(kind, "armorgate")]
    if w["metadata"]["annotations"]["cert-manager.io/inject-ca-from"] != "armorgate-system/armorgate-webhook": fail(kind + " inject-ca-from")
    for h in w["webhooks"]:
        if h["name"].endswith("pods.armorgate.io"):
            vals = h["namespaceSelector"]["matchExpressions"][0]["values"]
            if "cert-manager" not in vals: fail("%s does not skip cert-manager: %r" % (h["name"], vals))
PY
py --set webhook.certs.mode=cert-manager --set webhook.certs.certManager.issuerRef.name=corp --set webhook.certs.certManager.issuerRef.kind=ClusterIssuer <<'PY'
if ("Certificate", "armorgate-ca") in by or ("Issuer", "armorgate-selfsigned") in by: fail("external issuer: no chain of our own")
if by[("Certificate", "armorgate-webhook")]["spec"]["issuerRef"]["name"] != "corp": fail("external issuer not used")
PY
py <<'PY'
for h in by[("ValidatingWebhookConfiguration", "armorgate")]["webhooks"]:
    if h["name"] == "validate-pods.armorgate.io" and "cert-manager" in h["namespaceSelector"]["matchExpressions"][0]["values"]:
        fail("cert-manager skipped though cert-manager mode is off")
PY
td_log "ok: cert-manager CA chain (renewals keep caBundle), cert-manager's namespace skipped in that mode only"

# GitOps: secret mode renders the same caBundle every time; self-signed does
# not without a cluster to look the Secret up in (documented).
ca=$(printf 'fake-ca' | base64)
bundles() { render "$@" --show-only templates/webhook-admission.yaml | grep -o 'caBundle: .*' | sort -u; }
a=$(bundles --set webhook.certs.mode=secret --set webhook.certs.secretName=tls --set webhook.certs.caBundle="$ca")
b=$(bundles --set webhook.certs.mode=secret --set webhook.certs.secretName=tls --set webhook.certs.caBundle="$ca")
{ [ "$a" = "caBundle: $ca" ] && [ "$a" = "$b" ]; } || die "secret mode: caBundle not stable across renders ($a / $b)"
[ "$(bundles)" != "$(bundles)" ] || die "self-signed: two offline renders gave the same CA (update the GitOps docs)"
td_log "ok: GitOps: secret mode's caBundle is the same on every render"

py <<'PY'
q = by[("ResourceQuota", "armorgate-critical-pods")]["spec"]
vals = q["scopeSelector"]["matchExpressions"][0]["values"]
if sorted(vals) != ["system-cluster-critical", "system-node-critical"]: fail("quota scopes: %r" % vals)
PY
py --set priorityQuota.enabled=false <<'PY'
if any(d["kind"] == "ResourceQuota" for d in docs): fail("quota rendered though disabled")
PY
py --set agent.priorityClassName=mine --set webhook.priorityClassName="" <<'PY'
if any(d["kind"] == "ResourceQuota" for d in docs): fail("quota without any system-* class")
PY
td_log "ok: ResourceQuota for the system-* PriorityClasses the daemons use"

refused "apiServerCIDRs is required" --set networkPolicy.enabled=true
refused "probeCIDRs or" --set networkPolicy.enabled=true --set 'networkPolicy.apiServerCIDRs[0]=10.0.0.0/8'
py --set networkPolicy.enabled=true --set 'networkPolicy.apiServerCIDRs[0]=10.0.0.0/8' --set 'networkPolicy.probeCIDRs[0]=192.168.0.0/16' \
  --set prometheusRule.enabled=true --set grafanaDashboard.enabled=true --set serviceMonitor.enabled=true <<'PY'
import json
np = by[("NetworkPolicy", "armorgate-webhook")]["spec"]
rules = {r["ports"][0]["port"]: r["from"] for r in np["ingress"]}
if rules.get(8443) != [{"ipBlock": {"cidr": "10.0.0.0/8"}}] or rules.get(8081) != [{"ipBlock": {"cidr": "192.168.0.0/16"}}]:
    fail("NetworkPolicy: %r" % rules)
alerts = {r["alert"] for g in by[("PrometheusRule", "armorgate")]["spec"]["groups"] for r in g["rules"]}
want = {"ArmorgateWebhookDown", "ArmorgateWebhookNotReady", "ArmorgateDenialsSpike", "ArmorgateAgentProfileErrors", "ArmorgateNodeUnsupported"}
if alerts != want: fail("alerts: %r" % alerts)
dash = json.loads(by[("ConfigMap", "armorgate-dashboard")]["data"]["armorgate.json"])
if dash["uid"] != "armorgate" or not dash["panels"]: fail("dashboard")
relabel = by[("ServiceMonitor", "armorgate")]["spec"]["endpoints"][0]["relabelings"][0]
if relabel["targetLabel"] != "node": fail("ServiceMonitor: no node label for agent series")
PY
td_log "ok: NetworkPolicy (never an empty 'from'), PrometheusRule, Grafana dashboard, ServiceMonitor node label"
