/* nodeset: the webhook's view of which Nodes can run which custom.* AppArmor
 * profiles, fed by the Node informer (list + watch, metadata only is enough).
 * Trust boundary: Node objects come from the API server; only the labels
 * armorgate.io/apparmor and profiles.armorgate.io/<p> are read, everything
 * else is ignored, and malformed objects are skipped without error.
 *
 * Threads: every function is safe to call concurrently (pthread rwlock:
 * admission reviews take the read side, the informer the write side).
 * Lookups are O(1): a hash map profile -> number of enabled nodes that carry
 * it, plus a hash map node name -> its readiness. */
#ifndef ARMORGATE_NODESET_H
#define ARMORGATE_NODESET_H

#include <stdbool.h>
#include <stddef.h>

#include <cjson/cJSON.h>

#include "kube.h"

typedef struct nodeset nodeset;

/* NULL only when out of memory. Free with nodeset_free (NULL is fine). */
nodeset *nodeset_new(void);
void nodeset_free(nodeset *ns);

/* Replaces the whole set with items: a cJSON array of Node or
 * PartialObjectMetadata objects (borrowed for the call). Items without a
 * metadata.name are skipped. */
void nodeset_replace(nodeset *ns, const cJSON *items);
/* One watch event: ADDED/MODIFIED upsert the node, DELETED removes it;
 * BOOKMARK/ERROR are ignored. obj borrowed for the call. */
void nodeset_apply(nodeset *ns, kube_event_type type, const cJSON *obj);

/* Number of nodes known (any readiness). */
size_t nodeset_size(nodeset *ns);
/* Number of nodes labelled armorgate.io/apparmor=enabled. */
size_t nodeset_enabled_count(nodeset *ns);

/* true when some node labelled armorgate.io/apparmor=enabled also has
 * profiles.armorgate.io/<profile>=loaded. */
bool nodeset_any_has(nodeset *ns, const char *profile);

/* 1 when node is known, AppArmor-enabled and has profile loaded; 0 otherwise,
 * with why (may be NULL; cap bytes, always NUL-terminated) set to one of
 * "unknown node", "AppArmor not enabled on the node" or "profile not loaded". */
int nodeset_node_has(nodeset *ns, const char *node, const char *profile, char *why, size_t cap);

#endif
