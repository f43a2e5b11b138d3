#!/usr/bin/env bash
# The chart installed for real (helm install/upgrade on a real kube-apiserver)
# and its label-spoofing policy proven:
#   - a user allowed by RBAC to patch Nodes cannot add, change or remove
#     armorgate.io / profiles.armorgate.io Node labels or the status annotation
#     (nor create a Node carrying them), while other labels stay editable;
#   - the agent's service account may change nothing but armorgate.io keys
#     (no other labels or annotations, no spec: cordon, taints), even on its node;
#   - the agent's service account with a token bound to a pod on node A can
#     change node A's keys but not node B's, and nothing else on any node
#     (ownerReferences, finalizers, spec, status, delete); an unbound token of
#     the same account cannot change any;
#   - the break-glass group can;
#   - self-signed certificates stay the same across helm upgrade, and caBundle
#     matches; deleting the Secret and upgrading rotates them (documented);
#   - fail-closed: with no webhook running, pods in covered namespaces and the
#     profiles ConfigMap are refused, other ConfigMaps and excluded namespaces are not.
# Own control plane: it installs cluster-wide fail-closed webhooks.
set -euo pipefail
# shellcheck source=test/deploy/lib.sh
. "$(dirname "$0")/lib.sh"
td_helm
td_tmp
td_own_cluster policy
cd "$td_root"
ns=armorgate-system
policy_msg='ValidatingAdmissionPolicy'

"$HELM" install armorgate charts/armorgate --namespace "$ns" --create-namespace \
  --set profiles.create=false >"$TD_TMP/install.out" 2>&1 ||
  { cat "$TD_TMP/install.out" >&2; die "helm install failed"; }
grep -q 'Check that it works' "$TD_TMP/install.out" || die "helm install printed no NOTES"
td_log "ok: helm install"

# --- certificates: generated once, stable across upgrade, caBundle = Secret's CA ---
secret_ca() { kubectl -n "$ns" get secret armorgate-webhook-tls -o jsonpath='{.data.ca\.crt}'; }
secret_crt() { kubectl -n "$ns" get secret armorgate-webhook-tls -o jsonpath='{.data.tls\.crt}'; }
bundles() {
  kubectl get mutatingwebhookconfiguration armorgate -o jsonpath='{range .webhooks[*]}{.clientConfig.caBundle}{"\n"}{end}'
  kubectl get validatingwebhookconfiguration armorgate -o jsonpath='{range .webhooks[*]}{.clientConfig.caBundle}{"\n"}{end}'
}
ca1=$(secret_ca) crt1=$(secret_crt)
{ [ -n "$ca1" ] && [ -n "$crt1" ]; } || die "no self-signed certificate in Secret armorgate-webhook-tls"
base64 -d <<<"$ca1" >"$TD_TMP/ca.pem"
base64 -d <<<"$crt1" >"$TD_TMP/tls.pem"
openssl verify -CAfile "$TD_TMP/ca.pem" "$TD_TMP/tls.pem" >/dev/null || die "serving cert not signed by the CA"
openssl x509 -in "$TD_TMP/tls.pem" -noout -ext subjectAltName | grep -q 'DNS:armorgate-webhook.armorgate-system.svc\b' ||
  die "serving cert lacks SAN armorgate-webhook.armorgate-system.svc"
[ "$(bundles | sort -u)" = "$ca1" ] || die "webhook caBundles differ from the Secret's CA"
"$HELM" upgrade armorgate charts/armorgate --namespace "$ns" --set profiles.create=false \
  --set app.pollInterval=60 >"$TD_TMP/upgrade.out" 2>&1 ||
  { cat "$TD_TMP/upgrade.out" >&2; die "helm upgrade failed"; }
{ [ "$(secret_ca)" = "$ca1" ] && [ "$(secret_crt)" = "$crt1" ]; } || die "helm upgrade replaced the self-signed certificate"
[ "$(bundles | sort -u)" = "$ca1" ] || die "caBundle changed on upgrade"
kubectl -n "$ns" get daemonset armorgate-agent -o jsonpath='{.spec.template.spec.containers[0].args}' | grep -q -- '--poll-interval=60' ||
  die "upgrade did not reach the DaemonSet"
