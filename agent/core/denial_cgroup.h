/* denial_cgroup: which pod and container a process belongs to, from the
 * text of /proc/<pid>/cgroup. Pure: no I/O, no allocation, no globals.
 * Knows the kubelet layouts: cgroup v1 and v2, cgroupfs driver
 * (".../kubepods/burstable/pod<uid>/<container id>") and systemd driver
 * (".../kubepods-burstable-pod<uid with _>.slice/cri-containerd-<id>.scope",
 * "crio-<id>.scope", "docker-<id>.scope"), also as seen from inside a
 * cgroup namespace ("/../../pod<uid>/<id>": the agent's own pod has one).
 * Trust boundary: the file is the kernel's, but the path below a container's
 * cgroup can be named by a process allowed to create cgroups there; only
 * the pod segment and the one right after it are read, so nested cgroups
 * cannot make a process claim another pod's identity. */
#ifndef ARMORGATE_DENIAL_CGROUP_H
#define ARMORGATE_DENIAL_CGROUP_H

#include <stdbool.h>
#include <stddef.h>

enum {
	DENIAL_UID_LEN = 36,      /* a pod UID: 8-4-4-4-12 hex digits */
	DENIAL_CID_MAX = 129,     /* a container ID: up to 128 hex digits + NUL */
	DENIAL_CGROUP_MAX = 8192, /* the part of /proc/<pid>/cgroup that is read */
};

typedef struct denial_cgroup_id {
	char pod_uid[DENIAL_UID_LEN + 1];  /* lower case, with dashes */
	char container_id[DENIAL_CID_MAX]; /* hex, no runtime prefix; "" when the process is in the pod's own cgroup */
} denial_cgroup_id;

/* true with *out when a line of text[0..len) names a kubelet pod cgroup;
 * false (out zeroed) for host processes and anything unrecognised. */
bool denial_cgroup_parse(const char *text, size_t len, denial_cgroup_id *out);

/* A Pod status containerID ("containerd://<hex>", "cri-o://<hex>") without
 * its scheme into out (lower case); false when it is not "<scheme>://<hex>". */
bool denial_cgroup_container_id(const char *status_id, char *out, size_t cap);

#endif
