#!/usr/bin/env bash
# test/kind/e2e.sh: installs armorgate with the Helm chart on a kind cluster and
# runs the end-to-end story on a real AppArmor kernel. Needs an
# AppArmor-enabled Linux host with Docker, kind, kubectl and helm: see
# kind/README.md. It cannot run on the development machines of this
# repository (no Docker engine, no AppArmor in their kernel).
#   test/kind/e2e.sh [--keep]     --keep: leave the cluster running afterwards
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
cluster=armorgate ns=armorgate-system keep=0
[ "${1:-}" = --keep ] && keep=1
tag=e2e-$(git rev-parse --short HEAD 2>/dev/null || echo local)
seed=custom.deny-write-outside-home

say() { printf '\n== %s\n' "$*"; }
# shellcheck source=test/lib.sh
. "$root/test/lib.sh"
DIE_PREFIX="test/kind/e2e.sh: FAIL: "

# --- host requirements ---
for c in docker kind kubectl helm; do command -v "$c" >/dev/null || die "$c not found (kind/README.md)"; done
[ "$(cat /sys/module/apparmor/parameters/enabled 2>/dev/null)" = Y ] || die "AppArmor is not enabled in this host's kernel"
[ -r /sys/kernel/security/apparmor/profiles ] || die "securityfs is not mounted at /sys/kernel/security"

say "images"
docker build -q -f deploy/images/webhook.Dockerfile -t "armorgate/armorgate-webhook:$tag" .
docker build -q -f deploy/images/agent.Dockerfile -t "armorgate/armorgate-agent:$tag" .

say "cluster"
kind get clusters 2>/dev/null | grep -qx "$cluster" || kind create cluster --config kind/cluster.yaml --wait 120s
kctx=kind-$cluster
k() { kubectl --context "$kctx" "$@"; }
cleanup() { if ((keep == 0)); then kind delete cluster --name "$cluster" >/dev/null 2>&1 || true; fi; }
trap cleanup EXIT
kind load docker-image --name "$cluster" "armorgate/armorgate-webhook:$tag" "armorgate/armorgate-agent:$tag"

say "helm install"
k create namespace "$ns" --dry-run=client -o yaml | k apply -f -
k label namespace "$ns" --overwrite pod-security.kubernetes.io/enforce=privileged
helm --kube-context "$kctx" upgrade --install armorgate charts/armorgate -n "$ns" \
  --set image.registry= --set image.tag="$tag" --set image.pullPolicy=Never --wait --timeout 5m
k -n "$ns" get pods -o wide

say "every node reports AppArmor and the seed profile"
nodes=$(k get nodes -o jsonpath='{.items[*].metadata.name}')
for n in $nodes; do
  wait_until 120 1 bash -c "kubectl --context $kctx get node $n -o jsonpath='{.metadata.labels}' | grep -q '\"profiles.armorgate.io/$seed\":\"loaded\"'" >/dev/null 2>&1 || die "timed out after 120s: $n labelled"
  [ "$(k get node "$n" -o jsonpath='{.metadata.labels.armorgate\.io/apparmor}')" = enabled ] || die "$n not armorgate.io/apparmor=enabled"
done
grep -q "^$seed " /sys/kernel/security/apparmor/profiles || die "$seed not in the host kernel's profile list"
k get nodes -L armorgate.io/apparmor -L "profiles.armorgate.io/$seed"

say "a confined pod: writes outside home/tmp are refused by the kernel"
k create namespace demo --dry-run=client -o yaml | k apply -f -
k -n demo delete pod confined annotated missing --ignore-not-found --wait
k -n demo apply -f - <<YAML
apiVersion: v1
kind: Pod
metadata: {name: confined}
spec:
  restartPolicy: Never
  securityContext:
    appArmorProfile: {type: Localhost, localhostProfile: $seed}
  containers:
    - name: c
      image: busybox:1.36
      command: [sh, -c, 'touch /tmp/ok && echo tmp=ok; touch /etc/bad 2>/dev/null && echo etc=WRITTEN || echo etc=denied; cat /proc/self/attr/current']
