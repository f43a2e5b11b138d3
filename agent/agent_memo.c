/* agent_memo: per-key verdicts between reconciles (see agent_memo.h). */
#include "agent_memo.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"

/* Linear lookups: at most a few hundred keys. */
agent_memo *agent_memo_find(agent_memo_table *t, const char *name)
{
	for (size_t i = 0; i < t->n; i++)
		if (strcmp(t->items[i].name, name) == 0)
			return &t->items[i];
	return NULL;
}

agent_memo *agent_memo_get(agent_memo_table *t, const char *name)
{
	agent_memo *m = agent_memo_find(t, name);

	if (m)
		return m;
	if (buf_grow_items(&t->items, &t->cap, t->n + 1, sizeof(*t->items), 32) != 0)
		return NULL;
	m = &t->items[t->n++];
	memset(m, 0, sizeof(*m));
	snprintf(m->name, sizeof(m->name), "%s", name);
	return m;
}

double agent_memo_backoff_s(unsigned fails)
{
	double s = 1;

	for (unsigned i = 1; i < fails && s < AGENT_MEMO_RETRY_MAX_S; i++)
		s *= 2;
	return s < AGENT_MEMO_RETRY_MAX_S ? s : AGENT_MEMO_RETRY_MAX_S;
}

double agent_memo_next_retry(const agent_memo_table *t, size_t *n)
{
	double next = 0;

	*n = 0;
	for (size_t i = 0; i < t->n; i++) {
		const agent_memo *m = &t->items[i];

		if (!m->ok || !m->load_failed)
			continue;
		(*n)++;
		if (next == 0 || m->retry_at < next)
			next = m->retry_at;
	}
	return next;
}

void agent_memo_sweep(agent_memo_table *t)
{
	size_t w = 0;

	for (size_t i = 0; i < t->n; i++) {
		if (t->items[i].seen) {
			t->items[i].seen = false;
			t->items[w++] = t->items[i];
		}
	}
	t->n = w;
}

void agent_memo_cleanup(agent_memo_table *t)
{
	free(t->items);
	memset(t, 0, sizeof(*t));
}
