/* kctl_view: what `kubectl armorgate status` and `why` print, from API
 * objects as `kubectl get -o json` returns them. Pure: JSON in, text out; no
 * I/O, no globals. Trust boundary: the objects come from the API server, the
 * status annotations from the agents; both are read defensively (a missing
 * or malformed field prints as "?", never crashes). */
#ifndef ARMORGATE_KCTL_VIEW_H
#define ARMORGATE_KCTL_VIEW_H

#include <cjson/cJSON.h>

#include "buf.h"

/* The profile x node matrix of the agents' status annotations: per node
 * AppArmor, agent version, last observation and whether the status predates
 * the node's current boot; per profile and node its state; then every error
 * and deferred removal with its message. nodes: a NodeList. 0, or -1 when out
 * of memory (errno). */
int kctl_view_status(const cJSON *nodes, buf *out);

/* Why a pod runs, waits or was refused where it is: the custom.* profiles it
 * uses (security contexts and the nodeSelector armorgate injected), its
 * scheduling state, and for each node whether it can take the pod and, if
 * not, why (no AppArmor, profile not loaded and the agent's message, stale
 * status after a reboot). 0, or -1 when out of memory (errno). */
int kctl_view_why(const cJSON *pod, const cJSON *nodes, buf *out);

#endif
