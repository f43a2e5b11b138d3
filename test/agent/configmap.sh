#!/usr/bin/env bash
# The API source on the real control plane with a fake root (as fake_root.sh;
# the parser is the MOCK of the kernel side that compiles with the real
# apparmor_parser):
#  - a kapparmor-style ConfigMap (kapparmor-profiles, kapparmor's own public
#    sample profiles: test/data/profiles/kapparmor) is loaded unchanged, an
#    upper-case name included;
#  - the sample the parser refuses gets an Event on the ConfigMap naming the
#    node, the key and the parser's line (and one on the Node), aggregated:
#    one object per key whose count grows, written at most once a minute;
#  - a change costs one Node PATCH and no GET; a Node changed by someone
#    else meanwhile is a 409, read again, and ends right.
# Usage: configmap.sh AGENT_BINARY   (KUBECONFIG set, kubectl on PATH)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
AGENT=$1
agent_test_setup cm
NS=$NODE
CM=kapparmor-profiles
FIX=$here/../data/profiles/kapparmor
cleanup() {
	agent_test_cleanup
	kubectl delete namespace "$NS" --wait=false --ignore-not-found >/dev/null 2>&1 || true
}
trap cleanup EXIT
agent_fake_root "$T"

kubectl create namespace "$NS" >/dev/null
kubectl create configmap -n "$NS" "$CM" --from-file="$FIX/custom.myValidProfile" \
	--from-file="$FIX/custom.deny-write-outside-home" --from-file="$FIX/custom.deny-network" >/dev/null
agent_test_node
# A long poll: no timed re-read of the Node during the request counts.
"$AGENT" --node-name "$NODE" --kubeconfig "$KUBECONFIG" --configmap "$NS/$CM" "${FAKE_ARGS[@]}" \
	--poll-interval 600 --probe-listen "127.0.0.1:$PORT" --log-level debug 2>"$AGENT_LOG" &
PID=$!

echo "1. kapparmor's samples: loaded and labelled unchanged; the one the parser refuses is reported"
agent_wait 30 "ready" agent_http_ok "http://127.0.0.1:$PORT/readyz"
agent_wait 20 "kapparmor profiles labelled" agent_node_query "$NODE" '
labels.get("profiles.armorgate.io/custom.myValidProfile") == "loaded" and
labels.get("profiles.armorgate.io/custom.deny-write-outside-home") == "loaded" and
"profiles.armorgate.io/custom.deny-network" not in labels and
profiles["custom.deny-network"]["state"] == "error" and "line 8" in profiles["custom.deny-network"]["message"]'
grep -q '^custom.myValidProfile (enforce)$' "$T/securityfs/apparmor/profiles" || die "custom.myValidProfile not in the kernel list"
cmp -s "$T/host/custom.myValidProfile" "$FIX/custom.myValidProfile" || die "host file differs from kapparmor's sample"

# cm_events REASON: the Events on the ConfigMap as "count<TAB>message" lines.
cm_events() {
	kubectl get events -n "$NS" -o json \
		--field-selector "involvedObject.kind=ConfigMap,involvedObject.name=$CM,reason=$1" | python3 -c '
import json, sys
for e in json.load(sys.stdin)["items"]:
    print("%s\t%s\t%s" % (e.get("count"), e["involvedObject"].get("uid", ""), e["message"]))'
}
cm_count_is() { # REASON COUNT
	[ "$(cm_events "$1" | cut -f1)" = "$2" ]
}
echo "2. an Event on the ConfigMap: node, key, parser line"
agent_wait 10 "ProfileRefused Event on the ConfigMap" cm_count_is ProfileRefused 1
ev=$(cm_events ProfileRefused)
uid=$(kubectl get configmap -n "$NS" "$CM" -o jsonpath='{.metadata.uid}')
[ "$(wc -l <<<"$ev")" -eq 1 ] || die "want one Event on the ConfigMap, got: $ev"
[[ "$ev" == "1	$uid	node $NODE: AppArmor profile custom.deny-network refused: custom.deny-network: does not compile: AppArmor parser error for custom.deny-network in profile custom.deny-network at line 8: "* ]] ||
	die "unexpected ConfigMap Event: $ev"
[ -n "$(kubectl get events -n default --field-selector "involvedObject.name=$NODE,reason=ProfileRefused" -o name)" ] ||
	die "no ProfileRefused Event on the Node"

echo "3. a change: the watch event and one Node PATCH, no GET"
reads=$(agent_metric armorgate_agent_node_reads_total)
patches=$(agent_metric armorgate_agent_node_patches_total)
kubectl patch configmap -n "$NS" "$CM" --type merge -p \
	'{"data":{"custom.second":"profile custom.second {\n  file,\n}\n"}}' >/dev/null
agent_wait 10 "custom.second labelled" agent_node_query "$NODE" 'labels.get("profiles.armorgate.io/custom.second") == "loaded"'
sleep 0.5
[ "$(agent_metric armorgate_agent_node_reads_total)" = "$reads" ] || die "the change read the Node"
[ "$(agent_metric armorgate_agent_node_patches_total)" = $((patches + 1)) ] || die "the change made more than one PATCH"

echo "4. someone else changed the Node meanwhile: 409, read again, stale label still cleared"
kubectl label node "$NODE" profiles.armorgate.io/custom.intruder=loaded >/dev/null
reads=$(agent_metric armorgate_agent_node_reads_total)
patches=$(agent_metric armorgate_agent_node_patches_total)
kubectl patch configmap -n "$NS" "$CM" --type merge -p \
	'{"data":{"custom.second":"profile custom.second {\n  file,\n  network,\n}\n"}}' >/dev/null
agent_wait 10 "custom.intruder cleared with the change" agent_node_query "$NODE" '
"profiles.armorgate.io/custom.intruder" not in labels and profiles["custom.second"]["state"] == "loaded" and
profiles["custom.second"]["sha256"] == "'"$(printf 'profile custom.second {\n  file,\n  network,\n}\n' | sha256sum | cut -c1-64)"'"'
[ "$(agent_metric armorgate_agent_node_reads_total)" = $((reads + 1)) ] || die "want one read after the conflict"
[ "$(agent_metric armorgate_agent_node_patches_total)" = $((patches + 2)) ] || die "want the refused PATCH and one more"

echo "5. the same key refused again: one Event object, count 2, not before a minute has passed"
kubectl patch configmap -n "$NS" "$CM" --type merge -p \
	'{"data":{"custom.deny-network":"profile custom.deny-network {\n  deny network\n}\n"}}' >/dev/null
agent_wait 10 "new refusal reported" agent_node_query "$NODE" '"line 4" in profiles["custom.deny-network"]["message"]'
sleep 1
[[ "$(cm_events ProfileRefused)" == "1	"*"line 8: "* ]] || die "the Event was written again within the minute: $(cm_events ProfileRefused)"
agent_wait 75 "count 2 on the same Event" cm_count_is ProfileRefused 2
[[ "$(cm_events ProfileRefused)" == "2	$uid	node $NODE: "*"at line 4: "* ]] || die "aggregated Event: $(cm_events ProfileRefused)"
[ "$(kubectl get events -n default --field-selector "involvedObject.name=$NODE,reason=ProfileRefused" -o name | wc -l)" -eq 1 ] ||
	die "the Node's ProfileRefused Events are not one object"

echo "6. SIGTERM -> exit 0"
agent_stop "$PID"
PID=""
echo PASS
