/* Integration tests of the informer's recovery paths: a stream the server
 * ends (resume from the last resourceVersion without missing an event), an
 * apiserver restart, and a relist after 410 Gone (etcd compacted). The last
 * two start their OWN cluster (test/cluster/start) so the shared fixture is
 * left alone. */
#include <criterion/criterion.h>

#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kt.h"

enum { TR_MAX = 256 };

typedef struct tracker {
	pthread_mutex_t mu;
	char names[TR_MAX][64]; /* current set */
	int n;
	int adds[TR_MAX];       /* ADDED events per name index */
	char seen[TR_MAX][64];  /* every name ever seen by an event */
	int nseen;
	int replaces;
	int disconnects;
	int connects;
	volatile sig_atomic_t stop;
	kube_client *c;
	kube_informer_opts o;
	kube_informer_stats st;
	pthread_t th;
} tracker;

static const char *tr_name(const cJSON *obj)
{
	const cJSON *m = cJSON_GetObjectItemCaseSensitive(obj, "metadata");
	const cJSON *n = cJSON_GetObjectItemCaseSensitive(m, "name");

	return cJSON_IsString(n) ? n->valuestring : "";
}

static int tr_find(char (*arr)[64], int n, const char *name)
{
	for (int i = 0; i < n; i++)
		if (strcmp(arr[i], name) == 0)
			return i;
	return -1;
}

static void tr_replace(void *ud, const cJSON *items, const char *rv)
{
	tracker *t = ud;
	const cJSON *it;

	pthread_mutex_lock(&t->mu);
	t->replaces++;
	t->n = 0;
	cJSON_ArrayForEach(it, items)
	{
		if (t->n < TR_MAX)
			snprintf(t->names[t->n++], 64, "%s", tr_name(it));
	}
	pthread_mutex_unlock(&t->mu);
}

static void tr_event(void *ud, kube_event_type type, const cJSON *obj)
{
	tracker *t = ud;
	const char *name = tr_name(obj);
	int i;

	pthread_mutex_lock(&t->mu);
	i = tr_find(t->seen, t->nseen, name);
	if (i < 0 && t->nseen < TR_MAX) {
		i = t->nseen++;
		snprintf(t->seen[i], 64, "%s", name);
	}
	if (type == KUBE_EVENT_ADDED && i >= 0)
		t->adds[i]++;
	i = tr_find(t->names, t->n, name);
	if (type == KUBE_EVENT_DELETED && i >= 0) {
		memmove(t->names[i], t->names[i + 1], (size_t)(t->n - i - 1) * 64);
		t->n--;
	} else if (type != KUBE_EVENT_DELETED && i < 0 && t->n < TR_MAX) {
		snprintf(t->names[t->n++], 64, "%s", name);
	}
	pthread_mutex_unlock(&t->mu);
}

static void tr_state(void *ud, bool connected, const char *why)
{
	tracker *t = ud;

	pthread_mutex_lock(&t->mu);
	if (connected)
		t->connects++;
	else
		t->disconnects++;
	pthread_mutex_unlock(&t->mu);
	fprintf(stderr, "informer: %s (%s)\n", connected ? "connected" : "disconnected", why);
}

static void *tr_run(void *ud)
{
	tracker *t = ud;
	ag_err err;

	if (kube_informer_run(t->c, &t->o, &t->st, &err) != 0)
		fprintf(stderr, "informer: %s\n", err.msg);
	return NULL;
}

static void tr_start(tracker *t, const char *coll, long watch_timeout_s)
{
	memset(t, 0, sizeof(*t));
	pthread_mutex_init(&t->mu, NULL);
	t->c = kt_admin_client();
	kube_client_set_stop_flag(t->c, &t->stop);
	t->o = (kube_informer_opts){ .collection_path = coll,
				     .on_replace = tr_replace,
				     .on_event = tr_event,
				     .on_state = tr_state,
				     .ud = t,
				     .watch_timeout_s = watch_timeout_s };
	cr_assert_eq(pthread_create(&t->th, NULL, tr_run, t), 0);
}

