#!/usr/bin/env bash
# test/agent/denial_vm.sh VMDIR TAP AGENT: denial_source + denial_record on the
# node VM's real AppArmor kernel (issue 22, part 1). TAP is test/agent's
# denial_tap (copied into the VM through the command channel); AGENT is only
# what the VM image is built with (stopped at once: it would unload the test
# profiles, and needs no control plane here — the kubeconfig points nowhere).
# In the VM: custom.tap-enf (enforce), custom.tap-cmp (complain) and a
# non-custom tap-other profile; confined busybox applets trigger denials.
#   netlink: every record with the right fields (hex name, capability,
#     network, complain-mode exec and its learning child, the pid), nothing
#     of tap-other, and a flood of 50 denials delivered in full
#   kmsg: the fallback sees the same records (rate-limited by the kernel)
# Each step prints "ok - ..." or stops with "not ok - ..."; the VM is always
# stopped. Exit 77 (skip) when TAP needs libraries the VM image lacks
# (a sanitizer build).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
nodevm=$here/../node-vm
# shellcheck source=test/lib.sh
. "$here/../lib.sh"
DIE_PREFIX="not ok - "
[ $# -eq 3 ] || { echo "usage: test/agent/denial_vm.sh VMDIR TAP AGENT" >&2; exit 2; }
vm=$1 tap=$2 agent=$3
x() { "$nodevm/exec" "$vm" --timeout 120 -- "$@"; }
pass=0
ok() { pass=$((pass + 1)); echo "ok - $*"; }
on_die() { tail -n 20 "$vm/console.log" 2>/dev/null || true; }
cleanup() { "$nodevm/stop" "$vm" >/dev/null 2>&1 || true; }
trap cleanup EXIT
t0=$(date +%s)

# The VM holds the agent's libraries: the tap may need nothing else.
agent_libs=$(ldd "$agent" 2>/dev/null | grep -o '/[^ ]*' || true)
for lib in $(ldd "$tap" 2>/dev/null | grep -o '/[^ ]*'); do
  if ! grep -qxF "$lib" <<<"$agent_libs"; then
    echo "denial_vm: $tap needs $lib, which the VM image lacks; skipped"
    exit 77
  fi
done

mkdir -p "$vm"
cat >"$vm/kubeconfig.none" <<'EOF'
apiVersion: v1
kind: Config
clusters: [{name: none, cluster: {server: "https://127.0.0.1:9"}}]
users: [{name: none, user: {token: none}}]
contexts: [{name: none, context: {cluster: none, user: none}}]
current-context: none
EOF
"$nodevm/stop" "$vm" >/dev/null 2>&1 || true
"$nodevm/start" "$vm" --kubeconfig "$vm/kubeconfig.none" --node-name denial-node --configmap none/none \
  --agent "$agent" --no-agent-wait
x agent-ctl stop >/dev/null

# The tap through argv (the channel has no stdin): base64 in chunks well
# under the kernel's 128 KiB per-argument limit.
stripped=$vm/denial_tap
cp "$tap" "$stripped"
strip "$stripped"
b64=$(base64 -w0 "$stripped")
x rm -f /tmp/tap.b64
for ((i = 0; i < ${#b64}; i += 65536)); do
  # shellcheck disable=SC2016 # "$1" is the guest shell's
  x sh -c 'printf %s "$1" >>/tmp/tap.b64' sh "${b64:i:65536}"
done
want=$(sha256sum <"$stripped" | cut -d' ' -f1)
got=$(x sh -c 'base64 -d /tmp/tap.b64 >/tmp/denial_tap && chmod +x /tmp/denial_tap && sha256sum </tmp/denial_tap' | cut -d' ' -f1)
[ "$want" = "$got" ] || die "tap copy into the VM differs ($got)"
ok "tap copied into the VM"

x sh -c 'cat >/tmp/tap.aa <<P
abi <abi/3.0>,
include <tunables/global>
profile custom.tap-enf {
  /bin/busybox mrix,
  /bin/* mrix,
  /tmp/** rw,
  /proc/** r,
  /dev/null rw,
  /etc/passwd r,
  /etc/group r,
}
profile custom.tap-cmp flags=(complain) {
  /bin/busybox mrix,
  /bin/* mrix,
  /tmp/** rw,
  /dev/null rw,
}
profile tap-other {
  /bin/busybox mrix,
  /bin/* mrix,
  /dev/null rw,
}
P
apparmor_parser -r -q /tmp/tap.aa 2>&1 | grep -v "Cache read/write disabled" >&2
echo secret >/etc/shadow; : >/tmp/tapfile; cp /bin/busybox /tmp/cat'
profiles=$(x cat /sys/kernel/security/apparmor/profiles)
grep -qx 'custom.tap-cmp (complain)' <<<"$profiles" || die "profiles not loaded: $profiles"
ok "profiles loaded (enforce, complain, non-custom)"

# The guest side of one pass: start the tap, wait until it has its source
# open, trigger, give it a second, stop it. $1 kind, $2 trigger set.
# shellcheck disable=SC2016 # expanded by the guest's shell
guest='kind=$1 set=$2
/tmp/denial_tap --kind "$kind" --count 100000 --timeout 90 >/tmp/tap.out 2>/tmp/tap.err &
tp=$!
i=0
until grep -q "tap: source" /tmp/tap.err; do
  i=$((i + 1))
  if [ $i -gt 100 ] || ! kill -0 $tp 2>/dev/null; then cat /tmp/tap.err >&2; exit 1; fi
  sleep 0.1
done
enf() { echo -n "exec custom.tap-enf" >/proc/self/attr/exec && exec "$@"; }
cmp() { echo -n "exec custom.tap-cmp" >/proc/self/attr/exec && exec "$@"; }
(enf /bin/cat /etc/shadow) 2>/dev/null & echo "pid-cat $!" >/tmp/tap.pids; wait $!
(enf /bin/touch "/etc/a b") 2>/dev/null
(cmp /bin/cat /etc/shadow) >/dev/null
if [ "$set" = full ]; then
  (enf /bin/ping -c1 127.0.0.1) >/dev/null 2>&1
  (enf /bin/chown 65534 /tmp/tapfile) 2>/dev/null
  (cmp /bin/sh -c "/tmp/cat /etc/shadow") >/dev/null
  (echo -n "exec tap-other" >/proc/self/attr/exec && exec /bin/cat /etc/shadow) 2>/dev/null
  (enf /bin/sh -c "for i in \$(seq 50); do cat /etc/shadow; done") 2>/dev/null
fi
sleep 1
kill $tp; wait $tp
cat /tmp/tap.pids /tmp/tap.out; cat /tmp/tap.err >&2; true'

# check OUT LINE: LINE occurs in OUT as a whole line.
has() { grep -qxF "$2" <<<"$1"; }
rec() { # mode op profile child name req pid comm cap capname family sock_type
  printf 'record mode=%s op=%s profile=%s child=%s name=%s trunc=0 req=%s den=%s pid=%s comm=%s cap=%s capname=%s family=%s sock_type=%s' \
    "$1" "$2" "$3" "$4" "$5" "$6" "$6" "$7" "$8" "$9" "${10}" "${11}" "${12}"
}

# --- netlink ---
t1=$(date +%s)
out=$(x sh -c "$guest" sh netlink full 2>"$vm/tap.err") || die "netlink pass failed: $(cat "$vm/tap.err")"
echo "$out" >"$vm/tap.netlink"
grep -q '^tap: source netlink$' "$vm/tap.err" || die "tap did not use netlink: $(cat "$vm/tap.err")"
pid=$(sed -n 's/^pid-cat //p' <<<"$out")
has "$out" "$(rec enforce open custom.tap-enf 0 /etc/shadow r "$pid" cat -1 '' '' '')" ||
  die "netlink: enforce open of /etc/shadow by cat[$pid] missing: $out"
ok "netlink: enforce file denial with operation, name, masks, pid, comm"
grep -qx 'record mode=enforce op=mknod profile=custom.tap-enf child=0 name=/etc/a b trunc=0 req=c den=c pid=[0-9]* comm=touch cap=-1 capname= family= sock_type=' <<<"$out" ||
  die "netlink: hex-encoded name not decoded: $out"
ok "netlink: hex-encoded name decoded"
grep -qx 'record mode=enforce op=create profile=custom.tap-enf child=0 name= trunc=0 req=create den=create pid=[0-9]* comm=ping cap=-1 capname= family=inet sock_type=raw' <<<"$out" ||
  die "netlink: network denial missing: $out"
grep -qx 'record mode=enforce op=capable profile=custom.tap-enf child=0 name= trunc=0 req= den= pid=[0-9]* comm=chown cap=0 capname=chown family= sock_type=' <<<"$out" ||
  die "netlink: capability denial missing: $out"
ok "netlink: network and capability denials"
grep -qx 'record mode=complain op=open profile=custom.tap-cmp child=0 name=/etc/shadow trunc=0 req=r den=r pid=[0-9]* comm=cat cap=-1 capname= family= sock_type=' <<<"$out" ||
  die "netlink: complain-mode open missing: $out"
grep -qx 'record mode=complain op=exec profile=custom.tap-cmp child=0 name=/tmp/cat trunc=0 req=x den=x pid=[0-9]* comm=sh cap=-1 capname= family= sock_type=' <<<"$out" ||
  die "netlink: complain-mode exec missing: $out"
grep -qx 'record mode=complain op=open profile=custom.tap-cmp child=1 name=/etc/shadow trunc=0 req=r den=r pid=[0-9]* comm=cat cap=-1 capname= family= sock_type=' <<<"$out" ||
  die "netlink: the learning child's open is not attributed to custom.tap-cmp: $out"
ok "netlink: complain mode (ALLOWED), exec and its //null- learning child"
if grep '^record' <<<"$out" | grep -v ' profile=custom\.tap-' >/dev/null; then die "netlink: a record of another profile: $out"; fi
flood=$(grep -c "^record mode=enforce op=open profile=custom.tap-enf child=0 name=/etc/shadow .* comm=cat " <<<"$out" || true)
[ "$flood" -ge 51 ] || die "netlink: $flood of the 51 /etc/shadow denials"
ok "netlink: nothing of tap-other; a burst of 50 denials delivered in full ($flood)"
echo "# netlink pass $(($(date +%s) - t1)) s; $(tr '\n' ' ' <"$vm/tap.err")"

# --- kmsg ---
# printk_ratelimit (10 per 5 s) is spent by the burst above, and a loaded
# TCG guest's clock can lag the host's (a sleep did not always refill it, CI):
# this pass checks fields, not the kernel's rate limit, so it is turned off
# here (interval 0). In production the fallback stays rate limited (README).
x sh -c 'echo 0 >/proc/sys/kernel/printk_ratelimit' || die "cannot turn off printk_ratelimit in the VM"
# kmsg_pass: one pass; 0 when all three records came through with their
# fields and nothing else (history skipped), else 1 with why in $why.
kmsg_pass() {
  local out pid n
  out=$(x sh -c "$guest" sh kmsg small 2>"$vm/tap.err") || die "kmsg pass failed: $(cat "$vm/tap.err")"
  echo "$out" >"$vm/tap.kmsg"
  grep -q '^tap: source kmsg$' "$vm/tap.err" || die "tap did not use kmsg: $(cat "$vm/tap.err")"
  pid=$(sed -n 's/^pid-cat //p' <<<"$out")
  why="enforce open of /etc/shadow by cat[$pid] missing"
  has "$out" "$(rec enforce open custom.tap-enf 0 /etc/shadow r "$pid" cat -1 '' '' '')" || return 1
  why="hex-encoded name not decoded"
  grep -qx 'record mode=enforce op=mknod profile=custom.tap-enf child=0 name=/etc/a b trunc=0 req=c den=c pid=[0-9]* comm=touch cap=-1 capname= family= sock_type=' <<<"$out" || return 1
  why="complain-mode open missing"
  grep -qx 'record mode=complain op=open profile=custom.tap-cmp child=0 name=/etc/shadow trunc=0 req=r den=r pid=[0-9]* comm=cat cap=-1 capname= family= sock_type=' <<<"$out" || return 1
  # History before the tap opened /dev/kmsg (the netlink pass) is skipped.
  n=$(grep -c '^record' <<<"$out" || true)
  why="$n records, want exactly the 3 of this pass"
  [ "$n" -eq 3 ]
}
# The fallback is lossy by nature (FACTS.md): under CI load the first records
# of a pass went missing now and then though the tap had its source open.
# What is checked here is the fields, so a pass that lost a record is
# repeated, at most 3 passes in all.
t1=$(date +%s)
tries=0
until kmsg_pass; do
  tries=$((tries + 1))
  [ "$tries" -lt 3 ] || die "kmsg: $why (3 passes): $(cat "$vm/tap.kmsg")"
  echo "# kmsg pass $tries: $why; repeated"
done
ok "kmsg fallback: the same fields; history skipped"
echo "# kmsg pass $(($(date +%s) - t1)) s; $(tr '\n' ' ' <"$vm/tap.err")"

"$nodevm/stop" "$vm"
echo "denial_vm: $pass passed in $(($(date +%s) - t0)) s"
