/* denial_obs: what each custom.* profile was seen to need on this node —
 * file paths with the union of their denied masks, capabilities, network
 * family/type, exec targets — for the Node annotation armorgate.io/observed
 * (DESIGN.md "Operator tools") that `kubectl armorgate suggest` merges into
 * rules. Pure: records in, JSON text out; no I/O, no globals, not
 * thread-safe (the telemetry guards it).
 * Bounds: the rendered JSON never passes max_bytes (32 KiB): every item's
 * JSON cost is counted when it is added, and an item that would pass the
 * bound is dropped and its profile marked truncated. Memory is therefore
 * about max_bytes of strings plus a pointer per item.
 * Trust boundary: paths and names come from confined processes (through
 * the kernel): any byte may appear; bytes that are not UTF-8 become '?'. */
#ifndef ARMORGATE_DENIAL_OBS_H
#define ARMORGATE_DENIAL_OBS_H

#include <stdbool.h>
#include <stddef.h>

#include "contract.h"
#include "denial_record.h"

#define DENIAL_OBS_ANNOTATION CONTRACT_ANNOTATION_OBSERVED

enum { DENIAL_OBS_MAX_BYTES = 32 * 1024 };

/* A set of strings (capabilities, "inet stream", exec paths) or of paths
 * with a mask (files: mask non-NULL). */
typedef struct denial_obs_set {
	char **items;                   /* owned */
	char (*masks)[DENIAL_MASK_MAX]; /* files only */
	size_t n, cap, mask_cap;
} denial_obs_set;

typedef struct denial_obs_profile {
	char name[CONTRACT_PROFILE_NAME_MAX + 1];
	bool enforce, complain; /* modes seen */
	bool truncated;
	denial_obs_set files, caps, net, exec;
} denial_obs_profile;

typedef struct denial_obs {
	denial_obs_profile *profiles; /* owned */
	size_t n, cap;
	size_t bytes;          /* JSON cost of everything kept */
	size_t max_bytes;      /* DENIAL_OBS_MAX_BYTES unless a test sets less */
	bool changed;          /* something was added since denial_obs_render cleared it */
	unsigned long dropped; /* items refused by the bound */
} denial_obs;

void denial_obs_init(denial_obs *o, size_t max_bytes);
void denial_obs_cleanup(denial_obs *o);
/* Folds one record in: true when it added something (a path, a mask letter,
 * a capability, a mode); false for known or unrecorded items (signal, mount,
 * truncated names) and for items the bound drops (o->dropped counts them). */
bool denial_obs_add(denial_obs *o, const denial_record *r);
/* The annotation value {"bootID","observedAt","profiles":{...}}, heap
 * (caller frees), or NULL when out of memory. Clears o->changed. */
char *denial_obs_render(denial_obs *o, const char *boot_id, const char *observed_at);
/* Takes back what a previous run of this boot wrote (json = the current
 * annotation value): ignored unless its bootID is boot_id. Leaves
 * o->changed as it was. Untrusted JSON: malformed parts are skipped. */
void denial_obs_load(denial_obs *o, const char *json, const char *boot_id);

#endif
