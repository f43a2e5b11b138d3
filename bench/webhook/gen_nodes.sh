#!/usr/bin/env bash
# gen_nodes.sh N [full] > nodes.json: a metadata-only NodeList like the
# webhook's watch saw before it needed bootIDs. 90 % of nodes AppArmor-enabled;
# each enabled node carries 3 of 20 profiles custom.p0..custom.p19 (custom.p0
# only on node 0); the rest unsupported.
# With "full": a v1 List of N full Nodes as a kubelet and the agent leave
# them (status with nodeInfo, conditions, 30 images; the armorgate.io/status
# annotation), to create on a real API server; same labels but no custom.p0;
# every 50th node (7, 57, ...) has a status from an earlier boot.
set -euo pipefail
n=${1:-5000}
if [ "${2:-}" = full ]; then
  awk -v n="$n" 'BEGIN {
    printf "{\"kind\":\"List\",\"apiVersion\":\"v1\",\"items\":["
    for (i = 0; i < n; i++) {
      if (i) printf ","
      boot = sprintf("%08d-0000-4000-8000-%012d", i, i)
      sboot = (i % 50 == 7) ? "earlier-boot" : boot
      printf "{\"apiVersion\":\"v1\",\"kind\":\"Node\",\"metadata\":{\"name\":\"node-%05d\",\"labels\":{\"kubernetes.io/hostname\":\"node-%05d\",\"kubernetes.io/os\":\"linux\",\"kubernetes.io/arch\":\"amd64\",\"node.kubernetes.io/instance-type\":\"m5.large\",\"topology.kubernetes.io/zone\":\"zone-%d\"", i, i, i % 3
      st = ""
      if (i % 10 != 9) {
        printf ",\"armorgate.io/apparmor\":\"enabled\""
        for (k = 0; k < 3; k++) {
          p = 1 + (i + k * 7) % 19
          printf ",\"profiles.armorgate.io/custom.p%d\":\"loaded\"", p
          st = st sprintf("%s\\\"custom.p%d\\\":{\\\"sha256\\\":\\\"%064d\\\",\\\"mode\\\":\\\"enforce\\\",\\\"state\\\":\\\"loaded\\\"}", k ? "," : "", p, p)
        }
      } else {
        printf ",\"armorgate.io/apparmor\":\"unsupported\""
      }
      printf "},\"annotations\":{\"node.alpha.kubernetes.io/ttl\":\"0\",\"volumes.kubernetes.io/controller-managed-attach-detach\":\"true\""
      printf ",\"armorgate.io/status\":\"{\\\"agentVersion\\\":\\\"0.1.0\\\",\\\"apparmor\\\":\\\"enabled\\\",\\\"bootID\\\":\\\"%s\\\",\\\"observedAt\\\":\\\"2026-12-07T20:00:00Z\\\",\\\"profiles\\\":{%s}}\"}}", sboot, st
      printf ",\"spec\":{\"podCIDR\":\"10.%d.%d.0/24\",\"providerID\":\"aws:///zone-%d/i-%017d\"}", int(i / 256) % 256, i % 256, i % 3, i
      printf ",\"status\":{\"capacity\":{\"cpu\":\"2\",\"memory\":\"8038184Ki\",\"pods\":\"110\",\"ephemeral-storage\":\"101430960Ki\"},\"allocatable\":{\"cpu\":\"1930m\",\"memory\":\"7133992Ki\",\"pods\":\"110\",\"ephemeral-storage\":\"93478772582\"}"
      printf ",\"conditions\":["
      split("MemoryPressure DiskPressure PIDPressure Ready", c, " ")
      for (k = 1; k <= 4; k++)
        printf "%s{\"type\":\"%s\",\"status\":\"%s\",\"lastHeartbeatTime\":\"2026-12-07T20:00:00Z\",\"lastTransitionTime\":\"2026-12-01T10:00:00Z\",\"reason\":\"Kubelet%s\",\"message\":\"kubelet has no %s\"}", (k > 1 ? "," : ""), c[k], (k == 4 ? "True" : "False"), c[k], c[k]
      printf "],\"addresses\":[{\"type\":\"InternalIP\",\"address\":\"10.0.%d.%d\"},{\"type\":\"Hostname\",\"address\":\"node-%05d\"}]", int(i / 256) % 256, i % 256, i
      printf ",\"daemonEndpoints\":{\"kubeletEndpoint\":{\"Port\":10250}}"
      printf ",\"nodeInfo\":{\"machineID\":\"%032d\",\"systemUUID\":\"ec2%029d\",\"bootID\":\"%s\",\"kernelVersion\":\"6.1.0-28-cloud-amd64\",\"osImage\":\"Debian GNU/Linux 12 (bookworm)\",\"containerRuntimeVersion\":\"containerd://1.7.24\",\"kubeletVersion\":\"v1.31.4\",\"kubeProxyVersion\":\"v1.31.4\",\"operatingSystem\":\"linux\",\"architecture\":\"amd64\"}", i, i, boot
      printf ",\"images\":["
      for (k = 0; k < 30; k++)
        printf "%s{\"names\":[\"registry.example.com/team-%d/service-%d@sha256:%064d\",\"registry.example.com/team-%d/service-%d:v1.%d.%d\"],\"sizeBytes\":%d}", (k ? "," : ""), k % 7, k, k, k % 7, k, k, i % 10, 10000000 + k * 12345
      printf "]}}"
    }
    printf "]}\n"
  }'
  exit 0
fi
awk -v n="$n" 'BEGIN {
  printf "{\"kind\":\"PartialObjectMetadataList\",\"apiVersion\":\"meta.k8s.io/v1\",\"metadata\":{\"resourceVersion\":\"1\"},\"items\":["
  for (i = 0; i < n; i++) {
    if (i) printf ","
    printf "{\"kind\":\"PartialObjectMetadata\",\"apiVersion\":\"meta.k8s.io/v1\",\"metadata\":{\"name\":\"node-%05d\",\"uid\":\"00000000-0000-0000-0000-%012d\",\"resourceVersion\":\"%d\",\"labels\":{\"kubernetes.io/hostname\":\"node-%05d\",\"kubernetes.io/os\":\"linux\",\"node.kubernetes.io/instance-type\":\"m5.large\",\"topology.kubernetes.io/zone\":\"zone-%d\"", i, i, i + 10, i, i % 3
    if (i % 10 != 9) {
      printf ",\"armorgate.io/apparmor\":\"enabled\""
      for (k = 0; k < 3; k++) printf ",\"profiles.armorgate.io/custom.p%d\":\"loaded\"", 1 + (i + k * 7) % 19
      if (i == 0) printf ",\"profiles.armorgate.io/custom.p0\":\"loaded\""
    } else {
      printf ",\"armorgate.io/apparmor\":\"unsupported\""
    }
    printf "},\"annotations\":{\"node.alpha.kubernetes.io/ttl\":\"0\"}}}"
  }
  printf "]}\n"
}'
