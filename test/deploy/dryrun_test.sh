#!/usr/bin/env bash
# Every manifest in deploy/ and the chart rendered in each certificate mode
# (plus the ServiceMonitor and the volume profile source) are accepted by a
# real kube-apiserver (kubectl apply --dry-run=server, which runs validation
# and admission), with no warnings. Own control plane: the namespace it
# creates must not leak into the shared one. cert-manager and Prometheus
# Operator CRDs are minimal stubs (test/deploy/crd-stubs.yaml).
# shellcheck source=test/deploy/lib.sh
. "$(dirname "$0")/lib.sh"
td_helm
td_tmp
td_own_cluster dryrun
cd "$td_root"

# check_apply WHAT: stdin -> server dry run; every object accepted, no warnings.
check_apply() {
  local what=$1 out n
  cat >"$TD_TMP/in.yaml"
  n=$(grep -c '^kind:' "$TD_TMP/in.yaml" || true)
  if ! kubectl apply --dry-run=server -f "$TD_TMP/in.yaml" >"$TD_TMP/out" 2>"$TD_TMP/err"; then
    cat "$TD_TMP/err" >&2
    td_fail "$what: refused by the API server"
  fi
  if grep -qi 'warning' "$TD_TMP/err"; then
    cat "$TD_TMP/err" >&2
    td_fail "$what: API server warnings"
  fi
  out=$(grep -c '(server dry run)' "$TD_TMP/out" || true)
  [ "$out" -eq "$n" ] || { cat "$TD_TMP/out" >&2; td_fail "$what: $out of $n objects accepted"; }
  td_log "ok: $what ($n objects)"
}

# Namespaced objects need their namespace to exist for a server dry run.
kubectl apply -f deploy/00-namespace.yaml >/dev/null
for f in deploy/*.yaml; do
  check_apply "$f" <"$f"
done

# install.sh end to end (certs, Secret, caBundle filled in), as a dry run.
deploy/install.sh --dry-run=server "$TD_TMP/certs" >"$TD_TMP/install.out" 2>&1 ||
  { cat "$TD_TMP/install.out" >&2; td_fail "deploy/install.sh --dry-run=server failed"; }
grep -q 'validatingwebhookconfiguration.admissionregistration.k8s.io/armorgate created (server dry run)' "$TD_TMP/install.out" ||
  { cat "$TD_TMP/install.out" >&2; td_fail "install.sh did not register the webhooks"; }
td_log "ok: deploy/install.sh --dry-run=server"

kubectl apply -f test/deploy/crd-stubs.yaml >/dev/null
kubectl wait --for=condition=Established --timeout=60s \
  crd/certificates.cert-manager.io crd/issuers.cert-manager.io crd/servicemonitors.monitoring.coreos.com >/dev/null

ca=$(certs/make-certs.sh -o "$TD_TMP/secret-certs" 2>/dev/null)
chart=charts/armorgate
render() { "$HELM" template armorgate "$chart" --namespace armorgate-system "$@"; }
render | check_apply "chart (self-signed)"
render --set webhook.certs.mode=cert-manager --set serviceMonitor.enabled=true |
  check_apply "chart (cert-manager, ServiceMonitor)"
render --set webhook.certs.mode=cert-manager --set webhook.certs.certManager.issuerRef.name=corp-ca \
  --set webhook.certs.certManager.issuerRef.kind=ClusterIssuer | check_apply "chart (cert-manager, external issuer)"
render --set webhook.certs.mode=secret --set webhook.certs.secretName=my-webhook-tls --set webhook.certs.caBundle="$ca" |
  check_apply "chart (secret)"
render --set app.profilesSource=volume --set profiles.create=false --set labelPolicy.enabled=false |
  check_apply "chart (volume source, no ConfigMap, no label policy)"

# Another release name and namespace: every name and reference follows.
kubectl create namespace security >/dev/null
"$HELM" template ag "$chart" --namespace security --set image.digest="sha256:$(printf '%064d' 0)" |
  check_apply "chart (release ag in namespace security)"
