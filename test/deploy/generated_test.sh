#!/usr/bin/env bash
# deploy/ is generated from the chart (deploy/generate): fails when the
# committed files differ from what the chart renders now, naming the files and
# the fix.
# shellcheck source=test/deploy/lib.sh
. "$(dirname "$0")/lib.sh"
td_helm
td_tmp
"$td_root/deploy/generate" "$TD_TMP/deploy" || die "deploy/generate failed"
drift=0
for f in "$TD_TMP"/deploy/*.yaml; do
  if ! diff -u "$td_root/deploy/${f##*/}" "$f" >"$TD_TMP/diff"; then
    head -n 40 "$TD_TMP/diff" >&2
    drift=1
  fi
done
[ "$drift" = 0 ] || die "deploy/ differs from the chart: run deploy/generate and commit the result"
n=$(find "$TD_TMP/deploy" -name '*.yaml' | wc -l)
td_log "ok: the $n manifests in deploy/ are what the chart renders"
