/* agent_publish: Node patcher thread with backoff, and Events (see agent_publish.h). */
#include "agent_publish.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "contract.h"
#include "log.h"
#include "mono.h"

enum { AGENT_PUBLISH_BACKOFF_MAX_MS = 10000, AGENT_PUBLISH_CONFLICTS = 3 };

struct agent_publisher {
	kube_client *client;
	const char *node;
	metrics *m;
	double verify_s;
	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool stop;
	/* wanted state, guarded by mu */
	cJSON *labels;
	agent_status st;
	agent_pstatus *profiles;
	char version[64], boot_id[64];
	unsigned long gen, published_gen;
	unsigned long patches;
	agent_events events;
	unsigned long kicks;
	/* the publisher thread's own: the Node's metadata as the API last
	 * returned it (NULL: read it first), and when */
	cJSON *known;
	double known_at;
};

/* The retry state of the publisher thread. */
typedef struct agent_pub_retry {
	long backoff_ms; /* 0: the API answered last time */
	bool down;
	struct timespec at;
	unsigned long kicks_seen;
} agent_pub_retry;

/* An absolute deadline on the clock the condition variable waits on (mono). */
static void agent_pub_deadline(struct timespec *ts, long ms)
{
	int64_t ns = mono_ns() + (int64_t)ms * 1000000;

	ts->tv_sec = (time_t)(ns / 1000000000);
	ts->tv_nsec = (long)(ns % 1000000000);
}

/* Keeps of a Node what the patch is computed from: labels, our status
 * annotation, resourceVersion (a real Node is 15-20 KB). Takes node. */
static void agent_pub_remember(agent_publisher *p, cJSON *node)
{
	cJSON *md = cJSON_GetObjectItemCaseSensitive(node, "metadata");
	cJSON *ann = cJSON_GetObjectItemCaseSensitive(md, "annotations");
	cJSON *keep = cJSON_CreateObject(), *kmd = keep ? cJSON_AddObjectToObject(keep, "metadata") : NULL;
	cJSON *kann = kmd ? cJSON_AddObjectToObject(kmd, "annotations") : NULL;
	cJSON *rv = cJSON_GetObjectItemCaseSensitive(md, "resourceVersion");
	cJSON *st = cJSON_GetObjectItemCaseSensitive(ann, CONTRACT_ANNOTATION_STATUS);

	cJSON_Delete(p->known);
	p->known = NULL;
	if (kann && cJSON_IsString(rv) && cJSON_IsObject(md)) {
		cJSON_AddItemToObject(kmd, "labels", cJSON_DetachItemFromObjectCaseSensitive(md, "labels"));
		cJSON_AddItemToObject(kmd, "resourceVersion", cJSON_DetachItemViaPointer(md, rv));
		if (st)
			cJSON_AddItemToObject(kann, CONTRACT_ANNOTATION_STATUS, cJSON_DetachItemViaPointer(ann, st));
		p->known = keep;
		p->known_at = mono_sec();
		keep = NULL;
	}
	cJSON_Delete(keep);
	cJSON_Delete(node);
}

/* The patch with the resourceVersion it was computed against as a precondition. */
static int agent_pub_precondition(const cJSON *known, char **patch, ag_err *err)
{
	const cJSON *rv = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(known, "metadata"),
							   "resourceVersion");
	cJSON *o = cJSON_Parse(*patch);
	cJSON *md = cJSON_GetObjectItemCaseSensitive(o, "metadata");
	char *with = NULL;

	if (md && cJSON_AddStringToObject(md, "resourceVersion", rv->valuestring))
		with = cJSON_PrintUnformatted(o);
	cJSON_Delete(o);
	if (!with)
		return err_set(err, ENOMEM, "out of memory building the Node patch");
	free(*patch);
	*patch = with;
	return 0;
}

static int agent_pub_read(agent_publisher *p, const char *path, ag_err *err)
{
	cJSON *node = NULL;

	metrics_add(p->m, "armorgate_agent_node_reads_total", "", 1);
	if (kube_get(p->client, path, &node, err) != 0)
		return -1;
	agent_pub_remember(p, node);
	if (!p->known)
		return err_set(err, EPROTO, "the Node read back has no metadata.resourceVersion");
	return 0;
}

