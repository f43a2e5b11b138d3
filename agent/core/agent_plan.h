/* agent_plan: the reconcile decision, pure. Desired profiles (from the
 * source, already validated) x the managed files on disk x the kernel list x
 * confined-process counts -> one action per managed name. No I/O.
 *
 * Rules (DESIGN.md "Agent behaviour"):
 * - only names matching the profile-name rule (contract_profile_name_valid)
 *   are ever managed;
 *   anything else in the kernel list is ignored;
 * - a valid desired profile is loaded when its content hash differs from the
 *   file on disk or the kernel does not list it; otherwise skipped;
 * - a refused desired profile changes nothing (the last good version stays on
 *   disk and in the kernel) and is reported as an error;
 * - a managed name present on disk or in the kernel but no longer desired is
 *   removed only when no process is confined by it, else deferred.
 * No globals. */
#ifndef ARMORGATE_AGENT_PLAN_H
#define ARMORGATE_AGENT_PLAN_H

#include <stdbool.h>
#include <stddef.h>

#include "agent_kernel.h"
#include "contract.h"
#include "err.h"

enum { AGENT_SHA256_HEX = 65, AGENT_NAME_CAP = CONTRACT_PROFILE_NAME_MAX + 1, AGENT_MSG_CAP = 512 };

typedef struct agent_desired {
	const char *name; /* borrowed */
	const char *text; /* borrowed */
	size_t len;
	char sha256[AGENT_SHA256_HEX];
	bool ok;             /* passed validation (and did not fail to load before) */
	const char *message; /* why refused; borrowed, may be NULL */
} agent_desired;

typedef struct agent_ondisk {
	const char *name; /* borrowed */
	char sha256[AGENT_SHA256_HEX];
} agent_ondisk;

typedef struct agent_confined {
	const char *name; /* borrowed */
	unsigned long count;
} agent_confined;

typedef enum agent_action {
	AGENT_ACT_SKIP,    /* desired, unchanged, loaded */
	AGENT_ACT_LOAD,    /* desired, new/changed or missing from the kernel */
	AGENT_ACT_REFUSED, /* desired but refused: keep whatever is there */
	AGENT_ACT_REMOVE,  /* not desired, nothing confined: unload + delete file */
	AGENT_ACT_DEFER,   /* not desired, still confining processes */
} agent_action;

typedef struct agent_plan_item {
	char name[AGENT_NAME_CAP];
	agent_action action;
	bool write; /* LOAD: the file on disk must be (re)written */
	bool on_disk;
	bool in_kernel;
	char kmode[AGENT_KMODE_MAX];   /* kernel mode when in_kernel */
	char sha256[AGENT_SHA256_HEX]; /* desired hash, else the on-disk hash */
	long desired;                  /* index into the desired array, -1 if none */
	unsigned long confined;        /* DEFER/REMOVE: processes confined by it */
	char message[AGENT_MSG_CAP];   /* REFUSED: the reason */
} agent_plan_item;

typedef struct agent_plan {
	agent_plan_item *items; /* sorted by name */
	size_t n;
	size_t nload, nremove, ndefer, nrefused, nskip;
} agent_plan;

/* Builds the plan. Desired/on-disk entries with unmanaged names are ignored
 * (validation already refused them). Duplicated desired names: the first
 * wins. 0, or -1 (ENOMEM). Free with agent_plan_cleanup. */
int agent_plan_build(const agent_desired *desired, size_t nd, const agent_ondisk *disk, size_t ndisk,
		     const agent_klist *kernel, const agent_confined *conf, size_t nconf, agent_plan *out,
		     ag_err *err) AG_WARN_UNUSED;
void agent_plan_cleanup(agent_plan *p);
const agent_plan_item *agent_plan_find(const agent_plan *p, const char *name);
const char *agent_plan_action_name(agent_action a);

#endif
