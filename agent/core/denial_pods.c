/* denial_pods: the node's pod table for attribution (see denial_pods.h). */
#include "denial_pods.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"

static const char *const denial_pods_lists[] = { "containerStatuses", "initContainerStatuses",
						 "ephemeralContainerStatuses" };

void denial_pods_init(denial_pods *t)
{
	memset(t, 0, sizeof(*t));
}

static void denial_pods_clear(denial_pods *t)
{
	for (size_t i = 0; i < t->n; i++)
		free(t->items[i].containers);
	t->n = 0;
}

void denial_pods_cleanup(denial_pods *t)
{
	denial_pods_clear(t);
	free(t->items);
	t->items = NULL;
	t->cap = 0;
}

static const char *denial_pods_str(const cJSON *o, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);

	return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* Copies key from `from` to `to` when it is a string. false when out of memory. */
static bool denial_pods_copy_str(cJSON *to, const cJSON *from, const char *key)
{
	const char *s = denial_pods_str(from, key);

	return !s || cJSON_AddStringToObject(to, key, s) != NULL;
}

cJSON *denial_pods_slim(const cJSON *pod)
{
	const cJSON *md = cJSON_GetObjectItemCaseSensitive(pod, "metadata");
	const cJSON *st = cJSON_GetObjectItemCaseSensitive(pod, "status");
	cJSON *o = cJSON_CreateObject();
	cJSON *omd = o ? cJSON_AddObjectToObject(o, "metadata") : NULL;
	cJSON *ost = o ? cJSON_AddObjectToObject(o, "status") : NULL;

	if (!omd || !ost || !denial_pods_copy_str(omd, md, "namespace") || !denial_pods_copy_str(omd, md, "name") ||
	    !denial_pods_copy_str(omd, md, "uid"))
		goto fail;
	for (size_t l = 0; l < sizeof(denial_pods_lists) / sizeof(denial_pods_lists[0]); l++) {
		const cJSON *arr = cJSON_GetObjectItemCaseSensitive(st, denial_pods_lists[l]);
		const cJSON *cs;
		cJSON *out;

		if (!cJSON_IsArray(arr))
			continue;
		out = cJSON_AddArrayToObject(ost, denial_pods_lists[l]);
		if (!out)
			goto fail;
		cJSON_ArrayForEach (cs, arr) {
			cJSON *c = cJSON_CreateObject();

			if (!c)
				goto fail;
			cJSON_AddItemToArray(out, c);
			if (!denial_pods_copy_str(c, cs, "name") || !denial_pods_copy_str(c, cs, "containerID"))
				goto fail;
		}
	}
	return o;
fail:
	cJSON_Delete(o);
	return NULL;
}

/* The pod's containers that have an ID (started at least once). */
static int denial_pods_containers(denial_pod *p, const cJSON *st)
{
	size_t cap = 0;

	for (size_t l = 0; l < sizeof(denial_pods_lists) / sizeof(denial_pods_lists[0]); l++) {
		const cJSON *cs;

		cJSON_ArrayForEach (cs, cJSON_GetObjectItemCaseSensitive(st, denial_pods_lists[l])) {
			const char *name = denial_pods_str(cs, "name");
			const char *id = denial_pods_str(cs, "containerID");
			denial_pod_container c;

			if (!name || !id || p->ncontainers >= DENIAL_PODS_CONTAINERS ||
			    !denial_cgroup_container_id(id, c.id, sizeof(c.id)))
				continue;
			snprintf(c.name, sizeof(c.name), "%s", name);
			if (buf_grow_items(&p->containers, &cap, p->ncontainers + 1, sizeof(c), 4) != 0)
				return -1;
			p->containers[p->ncontainers++] = c;
		}
	}
	return 0;
}

/* A pod from an API object into *p (containers owned); -1 when it is not a
 * usable pod (errno EINVAL) or memory is short (ENOMEM). */
static int denial_pods_from_json(denial_pod *p, const cJSON *pod)
{
	const cJSON *md = cJSON_GetObjectItemCaseSensitive(pod, "metadata");
	const char *uid = denial_pods_str(md, "uid");
	const char *ns = denial_pods_str(md, "namespace");
	const char *name = denial_pods_str(md, "name");

	memset(p, 0, sizeof(*p));
	if (!uid || strlen(uid) != DENIAL_UID_LEN || !ns || !name) {
		errno = EINVAL;
		return -1;
	}
	snprintf(p->uid, sizeof(p->uid), "%s", uid);
	snprintf(p->ns, sizeof(p->ns), "%s", ns);
	snprintf(p->name, sizeof(p->name), "%s", name);
	if (denial_pods_containers(p, cJSON_GetObjectItemCaseSensitive(pod, "status")) != 0) {
		free(p->containers);
		p->containers = NULL;
		errno = ENOMEM;
		return -1;
	}
	return 0;
}

static denial_pod *denial_pods_find_mut(const denial_pods *t, const char *uid)
{
	for (size_t i = 0; i < t->n; i++)
		if (strcmp(t->items[i].uid, uid) == 0)
			return &t->items[i];
	return NULL;
}

const denial_pod *denial_pods_find(const denial_pods *t, const char *uid)
{
	return denial_pods_find_mut(t, uid);
}

int denial_pods_upsert(denial_pods *t, const cJSON *pod)
{
	denial_pod p, *old;

	if (denial_pods_from_json(&p, pod) != 0)
		return errno == EINVAL ? 0 : -1; /* not a pod we can attribute to: nothing to keep */
	old = denial_pods_find_mut(t, p.uid);
	if (old) {
		free(old->containers);
		*old = p;
		return 0;
	}
	if (t->n >= DENIAL_PODS_MAX || buf_grow_items(&t->items, &t->cap, t->n + 1, sizeof(p), 16) != 0) {
		free(p.containers);
		errno = t->n >= DENIAL_PODS_MAX ? E2BIG : ENOMEM;
		return -1;
	}
	t->items[t->n++] = p;
	return 0;
}

void denial_pods_delete(denial_pods *t, const cJSON *pod)
{
	const char *uid = denial_pods_str(cJSON_GetObjectItemCaseSensitive(pod, "metadata"), "uid");
	denial_pod *p = uid ? denial_pods_find_mut(t, uid) : NULL;

	if (!p)
		return;
	free(p->containers);
	*p = t->items[--t->n];
}

int denial_pods_replace(denial_pods *t, const cJSON *items)
{
	const cJSON *it;
	int rc = 0;

	denial_pods_clear(t);
	cJSON_ArrayForEach (it, items) {
		if (denial_pods_upsert(t, it) != 0)
			rc = -1;
	}
	return rc;
}

const char *denial_pods_container(const denial_pod *p, const char *container_id)
{
	if (!container_id[0])
		return NULL;
	for (size_t i = 0; i < p->ncontainers; i++)
		if (strcmp(p->containers[i].id, container_id) == 0)
			return p->containers[i].name;
	return NULL;
}