/* One write of the wanted state: against the Node as last seen when that is
 * fresh, else read first; a conflict (the Node changed) reads again. */
static int agent_pub_once(agent_publisher *p, const cJSON *labels, const agent_status *st, ag_err *err)
{
	char path[512], now[64];

	snprintf(path, sizeof(path), "/api/v1/nodes/%s", p->node);
	for (int attempt = 0; attempt < AGENT_PUBLISH_CONFLICTS; attempt++) {
		char *patch = NULL;
		cJSON *back = NULL;

		if ((!p->known || mono_sec() - p->known_at >= p->verify_s) && agent_pub_read(p, path, err) != 0)
			return -1;
		agent_events_now(now, sizeof(now));
		if (agent_node_patch_for(p->known, labels, st, now, &patch, err) != 0)
			return -1;
		if (!patch)
			return 0;
		if (agent_pub_precondition(p->known, &patch, err) != 0) {
			free(patch);
			return -1;
		}
		metrics_add(p->m, "armorgate_agent_node_patches_total", "", 1);
		int rc = kube_patch(p->client, path, KUBE_PATCH_MERGE, patch, &back, err);
		if (rc == 0) {
			pthread_mutex_lock(&p->mu);
			p->patches++;
			pthread_mutex_unlock(&p->mu);
			log_kv(LOG_LVL_INFO, "node readiness updated", "node", p->node, (char *)NULL);
			log_kv(LOG_LVL_DEBUG, "node patch", "patch", patch, (char *)NULL);
			agent_pub_remember(p, back);
		} else {
			cJSON_Delete(back);
			cJSON_Delete(p->known); /* whatever failed, read the Node again */
			p->known = NULL;
		}
		free(patch);
		if (rc == 0 || err->http_status != 409)
			return rc;
		log_kv(LOG_LVL_DEBUG, "the Node changed since it was read; reading it again", "node", p->node,
		       (char *)NULL);
	}
	return -1;
}

/* Writes the Events that are due (mu held; released around each write). A
 * failed write is retried when the key may be written again (one minute). */
static void agent_pub_events(agent_publisher *p)
{
	for (;;) {
		double next;
		long i = agent_events_due(&p->events, mono_sec(), &next);

		if (i < 0 || p->stop || !p->events.items)
			return;
		agent_event *slot = &p->events.items[i];
		agent_event ev = *slot;
		agent_events where = p->events; /* its names, read without the lock */
		slot->dirty = false;
		slot->last_write = mono_sec();
		pthread_mutex_unlock(&p->mu);
		ag_err e;
		err_clear(&e);
		int rc = agent_events_write(p->client, &where, &ev, &e);
		pthread_mutex_lock(&p->mu);
		/* The table may have changed meanwhile: the same entry still? */
		slot = (size_t)i < p->events.n ? &p->events.items[i] : NULL;
		if (!slot || slot->target != ev.target || strcmp(slot->reason, ev.reason) != 0 ||
		    strcmp(slot->key, ev.key) != 0)
			continue;
		if (rc == 0) {
			snprintf(slot->name, sizeof(slot->name), "%s", ev.name);
			slot->created = ev.created;
			continue;
		}
		slot->dirty = true;
		log_kv(LOG_LVL_WARN, "cannot record an Event; retried in a minute", "reason", ev.reason, "object",
		       ev.target == AGENT_EVENT_CONFIGMAP ? "ConfigMap" : "Node", "error", e.msg, (char *)NULL);
	}
}

/* Waits (mu held) until there is something to do; true when an attempt
 * should run now. */
