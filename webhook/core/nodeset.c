/* nodeset: Node name -> AppArmor readiness, and profile -> number of
 * AppArmor-enabled nodes carrying it, so an admission review answers with
 * two hash lookups under a read lock. Trust boundary: Node objects from the
 * API server; only two label families are read, anything odd is skipped. */
#include "nodeset.h"

#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "contract.h"

/* One node as the webhook needs it. profiles: the names from
 * profiles.armorgate.io/<p>=loaded labels (the node's own copies). stale:
 * its agent's status names another boot than the kubelet reports, so the
 * labels may claim profiles the kernel lost at a reboot. */
typedef struct ns_node {
	char *name;
	bool enabled;
	bool stale;
	char **profiles;
	size_t nprofiles;
} ns_node;

/* Chained hash map string -> (node | count). */
typedef struct ns_entry {
	struct ns_entry *next;
	uint64_t hash;
	char *key;
	ns_node *node; /* node map */
	size_t count;  /* profile map */
} ns_entry;

typedef struct ns_map {
	ns_entry **buckets;
	size_t nbuckets; /* power of two, or 0 */
	size_t n;
} ns_map;

struct nodeset {
	pthread_rwlock_t lock;
	ns_map nodes;    /* name -> ns_node */
	ns_map profiles; /* profile -> count of enabled nodes that have it loaded */
	size_t enabled;
};

static uint64_t ns_hash(const char *s)
{
	uint64_t h = 1469598103934665603ull; /* FNV-1a */

	for (; *s; s++) {
		h ^= (unsigned char)*s;
		h *= 1099511628211ull;
	}
	return h;
}

static ns_entry *ns_map_find(const ns_map *m, const char *key, uint64_t h)
{
	if (!m->nbuckets)
		return NULL;
	for (ns_entry *e = m->buckets[h & (m->nbuckets - 1)]; e; e = e->next)
		if (e->hash == h && strcmp(e->key, key) == 0)
			return e;
	return NULL;
}

static int ns_map_grow(ns_map *m)
{
	size_t nb = m->nbuckets ? m->nbuckets * 2 : 64;
	ns_entry **b = calloc(nb, sizeof(ns_entry *));

	if (!b)
		return -1;
	for (size_t i = 0; i < m->nbuckets; i++) {
		ns_entry *e = m->buckets[i];

		while (e) {
			ns_entry *next = e->next;
			size_t j = e->hash & (nb - 1);

			e->next = b[j];
			b[j] = e;
			e = next;
		}
	}
	free(m->buckets);
	m->buckets = b;
	m->nbuckets = nb;
	return 0;
}

/* Finds or creates the entry for key; NULL only when out of memory. */
static ns_entry *ns_map_upsert(ns_map *m, const char *key)
{
	uint64_t h = ns_hash(key);
	ns_entry *e = ns_map_find(m, key, h);
	size_t j;

	if (e)
		return e;
	if (m->n >= m->nbuckets && ns_map_grow(m) != 0)
		return NULL;
	e = calloc(1, sizeof(*e));
	if (!e)
		return NULL;
	e->key = strdup(key);
	if (!e->key) {
		free(e);
		return NULL;
	}
	e->hash = h;
	j = h & (m->nbuckets - 1);
	e->next = m->buckets[j];
	m->buckets[j] = e;
	m->n++;
	return e;
}

static void ns_node_free(ns_node *n)
{
	if (!n)
		return;
	for (size_t i = 0; i < n->nprofiles; i++)
		free(n->profiles[i]);
	free(n->profiles);
	free(n->name);
	free(n);
}

/* Unlinks and frees key's entry (its node too); no-op when absent. */
static void ns_map_remove(ns_map *m, const char *key)
{
	uint64_t h = ns_hash(key);
	ns_entry **pp;

	if (!m->nbuckets)
		return;
	for (pp = &m->buckets[h & (m->nbuckets - 1)]; *pp; pp = &(*pp)->next) {
		ns_entry *e = *pp;

		if (e->hash == h && strcmp(e->key, key) == 0) {
			*pp = e->next;
			ns_node_free(e->node);
			free(e->key);
			free(e);
			m->n--;
			return;
		}
	}
}