static void tr_stop(tracker *t)
{
	t->stop = 1;
	pthread_join(t->th, NULL);
	kube_client_free(t->c);
}

static int tr_get(tracker *t, const int *f)
{
	int v;

	pthread_mutex_lock(&t->mu);
	v = *f;
	pthread_mutex_unlock(&t->mu);
	return v;
}

static bool tr_wait(tracker *t, const int *f, int want, double secs)
{
	double end = kt_now() + secs;

	while (kt_now() < end) {
		if (tr_get(t, f) >= want)
			return true;
		kt_sleep_ms(20);
	}
	return false;
}

static bool tr_has(tracker *t, const char *name)
{
	bool r;

	pthread_mutex_lock(&t->mu);
	r = tr_find(t->names, t->n, name) >= 0;
	pthread_mutex_unlock(&t->mu);
	return r;
}

static bool tr_wait_has(tracker *t, const char *name, double secs)
{
	double end = kt_now() + secs;

	while (kt_now() < end) {
		if (tr_has(t, name))
			return true;
		kt_sleep_ms(20);
	}
	return false;
}

static void mk_ns(kube_client *c, const char *ns)
{
	char body[256];
	ag_err err;

	snprintf(body, sizeof(body), "{\"metadata\":{\"name\":\"%s\"}}", ns);
	cr_assert_eq(kube_create(c, "/api/v1/namespaces", body, NULL, &err), 0, "%s", err.msg);
}

static void mk_cm(kube_client *c, const char *ns, const char *name)
{
	char coll[256];
	char body[256];
	ag_err err;

	snprintf(coll, sizeof(coll), "/api/v1/namespaces/%s/configmaps", ns);
	snprintf(body, sizeof(body), "{\"metadata\":{\"name\":\"%s\"},\"data\":{\"k\":\"v\"}}", name);
	cr_assert_eq(kube_create(c, coll, body, NULL, &err), 0, "%s", err.msg);
}

/* Shared cluster: the server ends each watch after 1 s; 40 creations spread
 * over several streams must each arrive exactly once, with no relist. */
Test(kube_resume, server_ends_stream_no_event_lost, .timeout = 120)
{
	tracker t;
	kube_client *c = kt_admin_client();
	char ns[64];
	char coll[128];
	char name[64];

	snprintf(ns, sizeof(ns), "kt-resume-%d", (int)getpid());
	snprintf(coll, sizeof(coll), "/api/v1/namespaces/%s/configmaps", ns);
	mk_ns(c, ns);
	tr_start(&t, coll, 1);
	cr_assert(tr_wait(&t, &t.replaces, 1, 20));
	for (int i = 0; i < 40; i++) {
		snprintf(name, sizeof(name), "cm-%02d", i);
		mk_cm(c, ns, name);
		kt_sleep_ms(75);
	}
	cr_assert(tr_wait_has(&t, "cm-39", 20), "last event not seen");
	kt_sleep_ms(300);
	tr_stop(&t);
	cr_assert_eq(t.nseen, 40, "events for %d names", t.nseen);
	for (int i = 0; i < 40; i++)
		cr_assert_eq(t.adds[i], 1, "%s added %d times", t.seen[i], t.adds[i]);
	cr_assert_eq(t.replaces, 1, "relisted %d times", t.replaces - 1);
	cr_assert_geq(t.st.watch_restarts, 2, "only %lu watch restarts", t.st.watch_restarts);
	cr_assert_eq(t.st.events, 40);
	kube_client_free(c);
}

/* ---- own cluster ---- */

