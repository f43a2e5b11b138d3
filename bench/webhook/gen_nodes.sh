#!/usr/bin/env bash
# gen_nodes.sh N > nodes.json: a metadata-only NodeList like the webhook's
# watch sees. 90 % of nodes AppArmor-enabled; each enabled node carries 3 of
# 20 profiles custom.p0..custom.p19 (custom.p0 only on node 0); the rest unsupported.
set -euo pipefail
n=${1:-5000}
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
