#!/usr/bin/env bash
# shellcheck disable=SC2034 source-path=SCRIPTDIR
# End to end: armorgate-webhook registered (Mutating + Validating, caBundle
# from a throwaway CA, failurePolicy Fail) with a real kube-apiserver of its
# own (test/cluster/start in a temp dir, watch cache off so compaction gives
# 410), Node objects with and without labels, and kubectl as the client.
# usage: e2e.sh WEBHOOK_BINARY [REPO_ROOT]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=lib.sh
. "$here/lib.sh"
WEBHOOK=$1
root=${2:-$(cd "$here/../.." && pwd)}
wh_tmp "$root"
WH_CA=$t/ca.crt
WH_BODY=$t/body

ARMORGATE_CLUSTER_WATCH_CACHE=false "$root/test/cluster/start" "$cl" >"$t/cluster-start.log" 2>&1 ||
  { cat "$t/cluster-start.log" >&2; die "cluster start"; }
# shellcheck disable=SC1091
. "$cl/env"
k() { kubectl --request-timeout=20s "$@"; }

wh_certs "$t"
mkdir -p "$t/certs"
cp "$t/a.crt" "$t/certs/tls.crt"
cp "$t/a.key" "$t/certs/tls.key"

# Nodes are plain API objects here (no kubelet).
node() { # node NAME LABELS_JSON
  printf '{"apiVersion":"v1","kind":"Node","metadata":{"name":"%s","labels":%s}}' "$1" "$2" >"$t/node-$1.json"
  k create -f "$t/node-$1.json" >/dev/null
}
node node-a '{"armorgate.io/apparmor":"enabled","profiles.armorgate.io/custom.web":"loaded"}'
node node-b '{"armorgate.io/apparmor":"enabled"}'
node node-c '{"armorgate.io/apparmor":"unsupported","profiles.armorgate.io/custom.other":"loaded"}'
node node-d '{}'
# node-e rebooted and its agent has not reloaded yet: the status annotation
# names boot-1, the kubelet boot-2 (listed before the webhook starts).
printf '{"apiVersion":"v1","kind":"Node","metadata":{"name":"node-e","labels":{"armorgate.io/apparmor":"enabled","profiles.armorgate.io/custom.boot":"loaded"},"annotations":{"armorgate.io/status":"{\\"bootID\\":\\"boot-1\\",\\"profiles\\":{}}"}},"status":{"nodeInfo":{"bootID":"boot-2"}}}' >"$t/node-node-e.json"
k create -f "$t/node-node-e.json" >/dev/null
k create namespace apps >/dev/null
k create namespace armorgate-system >/dev/null

wh_start "$t/webhook.log" --tls-cert "$t/certs/tls.crt" --tls-key "$t/certs/tls.key" --listen 127.0.0.1:0 \
  --probe-listen 127.0.0.1:0 --kubeconfig "$KUBECONFIG" --threads 2
ready() { [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$WH_PROBE/readyz")" = 200 ]; }
wait_until 30 0.2 ready || { cat "$t/webhook.log" >&2; die "webhook not ready (node cache sync)"; }
metric() { curl -s "http://127.0.0.1:$WH_PROBE/metrics" | awk -v n="$1" '$1 == n { print $2 }'; }
[ "$(metric armorgate_webhook_nodes)" = 5 ] || die "nodes in cache: $(metric armorgate_webhook_nodes)"
wh_ok "webhook ready with 5 nodes cached"

ca=$(base64 -w0 <"$t/ca.crt")
url=https://127.0.0.1:$WH_PORT
cat >"$t/webhooks.yaml" <<EOF
apiVersion: admissionregistration.k8s.io/v1
kind: MutatingWebhookConfiguration
metadata: {name: armorgate}
webhooks:
- name: pods.mutate.armorgate.io
  admissionReviewVersions: [v1]
  clientConfig: {url: "$url/mutate", caBundle: "$ca"}
  failurePolicy: Fail
  sideEffects: None
  timeoutSeconds: 5
  reinvocationPolicy: IfNeeded
  namespaceSelector:
    matchExpressions:
    - {key: kubernetes.io/metadata.name, operator: NotIn, values: [kube-system, armorgate-system]}
  rules:
  - {apiGroups: [""], apiVersions: [v1], operations: [CREATE], resources: [pods], scope: Namespaced}
