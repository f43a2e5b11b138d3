#!/bin/sh
# Runs INSIDE the node VM (real AppArmor kernel): N realistic profiles, cold,
# one `apparmor_parser --replace -K` per profile vs the agent's checked path
# (one -N run, one compile-only -Q --write-cache run, one --replace that
# reads the cache), twice; then a reload
# from the binary cache. From the host, with a VM started by test/node-vm/start:
#   test/node-vm/exec DIR --timeout 600 -- sh -c "$(cat bench/agent/vm_first_load.sh)" sh 20
N=${1:-50}
d=/tmp/pb; rm -rf "$d" /tmp/pbcache; mkdir -p "$d" /tmp/pbcache
i=0
while [ "$i" -lt "$N" ]; do
  printf '#include <tunables/global>\nprofile custom.vb%d flags=(attach_disconnected) {\n  #include <abstractions/base>\n  file,\n  network,\n  deny /etc/shadow r,\n}\n' $i > "$d/custom.vb$i"
  i=$((i+1))
done
now() { cut -d' ' -f1 /proc/uptime; }
cpu() { awk '{print $14+$15+$16+$17}' /proc/self/stat; }
P=apparmor_parser
command -v $P >/dev/null || P=/sbin/apparmor_parser
unload() { $P -R -q "$d"/* 2>/dev/null; }
for round in 1 2; do
  unload
  t0=$(now)
  for f in "$d"/*; do $P --replace -K -q "$f" 2>/dev/null || echo "FAIL $f"; done
  t1=$(now)
  n1=$(grep -c '^custom.vb' /sys/kernel/security/apparmor/profiles)
  unload
  rm -rf /tmp/pbcache/*
  t2=$(now)
  names=$($P -Q -K -q -N -- "$d"/* 2>/dev/null | wc -l)
  $P -Q --write-cache --cache-loc=/tmp/pbcache -q "$d"/* 2>/dev/null || echo "COMPILE FAIL"
  hits=$($P --replace -k --write-cache --cache-loc=/tmp/pbcache -q "$d"/* 2>&1 | grep -c '^Cache hit')
  t3=$(now)
  n2=$(grep -c '^custom.vb' /sys/kernel/security/apparmor/profiles)
  echo "round $round: one --replace per profile: $(echo "$t1 $t0" | awk '{print $1-$2}') s ($n1 loaded); agent checked path (-N, -Q --write-cache, --replace from the cache): $(echo "$t3 $t2" | awk '{print $1-$2}') s ($names names, $hits cache hits, $n2 loaded)"
done
unload
# Restart case: the cache written above, so a reload is a cache hit.
t4=$(now); $P --replace --write-cache --cache-loc=/tmp/pbcache -q "$d"/*; t5=$(now)
echo "reload from the binary cache (agent restart): $(echo "$t5 $t4" | awk '{print $1-$2}') s"
unload