static bool agent_pub_wait(agent_publisher *p, agent_pub_retry *r)
{
	if (p->kicks != r->kicks_seen) {
		/* The API came back: what we knew of the Node may be old. */
		r->kicks_seen = p->kicks;
		cJSON_Delete(p->known);
		p->known = NULL;
		if (r->backoff_ms > 0)
			return true;
	}
	if (r->backoff_ms > 0) {
		/* The API is down: only the retry timer (an absolute deadline,
		 * so new submits do not push it back) or a kick retries. */
		return pthread_cond_timedwait(&p->cv, &p->mu, &r->at) == ETIMEDOUT;
	}
	double next = 0;
	if (p->gen != p->published_gen || agent_events_due(&p->events, mono_sec(), &next) >= 0)
		return true;
	struct timespec dl;
	long ms = next > 0 ? (long)((next - mono_sec()) * 1000) + 1 : 3600000L;
	agent_pub_deadline(&dl, ms > 0 ? ms : 1);
	pthread_cond_timedwait(&p->cv, &p->mu, &dl);
	return false;
}

/* Publishes a snapshot of the wanted state (mu held; released meanwhile). */
static int agent_pub_attempt(agent_publisher *p, ag_err *e)
{
	unsigned long gen = p->gen;
	cJSON *labels = p->labels ? cJSON_Duplicate(p->labels, true) : NULL;
	agent_pstatus *profs = NULL;
	agent_status st = p->st;
	char version[64], boot[64];
	int rc = 0;

	if (st.n && (profs = calloc(st.n, sizeof(*profs))) != NULL)
		memcpy(profs, st.profiles, st.n * sizeof(*profs));
	st.profiles = profs;
	st.n = profs ? st.n : 0;
	snprintf(version, sizeof(version), "%s", p->version);
	snprintf(boot, sizeof(boot), "%s", p->boot_id);
	st.agent_version = version;
	st.boot_id = boot;
	bool publish = labels != NULL && gen != p->published_gen;
	pthread_mutex_unlock(&p->mu);
	if (publish)
		rc = agent_pub_once(p, labels, &st, e);
	cJSON_Delete(labels);
	free(profs);
	pthread_mutex_lock(&p->mu);
	if (rc == 0) {
		p->published_gen = gen;
		pthread_cond_broadcast(&p->cv);
		/* Events after the state they describe is published. */
		agent_pub_events(p);
	}
	return rc;
}

static void agent_pub_outcome(agent_publisher *p, agent_pub_retry *r, int rc, const ag_err *e)
{
	if (rc == 0) {
		if (r->down)
			log_kv(LOG_LVL_INFO, "API server reachable again; node readiness published", "node", p->node,
			       (char *)NULL);
		r->down = false;
		r->backoff_ms = 0;
		return;
	}
	metrics_add(p->m, "armorgate_agent_node_patch_failures_total", "", 1);
	if (!r->down)
		log_kv(LOG_LVL_WARN, "cannot publish node readiness; retrying with backoff", "node", p->node, "error",
		       e->msg, (char *)NULL);
	r->down = true;
	r->backoff_ms = r->backoff_ms ? r->backoff_ms * 2 : 250;
	if (r->backoff_ms > AGENT_PUBLISH_BACKOFF_MAX_MS)
		r->backoff_ms = AGENT_PUBLISH_BACKOFF_MAX_MS;
	agent_pub_deadline(&r->at, r->backoff_ms);
}

static void *agent_pub_main(void *arg)
{
	agent_publisher *p = arg;
	agent_pub_retry r = { 0, false, { 0, 0 }, 0 };

	pthread_mutex_lock(&p->mu);
	while (!p->stop) {
		if (!agent_pub_wait(p, &r) || p->stop)
			continue;
		ag_err e;
		err_clear(&e);
		int rc = agent_pub_attempt(p, &e);
		if (!p->stop)
			agent_pub_outcome(p, &r, rc, &e);
	}
	pthread_mutex_unlock(&p->mu);
	return NULL;
}

agent_publisher *agent_publisher_start(kube_client *client, const char *node_name, long verify_s, metrics *m,
				       ag_err *err)
{
	agent_publisher *p = calloc(1, sizeof(*p));
	pthread_condattr_t ca;

	if (!p) {
		err_set(err, ENOMEM, "out of memory starting the Node publisher");
		return NULL;
	}
	*p = (agent_publisher){ .client = client, .node = node_name, .m = m, .verify_s = (double)verify_s };
	agent_events_init(&p->events, node_name);
	pthread_mutex_init(&p->mu, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&p->cv, &ca);
	pthread_condattr_destroy(&ca);
	if (pthread_create(&p->thread, NULL, agent_pub_main, p) != 0) {
		pthread_cond_destroy(&p->cv);
		pthread_mutex_destroy(&p->mu);
		free(p);
		err_set(err, EAGAIN, "cannot start the publisher thread");
		return NULL;
	}
	return p;
}