---
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingWebhookConfiguration
metadata: {name: armorgate}
webhooks:
- name: pods.validate.armorgate.io
  admissionReviewVersions: [v1]
  clientConfig: {url: "$url/validate", caBundle: "$ca"}
  failurePolicy: Fail
  sideEffects: None
  timeoutSeconds: 5
  namespaceSelector:
    matchExpressions:
    - {key: kubernetes.io/metadata.name, operator: NotIn, values: [kube-system, armorgate-system]}
  rules:
  - {apiGroups: [""], apiVersions: [v1], operations: [CREATE], resources: [pods], scope: Namespaced}
  - {apiGroups: [""], apiVersions: [v1], operations: [UPDATE], resources: [pods/ephemeralcontainers], scope: Namespaced}
- name: profiles.validate.armorgate.io
  admissionReviewVersions: [v1]
  clientConfig: {url: "$url/validate", caBundle: "$ca"}
  failurePolicy: Fail
  sideEffects: None
  timeoutSeconds: 5
  namespaceSelector:
    matchExpressions:
    - {key: kubernetes.io/metadata.name, operator: In, values: [armorgate-system]}
  matchConditions:
  - {name: profiles-configmap-only, expression: "object.metadata.name == 'armorgate-profiles'"}
  rules:
  - {apiGroups: [""], apiVersions: [v1], operations: [CREATE, UPDATE], resources: [configmaps], scope: Namespaced}
EOF
k apply -f "$t/webhooks.yaml" >/dev/null

# pod NAME [ANNOTATION_PROFILE] [FIELD_JSON] [NODENAME] -> JSON on stdout
pod() {
  local ann="" field="" nn=""
  [ -n "${2:-}" ] && ann=",\"annotations\":{\"container.apparmor.security.beta.kubernetes.io/app\":\"$2\"}"
  [ -n "${3:-}" ] && field=",\"securityContext\":{\"appArmorProfile\":$3}"
  [ -n "${4:-}" ] && nn="\"nodeName\":\"$4\","
  printf '{"apiVersion":"v1","kind":"Pod","metadata":{"name":"%s","namespace":"apps"%s},"spec":{%s"containers":[{"name":"app","image":"registry.k8s.io/pause:3.10"%s},{"name":"side","image":"registry.k8s.io/pause:3.10"}]}}' \
    "$1" "$ann" "$nn" "$field"
}
# create NAME ARGS... -> 0 when stored (stored object in $t/out.json), else 1 (error in $t/err).
create() {
  local name=$1
  shift
  pod "$name" "$@" >"$t/pod.json"
  k create -f "$t/pod.json" -o json >"$t/out.json" 2>"$t/err"
}
# jcheck FILE PYTHON_EXPR: true when the expression over d (the parsed file) holds.
jcheck() { python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); sys.exit(0 if eval(sys.argv[2], {"d": d}) else 1)' "$@"; }

# The webhooks take a moment to be picked up by the apiserver's admission config.
registered() { create probe-registration localhost/custom.nowhere && { k -n apps delete pod probe-registration --wait=false >/dev/null; return 1; }; grep -q 'custom.nowhere' "$t/err"; }
wait_until 20 0.2 registered || die "webhooks not in effect: $(cat "$t/err")"
wh_ok "webhook configurations registered"

# 1. Annotation-only pod: stored with the field and the nodeSelector.
create ann-only localhost/custom.web || die "annotation-only pod denied: $(cat "$t/err")"
jcheck "$t/out.json" 'd["spec"]["containers"][0]["securityContext"]["appArmorProfile"] == {"type": "Localhost", "localhostProfile": "custom.web"}' ||
  die "field not set: $(cat "$t/out.json")"
jcheck "$t/out.json" 'd["spec"]["nodeSelector"] == {"profiles.armorgate.io/custom.web": "loaded"}' ||
  die "nodeSelector: $(cat "$t/out.json")"
