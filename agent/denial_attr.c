/* denial_attr: pid -> pod/container through /proc and a node-scoped pod
 * watch (see denial_attr.h). */
#include "denial_attr.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "denial_cgroup.h"
#include "denial_pods.h"
#include "log.h"
#include "mono.h"

typedef struct denial_attr_cached {
	int pid; /* 0 = empty */
	int64_t at_ms;
	bool found;
	denial_cgroup_id id;
} denial_attr_cached;

struct denial_attr {
	kube_client *client;
	const char *node, *proc_root;
	metrics *m;
	pthread_t thread;
	bool started;
	atomic_bool synced, connected;
	pthread_mutex_t mu;
	denial_pods pods; /* guarded by mu */
	/* The lookup thread's own. */
	denial_attr_cached cache[DENIAL_ATTR_CACHE];
	size_t cache_next;
};

static void denial_attr_pods_gauge(denial_attr *a)
{
	metrics_set(a->m, "armorgate_agent_denial_pods", "", (double)a->pods.n);
}

static void denial_attr_on_replace(void *ud, const cJSON *items, const char *rv)
{
	denial_attr *a = ud;

	(void)rv;
	pthread_mutex_lock(&a->mu);
	if (denial_pods_replace(&a->pods, items) != 0)
		log_kv(LOG_LVL_WARN,
		       "pod table incomplete (out of memory or too many pods); some denials stay unattributed",
		       (char *)NULL);
	denial_attr_pods_gauge(a);
	pthread_mutex_unlock(&a->mu);
	atomic_store(&a->synced, true);
}

static void denial_attr_on_event(void *ud, kube_event_type type, const cJSON *obj)
{
	denial_attr *a = ud;

	pthread_mutex_lock(&a->mu);
	if (type == KUBE_EVENT_ADDED || type == KUBE_EVENT_MODIFIED)
		(void)denial_pods_upsert(&a->pods, obj); /* a pod it cannot keep stays unattributed */
	else if (type == KUBE_EVENT_DELETED)
		denial_pods_delete(&a->pods, obj);
	denial_attr_pods_gauge(a);
	pthread_mutex_unlock(&a->mu);
}

static void denial_attr_on_state(void *ud, bool connected, const char *why)
{
	denial_attr *a = ud;
	bool was = atomic_exchange(&a->connected, connected);

	if (connected && !was)
		log_kv(LOG_LVL_INFO, "pod watch connected (denial attribution)", "node", a->node, (char *)NULL);
	else if (!connected && was)
		log_kv(LOG_LVL_WARN,
		       "pod watch down; denials are attributed from the last known pods until it reconnects (check "
		       "RBAC: list/watch pods)",
		       "reason", why ? why : "", (char *)NULL);
}

static cJSON *denial_attr_keep(void *ud, const cJSON *item)
{
	(void)ud;
	return denial_pods_slim(item);
}

static void *denial_attr_main(void *arg)
{
	denial_attr *a = arg;
	kube_informer_opts o;
	char sel[320];
	ag_err e;

	snprintf(sel, sizeof(sel), "spec.nodeName=%s", a->node);
	memset(&o, 0, sizeof(o));
	o.collection_path = "/api/v1/pods";
	o.list.field_selector = sel;
	o.list.limit = 100; /* a page is held whole while it is read */
	o.keep = denial_attr_keep;
	o.on_replace = denial_attr_on_replace;
	o.on_event = denial_attr_on_event;
	o.on_state = denial_attr_on_state;
	o.ud = a;
	err_clear(&e);
	if (kube_informer_run(a->client, &o, NULL, &e) != 0)
		log_kv(LOG_LVL_ERROR, "pod watch stopped", "error", e.msg, (char *)NULL);
	return NULL;
}

denial_attr *denial_attr_start(kube_client *client, const char *node, const char *proc_root, metrics *m, ag_err *err)
{
	denial_attr *a = calloc(1, sizeof(*a));

	if (!a) {
		err_set(err, ENOMEM, "out of memory starting denial attribution");
		return NULL;
	}
	a->client = client;
	a->node = node;
	a->proc_root = proc_root;
	a->m = m;
	denial_pods_init(&a->pods);
	pthread_mutex_init(&a->mu, NULL);
	if (metrics_define(m, "armorgate_agent_denial_pods", METRICS_GAUGE,
			   "Pods of this node known to denial attribution.", NULL, 0) != 0 &&
	    errno != EEXIST) {
		err_set(err, errno, "cannot define the denial attribution metrics");
		goto fail;
	}
	metrics_set(m, "armorgate_agent_denial_pods", "", 0);
	if (client && pthread_create(&a->thread, NULL, denial_attr_main, a) != 0) {
		err_set(err, EAGAIN, "cannot start the pod watch thread");
		goto fail;
	}
	a->started = client != NULL;
	return a;
fail:
	pthread_mutex_destroy(&a->mu);
	free(a);
	return NULL;
}

void denial_attr_stop(denial_attr *a)
{
	if (!a)
		return;
	if (a->started)
		pthread_join(a->thread, NULL);
	denial_pods_cleanup(&a->pods);
	pthread_mutex_destroy(&a->mu);
	free(a);
}

bool denial_attr_synced(denial_attr *a)
{
	return a && atomic_load(&a->synced);
}

/* <proc>/<pid>/cgroup parsed; false when the process is gone or in no pod. */
static bool denial_attr_read_cgroup(const denial_attr *a, int pid, denial_cgroup_id *id)
{
	char path[4200], text[DENIAL_CGROUP_MAX];
	size_t len = 0;
	int fd;

	snprintf(path, sizeof(path), "%s/%d/cgroup", a->proc_root, pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	while (len < sizeof(text)) {
		ssize_t n = read(fd, text + len, sizeof(text) - len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		len += (size_t)n;
	}
	close(fd);
	return denial_cgroup_parse(text, len, id);
}

/* The cgroup identity of pid, from the cache when read recently. */
static bool denial_attr_cgroup(denial_attr *a, int pid, denial_cgroup_id *id)
{
	int64_t now = mono_ms();
	denial_attr_cached *c;

	for (size_t i = 0; i < DENIAL_ATTR_CACHE; i++) {
		c = &a->cache[i];
		if (c->pid == pid && now - c->at_ms < DENIAL_ATTR_TTL_MS) {
			*id = c->id;
			return c->found;
		}
	}
	c = &a->cache[a->cache_next];
	a->cache_next = (a->cache_next + 1) % DENIAL_ATTR_CACHE;
	c->pid = pid;
	c->at_ms = now;
	c->found = denial_attr_read_cgroup(a, pid, &c->id);
	*id = c->id;
	return c->found;
}

void denial_attr_lookup(denial_attr *a, int pid, denial_who *who)
{
	denial_cgroup_id id;
	const denial_pod *p;

	memset(who, 0, sizeof(*who));
	if (pid <= 0 || !denial_attr_cgroup(a, pid, &id))
		return;
	snprintf(who->uid, sizeof(who->uid), "%s", id.pod_uid);
	pthread_mutex_lock(&a->mu);
	p = denial_pods_find(&a->pods, id.pod_uid);
	if (p) {
		const char *c = denial_pods_container(p, id.container_id);

		snprintf(who->ns, sizeof(who->ns), "%s", p->ns);
		snprintf(who->pod, sizeof(who->pod), "%s", p->name);
		snprintf(who->container, sizeof(who->container), "%s", c ? c : "");
	}
	pthread_mutex_unlock(&a->mu);
}
