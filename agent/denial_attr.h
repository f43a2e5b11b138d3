/* denial_attr: attribution of a denial to its pod and container, at record
 * time — pid -> <proc>/<pid>/cgroup (denial_cgroup) -> pod UID + container
 * ID -> namespace/name and container name from a pod watch of this node
 * only (fieldSelector spec.nodeName=<node>, objects slimmed by
 * denial_pods_slim to a few hundred bytes each). A process gone before the
 * lookup, or outside any pod, gets no pod (still counted by profile).
 * Recently read pids are cached briefly, so a flood from one process costs
 * one file read per DENIAL_ATTR_TTL_MS, not one per record.
 * Trust boundary: the pid comes from the kernel's record; the cgroup file
 * is the kernel's; pod objects are API data (denial_pods bounds them).
 * Threads: one informer thread; denial_attr_lookup may be called from any
 * one other thread (the table is guarded by a mutex). No globals. */
#ifndef ARMORGATE_DENIAL_ATTR_H
#define ARMORGATE_DENIAL_ATTR_H

#include "denial_agg.h"
#include "err.h"
#include "kube.h"
#include "metrics.h"

enum { DENIAL_ATTR_CACHE = 64, DENIAL_ATTR_TTL_MS = 2000 };

typedef struct denial_attr denial_attr;

/* client NULL: no pod watch (records are attributed to pod UIDs at most).
 * client, node, proc_root and m are borrowed and outlive the attr. The
 * client's stop flag ends the watch (set it before denial_attr_stop). */
denial_attr *denial_attr_start(kube_client *client, const char *node, const char *proc_root, metrics *m, ag_err *err);
void denial_attr_stop(denial_attr *a);
/* Fills *who for pid (who->uid "" when no pod). */
void denial_attr_lookup(denial_attr *a, int pid, denial_who *who);
/* The pod watch has listed once (tests). */
bool denial_attr_synced(denial_attr *a);

#endif