jcheck "$t/out.json" '"securityContext" not in d["spec"]["containers"][1]' || die "other container touched"
jcheck "$t/out.json" 'not any(k.startswith("container.apparmor") for k in d["metadata"].get("annotations", {}))' ||
  die "annotation kept"
wh_ok "annotation-only pod stored with appArmorProfile field and nodeSelector"

# 2. Unloaded profile: denied with a message naming profile, container and the fix.
create missing localhost/custom.missing && die "pod with an unloaded profile admitted"
{ grep -q 'denied the request' "$t/err" && grep -q 'custom.missing' "$t/err" && grep -q 'app' "$t/err" &&
  grep -q 'kubectl get nodes -L profiles.armorgate.io/custom.missing' "$t/err"; } || die "denial message: $(cat "$t/err")"
# A label on an AppArmor-unsupported node does not count.
create other '' '{"type":"Localhost","localhostProfile":"custom.other"}' && die "profile only on an unsupported node admitted"
wh_ok "unloaded profile denied with the message: $(head -c 300 "$t/err")"

# 3. Denied, then a node gets the label, then admitted (bounded poll).
create later localhost/custom.later && die "custom.later admitted before any node has it"
k label node node-b profiles.armorgate.io/custom.later=loaded >/dev/null
t0=$(date +%s.%N)
admitted_later() { create later localhost/custom.later; }
wait_until 15 0.2 admitted_later || die "pod not admitted after the node was labelled: $(cat "$t/err")"
wh_ok "denied, node labelled, admitted $(awk "BEGIN { printf \"%.1f\", $(date +%s.%N) - $t0 }") s later"

# 4. nodeName cases.
create nn-bad localhost/custom.web '' node-b && die "nodeName on a node without the profile admitted"
grep -q 'node-b' "$t/err" || die "nodeName denial names the node: $(cat "$t/err")"
create nn-unknown localhost/custom.web '' node-zz && die "nodeName of an unknown node admitted"
create nn-good localhost/custom.web '' node-a || die "nodeName with the profile denied: $(cat "$t/err")"
wh_ok "nodeName: lacking node denied, unknown node denied, carrying node admitted"

# 4b. A node whose status is from an earlier boot counts for nothing until its
# agent reports the current boot (issue 19 item 7).
k get node node-e -o jsonpath='{.status.nodeInfo.bootID}' | grep -qx boot-2 || die "node-e status not stored"
create boot-any localhost/custom.boot && die "profile only on a node with a stale boot admitted"
create boot-nn localhost/custom.boot '' node-e && die "nodeName of a node with a stale boot admitted"
grep -q "status from before the node's last boot" "$t/err" || die "stale-boot denial: $(cat "$t/err")"
k annotate --overwrite node node-e 'armorgate.io/status={"bootID":"boot-2","profiles":{}}' >/dev/null
admitted_boot() { create boot-any localhost/custom.boot; }
wait_until 15 0.2 admitted_boot || die "not admitted after the agent reported the current boot: $(cat "$t/err")"
k patch node node-e --subresource=status --type=merge -p '{"status":{"nodeInfo":{"bootID":"boot-3"}}}' >/dev/null
denied_boot() { ! create boot-again localhost/custom.boot; }
wait_until 15 0.2 denied_boot || die "admitted after the node rebooted again"
wh_ok "stale boot: denied (listed and watched), admitted once the status names the current boot"

# 5. RuntimeDefault, Unconfined and non-custom Localhost pass untouched.
create rd '' '{"type":"RuntimeDefault"}' || die "RuntimeDefault denied: $(cat "$t/err")"
jcheck "$t/out.json" '"nodeSelector" not in d["spec"]' || die "RuntimeDefault got a nodeSelector"
create unc runtime/default || die "runtime/default annotation denied: $(cat "$t/err")"
jcheck "$t/out.json" 'd["spec"]["containers"][0]["securityContext"]["appArmorProfile"]["type"] == "RuntimeDefault"' ||
  die "runtime/default annotation not converted"
