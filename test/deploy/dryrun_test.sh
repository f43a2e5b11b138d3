#!/usr/bin/env bash
# Every manifest in deploy/ and the chart rendered in each certificate mode
# (plus the ServiceMonitor and the volume profile source) are accepted by a
# real kube-apiserver (kubectl apply --dry-run=server, which runs validation
# and admission), with no warnings. Own control plane: the namespace it
# creates must not leak into the shared one. cert-manager and Prometheus
# Operator CRDs are minimal stubs (test/deploy/crd-stubs.yaml).
set -euo pipefail
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
    die "$what: refused by the API server"
  fi
  if grep -qi 'warning' "$TD_TMP/err"; then
    cat "$TD_TMP/err" >&2
    die "$what: API server warnings"
  fi
  out=$(grep -c '(server dry run)' "$TD_TMP/out" || true)
  [ "$out" -eq "$n" ] || { cat "$TD_TMP/out" >&2; die "$what: $out of $n objects accepted"; }
  td_log "ok: $what ($n objects)"
}

# Namespaced objects need their namespace to exist for a server dry run.
kubectl apply -f deploy/00-namespace.yaml >/dev/null
for f in deploy/*.yaml; do
  # shellcheck disable=SC2094 # check_apply only reads stdin; $f is its label
  check_apply "$f" <"$f"
done

# install.sh end to end (certs, Secret, caBundle filled in), as a dry run.
deploy/install.sh --dry-run=server "$TD_TMP/certs" >"$TD_TMP/install.out" 2>&1 ||
  { cat "$TD_TMP/install.out" >&2; die "deploy/install.sh --dry-run=server failed"; }
grep -q 'validatingwebhookconfiguration.admissionregistration.k8s.io/armorgate created (server dry run)' "$TD_TMP/install.out" ||
  { cat "$TD_TMP/install.out" >&2; die "install.sh did not register the webhooks"; }
td_log "ok: deploy/install.sh --dry-run=server"

kubectl apply -f test/deploy/crd-stubs.yaml >/dev/null
kubectl wait --for=condition=Established --timeout=60s \
  crd/certificates.cert-manager.io crd/issuers.cert-manager.io crd/servicemonitors.monitoring.coreos.com \
  crd/prometheusrules.monitoring.coreos.com >/dev/null

ca=$(certs/make-certs.sh -o "$TD_TMP/secret-certs" 2>/dev/null)
chart=charts/armorgate
render() { "$HELM" template armorgate "$chart" --namespace armorgate-system "$@"; }
render | check_apply "chart (self-signed)"
render --set webhook.certs.mode=cert-manager --set serviceMonitor.enabled=true --set prometheusRule.enabled=true \
  --set grafanaDashboard.enabled=true --set networkPolicy.enabled=true --set 'networkPolicy.apiServerCIDRs[0]=10.0.0.0/8' \
  --set 'networkPolicy.probeCIDRs[0]=10.244.0.0/16' |
  check_apply "chart (cert-manager CA chain, ServiceMonitor, PrometheusRule, dashboard, NetworkPolicy)"
render --set webhook.certs.mode=cert-manager --set webhook.certs.certManager.issuerRef.name=corp-ca \
  --set webhook.certs.certManager.issuerRef.kind=ClusterIssuer | check_apply "chart (cert-manager, external issuer)"
render --set webhook.certs.mode=secret --set webhook.certs.secretName=my-webhook-tls --set webhook.certs.caBundle="$ca" |
  check_apply "chart (secret)"
render --set app.profilesSource=volume --set profiles.create=false --set labelPolicy.enabled=false |
  check_apply "chart (volume source, no ConfigMap, no label policy)"

# Another release name and namespace: every name and reference follows.
kubectl create namespace security >/dev/null
"$HELM" template ag "$chart" --namespace security --set image.agent.digest="sha256:$(printf '%064d' 0)" \
  --set image.webhook.digest="sha256:$(printf '%064d' 1)" |
  check_apply "chart (release ag in namespace security)"

# Blast radius (matchConditions): with the pod webhooks registered for real
# and no webhook behind their Service (an armorgate outage), a pod without
# an AppArmor annotation or Localhost profile is created; every kind of
# AppArmor pod is refused (fail-closed).
kubectl create namespace blast >/dev/null
pod() { # NAME [POD_SECURITY_CONTEXT] [CONTAINER_SECURITY_CONTEXT] [ANNOTATIONS] [INIT_SECURITY_CONTEXT]
  printf 'apiVersion: v1\nkind: Pod\nmetadata:\n  name: %s\n  namespace: blast\n' "$1"
  [ -z "${4:-}" ] || printf '  annotations: %s\n' "$4"
  printf 'spec:\n'
  [ -z "${2:-}" ] || printf '  securityContext: %s\n' "$2"
  [ -z "${5:-}" ] || printf '  initContainers:\n  - name: init\n    image: busybox\n    securityContext: %s\n' "$5"
  printf '  containers:\n  - name: app\n    image: busybox\n'
  [ -z "${3:-}" ] || printf '    securityContext: %s\n' "$3"
}
localhost='{appArmorProfile: {type: Localhost, localhostProfile: custom.x}}'
blast_radius() { # WHAT: stdin = the webhook configurations
  local what=$1
  kubectl apply -f - >/dev/null
  # The apiserver's webhook cache catches up within a moment (a server dry
  # run calls webhooks with sideEffects None, and creates nothing).
  pod probe "$localhost" >"$TD_TMP/probe.yaml"
  wait_until 30 0.2 sh -c "kubectl create --dry-run=server -f $TD_TMP/probe.yaml 2>&1 | grep -q 'failed calling webhook'" >/dev/null 2>&1 ||
    { kubectl create --dry-run=server -f "$TD_TMP/probe.yaml" >&2; die "$what: the webhooks never took effect"; }
  pod plain | kubectl create -f - >/dev/null 2>"$TD_TMP/err" || { cat "$TD_TMP/err" >&2; die "$what: a plain pod was refused"; }
  pod rtdefault '{appArmorProfile: {type: RuntimeDefault}}' | kubectl create -f - >/dev/null 2>"$TD_TMP/err" ||
    { cat "$TD_TMP/err" >&2; die "$what: a RuntimeDefault pod was refused"; }
  local c
  for c in "podlevel|$localhost" "container||$localhost" \
    "annotated|||{container.apparmor.security.beta.kubernetes.io/app: localhost/custom.x}" \
    "init||||$localhost"; do
    IFS='|' read -r n a b ann init <<<"$c"
    if pod "$n" "$a" "$b" "$ann" "$init" | kubectl create -f - >/dev/null 2>"$TD_TMP/err"; then
      die "$what: AppArmor pod $n was admitted with the webhook down"
    fi
    grep -q 'failed calling webhook' "$TD_TMP/err" || { cat "$TD_TMP/err" >&2; die "$what: $n refused, but not by the webhook"; }
  done
  printf '{"securityContext":%s}\n' '{"appArmorProfile":{"type":"Localhost","localhostProfile":"custom.x"}}' >"$TD_TMP/debug.json"
  if kubectl -n blast debug plain --image=busybox --custom="$TD_TMP/debug.json" >/dev/null 2>"$TD_TMP/err"; then
    die "$what: an ephemeral container with a Localhost profile was admitted with the webhook down"
  fi
  kubectl -n blast debug plain --image=busybox >/dev/null 2>"$TD_TMP/err" ||
    { cat "$TD_TMP/err" >&2; die "$what: a plain ephemeral container was refused"; }
  kubectl delete mutatingwebhookconfigurations,validatingwebhookconfigurations -l app.kubernetes.io/name=armorgate >/dev/null
  kubectl -n blast delete pods --all --wait=false >/dev/null
  td_log "ok: $what: webhook down -> plain, RuntimeDefault and debug pods created; AppArmor pods (pod, container, init, annotation, ephemeral) refused"
}
render -s templates/webhook-admission.yaml | blast_radius "chart"
sed "s|# caBundle: filled in.*|caBundle: $ca|" deploy/30-webhook-configurations.yaml | blast_radius "deploy/30-webhook-configurations.yaml"