td_log "ok: self-signed certificate stable across helm upgrade, caBundle matches"
# Documented rotation: delete the Secret, helm upgrade -> a new CA + cert, caBundle follows.
kubectl -n "$ns" delete secret armorgate-webhook-tls >/dev/null
"$HELM" upgrade armorgate charts/armorgate --namespace "$ns" --set profiles.create=false \
  --set app.pollInterval=60 >"$TD_TMP/upgrade2.out" 2>&1 ||
  { cat "$TD_TMP/upgrade2.out" >&2; die "helm upgrade (rotation) failed"; }
ca2=$(secret_ca)
{ [ -n "$ca2" ] && [ "$ca2" != "$ca1" ]; } || die "rotation: no new CA after deleting the Secret and upgrading"
[ "$(bundles | sort -u)" = "$ca2" ] || die "rotation: caBundles do not follow the new CA"
ca1=$ca2
td_log "ok: rotation by deleting the Secret + helm upgrade (new CA, caBundle follows)"

# --- least-privilege RBAC, as the daemons use it ---
agent_sa=("--as=system:serviceaccount:$ns:armorgate-agent" --as-group=system:serviceaccounts --as-group=system:authenticated)
webhook_sa=("--as=system:serviceaccount:$ns:armorgate-webhook" --as-group=system:serviceaccounts --as-group=system:authenticated)
rbac_ok() { "$@" >"$TD_TMP/o" 2>&1 || { cat "$TD_TMP/o" >&2; die "RBAC refused: $*"; }; }
rbac_no() { if "$@" >"$TD_TMP/o" 2>&1; then die "RBAC allowed: $*"; fi; grep -q Forbidden "$TD_TMP/o" || { cat "$TD_TMP/o" >&2; die "not an RBAC refusal: $*"; }; }
# The agent lists/watches the profiles ConfigMap with a metadata.name field selector (resourceNames).
rbac_ok kubectl -n "$ns" get configmaps --field-selector metadata.name=armorgate-profiles "${agent_sa[@]}"
rbac_ok kubectl -n "$ns" get configmaps --field-selector metadata.name=armorgate-profiles --watch --request-timeout=1s "${agent_sa[@]}"
rbac_no kubectl -n "$ns" get configmaps "${agent_sa[@]}"
rbac_no kubectl -n "$ns" get configmap other "${agent_sa[@]}"
rbac_no kubectl -n kube-system get configmaps --field-selector metadata.name=armorgate-profiles "${agent_sa[@]}"
rbac_no kubectl -n "$ns" get secrets "${agent_sa[@]}"
rbac_no kubectl get nodes "${agent_sa[@]}"
kubectl auth can-i get nodes/x "${agent_sa[@]}" >/dev/null 2>&1 || die "agent cannot get a node"
kubectl auth can-i patch nodes "${agent_sa[@]}" >/dev/null 2>&1 || die "agent cannot patch nodes"
kubectl auth can-i create events -n default "${agent_sa[@]}" >/dev/null 2>&1 || die "agent cannot create Node events"
kubectl auth can-i create events -n "$ns" "${agent_sa[@]}" >/dev/null 2>&1 || die "agent cannot create events on the profiles ConfigMap"
# Events in any other namespace: allowed by RBAC for denial telemetry (on by
# default), narrowed by the agent-events policy (checked below with a token).
kubectl auth can-i create events -n kube-system "${agent_sa[@]}" >/dev/null 2>&1 || die "agent cannot create denial Events on pods"
! kubectl auth can-i delete nodes "${agent_sa[@]}" >/dev/null 2>&1 || die "agent can delete nodes"
! kubectl auth can-i patch nodes --subresource=status "${agent_sa[@]}" >/dev/null 2>&1 || die "agent can patch node status"
rbac_ok kubectl get nodes "${webhook_sa[@]}"
! kubectl auth can-i patch nodes "${webhook_sa[@]}" >/dev/null 2>&1 || die "webhook can patch nodes"
! kubectl auth can-i get configmaps -n "$ns" "${webhook_sa[@]}" >/dev/null 2>&1 || die "webhook can read ConfigMaps"
! kubectl auth can-i get secrets -n "$ns" "${webhook_sa[@]}" >/dev/null 2>&1 || die "webhook can read Secrets"
td_log "ok: RBAC (agent: its ConfigMap by name, get/patch nodes, events; webhook: list/watch nodes only)"

