#!/usr/bin/env bash
# The chart without a cluster: helm lint --strict is clean in every
# certificate mode; values.schema.json refuses out-of-range and malformed
# values; the rendered objects carry the contract's names, flags and
# security settings. (Acceptance by a real API server: dryrun_test.sh.)
set -euo pipefail
# shellcheck source=test/deploy/lib.sh
. "$(dirname "$0")/lib.sh"
td_helm
td_tmp
cd "$td_root"
chart=charts/armorgate
ca=$(certs/make-certs.sh -o "$TD_TMP/certs" 2>/dev/null)

lint() {
  "$HELM" lint --strict "$chart" --namespace armorgate-system "$@" >"$TD_TMP/lint" 2>&1 ||
    { cat "$TD_TMP/lint" >&2; die "helm lint --strict $*"; }
  grep -q '0 chart(s) failed' "$TD_TMP/lint" || { cat "$TD_TMP/lint" >&2; die "helm lint $*"; }
  ! grep -qE '^\[(WARNING|ERROR)\]' "$TD_TMP/lint" || { cat "$TD_TMP/lint" >&2; die "helm lint warnings $*"; }
}
lint
lint --set webhook.certs.mode=cert-manager --set serviceMonitor.enabled=true
lint --set webhook.certs.mode=secret --set webhook.certs.secretName=tls --set webhook.certs.caBundle="$ca"
td_log "ok: helm lint --strict (self-signed, cert-manager, secret)"

# Out-of-range or malformed values: helm refuses before rendering.
refuse() {
  if "$HELM" template a "$chart" "$@" >/dev/null 2>"$TD_TMP/err"; then die "schema accepted: $*"; fi
  grep -q "don't meet the specifications of the schema" "$TD_TMP/err" || { cat "$TD_TMP/err" >&2; die "refused, but not by the schema: $*"; }
}
refuse --set app.pollInterval=0
refuse --set app.pollInterval=86401
refuse --set app.pollInterval=-5
refuse --set-string app.pollInterval=30
refuse --set app.profilesConfigMap=Bad_Name
refuse --set app.profilesSource=etcd
refuse --set webhook.replicas=0
refuse --set webhook.timeoutSeconds=10
refuse --set webhook.certs.mode=vault
refuse --set webhook.enforcement=strict
refuse --set webhook.certs.mode=secret
refuse --set webhook.certs.mode=secret --set webhook.certs.secretName=tls
refuse --set image.pullPolicy=Sometimes
refuse --set image.digest=sha256:abc
refuse --set resources.webhook.limits.memory=lots
refuse --set profiles.extra.notcustom=x
refuse --set labelPolicy.breakGlassGroup="a'b"
refuse --set unknownTopLevel=1
for v in 1 86400; do
  "$HELM" template a "$chart" --set app.pollInterval=$v >"$TD_TMP/r" || die "pollInterval=$v refused"
  grep -q -- "--poll-interval=$v\$" "$TD_TMP/r" || die "pollInterval=$v not rendered"
done
td_log "ok: values.schema.json bounds (18 bad value sets refused, 1 and 86400 accepted)"

# Contract checks on the default rendering.
"$HELM" template armorgate "$chart" --namespace armorgate-system >"$TD_TMP/r.yaml"
python3 - "$TD_TMP/r.yaml" "$td_root/test/data/profiles/custom.deny-write-outside-home" <<'PY'
import sys, yaml
docs = [d for d in yaml.safe_load_all(open(sys.argv[1])) if d]
by = {(d["kind"], d["metadata"]["name"]): d for d in docs}
def fail(msg):
    print("chart_test.sh: FAIL: " + msg, file=sys.stderr); sys.exit(1)
ds = by[("DaemonSet", "armorgate-agent")]["spec"]
pod = ds["template"]["spec"]; c = pod["containers"][0]
if not pod.get("hostPID"): fail("agent: hostPID")
if pod["securityContext"]["appArmorProfile"] != {"type": "Unconfined"}: fail("agent: Unconfined")
if pod["nodeSelector"].get("kubernetes.io/os") != "linux": fail("agent: linux nodeSelector")
if {"operator": "Exists"} not in pod["tolerations"]: fail("agent: tolerates all taints")
if pod.get("priorityClassName") != "system-node-critical": fail("agent: priority class")
# MAC_ADMIN loads policy; AUDIT_READ and SYSLOG read denials (agent.denials.source auto).
if c["securityContext"]["capabilities"] != {"drop": ["ALL"], "add": ["MAC_ADMIN", "AUDIT_READ", "SYSLOG"]}: fail("agent: caps")
if not pod.get("hostNetwork"): fail("agent: hostNetwork (audit netlink)")
if not c["securityContext"]["readOnlyRootFilesystem"] or c["securityContext"].get("privileged"): fail("agent: rootfs/privileged")
env = {e["name"]: e for e in c["env"]}
if env["NODE_NAME"]["valueFrom"]["fieldRef"]["fieldPath"] != "spec.nodeName": fail("agent: NODE_NAME")
args = c["args"]
for a in ["--node-name=$(NODE_NAME)", "--configmap=armorgate-system/armorgate-profiles",
          "--host-profiles-dir=/etc/apparmor.d/armorgate", "--cache-dir=/var/cache/apparmor", "--poll-interval=30", "--parser-jobs=4", "--probe-listen=:8082"]:
    if a not in args: fail("agent arg " + a)