create unconf '' '{"type":"Unconfined"}' || die "Unconfined denied: $(cat "$t/err")"
create lh-other localhost/k8s-apparmor-example || die "non-custom Localhost denied: $(cat "$t/err")"
jcheck "$t/out.json" '"nodeSelector" not in d["spec"]' || die "non-custom Localhost got a nodeSelector"
create plain || die "plain pod denied: $(cat "$t/err")"
wh_ok "RuntimeDefault, Unconfined, non-custom Localhost and plain pods pass without a nodeSelector"

# 6. Ephemeral containers (pods/ephemeralcontainers UPDATE) are validated too.
cat >"$t/eph.json" <<'EOF'
{"apiVersion":"v1","kind":"Pod","metadata":{"name":"nn-good","namespace":"apps"},"spec":{"ephemeralContainers":[{"name":"debug","image":"busybox","securityContext":{"appArmorProfile":{"type":"Localhost","localhostProfile":"custom.missing"}}}]}}
EOF
if k replace --raw /api/v1/namespaces/apps/pods/nn-good/ephemeralcontainers -f "$t/eph.json" >"$t/eph.out" 2>&1; then
  die "ephemeral container with an unloaded profile admitted"
fi
grep -q 'custom.missing' "$t/eph.out" || die "ephemeral denial: $(cat "$t/eph.out")"
wh_ok "ephemeral container with an unloaded profile denied"

# 7. The profiles ConfigMap: a bad one denied naming every bad key, a good one accepted.
cat >"$t/cm-bad.yaml" <<'EOF'
apiVersion: v1
kind: ConfigMap
metadata: {name: armorgate-profiles, namespace: armorgate-system}
data:
  custom.syntax: |
    profile custom.syntax {
      this is not a rule
    }
  custom.misnamed: |
    profile custom.other {
    }
  not-custom: |
    profile not-custom {
    }
  custom.fine: |
    profile custom.fine {
      file,
    }
EOF
k create -f "$t/cm-bad.yaml" >"$t/cm.out" 2>&1 && die "bad profiles ConfigMap admitted"
for key in custom.syntax custom.misnamed not-custom; do
  grep -q "$key" "$t/cm.out" || die "ConfigMap denial does not name $key: $(cat "$t/cm.out")"
done
grep -q 'custom.fine' "$t/cm.out" && die "ConfigMap denial names the good key: $(cat "$t/cm.out")"
cat >"$t/cm-good.yaml" <<'EOF'
apiVersion: v1
kind: ConfigMap
metadata: {name: armorgate-profiles, namespace: armorgate-system}
data:
  custom.fine: |
    #include <tunables/global>
    profile custom.fine flags=(complain) {
      #include <abstractions/base>
      file,
    }
EOF
k create -f "$t/cm-good.yaml" >"$t/cm.out" 2>&1 || die "good profiles ConfigMap denied: $(cat "$t/cm.out")"
k -n armorgate-system create configmap unrelated --from-literal=x='not a profile' >/dev/null ||
  die "unrelated ConfigMap denied"
wh_ok "bad profiles ConfigMap denied naming each bad key; good one and unrelated ConfigMaps accepted"

# 8. Certificate rotated on disk, served without restart, the apiserver keeps calling.
fb=$(wh_fingerprint "$t/b.crt")
cp "$t/b.key" "$t/certs/tls.key.new"
cp "$t/b.crt" "$t/certs/tls.crt.new"
mv "$t/certs/tls.key.new" "$t/certs/tls.key"
mv "$t/certs/tls.crt.new" "$t/certs/tls.crt"
served_b() { [ "$(wh_served_fingerprint "$WH_PORT")" = "$fb" ]; }
wait_until 10 0.2 served_b || die "rotated certificate not served"
create after-rotation localhost/custom.web || die "pod after rotation: $(cat "$t/err")"
wh_ok "certificate rotated on disk served without restart; reviews continue"

