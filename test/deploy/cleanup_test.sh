#!/usr/bin/env bash
# test/deploy/cleanup_test.sh KUBECTL_ARMORGATE: the one command after an
# uninstall, on the real apiserver: with the chart installed it refuses (its
# agents would label again, its policy would refuse); after helm uninstall it
# removes every armorgate label and status annotation from every node and the
# kept TLS Secret, touches no other label, and a second run has nothing to do.
# Own control plane.
# shellcheck source=test/deploy/lib.sh
. "$(dirname "$0")/lib.sh"
kctl=${1:?usage: cleanup_test.sh KUBECTL_ARMORGATE}
td_helm
td_tmp
td_own_cluster cleanup
ns=armorgate-system

for n in node-a node-b; do
  printf 'apiVersion: v1\nkind: Node\nmetadata: {name: %s, labels: {team: blue, armorgate.io/apparmor: enabled, profiles.armorgate.io/custom.a: loaded, profiles.armorgate.io/custom.b: loaded}, annotations: {armorgate.io/status: "{}", armorgate.io/observed: "{}", note: keep}}\n' "$n" |
    kubectl create -f - >/dev/null
done
"$HELM" install armorgate "$td_root/charts/armorgate" -n "$ns" --create-namespace --set profiles.create=false >/dev/null ||
  die "helm install failed"
kubectl -n "$ns" get secret armorgate-webhook-tls >/dev/null || die "no self-signed Secret after install"

if "$kctl" cleanup >"$TD_TMP/out" 2>&1; then die "cleanup ran while armorgate is installed"; fi
grep -q 'armorgate is still installed (daemonsets armorgate-agent)' "$TD_TMP/out" ||
  { cat "$TD_TMP/out" >&2; die "refusal does not say what is installed"; }
[ "$(kubectl get node node-a -o jsonpath='{.metadata.labels.armorgate\.io/apparmor}')" = enabled ] || die "a refused cleanup changed a label"
td_log "ok: refused while installed: $(cat "$TD_TMP/out")"

"$HELM" uninstall armorgate -n "$ns" --wait >/dev/null || die "helm uninstall failed"
kubectl -n "$ns" get secret armorgate-webhook-tls >/dev/null || die "helm uninstall removed the kept Secret (test premise)"
"$kctl" cleanup >"$TD_TMP/out" 2>&1 || { cat "$TD_TMP/out" >&2; die "cleanup failed"; }
cat "$TD_TMP/out" >&2
grep -q 'removed 6 armorgate label(s) and 4 annotation(s) from 2 node(s)' "$TD_TMP/out" || die "cleanup did not report its work"
# Every label and annotation key of a node (a Go template, not shell: $k is template syntax).
# shellcheck disable=SC2016
keys_tpl='{{range $k, $v := .metadata.labels}}{{$k}} {{end}}{{range $k, $v := .metadata.annotations}}{{$k}} {{end}}'
for n in node-a node-b; do
  left=$(kubectl get node "$n" -o go-template="$keys_tpl")
  ! grep -q armorgate.io <<<"$left" || die "$n still has: $left"
  { grep -q 'team ' <<<"$left" && grep -q 'note ' <<<"$left"; } || die "$n lost a key that is not armorgate's: $left"
done
! kubectl -n "$ns" get secret armorgate-webhook-tls >/dev/null 2>&1 || die "the kept Secret is still there"
"$kctl" cleanup >"$TD_TMP/out" 2>&1 || { cat "$TD_TMP/out" >&2; die "a second cleanup failed"; }
grep -q 'removed 0 armorgate label(s) and 0 annotation(s)' "$TD_TMP/out" || die "a second cleanup found work"
td_log "ok: after helm uninstall: labels, annotations and the Secret gone, other keys kept; a second run is a no-op"