# --- fail-closed registrations (no webhook pods run in this control plane) ---
# The API server would resolve the Service name armorgate-webhook.armorgate-system.svc
# through DNS, i.e. off this machine; tests talk to loopback only, so point
# the registrations at a closed loopback port (the Service reference itself is
# checked by the dry-run and chart tests). failurePolicy, namespaceSelector and
# matchConditions are what this part proves.
kubectl patch mutatingwebhookconfiguration armorgate --type=json -p \
  '[{"op":"replace","path":"/webhooks/0/clientConfig","value":{"url":"https://127.0.0.1:1/mutate","caBundle":"'"$ca1"'"}}]' >/dev/null
kubectl patch validatingwebhookconfiguration armorgate --type=json -p \
  '[{"op":"replace","path":"/webhooks/0/clientConfig","value":{"url":"https://127.0.0.1:1/validate","caBundle":"'"$ca1"'"}},
    {"op":"replace","path":"/webhooks/1/clientConfig","value":{"url":"https://127.0.0.1:1/validate","caBundle":"'"$ca1"'"}},
    {"op":"replace","path":"/webhooks/2/clientConfig","value":{"url":"https://127.0.0.1:1/validate","caBundle":"'"$ca1"'"}}]' >/dev/null
kubectl create namespace apps >/dev/null
pod() { # pod NAME NAMESPACE NODE [SERVICEACCOUNT]
  printf 'apiVersion: v1\nkind: Pod\nmetadata: {name: %s, namespace: %s}\nspec:\n  nodeName: %s\n%s  containers: [{name: c, image: registry.invalid/none:1}]\n' \
    "$1" "$2" "$3" "${4:+  serviceAccountName: $4
}"
}
# Only pods that use AppArmor need the webhook (matchConditions); those are
# refused while it is down, every other pod is created.
if pod p1 apps node-a | sed 's|^spec:|spec:\n  securityContext: {appArmorProfile: {type: Localhost, localhostProfile: custom.x}}|' |
  kubectl create -f - >"$TD_TMP/o" 2>&1; then
  die "AppArmor pod created in a covered namespace with no webhook running (not fail-closed)"
fi
grep -q 'failed calling webhook' "$TD_TMP/o" || { cat "$TD_TMP/o" >&2; die "pod refused for another reason"; }
pod p2 apps node-a | kubectl create -f - >"$TD_TMP/o" 2>&1 || { cat "$TD_TMP/o" >&2; die "a pod without AppArmor was refused with the webhook down"; }
kubectl -n "$ns" create configmap unrelated --from-literal=a=b >/dev/null || die "an unrelated ConfigMap in $ns was sent to the webhook"
if kubectl apply -f deploy/02-profiles-configmap.yaml >"$TD_TMP/o" 2>&1; then die "profiles ConfigMap accepted without the webhook"; fi
grep -q 'validate-profiles.armorgate.io' "$TD_TMP/o" || { cat "$TD_TMP/o" >&2; die "profiles ConfigMap refused for another reason"; }
td_log "ok: fail-closed (AppArmor pods in covered namespaces and the profiles ConfigMap need the webhook; other pods and ConfigMaps do not)"

# --- label-spoofing policy ---
for n in node-a node-b; do
  printf 'apiVersion: v1\nkind: Node\nmetadata: {name: %s, labels: {kubernetes.io/hostname: %s}}\n' "$n" "$n" | kubectl create -f - >/dev/null
done
kubectl create clusterrole node-editor --verb=get,list,create,patch,update --resource=nodes >/dev/null
kubectl create clusterrolebinding mallory-node-editor --clusterrole=node-editor --user=mallory >/dev/null
kubectl create clusterrolebinding breakglass-node-editor --clusterrole=node-editor --group=armorgate:label-admins >/dev/null

