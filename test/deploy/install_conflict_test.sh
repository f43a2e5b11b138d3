#!/usr/bin/env bash
# One armorgate per cluster, said at install time on the real apiserver: a
# second release (another name and namespace) is refused by helm with a
# message naming the first, as is a release over the plain manifests of
# deploy/; upgrading the installed release still works. (Two would fight:
# each label policy exempts only its own agent.) Own control plane.
# shellcheck source=test/deploy/lib.sh
. "$(dirname "$0")/lib.sh"
td_helm
td_tmp
td_own_cluster conflict
chart=$td_root/charts/armorgate
# No webhook runs here, and the profiles ConfigMap is fail-closed behind it.
no_cm=(--set profiles.create=false)

"$HELM" install first "$chart" -n armorgate-system --create-namespace "${no_cm[@]}" >/dev/null || die "first install failed"
"$HELM" upgrade first "$chart" -n armorgate-system "${no_cm[@]}" --set app.logLevel=debug >/dev/null || die "upgrading the installed release failed"
if "$HELM" install second "$chart" -n other --create-namespace "${no_cm[@]}" >"$TD_TMP/out" 2>&1; then
  die "a second release was installed beside the first"
fi
grep -q 'armorgate is already installed in this cluster (release first' "$TD_TMP/out" ||
  { cat "$TD_TMP/out" >&2; die "the refusal does not name the installed release"; }
td_log "ok: a second release is refused: $(grep -o 'armorgate is already installed[^;]*' "$TD_TMP/out")"

"$HELM" uninstall first -n armorgate-system --wait >/dev/null || die "uninstall failed"
kubectl apply -f "$td_root/deploy/03-label-policy.yaml" >/dev/null
if "$HELM" install third "$chart" -n armorgate-system "${no_cm[@]}" >"$TD_TMP/out" 2>&1; then
  die "a release was installed over the plain manifests"
fi
grep -q 'plain manifests from deploy/' "$TD_TMP/out" || { cat "$TD_TMP/out" >&2; die "the refusal does not name deploy/"; }
td_log "ok: a release over the plain manifests is refused"
