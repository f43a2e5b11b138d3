/* denial_agg: the bounded aggregation table behind the denial Events, log
 * lines and metrics (see denial_agg.h). */
#include "denial_agg.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"

void denial_agg_init(denial_agg *a, size_t max_keys, long writes_per_minute)
{
	memset(a, 0, sizeof(*a));
	a->max_keys = max_keys ? max_keys : DENIAL_AGG_KEYS_DEFAULT;
	a->writes_per_minute = writes_per_minute;
	a->last_hit = -1;
	a->window_start = -1e9;
}

void denial_agg_cleanup(denial_agg *a)
{
	free(a->items);
	a->items = NULL;
	a->n = a->cap = 0;
}

void denial_agg_object(const denial_record *r, char *out, size_t cap)
{
	if (strcmp(r->operation, "capable") == 0 && r->capname[0])
		snprintf(out, cap, "%s", r->capname);
	else if (r->family[0])
		snprintf(out, cap, "%s%s%s", r->family, r->sock_type[0] ? " " : "", r->sock_type);
	else
		snprintf(out, cap, "%s", r->name);
}

static uint32_t denial_agg_hash_str(uint32_t h, const char *s)
{
	for (; *s; s++)
		h = (h ^ (uint8_t)*s) * 16777619u;
	return (h ^ 0xffu) * 16777619u; /* a separator: ("ab","c") != ("a","bc") */
}

static uint32_t denial_agg_hash(const char *uid, denial_mode mode, const char *profile, const char *op,
				const char *name)
{
	uint32_t h = 2166136261u;

	h = denial_agg_hash_str(h, uid);
	h = (h ^ (uint32_t)mode) * 16777619u;
	h = denial_agg_hash_str(h, profile);
	h = denial_agg_hash_str(h, op);
	return denial_agg_hash_str(h, name);
}

static bool denial_agg_same(const denial_agg_entry *e, uint32_t h, const char *uid, denial_mode mode,
			    const char *profile, const char *op, const char *name)
{
	return e->hash == h && e->mode == mode && strcmp(e->who.uid, uid) == 0 && strcmp(e->profile, profile) == 0 &&
		strcmp(e->op, op) == 0 && strcmp(e->name, name) == 0;
}

/* A slot for a new key: a fresh one, else the entry seen longest ago that
 * has nothing unwritten (its Event stays in the API); NULL when every
 * entry still has counts to write. */
static denial_agg_entry *denial_agg_slot(denial_agg *a)
{
	denial_agg_entry *old = NULL;

	if (a->n < a->max_keys && buf_grow_items(&a->items, &a->cap, a->n + 1, sizeof(*a->items), 16) == 0)
		return &a->items[a->n++];
	for (size_t i = 0; i < a->n; i++)
		if (a->items[i].count == a->items[i].written && (!old || a->items[i].last_seen < old->last_seen))
			old = &a->items[i];
	return old;
}

/* Adds the letters of add missing from mask; true when one was added. */
static bool denial_agg_mask_union(char *mask, const char *add)
{
	size_t n = strlen(mask), was = n;

	for (; *add && n + 1 < DENIAL_MASK_MAX; add++)
		if (!strchr(mask, *add)) {
			mask[n++] = *add;
			mask[n] = '\0';
		}
	return n > was;
}

const char *denial_agg_record_mask(const denial_record *r)
{
	/* Network and capability records carry words ("create"), not file
	 * permission letters. */
	if (r->family[0] || strcmp(r->operation, "capable") == 0)
		return "";
	return r->denied[0] ? r->denied : r->requested;
}