as_mallory=(--as=mallory --as-group=system:authenticated)
as_breakglass=(--as=oncall --as-group=armorgate:label-admins --as-group=system:authenticated)

# must_refuse WHAT CMD...: CMD fails with the policy's message.
must_refuse() {
  local what=$1; shift
  if "$@" >"$TD_TMP/o" 2>&1; then die "$what: allowed"; fi
  grep -q "$policy_msg" "$TD_TMP/o" || { cat "$TD_TMP/o" >&2; die "$what: refused, but not by the label policy"; }
  td_log "ok: refused: $what"
}
must_allow() {
  local what=$1; shift
  "$@" >"$TD_TMP/o" 2>&1 || { cat "$TD_TMP/o" >&2; die "$what: refused"; }
  td_log "ok: allowed: $what"
}

# RBAC really lets mallory patch Nodes.
must_allow "mallory sets an ordinary label" kubectl label node node-a team=blue "${as_mallory[@]}"
must_allow "mallory sets an ordinary label on node-b" kubectl label node node-b team=blue "${as_mallory[@]}"
# The policy becomes active once the apiserver's policy informer has synced (bounded wait).
wait_until 30 0.2 bash -c "! kubectl label node node-a armorgate.io/apparmor=enabled --as=mallory --as-group=system:authenticated" >/dev/null 2>&1 ||
  die "label policy not enforced within 30 s"
must_refuse "mallory adds armorgate.io/apparmor" kubectl label node node-a armorgate.io/apparmor=enabled "${as_mallory[@]}"
must_refuse "mallory adds profiles.armorgate.io/custom.x" kubectl label node node-a profiles.armorgate.io/custom.x=loaded "${as_mallory[@]}"
must_refuse "mallory adds the status annotation" kubectl annotate node node-a armorgate.io/status='{}' "${as_mallory[@]}"
must_refuse "mallory creates a Node with armorgate labels" bash -c \
  "printf 'apiVersion: v1\nkind: Node\nmetadata: {name: node-x, labels: {armorgate.io/apparmor: enabled}}\n' | kubectl create -f - --as=mallory --as-group=system:authenticated"
must_refuse "mallory's merge patch of the labels" kubectl patch node node-a --type=merge \
  -p '{"metadata":{"labels":{"profiles.armorgate.io/custom.y":"loaded"}}}' "${as_mallory[@]}"

for n in node-a node-b; do
  must_allow "break-glass sets labels on $n" kubectl label node "$n" armorgate.io/apparmor=enabled \
    profiles.armorgate.io/custom.x=loaded "${as_breakglass[@]}"
done
must_refuse "mallory modifies profiles.armorgate.io/custom.x" kubectl label --overwrite node node-a profiles.armorgate.io/custom.x=no "${as_mallory[@]}"
must_refuse "mallory removes profiles.armorgate.io/custom.x" kubectl label node node-a profiles.armorgate.io/custom.x- "${as_mallory[@]}"
must_refuse "mallory removes armorgate.io/apparmor" kubectl label node node-a armorgate.io/apparmor- "${as_mallory[@]}"
must_refuse "cluster admin (system:masters) removes armorgate.io/apparmor" kubectl label node node-a armorgate.io/apparmor-
must_allow "mallory changes an ordinary label on a labelled node" kubectl label --overwrite node node-a team=red "${as_mallory[@]}"

# The agent: a token bound to a pod on node-a (the apiserver records the node
# name in the token and in userInfo.extra).
pod agent-a "$ns" node-a armorgate-agent | kubectl create -f - >/dev/null
tok_a=$(kubectl create token armorgate-agent -n "$ns" --bound-object-kind Pod --bound-object-name agent-a --duration=10m)
tok_unbound=$(kubectl create token armorgate-agent -n "$ns" --duration=10m)
tk="$TD_CLUSTER/token-kubeconfig"
as_agent_a=(--kubeconfig="$tk" --token="$tok_a")
as_agent_unbound=(--kubeconfig="$tk" --token="$tok_unbound")
kubectl auth whoami "${as_agent_a[@]}" -o jsonpath='{.status.userInfo.extra.authentication\.kubernetes\.io/node-name}' | grep -qx '\[*"*node-a"*\]*' ||
  die "bound token carries no node-name extra"