static void ns_map_clear(ns_map *m)
{
	for (size_t i = 0; i < m->nbuckets; i++) {
		ns_entry *e = m->buckets[i];

		while (e) {
			ns_entry *next = e->next;

			ns_node_free(e->node);
			free(e->key);
			free(e);
			e = next;
		}
	}
	free(m->buckets);
	m->buckets = NULL;
	m->nbuckets = 0;
	m->n = 0;
}

/* The "bootID" of the armorgate.io/status annotation; NULL when there is
 * none (an agent that never wrote one is judged by its labels alone). */
static char *ns_status_boot(const cJSON *annotations)
{
	const cJSON *a = cJSON_GetObjectItemCaseSensitive(annotations, CONTRACT_ANNOTATION_STATUS);
	cJSON *st;
	const cJSON *b;
	char *out = NULL;

	if (!cJSON_IsString(a) || !a->valuestring)
		return NULL;
	st = cJSON_Parse(a->valuestring);
	b = cJSON_GetObjectItemCaseSensitive(st, "bootID");
	if (cJSON_IsString(b) && b->valuestring && b->valuestring[0])
		out = strdup(b->valuestring);
	cJSON_Delete(st);
	return out;
}

/* True when the status annotation and status.nodeInfo.bootID both name a
 * boot and differ. Either missing: no judgement (metadata-only input). */
static bool ns_stale_boot(const cJSON *obj, const cJSON *meta)
{
	const cJSON *info =
		cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(obj, "status"), "nodeInfo");
	const cJSON *kb = cJSON_GetObjectItemCaseSensitive(info, "bootID");
	char *ab;
	bool stale;

	if (!cJSON_IsString(kb) || !kb->valuestring || !kb->valuestring[0])
		return false;
	ab = ns_status_boot(cJSON_GetObjectItemCaseSensitive(meta, "annotations"));
	stale = ab && strcmp(ab, kb->valuestring) != 0;
	free(ab);
	return stale;
}

/* Builds the readiness of one Node/PartialObjectMetadata; NULL when it has
 * no usable name or memory ran out (the event is then dropped). */
static ns_node *ns_node_from_json(const cJSON *obj)
{
	const cJSON *meta = cJSON_GetObjectItemCaseSensitive(obj, "metadata");
	const cJSON *name = cJSON_GetObjectItemCaseSensitive(meta, "name");
	const cJSON *labels = cJSON_GetObjectItemCaseSensitive(meta, "labels");
	const cJSON *l;
	const size_t plen = strlen(CONTRACT_LABEL_PROFILE_PREFIX);
	size_t cap = 0;
	ns_node *n;

	if (!cJSON_IsString(name) || !name->valuestring[0])
		return NULL;
	n = calloc(1, sizeof(*n));
	if (!n)
		return NULL;
	n->name = strdup(name->valuestring);
	if (!n->name)
		goto fail;
	n->stale = ns_stale_boot(obj, meta);
	if (!cJSON_IsObject(labels))
		return n;
	cJSON_ArrayForEach (l, labels) {
		if (!l->string || !cJSON_IsString(l))
			continue;
		if (strcmp(l->string, CONTRACT_LABEL_APPARMOR) == 0) {
			n->enabled = strcmp(l->valuestring, CONTRACT_APPARMOR_ENABLED) == 0;
			continue;
		}
		if (strncmp(l->string, CONTRACT_LABEL_PROFILE_PREFIX, plen) != 0 || !l->string[plen] ||
		    strcmp(l->valuestring, CONTRACT_PROFILE_LOADED) != 0)
			continue;
		if (buf_grow_items(&n->profiles, &cap, n->nprofiles + 1, sizeof(*n->profiles), 8) != 0)
			goto fail;
		n->profiles[n->nprofiles] = strdup(l->string + plen);
		if (!n->profiles[n->nprofiles])
			goto fail;
		n->nprofiles++;
	}
	return n;
fail:
	ns_node_free(n);
	return NULL;
}