YAML
wait_until 120 1 bash -c "[ \"\$(kubectl --context $kctx -n demo get pod confined -o jsonpath='{.status.phase}')\" = Succeeded ]" >/dev/null 2>&1 || die "timed out after 120s: pod confined finished"
out=$(k -n demo logs confined)
echo "$out"
{ grep -q 'tmp=ok' <<<"$out" && grep -q 'etc=denied' <<<"$out" && grep -q "$seed (enforce)" <<<"$out"; } || die "pod not confined as expected"
k -n demo get pod confined -o jsonpath='{.spec.nodeSelector}' | grep -q "profiles.armorgate.io/$seed" || die "webhook did not add the nodeSelector"

say "the deprecated annotation becomes the field"
k -n demo apply -f - <<YAML
apiVersion: v1
kind: Pod
metadata:
  name: annotated
  annotations: {container.apparmor.security.beta.kubernetes.io/c: localhost/$seed}
spec:
  restartPolicy: Never
  containers: [{name: c, image: busybox:1.36, command: [cat, /proc/self/attr/current]}]
YAML
k -n demo get pod annotated -o jsonpath='{.spec.containers[0].securityContext.appArmorProfile.localhostProfile}' | grep -qx "$seed" || die "annotation not converted"

say "a pod naming a profile no node has is refused"
if k -n demo run missing --image=busybox:1.36 --restart=Never \
  --overrides='{"spec":{"securityContext":{"appArmorProfile":{"type":"Localhost","localhostProfile":"custom.missing"}}}}' 2>"/tmp/armorgate-e2e.err"; then
  die "pod with custom.missing admitted"
fi
grep -q custom.missing /tmp/armorgate-e2e.err || die "denial does not name the profile"
cat /tmp/armorgate-e2e.err

say "a new profile in the ConfigMap reaches every node; then the pod is admitted"
k -n "$ns" patch configmap armorgate-profiles --type=merge -p '{"data":{"custom.missing":"abi <abi/3.0>,\ninclude <tunables/global>\nprofile custom.missing flags=(attach_disconnected) {\n  include <abstractions/base>\n  /** rix,\n}\n"}}'
for n in $nodes; do
  wait_until 60 1 bash -c "kubectl --context $kctx get node $n -o jsonpath='{.metadata.labels}' | grep -q 'profiles.armorgate.io/custom.missing'" >/dev/null 2>&1 || die "timed out after 60s: $n labelled custom.missing"
done
k -n demo run missing --image=busybox:1.36 --restart=Never \
  --overrides='{"spec":{"securityContext":{"appArmorProfile":{"type":"Localhost","localhostProfile":"custom.missing"}}}}' -- true

say "a broken profile ConfigMap is refused"
if k -n "$ns" patch configmap armorgate-profiles --type=merge -p '{"data":{"custom.broken":"profile custom.other {\n"}}' 2>/tmp/armorgate-e2e.err; then
  die "broken profile accepted"
fi
cat /tmp/armorgate-e2e.err

say "nobody but the node's agent may forge the labels"
if k label node "$(echo "$nodes" | cut -d' ' -f1)" profiles.armorgate.io/custom.forged=loaded 2>/tmp/armorgate-e2e.err; then
  die "forged label accepted"
fi
grep -q ValidatingAdmissionPolicy /tmp/armorgate-e2e.err || die "forged label refused for the wrong reason"

say "removal: the profile leaves the ConfigMap, its labels go once no pod uses it"
k -n demo delete pod missing --wait
k -n "$ns" patch configmap armorgate-profiles --type=json -p '[{"op":"remove","path":"/data/custom.missing"}]'
for n in $nodes; do
  wait_until 90 1 bash -c "! kubectl --context $kctx get node $n -o jsonpath='{.metadata.labels}' | grep -q 'profiles.armorgate.io/custom.missing'" >/dev/null 2>&1 || die "timed out after 90s: $n unlabelled custom.missing"
done

say "PASS (test/kind/e2e.sh)"
