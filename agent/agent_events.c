/* agent_events: aggregated, rate-limited Events (see agent_events.h). */
#include "agent_events.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "buf.h"

void agent_events_now(char *out, size_t cap)
{
	struct timespec ts;
	struct tm tm;

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	strftime(out, cap, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* FNV-1a: several nodes write Events on one ConfigMap; their names must not collide. */
static uint32_t agent_events_hash(const char *s)
{
	uint32_t h = 2166136261u;

	for (; *s; s++)
		h = (h ^ (uint8_t)*s) * 16777619u;
	return h;
}

/* "<object>.<node hash><ns><seq>": lower-case, a DNS subdomain like the object's name. */
static void agent_events_name(const agent_events *t, agent_event *ev, unsigned long seq)
{
	const char *obj = ev->target == AGENT_EVENT_CONFIGMAP ? t->cm_name
		: ev->target == AGENT_EVENT_POD               ? ev->obj_name
							      : t->node;
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	snprintf(ev->name, sizeof(ev->name), "%.200s.%08x%llx%lx", obj, agent_events_hash(t->node),
		 (unsigned long long)ts.tv_sec * 1000000000ULL + (unsigned long long)ts.tv_nsec, seq);
}

void agent_events_init(agent_events *t, const char *node)
{
	memset(t, 0, sizeof(*t));
	snprintf(t->node, sizeof(t->node), "%s", node);
}

void agent_events_set_configmap(agent_events *t, const char *ns, const char *name, const char *uid)
{
	snprintf(t->cm_ns, sizeof(t->cm_ns), "%s", ns);
	snprintf(t->cm_name, sizeof(t->cm_name), "%s", name);
	snprintf(t->cm_uid, sizeof(t->cm_uid), "%s", uid ? uid : "");
}

static agent_event *agent_events_find(agent_events *t, agent_event_target target, const char *reason, const char *key)
{
	for (size_t i = 0; i < t->n; i++) {
		agent_event *ev = &t->items[i];

		if (ev->target == target && strcmp(ev->reason, reason) == 0 && strcmp(ev->key, key) == 0)
			return ev;
	}
	return NULL;
}

/* A new entry; when the table is full, the one written longest ago and
 * with nothing pending gives way (its Event stays in the API). */
static agent_event *agent_events_slot(agent_events *t)
{
	agent_event *old = NULL;

	if (t->n < AGENT_EVENTS_MAX && buf_grow_items(&t->items, &t->cap, t->n + 1, sizeof(*t->items), 16) == 0)
		return &t->items[t->n++];
	for (size_t i = 0; i < t->n; i++)
		if (!t->items[i].dirty && (!old || t->items[i].last_write < old->last_write))
			old = &t->items[i];
	return old;
}

bool agent_events_add(agent_events *t, agent_event_target target, const char *type, const char *reason, const char *key,
		      const char *message)
{
	agent_event *ev;

	if (target == AGENT_EVENT_CONFIGMAP && !t->cm_name[0])
		return true; /* not a ConfigMap source */
	ev = agent_events_find(t, target, reason, key);
	if (!ev) {
		ev = agent_events_slot(t);
		if (!ev)
			return false;
		memset(ev, 0, sizeof(*ev));
		ev->target = target;
		snprintf(ev->reason, sizeof(ev->reason), "%s", reason);
		snprintf(ev->key, sizeof(ev->key), "%s", key);
		agent_events_now(ev->first, sizeof(ev->first));
		agent_events_name(t, ev, ++t->seq);
	}
	snprintf(ev->type, sizeof(ev->type), "%s", type);
	if (target == AGENT_EVENT_CONFIGMAP)
		snprintf(ev->message, sizeof(ev->message), "node %s: %s", t->node, message);
	else
		snprintf(ev->message, sizeof(ev->message), "%s", message);
	ev->count++;
	ev->dirty = true;
	return true;
}

long agent_events_due(const agent_events *t, double now, double *next)
{
	*next = 0;
	for (size_t i = 0; i < t->n; i++) {
		const agent_event *ev = &t->items[i];
		double at = ev->last_write > 0 ? ev->last_write + AGENT_EVENTS_GAP_S : 0;

		if (!ev->dirty)
			continue;
		if (at <= now)
			return (long)i;
		if (*next == 0 || at < *next)
			*next = at;
	}
	return -1;
}

/* The namespace of the Event and of the object it is about. */
static const char *agent_events_ns(const agent_events *t, const agent_event *ev)
{
	if (ev->target == AGENT_EVENT_CONFIGMAP)
		return t->cm_ns;
	return ev->target == AGENT_EVENT_POD ? ev->obj_ns : "default";
}

static bool agent_events_involved(cJSON *io, const agent_events *t, const agent_event *ev)
{
	switch (ev->target) {
	case AGENT_EVENT_POD:
		return cJSON_AddStringToObject(io, "kind", "Pod") && cJSON_AddStringToObject(io, "apiVersion", "v1") &&
			cJSON_AddStringToObject(io, "name", ev->obj_name) &&
			cJSON_AddStringToObject(io, "namespace", ev->obj_ns) &&
			(!ev->obj_uid[0] || cJSON_AddStringToObject(io, "uid", ev->obj_uid));
	case AGENT_EVENT_CONFIGMAP:
		return cJSON_AddStringToObject(io, "kind", "ConfigMap") &&
			cJSON_AddStringToObject(io, "apiVersion", "v1") &&
			cJSON_AddStringToObject(io, "name", t->cm_name) &&
			cJSON_AddStringToObject(io, "namespace", t->cm_ns) &&
			(!t->cm_uid[0] || cJSON_AddStringToObject(io, "uid", t->cm_uid));
	default:
		return cJSON_AddStringToObject(io, "kind", "Node") && cJSON_AddStringToObject(io, "apiVersion", "v1") &&
			cJSON_AddStringToObject(io, "name", t->node);
	}
}

/* The whole Event for a create. */
static char *agent_events_body(const agent_events *t, const agent_event *ev, const char *now)
{
	cJSON *o = cJSON_CreateObject();
	cJSON *md = cJSON_AddObjectToObject(o, "metadata");
	cJSON *io = cJSON_AddObjectToObject(o, "involvedObject");
	cJSON *src = cJSON_AddObjectToObject(o, "source");
	char *body = NULL;

	if (md && io && src && cJSON_AddStringToObject(md, "name", ev->name) &&
	    cJSON_AddStringToObject(md, "namespace", agent_events_ns(t, ev)) && agent_events_involved(io, t, ev) &&
	    cJSON_AddStringToObject(o, "reason", ev->reason) && cJSON_AddStringToObject(o, "message", ev->message) &&
	    cJSON_AddStringToObject(o, "type", ev->type) &&
	    cJSON_AddStringToObject(src, "component", "armorgate-agent") &&
	    cJSON_AddStringToObject(src, "host", t->node) && cJSON_AddStringToObject(o, "firstTimestamp", ev->first) &&
	    cJSON_AddStringToObject(o, "lastTimestamp", now) && cJSON_AddNumberToObject(o, "count", (double)ev->count))
		body = cJSON_PrintUnformatted(o);
	cJSON_Delete(o);
	return body;
}

static char *agent_events_patch_body(const agent_event *ev, const char *now)
{
	cJSON *o = cJSON_CreateObject();
	char *body = NULL;

	if (o && cJSON_AddNumberToObject(o, "count", (double)ev->count) &&
	    cJSON_AddStringToObject(o, "message", ev->message) && cJSON_AddStringToObject(o, "lastTimestamp", now))
		body = cJSON_PrintUnformatted(o);
	cJSON_Delete(o);
	return body;
}

int agent_events_write(kube_client *c, const agent_events *t, agent_event *ev, ag_err *err)
{
	char path[600], now[32];
	const char *ns = agent_events_ns(t, ev);
	char *body;
	int rc;

	agent_events_now(now, sizeof(now));
	if (ev->created) {
		snprintf(path, sizeof(path), "/api/v1/namespaces/%s/events/%s", ns, ev->name);
		body = agent_events_patch_body(ev, now);
		if (!body)
			return err_set(err, ENOMEM, "out of memory building an Event");
		rc = kube_patch(c, path, KUBE_PATCH_MERGE, body, NULL, err);
		free(body);
		if (rc == 0 || err->http_status != 404)
			return rc;
		/* Expired (the apiserver's event TTL): a new object. */
		agent_events_name(t, ev, ev->count);
		ev->created = false;
	}
	if (!ev->name[0])
		agent_events_name(t, ev, ev->count); /* a POD entry is named on its first write */
	snprintf(path, sizeof(path), "/api/v1/namespaces/%s/events", ns);
	body = agent_events_body(t, ev, now);
	if (!body)
		return err_set(err, ENOMEM, "out of memory building an Event");
	rc = kube_create(c, path, body, NULL, err);
	free(body);
	if (rc == 0)
		ev->created = true;
	return rc;
}

void agent_events_cleanup(agent_events *t)
{
	free(t->items);
	t->items = NULL;
	t->n = t->cap = 0;
}