/* Adds (delta=+1) or takes back (-1) n's contribution to the profile counts. */
static void ns_count(nodeset *ns, const ns_node *n, int delta)
{
	if (!n->enabled || n->stale)
		return;
	ns->enabled = delta > 0 ? ns->enabled + 1 : ns->enabled - 1;
	for (size_t i = 0; i < n->nprofiles; i++) {
		if (delta > 0) {
			ns_entry *e = ns_map_upsert(&ns->profiles, n->profiles[i]);

			/* Out of memory: the profile looks absent, which fails closed. */
			if (e)
				e->count++;
		} else {
			ns_entry *e = ns_map_find(&ns->profiles, n->profiles[i], ns_hash(n->profiles[i]));

			if (e && --e->count == 0)
				ns_map_remove(&ns->profiles, n->profiles[i]);
		}
	}
}

/* Takes ownership of n. Caller holds the write lock. */
static void ns_put(nodeset *ns, ns_node *n)
{
	ns_entry *e = ns_map_upsert(&ns->nodes, n->name);

	if (!e) {
		ns_node_free(n);
		return;
	}
	if (e->node) {
		ns_count(ns, e->node, -1);
		ns_node_free(e->node);
	}
	e->node = n;
	ns_count(ns, n, +1);
}

static void ns_del(nodeset *ns, const char *name)
{
	ns_entry *e = ns_map_find(&ns->nodes, name, ns_hash(name));

	if (!e)
		return;
	if (e->node)
		ns_count(ns, e->node, -1);
	ns_map_remove(&ns->nodes, name);
}

nodeset *nodeset_new(void)
{
	nodeset *ns = calloc(1, sizeof(*ns));

	if (ns && pthread_rwlock_init(&ns->lock, NULL) != 0) {
		free(ns);
		ns = NULL;
	}
	return ns;
}

void nodeset_free(nodeset *ns)
{
	if (!ns)
		return;
	ns_map_clear(&ns->nodes);
	ns_map_clear(&ns->profiles);
	pthread_rwlock_destroy(&ns->lock);
	free(ns);
}

void nodeset_replace(nodeset *ns, const cJSON *items)
{
	const cJSON *it;

	pthread_rwlock_wrlock(&ns->lock);
	ns_map_clear(&ns->nodes);
	ns_map_clear(&ns->profiles);
	ns->enabled = 0;
	cJSON_ArrayForEach (it, items) {
		ns_node *n = ns_node_from_json(it);

		if (n)
			ns_put(ns, n);
	}
	pthread_rwlock_unlock(&ns->lock);
}

void nodeset_apply(nodeset *ns, nodeset_event ev, const cJSON *obj)
{
	ns_node *n;

	/* Parse outside the lock: reviews keep reading meanwhile. */
	n = ns_node_from_json(obj);
	if (!n)
		return;
	pthread_rwlock_wrlock(&ns->lock);
	if (ev == NODESET_DELETE) {
		ns_del(ns, n->name);
		ns_node_free(n);
	} else {
		ns_put(ns, n);
	}
	pthread_rwlock_unlock(&ns->lock);
}

size_t nodeset_size(nodeset *ns)
{
	size_t n;

	pthread_rwlock_rdlock(&ns->lock);
	n = ns->nodes.n;
	pthread_rwlock_unlock(&ns->lock);
	return n;
}

size_t nodeset_enabled_count(nodeset *ns)
{
	size_t n;

	pthread_rwlock_rdlock(&ns->lock);
	n = ns->enabled;
	pthread_rwlock_unlock(&ns->lock);
	return n;
}

bool nodeset_any_has(nodeset *ns, const char *profile)
{
	bool yes;

	pthread_rwlock_rdlock(&ns->lock);
	yes = ns_map_find(&ns->profiles, profile, ns_hash(profile)) != NULL;
	pthread_rwlock_unlock(&ns->lock);
	return yes;
}