void agent_publisher_stop(agent_publisher *p)
{
	if (!p)
		return;
	pthread_mutex_lock(&p->mu);
	p->stop = true;
	pthread_cond_broadcast(&p->cv);
	pthread_mutex_unlock(&p->mu);
	pthread_join(p->thread, NULL);
	cJSON_Delete(p->labels);
	cJSON_Delete(p->known);
	free(p->profiles);
	agent_events_cleanup(&p->events);
	pthread_cond_destroy(&p->cv);
	pthread_mutex_destroy(&p->mu);
	free(p);
}

static void agent_pub_copy_status(agent_publisher *p, const agent_status *st)
{
	free(p->profiles);
	p->profiles = NULL;
	if (st->n) {
		p->profiles = calloc(st->n, sizeof(*p->profiles));
		if (p->profiles)
			memcpy(p->profiles, st->profiles, st->n * sizeof(*p->profiles));
	}
	snprintf(p->version, sizeof(p->version), "%s", st->agent_version ? st->agent_version : "");
	snprintf(p->boot_id, sizeof(p->boot_id), "%s", st->boot_id ? st->boot_id : "");
	p->st.apparmor = st->apparmor;
	p->st.agent_version = p->version;
	p->st.boot_id = p->boot_id;
	p->st.profiles = p->profiles;
	p->st.n = p->profiles ? st->n : 0;
	p->st.source = st->source; /* a string literal */
}

void agent_publisher_submit(agent_publisher *p, const cJSON *labels, const agent_status *st)
{
	cJSON *l = cJSON_Duplicate(labels, true);
	if (!l)
		return;
	pthread_mutex_lock(&p->mu);
	cJSON_Delete(p->labels);
	p->labels = l;
	agent_pub_copy_status(p, st);
	p->gen++;
	pthread_cond_broadcast(&p->cv);
	pthread_mutex_unlock(&p->mu);
}

void agent_publisher_event(agent_publisher *p, const char *type, const char *reason, const char *key,
			   const char *message)
{
	pthread_mutex_lock(&p->mu);
	if (!agent_events_add(&p->events, AGENT_EVENT_NODE, type, reason, key, message) ||
	    !agent_events_add(&p->events, AGENT_EVENT_CONFIGMAP, type, reason, key, message))
		log_kv(LOG_LVL_WARN, "too many Events waiting; one dropped", "reason", reason, (char *)NULL);
	pthread_cond_broadcast(&p->cv);
	pthread_mutex_unlock(&p->mu);
}

void agent_publisher_configmap(agent_publisher *p, const char *ns, const char *name, const char *uid)
{
	pthread_mutex_lock(&p->mu);
	agent_events_set_configmap(&p->events, ns, name, uid);
	pthread_mutex_unlock(&p->mu);
}

void agent_publisher_kick(agent_publisher *p)
{
	pthread_mutex_lock(&p->mu);
	p->kicks++;
	pthread_cond_broadcast(&p->cv);
	pthread_mutex_unlock(&p->mu);
}

bool agent_publisher_wait(agent_publisher *p, long ms)
{
	struct timespec dl;
	bool ok;

	agent_pub_deadline(&dl, ms);
	pthread_mutex_lock(&p->mu);
	unsigned long want = p->gen;
	while (p->published_gen < want && !p->stop)
		if (pthread_cond_timedwait(&p->cv, &p->mu, &dl) == ETIMEDOUT)
			break;
	ok = p->published_gen >= want;
	pthread_mutex_unlock(&p->mu);
	return ok;
}

unsigned long agent_publisher_patches(agent_publisher *p)
{
	pthread_mutex_lock(&p->mu);
	unsigned long n = p->patches;
	pthread_mutex_unlock(&p->mu);
	return n;
}