must_allow "agent on node-a sets profiles.armorgate.io/custom.z on node-a" kubectl label node node-a profiles.armorgate.io/custom.z=loaded "${as_agent_a[@]}"
must_allow "agent on node-a modifies armorgate.io/apparmor on node-a" kubectl label --overwrite node node-a armorgate.io/apparmor=unsupported "${as_agent_a[@]}"
must_allow "agent on node-a removes profiles.armorgate.io/custom.x on node-a" kubectl label node node-a profiles.armorgate.io/custom.x- "${as_agent_a[@]}"
must_allow "agent on node-a writes the status annotation on node-a" kubectl annotate --overwrite node node-a 'armorgate.io/status={"apparmor":"unsupported"}' "${as_agent_a[@]}"
must_refuse "agent on node-a sets a label on node-b" kubectl label node node-b profiles.armorgate.io/custom.z=loaded "${as_agent_a[@]}"
must_refuse "agent on node-a removes a label on node-b" kubectl label node node-b profiles.armorgate.io/custom.x- "${as_agent_a[@]}"
must_refuse "agent on node-a modifies node-b's armorgate.io/apparmor" kubectl label --overwrite node node-b armorgate.io/apparmor=unsupported "${as_agent_a[@]}"
must_refuse "agent on node-a writes node-b's status annotation" kubectl annotate node node-b 'armorgate.io/status={}' "${as_agent_a[@]}"
must_refuse "agent token not bound to a pod, on node-a" kubectl label node node-a profiles.armorgate.io/custom.w=loaded "${as_agent_unbound[@]}"

# The agent's scope: nothing but armorgate.io keys, even on its own node.
must_refuse "agent on node-a changes an ordinary label on node-a" kubectl label --overwrite node node-a team=green "${as_agent_a[@]}"
must_refuse "agent on node-a removes an ordinary label on node-b" kubectl label node node-b team- "${as_agent_a[@]}"
must_refuse "agent on node-a adds an ordinary annotation on node-a" kubectl annotate node node-a note=x "${as_agent_a[@]}"
must_refuse "agent on node-a cordons node-a" kubectl patch node node-a --type=merge -p '{"spec":{"unschedulable":true}}' "${as_agent_a[@]}"
must_refuse "agent on node-a taints node-b" kubectl patch node node-b --type=merge \
  -p '{"spec":{"taints":[{"key":"x","effect":"NoSchedule"}]}}' "${as_agent_a[@]}"
must_allow "agent on node-a sets armorgate.io label and status together" kubectl patch node node-a --type=merge \
  -p '{"metadata":{"labels":{"profiles.armorgate.io/custom.v":"loaded"},"annotations":{"armorgate.io/status":"{}"}}}' "${as_agent_a[@]}"
[ "$(kubectl get node node-a -o jsonpath='{.spec.unschedulable}')" != true ] || die "node-a cordoned by the agent"
# Nothing else on any node, with a token of node-a: another node's keys, and
# what would let a stolen token delete a node (ownerReferences: the garbage
# collector) or keep it from being deleted (finalizers).
owner='{"metadata":{"ownerReferences":[{"apiVersion":"v1","kind":"ConfigMap","name":"gone","uid":"00000000-0000-0000-0000-000000000001"}]}}'
for n in node-a node-b; do
  must_refuse "agent on node-a sets an ownerReference on $n" kubectl patch node "$n" --type=merge -p "$owner" "${as_agent_a[@]}"
  must_refuse "agent on node-a adds a finalizer to $n" kubectl patch node "$n" --type=merge \
    -p '{"metadata":{"finalizers":["example.com/block"]}}' "${as_agent_a[@]}"
done
must_refuse "agent on node-a changes node-b's spec" kubectl patch node node-b --type=merge -p '{"spec":{"podCIDR":"10.9.0.0/24"}}' "${as_agent_a[@]}"
if kubectl patch node node-b --subresource=status --type=merge -p '{"status":{"capacity":{"pods":"1"}}}' "${as_agent_a[@]}" >"$TD_TMP/o" 2>&1; then
  die "agent on node-a wrote node-b's status"
