/* agent_reconcile: one reconcile of the node against a snapshot of the
 * desired profiles — validate (the webhook's rules, memoised by content
 * hash), plan (agent_plan), execute (stage, load through agent_loader, move
 * into place, unload), confirm with the kernel's own list, report. Runs on
 * the caller's thread, one at a time; nothing here decides when. No globals. */
#ifndef ARMORGATE_AGENT_RECONCILE_H
#define ARMORGATE_AGENT_RECONCILE_H

#include <stdbool.h>
#include <stddef.h>

#include "agent_host.h"
#include "agent_loader.h"
#include "agent_memo.h"
#include "agent_report.h"
#include "agent_source.h"

typedef struct agent_reconcile {
	/* Set by the wiring; borrowed. */
	agent_report report; /* publisher, metrics, host, apparmor, boot id */
	const agent_loader *loader;
	const char *staging;  /* new texts are written here, loaded, then moved */
	const char *host_dir; /* where loaded profiles live (= host->profiles_dir) */
	bool compile_check;   /* where nothing is loaded, compile-check here */
	size_t max_profile_bytes;
	/* Owned: agent_reconcile_cleanup. */
	agent_memo_table memo;
} agent_reconcile;

/* One full reconcile on s. true when it ran to the end (the node's state was
 * read, acted on and reported). */
bool agent_reconcile_run(agent_reconcile *r, const agent_snapshot *s);
/* When a failed load is next retried (mono_sec(); 0 = none), and how many
 * profiles wait for one (*n; also the retry-pending metric). */
double agent_reconcile_next_retry(const agent_reconcile *r, size_t *n);
void agent_reconcile_cleanup(agent_reconcile *r);

#endif