static char *own_cluster(const char *tag, const char *const env[])
{
	char *dir = kt_tempdir(tag);
	char kc[4200];

	/* test/cluster/start picks free ports, which can race with other
	 * sockets on a busy machine (seen: etcd "address already in use"):
	 * a failed start is retried on fresh ports. */
	for (int attempt = 1;; attempt++) {
		if (kt_cluster("start", dir, env) == 0)
			break;
		kt_cluster("stop", dir, NULL);
		if (attempt == 3)
			cr_assert_fail("test/cluster/start %s failed 3 times", dir);
		kt_sleep_ms(500);
	}
	snprintf(kc, sizeof(kc), "%s/kubeconfig", dir);
	setenv("ARMORGATE_TEST_KUBECONFIG", kc, 1);
	return dir;
}

static void own_cluster_stop(char *dir)
{
	kt_cluster("stop", dir, NULL);
	kt_rm_rf(dir);
	free(dir);
}

Test(kube_resume, survives_apiserver_restart, .timeout = 240)
{
	char *dir = own_cluster("kube-restart", NULL);
	tracker t;
	kube_client *c = kt_admin_client();
	char name[64];
	int disc;

	mk_ns(c, "kt");
	tr_start(&t, "/api/v1/namespaces/kt/configmaps", 30);
	cr_assert(tr_wait(&t, &t.replaces, 1, 20));
	for (int i = 0; i < 5; i++) {
		snprintf(name, sizeof(name), "before-%d", i);
		mk_cm(c, "kt", name);
	}
	cr_assert(tr_wait_has(&t, "before-4", 20));
	cr_assert_eq(kt_cluster("restart-apiserver", dir, NULL), 0);
	for (int i = 0; i < 5; i++) {
		snprintf(name, sizeof(name), "after-%d", i);
		mk_cm(c, "kt", name);
	}
	for (int i = 0; i < 5; i++) {
		snprintf(name, sizeof(name), "after-%d", i);
		cr_assert(tr_wait_has(&t, name, 60), "%s not seen after the restart", name);
	}
	for (int i = 0; i < 5; i++) {
		snprintf(name, sizeof(name), "before-%d", i);
		cr_assert(tr_has(&t, name), "%s lost", name);
	}
	disc = tr_get(&t, &t.disconnects);
	tr_stop(&t);
	cr_assert_geq(disc, 1, "the restart was not noticed");
	cr_assert_geq(t.st.watch_restarts, 1);
	fprintf(stderr, "restart: relists %lu, watch restarts %lu\n", t.st.relists, t.st.watch_restarts);
	kube_client_free(c);
	own_cluster_stop(dir);
}

Test(kube_resume, relist_after_410_gone, .timeout = 240)
{
	const char *env[] = { "ARMORGATE_CLUSTER_WATCH_CACHE=false", NULL };
	char *dir = own_cluster("kube-410", env);
	tracker t;
	kube_client *c = kt_admin_client();
	char name[64];

	mk_ns(c, "quiet");
	mk_ns(c, "busy");
	mk_cm(c, "quiet", "old");
	/* Short server timeout: the watch reconnects from its last resourceVersion. */
	tr_start(&t, "/api/v1/namespaces/quiet/configmaps", 2);
	cr_assert(tr_wait(&t, &t.replaces, 1, 20));
	cr_assert(tr_has(&t, "old"));
	for (int i = 0; i < 5; i++) {
		snprintf(name, sizeof(name), "noise-%d", i);
		mk_cm(c, "busy", name);
	}
	cr_assert_eq(kt_cluster("compact", dir, NULL), 0);
	/* The next reconnect hits the compacted revision: 410 -> relist. */
	cr_assert(tr_wait(&t, &t.replaces, 2, 30), "no relist after compaction (relists %lu)", t.st.relists);
	cr_assert(tr_has(&t, "old"));
	mk_cm(c, "quiet", "new");
	cr_assert(tr_wait_has(&t, "new", 20));
	tr_stop(&t);
	cr_assert_geq(t.st.relists, 1);
	kube_client_free(c);
	own_cluster_stop(dir);
}
