/* nodewatch: Node informer thread feeding the nodeset (see nodewatch.h). */
#include "nodewatch.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

struct nodewatch {
	kube_client *nw_client;
	nodeset *nw_nodes;
	metrics *nw_metrics;
	pthread_t nw_thread;
	volatile sig_atomic_t nw_stop;
	atomic_bool nw_synced;
	atomic_bool nw_connected;
	kube_informer_stats nw_stats;
	unsigned long nw_seen_restarts; /* what nodewatch_tick already reported */
	unsigned long nw_seen_relists;
	unsigned long nw_seen_events;
};

static void nodewatch_gauges(nodewatch *w)
{
	metrics_set(w->nw_metrics, NODEWATCH_M_NODES, "", (double)nodeset_size(w->nw_nodes));
	metrics_set(w->nw_metrics, NODEWATCH_M_ENABLED, "", (double)nodeset_enabled_count(w->nw_nodes));
}

static void nodewatch_on_replace(void *ud, const cJSON *items, const char *rv)
{
	nodewatch *w = ud;
	char n[32];

	nodeset_replace(w->nw_nodes, items);
	nodewatch_gauges(w);
	snprintf(n, sizeof(n), "%zu", nodeset_size(w->nw_nodes));
	if (!atomic_exchange(&w->nw_synced, true)) {
		metrics_set(w->nw_metrics, NODEWATCH_M_SYNCED, "", 1);
		log_kv(LOG_LVL_INFO, "node cache synced; ready to admit", "nodes", n, "resourceVersion", rv ? rv : "",
		       (char *)NULL);
	} else {
		log_kv(LOG_LVL_INFO, "node cache relisted", "nodes", n, "resourceVersion", rv ? rv : "", (char *)NULL);
	}
}

static cJSON *nodewatch_keep(void *ud, const cJSON *item)
{
	(void)ud;
	return nodeset_slim(item);
}

static void nodewatch_on_event(void *ud, kube_event_type type, const cJSON *obj)
{
	nodewatch *w = ud;

	switch (type) {
	case KUBE_EVENT_ADDED:
	case KUBE_EVENT_MODIFIED: nodeset_apply(w->nw_nodes, NODESET_UPSERT, obj); break;
	case KUBE_EVENT_DELETED: nodeset_apply(w->nw_nodes, NODESET_DELETE, obj); break;
	case KUBE_EVENT_BOOKMARK:
	case KUBE_EVENT_ERROR: return; /* the informer acts on these itself */
	}
	nodewatch_gauges(w);
}

static void nodewatch_on_state(void *ud, bool connected, const char *why)
{
	nodewatch *w = ud;
	bool was = atomic_exchange(&w->nw_connected, connected);

	metrics_set(w->nw_metrics, NODEWATCH_M_CONNECTED, "", connected ? 1 : 0);
	if (connected && !was)
		log_kv(LOG_LVL_INFO, "node watch connected", (char *)NULL);
	else if (!connected)
		log_kv(LOG_LVL_WARN,
		       "node watch down; admitting from the last known node state until it reconnects (check API "
		       "server reachability and RBAC: list/watch nodes)",
		       "reason", why ? why : "", (char *)NULL);
}

static void *nodewatch_main(void *arg)
{
	nodewatch *w = arg;
	kube_informer_opts o;
	ag_err err;

	memset(&o, 0, sizeof(o));
	o.collection_path = "/api/v1/nodes";
	/* Full Nodes for status.nodeInfo.bootID; a list keeps only what nodeset
	 * reads (nodeset_slim), and pages stay small because each parsed page
	 * is held whole while it is read. */
	o.list.limit = 100;
	o.keep = nodewatch_keep;
	o.on_replace = nodewatch_on_replace;
	o.on_event = nodewatch_on_event;
	o.on_state = nodewatch_on_state;
	o.ud = w;
	err_clear(&err);
	if (kube_informer_run(w->nw_client, &o, &w->nw_stats, &err) != 0)
		log_kv(LOG_LVL_ERROR, "node watch stopped", "error", err.msg, (char *)NULL);
	return NULL;
}

nodewatch *nodewatch_start(kube_client *client, nodeset *nodes, metrics *m, ag_err *err)
{
	nodewatch *w = calloc(1, sizeof(*w));
	int rc;

	if (!w)
		return err_set(err, ENOMEM, "node watch: out of memory"), NULL;
	w->nw_client = client;
	w->nw_nodes = nodes;
	w->nw_metrics = m;
	atomic_init(&w->nw_synced, false);
	atomic_init(&w->nw_connected, false);
	metrics_set(m, NODEWATCH_M_CONNECTED, "", 0);
	metrics_set(m, NODEWATCH_M_SYNCED, "", 0);
	/* Counters exist from the start, so "0" is visible before anything happened. */
	metrics_add(m, NODEWATCH_M_RESTARTS, "", 0);
	metrics_add(m, NODEWATCH_M_RELISTS, "", 0);
	metrics_add(m, NODEWATCH_M_EVENTS, "", 0);
	kube_client_set_stop_flag(client, &w->nw_stop);
	rc = pthread_create(&w->nw_thread, NULL, nodewatch_main, w);
	if (rc != 0) {
		err_set(err, rc, "node watch: cannot start thread: %s", strerror(rc));
		free(w);
		return NULL;
	}
	return w;
}

bool nodewatch_synced(nodewatch *w)
{
	return w && atomic_load(&w->nw_synced);
}

static void nodewatch_count(metrics *m, const char *name, unsigned long now, unsigned long *seen)
{
	if (now > *seen)
		metrics_add(m, name, "", (double)(now - *seen));
	*seen = now;
}

void nodewatch_tick(nodewatch *w)
{
	/* The informer updates its stats without a lock; a torn read only delays a count. */
	nodewatch_count(w->nw_metrics, NODEWATCH_M_RESTARTS, w->nw_stats.watch_restarts, &w->nw_seen_restarts);
	nodewatch_count(w->nw_metrics, NODEWATCH_M_RELISTS, w->nw_stats.relists, &w->nw_seen_relists);
	nodewatch_count(w->nw_metrics, NODEWATCH_M_EVENTS, w->nw_stats.events, &w->nw_seen_events);
}

void nodewatch_stop(nodewatch *w)
{
	if (!w)
		return;
	w->nw_stop = 1;
	pthread_join(w->nw_thread, NULL);
	free(w);
}