denial_agg_entry *denial_agg_add(denial_agg *a, const denial_record *r, const denial_who *w, double now, long long wall,
				 bool *changed)
{
	char name[DENIAL_NAME_MAX];
	denial_agg_entry *e = NULL;
	uint32_t h;

	denial_agg_object(r, name, sizeof(name));
	h = denial_agg_hash(w->uid, r->mode, r->profile, r->operation, name);
	if (changed)
		*changed = false;
	if (a->last_hit >= 0 && (size_t)a->last_hit < a->n &&
	    denial_agg_same(&a->items[a->last_hit], h, w->uid, r->mode, r->profile, r->operation, name))
		e = &a->items[a->last_hit];
	for (size_t i = 0; !e && i < a->n; i++)
		if (denial_agg_same(&a->items[i], h, w->uid, r->mode, r->profile, r->operation, name))
			e = &a->items[i];
	if (!e) {
		e = denial_agg_slot(a);
		if (!e) {
			a->dropped_keys++;
			return NULL;
		}
		memset(e, 0, sizeof(*e));
		e->hash = h;
		e->gen = ++a->gen;
		e->who = *w;
		e->mode = r->mode;
		snprintf(e->profile, sizeof(e->profile), "%s", r->profile);
		snprintf(e->op, sizeof(e->op), "%s", r->operation);
		snprintf(e->name, sizeof(e->name), "%s", name);
		e->first_wall = wall;
		if (changed)
			*changed = true;
	}
	a->last_hit = e - a->items;
	if (!e->who.ns[0] && w->ns[0] && strcmp(e->who.uid, w->uid) == 0)
		e->who = *w; /* the pod watch caught up with a new pod */
	e->count++;
	e->last_wall = wall;
	e->last_seen = now;
	/* The latest process and container speak for the key. */
	snprintf(e->comm, sizeof(e->comm), "%s", r->comm);
	if (w->container[0])
		snprintf(e->who.container, sizeof(e->who.container), "%s", w->container);
	if (denial_agg_mask_union(e->mask, denial_agg_record_mask(r)) && changed)
		*changed = true;
	return e;
}

size_t denial_agg_due(denial_agg *a, double now, size_t *out, size_t max)
{
	/* The budget also bounds log lines when Events are off. */
	long budget = a->writes_per_minute > 0 ? a->writes_per_minute : DENIAL_AGG_WRITES_DEFAULT;
	size_t k = 0;

	if (now - a->window_start >= 60) {
		a->window_start = now;
		a->window_writes = 0;
	}
	for (size_t i = 0; i < a->n && k < max; i++) {
		denial_agg_entry *e = &a->items[i];

		if (e->count == e->written || now < e->not_before ||
		    (e->last_write > 0 && now < e->last_write + DENIAL_AGG_GAP_S))
			continue;
		if (a->window_writes >= budget) {
			a->dropped_writes++;
			e->not_before = a->window_start + 60;
			continue;
		}
		a->window_writes++;
		e->write_from = e->written;
		e->written = e->count;
		e->last_write = now;
		out[k++] = i;
	}
	return k;
}

void denial_agg_failed(denial_agg *a, size_t i, unsigned long gen)
{
	if (i < a->n && a->items[i].gen == gen)
		a->items[i].written = a->items[i].write_from;
}

const char *denial_agg_reason(denial_mode m)
{
	return m == DENIAL_ENFORCE ? "AppArmorDenied" : "AppArmorAudit";
}

const char *denial_agg_mode(denial_mode m)
{
	return m == DENIAL_ENFORCE ? "enforce" : "complain";
}

void denial_agg_message(const denial_agg_entry *e, char *out, size_t cap)
{
	char mask[DENIAL_MASK_MAX + 3] = "", where[DENIAL_CONTAINER_MAX + 16] = "";

	if (e->mask[0])
		snprintf(mask, sizeof(mask), " (%s)", e->mask);
	if (e->who.container[0])
		snprintf(where, sizeof(where), " in container %s", e->who.container);
	snprintf(out, cap, "AppArmor %s %s %s%s%s%s by %s%s (%lu\xc3\x97)", e->profile,
		 e->mode == DENIAL_ENFORCE ? "denied" : "would deny (complain mode)", e->op, e->name[0] ? " " : "",
		 e->name, mask, e->comm[0] ? e->comm : "?", where, e->count);
}

const char *denial_agg_op_label(const char *op)
{
	/* The operations the kernel's AppArmor audits (security/apparmor). */
	static const char *const known[] = {
		"open",          "exec",          "capable",        "file_mmap",       "file_mprotect",  "file_perm",
		"file_lock",     "file_receive",  "file_inherit",   "mkdir",           "rmdir",          "mknod",
		"unlink",        "link",          "rename_src",     "rename_dest",     "chmod",          "chown",
		"getattr",       "setattr",       "truncate",       "create",          "post_create",    "bind",
		"connect",       "listen",        "accept",         "sendmsg",         "recvmsg",        "getsockname",
		"getpeername",   "getsockopt",    "setsockopt",     "socket_shutdown", "signal",         "ptrace",
		"mount",         "umount",        "pivotroot",      "remount",         "change_profile", "change_hat",
		"change_onexec", "userns_create", "uring_override", "uring_sqpoll",    "sysctl",
	};

	for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++)
		if (strcmp(op, known[i]) == 0)
			return known[i];
	return "other";
}