nodeset_node_state nodeset_node_has(nodeset *ns, const char *node, const char *profile)
{
	const ns_entry *e;
	nodeset_node_state st = NODESET_NODE_NOT_LOADED;

	pthread_rwlock_rdlock(&ns->lock);
	e = ns_map_find(&ns->nodes, node, ns_hash(node));
	if (!e || !e->node) {
		st = NODESET_NODE_UNKNOWN;
	} else if (!e->node->enabled) {
		st = NODESET_NODE_NO_APPARMOR;
	} else if (e->node->stale) {
		st = NODESET_NODE_STALE_BOOT;
	} else {
		for (size_t i = 0; i < e->node->nprofiles; i++)
			if (strcmp(e->node->profiles[i], profile) == 0) {
				st = NODESET_NODE_READY;
				break;
			}
	}
	pthread_rwlock_unlock(&ns->lock);
	return st;
}

const char *nodeset_node_state_text(nodeset_node_state st)
{
	switch (st) {
	case NODESET_NODE_READY: return "";
	case NODESET_NODE_UNKNOWN: return "unknown node";
	case NODESET_NODE_NO_APPARMOR: return "AppArmor not enabled on the node";
	case NODESET_NODE_NOT_LOADED: return "profile not loaded";
	case NODESET_NODE_STALE_BOOT: return "status from before the node's last boot";
	}
	return "";
}

/* Copies one label into out when nodeset reads it. */
static int ns_slim_label(cJSON *out, const cJSON *l)
{
	const size_t plen = strlen(CONTRACT_LABEL_PROFILE_PREFIX);

	if (!l->string || !cJSON_IsString(l))
		return 0;
	if (strcmp(l->string, CONTRACT_LABEL_APPARMOR) != 0 &&
	    strncmp(l->string, CONTRACT_LABEL_PROFILE_PREFIX, plen) != 0)
		return 0;
	return cJSON_AddStringToObject(out, l->string, l->valuestring) ? 0 : -1;
}

/* The status annotation cut to {"bootID":...}; 0 when there is nothing to keep. */
static int ns_slim_status(cJSON *meta, const cJSON *annotations)
{
	char *boot = ns_status_boot(annotations);
	cJSON *st;
	cJSON *ann;
	char *text;
	int rc = -1;

	if (!boot)
		return 0;
	st = cJSON_CreateObject();
	if (st && cJSON_AddStringToObject(st, "bootID", boot)) {
		text = cJSON_PrintUnformatted(st);
		ann = text ? cJSON_AddObjectToObject(meta, "annotations") : NULL;
		if (ann && cJSON_AddStringToObject(ann, CONTRACT_ANNOTATION_STATUS, text))
			rc = 0;
		cJSON_free(text);
	}
	cJSON_Delete(st);
	free(boot);
	return rc;
}

cJSON *nodeset_slim(const cJSON *obj)
{
	const cJSON *meta = cJSON_GetObjectItemCaseSensitive(obj, "metadata");
	const cJSON *name = cJSON_GetObjectItemCaseSensitive(meta, "name");
	const cJSON *info =
		cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(obj, "status"), "nodeInfo");
	const cJSON *kb = cJSON_GetObjectItemCaseSensitive(info, "bootID");
	const cJSON *l;
	cJSON *out = cJSON_CreateObject();
	cJSON *m = cJSON_AddObjectToObject(out, "metadata");
	cJSON *labels = cJSON_AddObjectToObject(m, "labels");

	if (!labels)
		goto fail;
	if (cJSON_IsString(name) && !cJSON_AddStringToObject(m, "name", name->valuestring))
		goto fail;
	cJSON_ArrayForEach (l, cJSON_GetObjectItemCaseSensitive(meta, "labels"))
		if (ns_slim_label(labels, l) != 0)
			goto fail;
	if (ns_slim_status(m, cJSON_GetObjectItemCaseSensitive(meta, "annotations")) != 0)
		goto fail;
	if (cJSON_IsString(kb) && kb->valuestring) {
		cJSON *ni = cJSON_AddObjectToObject(cJSON_AddObjectToObject(out, "status"), "nodeInfo");

		if (!ni || !cJSON_AddStringToObject(ni, "bootID", kb->valuestring))
			goto fail;
	}
	return out;
fail:
	cJSON_Delete(out);
	return NULL;
}
