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
	bool load_failed; /* ... and then failed to load: retried at retry_at */
	unsigned fails;   /* failed loads of this content in a row */
	double retry_at;  /* mono_sec() of the next load attempt */
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
/* Backoff before retry number fails (1 s, doubling, at most
 * AGENT_MEMO_RETRY_MAX_S): a parser timeout, EAGAIN or an OOM-killed parser
 * heals by itself. */
enum { AGENT_MEMO_RETRY_MAX_S = 300 };
double agent_memo_backoff_s(unsigned fails);
/* The earliest retry_at of an entry waiting for a retry, or 0 when none; *n
 * gets how many wait. */
double agent_memo_next_retry(const agent_memo_table *t, size_t *n);
/* Forgets every entry not marked seen, and clears the marks. */
void agent_memo_sweep(agent_memo_table *t);
void agent_memo_cleanup(agent_memo_table *t);

#endif
