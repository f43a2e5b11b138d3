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