fi
grep -q Forbidden "$TD_TMP/o" || { cat "$TD_TMP/o" >&2; die "node-b's status refused for another reason"; }
td_log "ok: refused: agent on node-a writes node-b's status ($(grep -o 'Forbidden.*' "$TD_TMP/o" | head -c 80))"
for n in node-a node-b; do
  if kubectl delete node "$n" --wait=false "${as_agent_a[@]}" >"$TD_TMP/o" 2>&1; then die "agent on node-a deleted $n"; fi
  grep -q Forbidden "$TD_TMP/o" || { cat "$TD_TMP/o" >&2; die "deleting $n refused for another reason"; }
done
td_log "ok: refused: agent on node-a deletes node-a or node-b"
[ -z "$(kubectl get node node-a node-b -o jsonpath='{.items[*].metadata.ownerReferences}{.items[*].metadata.finalizers}')" ] ||
  die "an ownerReference or finalizer reached a node"

# Events: RBAC lets the agent write them everywhere (denial telemetry); the
# agent-events policy lets a token of node-a write only what node-a's agent writes.
ev() { # ev NS KIND NAME REASON HOST: an Event as the agent writes it
  printf '{"apiVersion":"v1","kind":"Event","metadata":{"generateName":"t.","namespace":"%s"},"involvedObject":{"apiVersion":"v1","kind":"%s","name":"%s","namespace":"%s"},"reason":"%s","message":"m","type":"Warning","source":{"component":"armorgate-agent","host":"%s"}}' \
    "$1" "$2" "$3" "$1" "$4" "$5"
}
ev_allowed() {
  local what=$1; shift
  ev "$@" | kubectl create -f - "${as_agent_a[@]}" >"$TD_TMP/o" 2>&1 || { cat "$TD_TMP/o" >&2; die "$what: refused"; }
  td_log "ok: allowed: $what"
}
ev_refused() {
  local what=$1; shift
  if ev "$@" | kubectl create -f - "${as_agent_a[@]}" >"$TD_TMP/o" 2>&1; then die "$what: allowed"; fi
  grep -q 'may write' "$TD_TMP/o" || { cat "$TD_TMP/o" >&2; die "$what: refused, but not by the agent-events policy"; }
  td_log "ok: refused: $what"
}
ev_allowed "agent on node-a: a denial Event on a pod in kube-system from node-a" kube-system Pod p AppArmorDenied node-a
ev_allowed "agent on node-a: an Event about node-a" default Node node-a ProfileLoaded node-a
ev_allowed "agent on node-a: an Event about the profiles ConfigMap" "$ns" ConfigMap armorgate-profiles ProfileLoaded node-a
ev_refused "agent on node-a: a denial Event claiming node-b" kube-system Pod p AppArmorDenied node-b
ev_refused "agent on node-a: another reason on a pod" kube-system Pod p Killing node-a
ev_refused "agent on node-a: an Event about node-b" default Node node-b ProfileLoaded node-a
ev_refused "agent on node-a: an Event about a Secret" kube-system Secret s AppArmorDenied node-a
if ev kube-system Pod p AppArmorDenied node-a | kubectl create -f - "${as_agent_unbound[@]}" >"$TD_TMP/o" 2>&1; then
  die "an agent token not bound to a pod wrote an Event"
fi
td_log "ok: refused: an agent token not bound to a pod writes a denial Event"

[ "$(kubectl get node node-b -o jsonpath='{.metadata.labels.profiles\.armorgate\.io/custom\.x}')" = loaded ] || die "node-b's label changed"
[ "$(kubectl get node node-a -o jsonpath='{.metadata.labels.armorgate\.io/apparmor}')" = unsupported ] || die "node-a's label not as the agent set it"
must_allow "break-glass removes labels" kubectl label node node-b armorgate.io/apparmor- profiles.armorgate.io/custom.x- "${as_breakglass[@]}"
td_log "PASS"
