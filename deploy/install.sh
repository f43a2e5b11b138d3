#!/usr/bin/env bash
# deploy/install.sh: installs the plain manifests of this folder with kubectl.
# Makes the webhook's CA and serving cert with certs/make-certs.sh (kept in
# CERT_DIR, default ./armorgate-certs; an existing CA there is reused), stores
# the Secret, applies everything in order and fills the webhooks' caBundle.
#   deploy/install.sh [--dry-run=server] [CERT_DIR]
# Needs kubectl (current context) and openssl.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
dry=()
if [ "${1:-}" = --dry-run=server ]; then dry=(--dry-run=server); shift; fi
certdir=${1:-./armorgate-certs}

ca=$("$here/../certs/make-certs.sh" -o "$certdir" --renew)
kubectl apply "${dry[@]}" -f "$here/00-namespace.yaml"
kubectl -n armorgate-system create secret tls armorgate-webhook-tls \
  --cert="$certdir/tls.crt" --key="$certdir/tls.key" --dry-run=client -o yaml |
  kubectl apply "${dry[@]}" -f -
for f in 01-rbac.yaml 02-profiles-configmap.yaml 03-label-policy.yaml 10-agent.yaml 20-webhook.yaml; do
  kubectl apply "${dry[@]}" -f "$here/$f"
done
# Registered last, once a webhook replica answers: from here on, pods that use
# AppArmor need the webhook, and registering it earlier would refuse them
# while the webhook starts.
# (One available replica is enough: on a single-node cluster the second one
# waits for a node of its own.)
if [ ${#dry[@]} -eq 0 ]; then
  deadline=$((SECONDS + ${ARMORGATE_INSTALL_TIMEOUT:-300}))
  until [ "$(kubectl -n armorgate-system get deployment armorgate-webhook \
    -o 'jsonpath={.status.availableReplicas}' 2>/dev/null)" -ge 1 ] 2>/dev/null; do
    if [ "$SECONDS" -ge "$deadline" ]; then
      echo "deploy/install.sh: no webhook replica available after ${ARMORGATE_INSTALL_TIMEOUT:-300} s;" \
        "webhooks not registered (kubectl -n armorgate-system describe pods)" >&2
      exit 1
    fi
    sleep 2
  done
fi
sed -E "s|^( *)# caBundle: .*|\1caBundle: $ca|" "$here/30-webhook-configurations.yaml" |
  kubectl apply "${dry[@]}" -f -
echo "armorgate installed; check: kubectl -n armorgate-system get pods; kubectl get nodes -L armorgate.io/apparmor" >&2
