/* agent_publish: Node patcher thread with backoff, and Node Events. */
#include "agent_publish.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "mono.h"

enum { AGENT_PUBLISH_BACKOFF_MAX_MS = 10000 };

typedef struct agent_pub_event {
	char type[16];
	char reason[64];
	char message[AGENT_MSG_CAP];
} agent_pub_event;

struct agent_publisher {
	kube_client *client;
	const char *node;
	metrics *m;
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
	agent_pub_event events[AGENT_PUBLISH_EVENTS_MAX];
	size_t nevents;
	unsigned long event_seq;
	unsigned long kicks;
};

static void agent_pub_now_rfc3339(char *out, size_t cap)
{
	struct timespec ts;
	struct tm tm;
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	strftime(out, cap, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* An absolute deadline on the clock the condition variable waits on (mono). */
static void agent_pub_deadline(struct timespec *ts, long ms)
{
	int64_t ns = mono_ns() + (int64_t)ms * 1000000;

	ts->tv_sec = (time_t)(ns / 1000000000);
	ts->tv_nsec = (long)(ns % 1000000000);
}

/* One publish attempt of a snapshot of the wanted state. */
static int agent_pub_once(agent_publisher *p, const cJSON *labels, const agent_status *st, ag_err *err)
{
	char path[512], now[64];
	cJSON *node = NULL;
	char *patch = NULL;
	int rc = -1;

	snprintf(path, sizeof(path), "/api/v1/nodes/%s", p->node);
	if (kube_get(p->client, path, &node, err) != 0)
		goto out;
	agent_pub_now_rfc3339(now, sizeof(now));
	if (agent_node_patch_for(node, labels, st, now, &patch, err) != 0)
		goto out;
	if (patch) {
		metrics_add(p->m, "armorgate_agent_node_patches_total", "", 1);
		if (kube_patch(p->client, path, KUBE_PATCH_MERGE, patch, NULL, err) != 0)
			goto out;
		pthread_mutex_lock(&p->mu);
		p->patches++;
		pthread_mutex_unlock(&p->mu);
		log_kv(LOG_LVL_INFO, "node readiness updated", "node", p->node, (char *)NULL);
		log_kv(LOG_LVL_DEBUG, "node patch", "patch", patch, (char *)NULL);
	}
	rc = 0;
out:
	free(patch);
	cJSON_Delete(node);
	return rc;
}

static int agent_pub_post_event(agent_publisher *p, const agent_pub_event *ev, unsigned long seq, ag_err *err)
{
	char name[300], now[64];
	int rc = -1;
	cJSON *o = cJSON_CreateObject();
	char *body = NULL;

	agent_pub_now_rfc3339(now, sizeof(now));
	/* Unique per agent run and event: node name + time + sequence. */
	snprintf(name, sizeof(name), "%.200s.armorgate.%lx%lx", p->node, (unsigned long)time(NULL), seq);
	cJSON *md = cJSON_AddObjectToObject(o, "metadata");
	cJSON *io = cJSON_AddObjectToObject(o, "involvedObject");
	cJSON *src = cJSON_AddObjectToObject(o, "source");
	if (!md || !io || !src || !cJSON_AddStringToObject(md, "name", name) ||
	    !cJSON_AddStringToObject(md, "namespace", "default") || !cJSON_AddStringToObject(io, "kind", "Node") ||
	    !cJSON_AddStringToObject(io, "apiVersion", "v1") || !cJSON_AddStringToObject(io, "name", p->node) ||
	    !cJSON_AddStringToObject(o, "reason", ev->reason) || !cJSON_AddStringToObject(o, "message", ev->message) ||
	    !cJSON_AddStringToObject(o, "type", ev->type) ||
	    !cJSON_AddStringToObject(src, "component", "armorgate-agent") ||
	    !cJSON_AddStringToObject(src, "host", p->node) || !cJSON_AddStringToObject(o, "firstTimestamp", now) ||
	    !cJSON_AddStringToObject(o, "lastTimestamp", now) || !cJSON_AddNumberToObject(o, "count", 1) ||
	    !(body = cJSON_PrintUnformatted(o))) {
		err_set(err, ENOMEM, "out of memory building an Event");
		goto out;
	}
	rc = kube_create(p->client, "/api/v1/namespaces/default/events", body, NULL, err);
out:
	free(body);
	cJSON_Delete(o);
	return rc;
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

static void *agent_pub_main(void *arg)
{
	agent_publisher *p = arg;
	long backoff_ms = 0;
	bool down = false;

	struct timespec retry_at = { 0, 0 };
	unsigned long kicks_seen = 0;

	pthread_mutex_lock(&p->mu);
	while (!p->stop) {
		bool work = p->gen != p->published_gen || p->nevents > 0;
		if (backoff_ms > 0) {
			/* The API is down: only the retry timer (an absolute
			 * deadline, so new submits do not push it back) retries. */
			if (p->kicks == kicks_seen && pthread_cond_timedwait(&p->cv, &p->mu, &retry_at) != ETIMEDOUT &&
			    p->kicks == kicks_seen)
				continue;
			kicks_seen = p->kicks;
		} else if (!work) {
			struct timespec dl;
			agent_pub_deadline(&dl, 3600000L);
			pthread_cond_timedwait(&p->cv, &p->mu, &dl);
			continue;
		}
		if (p->stop)
			break;
		if (!(p->gen != p->published_gen || p->nevents > 0)) {
			backoff_ms = 0;
			continue;
		}
		/* Snapshot the wanted state, publish without the lock. */
		unsigned long gen = p->gen;
		cJSON *labels = p->labels ? cJSON_Duplicate(p->labels, true) : NULL;
		agent_pstatus *profs = NULL;
		agent_status st = p->st;
		if (st.n && (profs = calloc(st.n, sizeof(*profs))) != NULL)
			memcpy(profs, st.profiles, st.n * sizeof(*profs));
		st.profiles = profs;
		st.n = profs ? st.n : 0;
		char version[64], boot[64];
		snprintf(version, sizeof(version), "%s", p->version);
		snprintf(boot, sizeof(boot), "%s", p->boot_id);
		st.agent_version = version;
		st.boot_id = boot;
		bool have_state = labels != NULL;
		pthread_mutex_unlock(&p->mu);

		ag_err e;
		err_clear(&e);
		int rc = 0;
		if (have_state && gen != p->published_gen)
			rc = agent_pub_once(p, labels, &st, &e);
		cJSON_Delete(labels);
		free(profs);

		if (rc == 0) {
			/* Events after the state they describe is published. */
			for (;;) {
				pthread_mutex_lock(&p->mu);
				if (p->nevents == 0 || p->stop) {
					pthread_mutex_unlock(&p->mu);
					break;
				}
				agent_pub_event ev = p->events[0];
				unsigned long seq = ++p->event_seq;
				pthread_mutex_unlock(&p->mu);
				ag_err ee;
				if (agent_pub_post_event(p, &ev, seq, &ee) != 0) {
					rc = -1;
					e = ee;
					break;
				}
				pthread_mutex_lock(&p->mu);
				if (p->nevents > 0) {
					memmove(&p->events[0], &p->events[1], (p->nevents - 1) * sizeof(p->events[0]));
					p->nevents--;
				}
				pthread_mutex_unlock(&p->mu);
			}
		}
		pthread_mutex_lock(&p->mu);
		if (p->stop)
			break;
		if (rc == 0) {
			p->published_gen = gen;
			pthread_cond_broadcast(&p->cv);
			if (down)
				log_kv(LOG_LVL_INFO, "API server reachable again; node readiness published", "node",
				       p->node, (char *)NULL);
			down = false;
			backoff_ms = 0;
		} else {
			metrics_add(p->m, "armorgate_agent_node_patch_failures_total", "", 1);
			if (!down)
				log_kv(LOG_LVL_WARN, "cannot publish node readiness; retrying with backoff", "node",
				       p->node, "error", e.msg, (char *)NULL);
			down = true;
			backoff_ms = backoff_ms ? backoff_ms * 2 : 250;
			if (backoff_ms > AGENT_PUBLISH_BACKOFF_MAX_MS)
				backoff_ms = AGENT_PUBLISH_BACKOFF_MAX_MS;
			agent_pub_deadline(&retry_at, backoff_ms);
			kicks_seen = p->kicks;
		}
	}
	pthread_mutex_unlock(&p->mu);
	return NULL;
}

agent_publisher *agent_publisher_start(kube_client *client, const char *node_name, metrics *m, ag_err *err)
{
	agent_publisher *p = calloc(1, sizeof(*p));
	pthread_condattr_t ca;

	if (!p) {
		err_set(err, ENOMEM, "out of memory starting the Node publisher");
		return NULL;
	}
	*p = (agent_publisher){ .client = client, .node = node_name, .m = m };
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
	free(p->profiles);
	pthread_cond_destroy(&p->cv);
	pthread_mutex_destroy(&p->mu);
	free(p);
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

void agent_publisher_event(agent_publisher *p, const char *type, const char *reason, const char *message)
{
	pthread_mutex_lock(&p->mu);
	if (p->nevents == AGENT_PUBLISH_EVENTS_MAX) {
		memmove(&p->events[0], &p->events[1], (p->nevents - 1) * sizeof(p->events[0]));
		p->nevents--;
	}
	agent_pub_event *ev = &p->events[p->nevents++];
	snprintf(ev->type, sizeof(ev->type), "%s", type);
	snprintf(ev->reason, sizeof(ev->reason), "%s", reason);
	snprintf(ev->message, sizeof(ev->message), "%s", message);
	pthread_cond_broadcast(&p->cv);
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
