#!/usr/bin/env bash
# The example profiles ConfigMap (deploy/02-profiles-configmap.yaml) and the
# chart's copy (charts/armorgate/files/) hold the seed profile
# custom.deny-write-outside-home byte for byte as its canonical text,
# test/data/profiles/custom.deny-write-outside-home, and it compiles with
# apparmor_parser (compile only).
set -euo pipefail
# shellcheck source=test/deploy/lib.sh
. "$(dirname "$0")/lib.sh"
cd "$td_root"
canon=test/data/profiles/custom.deny-write-outside-home
[ -f "$canon" ] || td_skip "$canon does not exist yet"
cmp "$canon" charts/armorgate/files/custom.deny-write-outside-home ||
  die "charts/armorgate/files/custom.deny-write-outside-home differs from $canon (run test/deploy/sync-seed-profile)"
python3 - "$canon" deploy/02-profiles-configmap.yaml <<'PY' || die "deploy/02-profiles-configmap.yaml's seed differs from $canon (run test/deploy/sync-seed-profile)"
import sys, yaml
canon = open(sys.argv[1]).read()
cm = yaml.safe_load(open(sys.argv[2]))
assert cm["kind"] == "ConfigMap" and cm["metadata"]["name"] == "armorgate-profiles"
assert cm["metadata"]["namespace"] == "armorgate-system"
assert cm["data"] == {"custom.deny-write-outside-home": canon}, "data differs"
PY
if command -v apparmor_parser >/dev/null; then
  apparmor_parser -Q -K "$canon" 2>&1 | grep -v 'Cache read/write disabled' >&2 || true
  apparmor_parser -Q -K "$canon" >/dev/null 2>&1 || die "$canon does not compile"
fi
td_log "ok: both copies equal $canon"
