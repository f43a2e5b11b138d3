/* agent_plan: reconcile plan (pure; see agent_plan.h for the rules). */
#include "agent_plan.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "contract.h"

const char *agent_plan_action_name(agent_action a)
{
	switch (a) {
	case AGENT_ACT_SKIP: return "skip";
	case AGENT_ACT_LOAD: return "load";
	case AGENT_ACT_REFUSED: return "refused";
	case AGENT_ACT_REMOVE: return "remove";
	case AGENT_ACT_DEFER: return "removal-deferred";
	}
	return "?";
}

static int agent_plan_item_cmp(const void *a, const void *b)
{
	return strcmp(((const agent_plan_item *)a)->name, ((const agent_plan_item *)b)->name);
}

/* Linear lookups: at most a few hundred managed names per node. */
static agent_plan_item *agent_plan_get(agent_plan *p, const char *name)
{
	for (size_t i = 0; i < p->n; i++)
		if (strcmp(p->items[i].name, name) == 0)
			return &p->items[i];
	return NULL;
}

/* The item for name (added when new) in *it; *it NULL when name is not
 * one we manage. 0, or -1 on ENOMEM. */
static int agent_plan_take(agent_plan *p, size_t *cap, const char *name, agent_plan_item **it)
{
	*it = NULL;
	if (!contract_profile_name_valid(name))
		return 0;
	*it = agent_plan_get(p, name);
	if (*it)
		return 0;
	if (buf_grow_items(&p->items, cap, p->n + 1, sizeof(*p->items), 16) != 0)
		return -1;
	*it = &p->items[p->n++];
	memset(*it, 0, sizeof(**it));
	snprintf((*it)->name, sizeof((*it)->name), "%s", name);
	(*it)->desired = -1;
	return 0;
}

int agent_plan_build(const agent_desired *desired, size_t nd, const agent_ondisk *disk, size_t ndisk,
		     const agent_klist *kernel, const agent_confined *conf, size_t nconf, agent_plan *out, ag_err *err)
{
	agent_plan_item *it;
	size_t cap = 0;

	memset(out, 0, sizeof(*out));
	/* Every managed name we know of, from any of the three sources. */
	for (size_t i = 0; i < nd; i++) {
		if (agent_plan_take(out, &cap, desired[i].name, &it) != 0)
			goto nomem;
		if (it && it->desired < 0)
			it->desired = (long)i;
	}
	for (size_t i = 0; i < ndisk; i++) {
		if (agent_plan_take(out, &cap, disk[i].name, &it) != 0)
			goto nomem;
		if (it)
			it->on_disk = true;
	}
	for (size_t i = 0; kernel && i < kernel->n; i++) {
		if (agent_plan_take(out, &cap, kernel->items[i].name, &it) != 0)
			goto nomem;
		if (!it)
			continue;
		it->in_kernel = true;
		snprintf(it->kmode, sizeof(it->kmode), "%s", kernel->items[i].mode);
	}
	if (out->n > 1)
		qsort(out->items, out->n, sizeof(*out->items), agent_plan_item_cmp);

	for (size_t i = 0; i < out->n; i++) {
		const char *dsha = NULL;

		it = &out->items[i];
		for (size_t j = 0; j < ndisk; j++)
			if (strcmp(disk[j].name, it->name) == 0) {
				dsha = disk[j].sha256;
				break;
			}
		for (size_t j = 0; j < nconf; j++)
			if (strcmp(conf[j].name, it->name) == 0)
				it->confined += conf[j].count;
		if (it->desired >= 0) {
			const agent_desired *d = &desired[it->desired];
			if (!d->ok) {
				it->action = AGENT_ACT_REFUSED;
				snprintf(it->message, sizeof(it->message), "%s", d->message ? d->message : "refused");
				snprintf(it->sha256, sizeof(it->sha256), "%s", d->sha256);
				out->nrefused++;
				continue;
			}
			snprintf(it->sha256, sizeof(it->sha256), "%s", d->sha256);
			it->write = !dsha || strcmp(dsha, d->sha256) != 0;
			if (it->write || !it->in_kernel) {
				it->action = AGENT_ACT_LOAD;
				out->nload++;
			} else {
				it->action = AGENT_ACT_SKIP;
				out->nskip++;
			}
			continue;
		}
		if (dsha)
			snprintf(it->sha256, sizeof(it->sha256), "%s", dsha);
		if (it->in_kernel && it->confined > 0) {
			it->action = AGENT_ACT_DEFER;
			out->ndefer++;
		} else {
			/* Not in the kernel: only a stale file to delete. A file for
			 * a name still loaded and confining stays (deferred above). */
			it->action = AGENT_ACT_REMOVE;
			out->nremove++;
		}
	}
	return 0;
nomem:
	agent_plan_cleanup(out);
	return err_set(err, ENOMEM, "out of memory building the reconcile plan");
}

void agent_plan_cleanup(agent_plan *p)
{
	if (!p)
		return;
	free(p->items);
	memset(p, 0, sizeof(*p));
}

const agent_plan_item *agent_plan_find(const agent_plan *p, const char *name)
{
	for (size_t i = 0; p && i < p->n; i++)
		if (strcmp(p->items[i].name, name) == 0)
			return &p->items[i];
	return NULL;
}