# 9. The node cache survives an apiserver restart; while the watch is down the
# webhook keeps answering from the last state and says so.
# SIGKILL, like a crash: on SIGTERM the apiserver keeps open watches until its
# shutdown timeout, which would only slow the test down.
kill_apiserver() { kill -KILL "$(cat "$cl/kube-apiserver.pid")"; }
kill_apiserver
down() { [ "$(metric armorgate_webhook_node_watch_connected)" = 0 ]; }
wait_until 30 0.2 down || die "watch-down not reported in metrics"
grep -q 'node watch down' "$t/webhook.log" || die "watch-down not logged"
printf '{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"u1","kind":{"group":"","version":"v1","kind":"Pod"},"resource":{"group":"","version":"v1","resource":"pods"},"namespace":"apps","operation":"CREATE","object":%s}}' \
  "$(pod direct localhost/custom.later)" >"$t/review.json"
{ [ "$(wh_post /validate application/json "$t/review.json")" = 200 ] && grep -q '"allowed":true' "$WH_BODY"; } ||
  die "review during the outage: $(cat "$WH_BODY")"
"$root/test/cluster/restart-apiserver" "$cl" >/dev/null
up() { [ "$(metric armorgate_webhook_node_watch_connected)" = 1 ]; }
wait_until 60 0.2 up || die "watch did not reconnect"
k label node node-d armorgate.io/apparmor=enabled profiles.armorgate.io/custom.restart=loaded >/dev/null
admitted_restart() { create restart localhost/custom.restart; }
wait_until 20 0.2 admitted_restart || die "change after the apiserver restart not seen: $(cat "$t/err")"
[ "$(metric armorgate_webhook_node_relists_total)" = 0 ] || die "restart caused a relist instead of a resume"
wh_ok "node cache kept through an apiserver restart (served while down), watch resumed without a relist"

# 10. 410 Gone: compact etcd past the cache's resourceVersion, cut the watch, relist.
relists0=$(metric armorgate_webhook_node_relists_total)
k label --overwrite node node-c armorgate.io/apparmor=enabled >/dev/null # custom.other becomes available
"$root/test/cluster/compact" "$cl" >/dev/null
kill_apiserver
"$root/test/cluster/restart-apiserver" "$cl" >/dev/null
relisted() { [ "$(metric armorgate_webhook_node_relists_total)" != "$relists0" ]; }
wait_until 60 0.2 relisted || die "no relist after compaction (relists ${relists0})"
admitted_other() { create other2 '' '{"type":"Localhost","localhostProfile":"custom.other"}'; }
wait_until 20 0.2 admitted_other || die "state after relist: $(cat "$t/err")"
k delete node node-c >/dev/null
denied_other() { ! create other3 '' '{"type":"Localhost","localhostProfile":"custom.other"}'; }
wait_until 20 0.2 denied_other || die "node deletion after relist not seen"
wh_ok "410 Gone: relisted ($(metric armorgate_webhook_node_relists_total) relists), watching again"

curl -s "http://127.0.0.1:$WH_PROBE/metrics" >"$t/metrics"
{ grep -q 'armorgate_webhook_requests_total{endpoint="mutate",verdict="patch"}' "$t/metrics" &&
  grep -q 'armorgate_webhook_requests_total{endpoint="validate",verdict="deny"}' "$t/metrics"; } ||
  die "request metrics: $(grep requests_total "$t/metrics")"
{ grep -q '^armorgate_webhook_profile_checks_total{verdict="deny"} 1$' "$t/metrics" &&
  grep -q '^armorgate_webhook_profile_checks_total{verdict="allow"} 1$' "$t/metrics"; } ||
  die "profile check metrics: $(grep profile_checks "$t/metrics")"
grep -q '^armorgate_webhook_node_watch_restarts_total [1-9]' "$t/metrics" || die "watch restarts not counted"

# 11. Webhook stopped: covered namespaces fail closed, kube-system is unaffected.
kill -TERM "$WH_PID"
rc=0
wait "$WH_PID" || rc=$?
wh_pids=()
[ "$rc" = 0 ] || die "webhook exit status $rc"
create closed && die "pod created in a covered namespace with the webhook down"
grep -qi 'failed calling webhook' "$t/err" || die "fail-closed error: $(cat "$t/err")"
pod sys | sed 's/"namespace":"apps"/"namespace":"kube-system"/' >"$t/sys.json"
k create -f "$t/sys.json" >/dev/null 2>"$t/err" || die "kube-system pod blocked: $(cat "$t/err")"
wh_ok "webhook down: covered namespace fails closed, kube-system unaffected"
echo PASS
