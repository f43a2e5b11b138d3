/* nodeset: the webhook's view of which Nodes can run which custom.* AppArmor
 * profiles, fed by the Node informer (list + watch, metadata only is enough).
 * Trust boundary: Node objects come from the API server; only the labels
 * armorgate.io/apparmor and profiles.armorgate.io/<p>, the bootID of the
 * armorgate.io/status annotation and status.nodeInfo.bootID are read,
 * everything else is ignored, and malformed objects are skipped without error.
 *
 * Threads: every function is safe to call concurrently (pthread rwlock:
 * admission reviews take the read side, the informer the write side).
 * Globals: none; each nodeset is its own. No I/O: the shell (nodewatch.c)
 * feeds it.
 * Lookups are O(1): a hash map profile -> number of enabled nodes that carry
 * it, plus a hash map node name -> its readiness. */
#ifndef ARMORGATE_NODESET_H
#define ARMORGATE_NODESET_H

#include <stdbool.h>
#include <stddef.h>

#include <cjson/cJSON.h>

typedef struct nodeset nodeset;

/* NULL only when out of memory. Free with nodeset_free (NULL is fine). */
nodeset *nodeset_new(void);
void nodeset_free(nodeset *ns);

/* Replaces the whole set with items: a cJSON array of Node or
 * PartialObjectMetadata objects (borrowed for the call). Items without a
 * metadata.name are skipped. */
void nodeset_replace(nodeset *ns, const cJSON *items);
/* A change to one Node (the shell maps watch events: ADDED and MODIFIED
 * upsert, DELETED deletes). */
typedef enum { NODESET_UPSERT, NODESET_DELETE } nodeset_event;

/* Applies one change; obj (a Node or PartialObjectMetadata) borrowed for
 * the call, skipped without a usable metadata.name. */
void nodeset_apply(nodeset *ns, nodeset_event ev, const cJSON *obj);

/* A new tree with only what nodeset reads of obj (its armorgate labels, the
 * status annotation cut to its bootID, status.nodeInfo.bootID): what the
 * Node list holds until nodeset_replace. NULL when out of memory. */
cJSON *nodeset_slim(const cJSON *obj);

/* Number of nodes known (any readiness). */
size_t nodeset_size(nodeset *ns);
/* Number of nodes labelled armorgate.io/apparmor=enabled whose status is
 * not from an earlier boot (a rebooted node whose agent has not yet reloaded
 * its profiles counts for nothing until it has). */
size_t nodeset_enabled_count(nodeset *ns);

/* true when some node labelled armorgate.io/apparmor=enabled also has
 * profiles.armorgate.io/<profile>=loaded. */
bool nodeset_any_has(nodeset *ns, const char *profile);

/* Whether one node can run one profile, and if not, why. */
typedef enum {
	NODESET_NODE_READY,       /* known, AppArmor enabled, profile loaded */
	NODESET_NODE_UNKNOWN,     /* not in the set */
	NODESET_NODE_NO_APPARMOR, /* not labelled armorgate.io/apparmor=enabled */
	NODESET_NODE_NOT_LOADED,  /* no profiles.armorgate.io/<profile>=loaded label */
	NODESET_NODE_STALE_BOOT,  /* armorgate.io/status bootID != status.nodeInfo.bootID */
} nodeset_node_state;

nodeset_node_state nodeset_node_has(nodeset *ns, const char *node, const char *profile);
/* For messages: "unknown node", "AppArmor not enabled on the node",
 * "profile not loaded", "status from before the node's last boot" ("" for
 * READY). */
const char *nodeset_node_state_text(nodeset_node_state st);

#endif