mounts = {m["mountPath"] for m in c["volumeMounts"]}
if mounts != {"/sys/kernel/security", "/etc/apparmor.d/armorgate", "/var/cache/apparmor", "/tmp"}: fail("agent mounts %s" % mounts)
if ds["updateStrategy"]["rollingUpdate"]["maxUnavailable"] in (None, 0, "0%", "100%"): fail("agent maxUnavailable")

dep = by[("Deployment", "armorgate-webhook")]["spec"]
pod = dep["template"]["spec"]; c = pod["containers"][0]
if dep["replicas"] != 2: fail("webhook replicas")
if not pod["securityContext"]["runAsNonRoot"] or pod["securityContext"]["seccompProfile"]["type"] != "RuntimeDefault": fail("webhook pod securityContext")
sc = c["securityContext"]
if not sc["readOnlyRootFilesystem"] or sc["allowPrivilegeEscalation"] or sc["capabilities"] != {"drop": ["ALL"]}: fail("webhook container securityContext")
if c["readinessProbe"]["httpGet"]["path"] != "/readyz" or c["livenessProbe"]["httpGet"]["path"] != "/healthz": fail("webhook probes")
ports = {p["name"]: p["containerPort"] for p in c["ports"]}
if ports != {"https": 8443, "metrics": 8081}: fail("webhook ports %s" % ports)
if not c["resources"].get("requests") or not c["resources"].get("limits"): fail("webhook resources")
if not pod.get("topologySpreadConstraints"): fail("webhook spread")
for a in ["--tls-cert=/etc/armorgate/tls/tls.crt", "--tls-key=/etc/armorgate/tls/tls.key", "--listen=:8443",
          "--probe-listen=:8081", "--profiles-configmap=armorgate-system/armorgate-profiles"]:
    if a not in c["args"]: fail("webhook arg " + a)
if by[("PodDisruptionBudget", "armorgate-webhook")]["spec"].get("maxUnavailable") != 1: fail("pdb")

excluded = {"kube-system", "armorgate-system"}
for kind in ("MutatingWebhookConfiguration", "ValidatingWebhookConfiguration"):
    for w in by[(kind, "armorgate")]["webhooks"]:
        if w["failurePolicy"] != "Fail" or w["sideEffects"] != "None" or not (1 <= w["timeoutSeconds"] <= 5): fail(w["name"] + " policy")
        if not w["clientConfig"].get("caBundle"): fail(w["name"] + " caBundle")
        e, *mode = w["namespaceSelector"]["matchExpressions"]
        if e["key"] != "kubernetes.io/metadata.name": fail(w["name"] + " selector key")
        res = [r for rule in w["rules"] for r in rule["resources"]]
        if "configmaps" in res:
            if mode or e["operator"] != "In" or e["values"] != ["armorgate-system"]: fail("profiles webhook namespace")
            if "armorgate-profiles" not in w["matchConditions"][0]["expression"]: fail("profiles webhook matchConditions")
            continue
        if e["operator"] != "NotIn" or set(e["values"]) != excluded: fail(w["name"] + " exclusions")
        # Enforcement (default deny): each pod webhook by armorgate.io/enforcement.
        want = {"mutate-pods.armorgate.io": ("/mutate", "NotIn", ["off"]),
                "validate-pods.armorgate.io": ("/validate/deny", "NotIn", ["off", "warn"]),
                "validate-pods-warn.armorgate.io": ("/validate/warn", "In", ["warn"])}[w["name"]]
        got = (w["clientConfig"]["service"]["path"], mode[0]["operator"], mode[0]["values"]) if len(mode) == 1 and mode[0]["key"] == "armorgate.io/enforcement" else None
        if got != want: fail("%s enforcement routing %r, want %r" % (w["name"], got, want))
cm = by[("ConfigMap", "armorgate-profiles")]["data"]
if cm["custom.deny-write-outside-home"] != open(sys.argv[2]).read(): fail("rendered seed profile differs from test/data/profiles")
print("chart_test.sh: ok: rendered objects follow the contract", file=sys.stderr)
PY
