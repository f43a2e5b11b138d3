/* agent_node: what the agent publishes on its Node (DESIGN.md "Node
 * readiness"), pure. Computes the wanted labels and the armorgate.io/status
 * annotation, and the JSON merge patch that takes the Node from what it has
 * to what we want — or nothing when only observedAt would change.
 * Trust boundary: the current Node object is API data (untrusted JSON).
 * No globals, no I/O. */
#ifndef ARMORGATE_AGENT_NODE_H
#define ARMORGATE_AGENT_NODE_H

#include <stdbool.h>
#include <stddef.h>

#include <cjson/cJSON.h>

#include "agent_kernel.h"
#include "agent_plan.h"
#include "contract.h"
#include "err.h"

/* A managed profile's state in the status annotation. Zero is an error, so
 * a status nobody filled in never claims more than it knows. */
typedef enum agent_pstate {
	AGENT_PSTATE_ERROR,
	AGENT_PSTATE_LOADED,
	AGENT_PSTATE_REMOVAL_DEFERRED,
	AGENT_PSTATE_COUNT,
} agent_pstate;

/* The contract's spelling ("error", "loaded", "removal-deferred"): only for
 * JSON, logs and metric labels. */
const char *agent_node_pstate_name(agent_pstate s);

typedef struct agent_pstatus {
	char name[AGENT_NAME_CAP];
	char sha256[AGENT_SHA256_HEX];
	char mode[AGENT_KMODE_MAX];
	agent_pstate state;
	char message[AGENT_MSG_CAP];
} agent_pstatus;

typedef struct agent_status {
	bool apparmor;                 /* enabled vs unsupported */
	const char *agent_version;     /* borrowed */
	const char *boot_id;           /* borrowed, may be "" */
	const agent_pstatus *profiles; /* borrowed */
	size_t n;
	const char *source; /* NULL: the source is there; else its condition ("missing"), shown as "source" */
} agent_status;

/* Wanted labels: armorgate.io/apparmor plus profiles.armorgate.io/<p>=loaded
 * for each managed name the kernel list shows (none when unsupported).
 * Returns a new cJSON object (caller deletes) or NULL on ENOMEM. */
cJSON *agent_node_wanted_labels(bool apparmor, const agent_klist *kernel);

/* The status annotation value (compact JSON text, caller frees). observed_at
 * may be NULL to leave the field out (used for comparisons). */
char *agent_node_status_json(const agent_status *st, const char *observed_at);

/* Merge patch from the Node's current metadata (labels/annotations objects,
 * either may be NULL) to the wanted labels + status. Stale
 * profiles.armorgate.io/<p> labels are set to null. Returns 0 with *patch NULL
 * when nothing but observedAt would change, 0 with a heap JSON text (caller
 * frees) otherwise, -1 on ENOMEM. */
int agent_node_patch(const cJSON *cur_labels, const cJSON *cur_annotations, const cJSON *wanted_labels,
		     const agent_status *st, const char *observed_at, char **patch, ag_err *err) AG_WARN_UNUSED;

/* Convenience: the same from a whole Node object (metadata.labels/annotations). */
int agent_node_patch_for(const cJSON *node, const cJSON *wanted_labels, const agent_status *st, const char *observed_at,
			 char **patch, ag_err *err) AG_WARN_UNUSED;

#endif
