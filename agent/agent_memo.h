/* agent_memo: what the agent remembers about each profile key between
 * reconciles — the verdict for its content (so unchanged content is never
 * checked or compiled again), whether that content already failed to load
 * (so it is not retried every poll), and whether that was reported. Keys not
 * seen in a reconcile are forgotten. Owned by agent_reconcile; no globals. */
#ifndef ARMORGATE_AGENT_MEMO_H
#define ARMORGATE_AGENT_MEMO_H

#include <stdbool.h>
#include <stddef.h>

#include "agent_plan.h"

typedef struct agent_memo {
	char name[256];
	char sha256[AGENT_SHA256_HEX];
	bool ok;          /* the content passed validation */
	bool load_failed; /* ... and then failed to load */
	bool reported;    /* Event posted for this (content, failure) */
	bool seen;        /* in the current reconcile */
	char message[AGENT_MSG_CAP];
} agent_memo;

typedef struct agent_memo_table {
	agent_memo *items;
	size_t n, cap;
} agent_memo_table;

/* The entry for name, or NULL. */
agent_memo *agent_memo_find(agent_memo_table *t, const char *name);
/* The entry for name, created blank when new; NULL on ENOMEM. Pointers
 * stay valid until the next agent_memo_get or agent_memo_sweep. */
agent_memo *agent_memo_get(agent_memo_table *t, const char *name);
/* Forgets every entry not marked seen, and clears the marks. */
void agent_memo_sweep(agent_memo_table *t);
void agent_memo_cleanup(agent_memo_table *t);

#endif
