/* denial_pods: this node's pods as the pod watch last saw them, reduced to
 * what attribution needs — pod UID -> namespace/name, container ID ->
 * container name (init, ephemeral and sidecar containers included). Pure:
 * the informer's objects in, lookups out; no I/O, no locks (denial_attr
 * guards it), no globals.
 * Trust boundary: pod objects are API data (untrusted JSON); every string
 * is bounded and a malformed item is skipped. */
#ifndef ARMORGATE_DENIAL_PODS_H
#define ARMORGATE_DENIAL_PODS_H

#include <stdbool.h>
#include <stddef.h>

#include <cjson/cJSON.h>

#include "denial_cgroup.h"

enum {
	DENIAL_PODS_MAX = 4096,       /* pods kept; a node runs at most a few hundred */
	DENIAL_PODS_CONTAINERS = 128, /* containers kept per pod */
	DENIAL_NS_MAX = 64,           /* a namespace name (63) + NUL */
	DENIAL_POD_NAME_MAX = 254,    /* a pod name (253) + NUL */
	DENIAL_CONTAINER_MAX = 64,    /* a container name (63) + NUL */
};

typedef struct denial_pod_container {
	char id[DENIAL_CID_MAX];
	char name[DENIAL_CONTAINER_MAX];
} denial_pod_container;

typedef struct denial_pod {
	char uid[DENIAL_UID_LEN + 1];
	char ns[DENIAL_NS_MAX], name[DENIAL_POD_NAME_MAX];
	denial_pod_container *containers; /* owned */
	size_t ncontainers;
} denial_pod;

/* Owned by the caller (zero it, or denial_pods_init); denial_pods_cleanup frees. */
typedef struct denial_pods {
	denial_pod *items;
	size_t n, cap;
} denial_pods;

void denial_pods_init(denial_pods *t);
void denial_pods_cleanup(denial_pods *t);

/* The informer's keep hook: a new object with only metadata.{namespace,
 * name,uid} and status.{containerStatuses,initContainerStatuses,
 * ephemeralContainerStatuses}[].{name,containerID} (caller deletes), NULL
 * when out of memory. A real Pod is 5-20 KB; this is a few hundred bytes. */
cJSON *denial_pods_slim(const cJSON *pod);
/* The whole set (initial list, relist): 0, or -1 with errno ENOMEM (the
 * table keeps what it could take). */
int denial_pods_replace(denial_pods *t, const cJSON *items);
/* ADDED/MODIFIED: 0, or -1 (ENOMEM, or E2BIG past DENIAL_PODS_MAX). */
int denial_pods_upsert(denial_pods *t, const cJSON *pod);
void denial_pods_delete(denial_pods *t, const cJSON *pod);
/* The pod with this UID, or NULL. Borrowed until the table changes. */
const denial_pod *denial_pods_find(const denial_pods *t, const char *uid);
/* The container name for a container ID (as in denial_cgroup), or NULL. */
const char *denial_pods_container(const denial_pod *p, const char *container_id);

#endif
