#!/usr/bin/env bash
# Every flag the manifests and the rendered chart pass to a daemon is one that
# daemon's --help lists (catches drift between deploy/, the chart and the code).
# usage: flags_test.sh WEBHOOK_BINARY AGENT_BINARY
set -euo pipefail
# shellcheck source=test/deploy/lib.sh
. "$(dirname "$0")/lib.sh"
[ $# -eq 2 ] || die "usage: $0 WEBHOOK_BINARY AGENT_BINARY"
td_helm
td_tmp
cd "$td_root"
"$1" --help >"$TD_TMP/webhook.help" 2>&1 || die "$1 --help failed"
"$2" --help >"$TD_TMP/agent.help" 2>&1 || die "$2 --help failed"
"$HELM" template armorgate charts/armorgate -n armorgate-system >"$TD_TMP/chart-api.yaml"
"$HELM" template armorgate charts/armorgate -n armorgate-system --set app.profilesSource=volume >"$TD_TMP/chart-volume.yaml"
python3 - "$TD_TMP" deploy/10-agent.yaml deploy/20-webhook.yaml "$TD_TMP/chart-api.yaml" "$TD_TMP/chart-volume.yaml" <<'PY'
import re, sys, yaml
tmp = sys.argv[1]
helps = {c: set(re.findall(r"^\s+(--[a-z0-9-]+)", open("%s/%s.help" % (tmp, c)).read(), re.M)) for c in ("webhook", "agent")}
seen = 0
for f in sys.argv[2:]:
    for d in yaml.safe_load_all(open(f)):
        if not d or d.get("kind") not in ("DaemonSet", "Deployment"):
            continue
        for c in d["spec"]["template"]["spec"]["containers"]:
            if c["name"] not in helps:
                continue
            for a in c.get("args", []):
                flag = a.split("=", 1)[0]
                if flag not in helps[c["name"]]:
                    print("flags_test.sh: FAIL: %s: %s passes %s, which armorgate-%s does not accept" % (f, c["name"], flag, c["name"]), file=sys.stderr)
                    sys.exit(1)
                seen += 1
if seen < 10:
    print("flags_test.sh: FAIL: only %d flags found" % seen, file=sys.stderr); sys.exit(1)
print("flags_test.sh: ok: %d flag uses checked against --help" % seen, file=sys.stderr)
PY
