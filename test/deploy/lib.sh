# shellcheck shell=bash
# Shared helpers of the test/deploy scripts (sourced). Packaging tests: the
# manifests, the chart, the images' runtime package lists. Talks only to a
# loopback kube-apiserver.
td_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
td_cache=${XDG_CACHE_HOME:-$HOME/.cache}/armorgate
td_name=$(basename "$0")
# shellcheck source=test/lib.sh
. "$td_root/test/lib.sh"
DIE_PREFIX="$td_name: FAIL: "

td_log() { echo "$td_name: $*" >&2; }
# td_skip MSG: ctest SKIP_RETURN_CODE.
td_skip() { echo "$td_name: SKIP: $*" >&2; exit 77; }

# td_helm: path of the helm test binary (built once by test/helm/bootstrap).
td_helm() {
  if ! [ -x "$td_cache/helm/current/helm" ]; then
    "$td_root/test/helm/bootstrap" >&2
  fi
  HELM=$td_cache/helm/current/helm
  [ -x "$HELM" ] || die "helm not available (test/helm/bootstrap)"
}

# td_own_cluster NAME: starts a private control plane in $TD_BUILD/test-deploy-NAME
# (stopped on exit) and points KUBECONFIG/PATH at it. Used by tests that make
# cluster-wide changes (admission policies, fail-closed webhooks, a namespace)
# that must not leak into the shared fixture cluster.
td_own_cluster() {
  local dir=${ARMORGATE_BINARY_DIR:-$td_root/build}/test-deploy-$1
  TD_CLUSTER=$dir
  "$td_root/test/cluster/stop" "$dir" >/dev/null 2>&1 || true
  trap 'td_cleanup' EXIT
  # A randomly picked port can collide with another process's outgoing
  # connection (test/cluster/start then fails with "address already in use"):
  # retry with fresh ports.
  local try
  for try in 1 2 3; do
    if "$td_root/test/cluster/start" "$dir" >"$dir.start.log" 2>&1; then
      cat "$dir.start.log" >&2
      break
    fi
    td_log "control plane start attempt $try failed: $(grep -m1 -o 'address already in use\|not ready[^;]*\|[^:]*failed[^,]*' "$dir.start.log" || tail -n1 "$dir.start.log")"
    "$td_root/test/cluster/stop" "$dir" >/dev/null 2>&1 || true
    ((try < 3)) || { cat "$dir.start.log" >&2; die "could not start a control plane in $dir"; }
  done
  # shellcheck disable=SC1091
  . "$dir/env"
}

td_cleanup() {
  local rc=$?
  if [ -n "${TD_CLUSTER:-}" ]; then
    if [ $rc -ne 0 ] && [ $rc -ne 77 ]; then
      td_log "kube-apiserver log tail ($TD_CLUSTER/logs):"
      tail -n 15 "$TD_CLUSTER/logs/kube-apiserver.log" >&2 || true
    fi
    "$td_root/test/cluster/stop" "$TD_CLUSTER" >/dev/null 2>&1 || true
  fi
  [ -n "${TD_TMP:-}" ] && rm -rf "$TD_TMP"
  exit $rc
}

# td_tmp: a scratch directory removed on exit.
td_tmp() {
  TD_TMP=$(mktemp -d "${TMPDIR:-/tmp}/armorgate-deploy.XXXXXX")
  trap 'td_cleanup' EXIT
}
