/* Integration tests of the kube client against the shared real control plane
 * (fixture "cluster"): verbs, pagination, watch vs kubectl, auth and errors. */
#include <criterion/criterion.h>

#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kt.h"

static const char *jstr(const cJSON *o, const char *a, const char *b, const char *c)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, a);

	if (b)
		v = cJSON_GetObjectItemCaseSensitive(v, b);
	if (c)
		v = cJSON_GetObjectItemCaseSensitive(v, c);
	return cJSON_IsString(v) ? v->valuestring : NULL;
}

Test(kube_integ, node_create_and_patch_labels)
{
	kube_client *c = kt_admin_client();
	char name[64];
	char path[128];
	char body[256];
	cJSON *o = NULL;
	ag_err err;

	snprintf(name, sizeof(name), "kt-node-%d", (int)getpid());
	snprintf(path, sizeof(path), "/api/v1/nodes/%s", name);
	snprintf(body, sizeof(body), "{\"apiVersion\":\"v1\",\"kind\":\"Node\",\"metadata\":{\"name\":\"%s\"}}", name);
	cr_assert_eq(kube_create(c, "/api/v1/nodes", body, &o, &err), 0, "%s", err.msg);
	cr_assert_str_eq(jstr(o, "metadata", "name", NULL), name);
	cJSON_Delete(o);

	cr_assert_eq(kube_patch(c, path, KUBE_PATCH_MERGE, "{\"metadata\":{\"labels\":{\"a\":\"merge\"}}}", NULL, &err),
		     0, "%s", err.msg);
	cr_assert_eq(kube_patch(c, path, KUBE_PATCH_STRATEGIC, "{\"metadata\":{\"labels\":{\"b\":\"strategic\"}}}",
				NULL, &err),
		     0, "%s", err.msg);
	cr_assert_eq(kube_patch(c, path, KUBE_PATCH_JSON,
				"[{\"op\":\"add\",\"path\":\"/metadata/labels/profiles.armorgate.io~1x\",\"value\":\"json\"}]",
				&o, &err),
		     0, "%s", err.msg);
	cJSON_Delete(o);
	cr_assert_eq(kube_get(c, path, &o, &err), 0, "%s", err.msg);
	cr_assert_str_eq(jstr(o, "metadata", "labels", "a"), "merge");
	cr_assert_str_eq(jstr(o, "metadata", "labels", "b"), "strategic");
	cr_assert_str_eq(jstr(o, "metadata", "labels", "profiles.armorgate.io/x"), "json");
	cJSON_Delete(o);

	/* A bad JSON patch: the server's Status message comes through. */
	cr_assert_eq(kube_patch(c, path, KUBE_PATCH_JSON, "[{\"op\":\"test\",\"path\":\"/metadata/name\",\"value\":\"no\"}]",
				NULL, &err),
		     -1);
	cr_assert(err.http_status >= 400 && err.http_status < 500, "status %ld", err.http_status);

	cr_assert_eq(kube_delete(c, path, &err), 0, "%s", err.msg);
	cr_assert_eq(kube_get(c, path, &o, &err), -1);
	cr_assert_eq(err.http_status, 404);
	cr_assert(strstr(err.msg, "404 Not Found") && strstr(err.msg, "not found"), "%s", err.msg);
	kube_client_free(c);
}

static int count_item(void *ud, const cJSON *item)
{
	int *n = ud;
	const cJSON *meta = cJSON_GetObjectItemCaseSensitive(item, "metadata");

	cr_assert(cJSON_IsObject(meta));
	(*n)++;
	return 0;
}

static int no_data_item(void *ud, const cJSON *item)
{
	int *n = ud;

	/* PartialObjectMetadata: metadata only, no data. */
	cr_assert_null(cJSON_GetObjectItemCaseSensitive(item, "data"));
	cr_assert_not_null(cJSON_GetObjectItemCaseSensitive(item, "metadata"));
	(*n)++;
	return 0;
}

static int stop_at_3(void *ud, const cJSON *item)
{
	int *n = ud;

	return ++*n == 3 ? 42 : 0;
}

Test(kube_integ, list_paginates)
{
	kube_client *c = kt_admin_client();
	char ns[64];
	char coll[128];
	char body[256];
	ag_err err;
	kube_list_opts lo = { .limit = 10 };
	char *rv = NULL;
	int n = 0;

	snprintf(ns, sizeof(ns), "kt-list-%d", (int)getpid());
	snprintf(body, sizeof(body), "{\"apiVersion\":\"v1\",\"kind\":\"Namespace\",\"metadata\":{\"name\":\"%s\"}}", ns);
	cr_assert_eq(kube_create(c, "/api/v1/namespaces", body, NULL, &err), 0, "%s", err.msg);
	snprintf(coll, sizeof(coll), "/api/v1/namespaces/%s/configmaps", ns);
	for (int i = 0; i < 25; i++) {
		snprintf(body, sizeof(body),
			 "{\"metadata\":{\"name\":\"cm-%02d\",\"labels\":{\"kt\":\"%s\"}},\"data\":{\"k\":\"v\"}}", i,
			 i % 2 ? "odd" : "even");
		cr_assert_eq(kube_create(c, coll, body, NULL, &err), 0, "%s", err.msg);
	}
	cr_assert_eq(kube_list(c, coll, &lo, count_item, &n, &rv, &err), 0, "%s", err.msg);
	cr_assert_eq(n, 25);
	cr_assert_not_null(rv);
	cr_assert(rv[0]);
	free(rv);

	n = 0;
	lo.label_selector = "kt=odd";
	cr_assert_eq(kube_list(c, coll, &lo, count_item, &n, NULL, &err), 0, "%s", err.msg);
	cr_assert_eq(n, 12);

	n = 0;
	lo.label_selector = "kt in (even)";
	lo.metadata_only = true;
	lo.limit = 4;
	cr_assert_eq(kube_list(c, coll, &lo, no_data_item, &n, NULL, &err), 0, "%s", err.msg);
	cr_assert_eq(n, 13);

	n = 0;
	lo = (kube_list_opts){ .limit = 2 };
	cr_assert_eq(kube_list(c, coll, &lo, stop_at_3, &n, NULL, &err), 42);
	cr_assert_eq(n, 3);

	lo = (kube_list_opts){ .label_selector = "bad selector ===" };
	cr_assert_eq(kube_list(c, coll, &lo, count_item, &n, NULL, &err), -1);
	cr_assert_eq(err.http_status, 400, "%s", err.msg);
	kube_client_free(c);
}

typedef struct wctx {
	pthread_mutex_t mu;
	int replaces;
	int added;
	int modified;
	int deleted;
	bool connected;
	char want[64];
	volatile sig_atomic_t stop;
	kube_client *c;
	kube_informer_opts o;
	kube_informer_stats st;
	double seen_at;
} wctx;

static void w_replace(void *ud, const cJSON *items, const char *rv)
{
	wctx *w = ud;

	pthread_mutex_lock(&w->mu);
	w->replaces++;
	pthread_mutex_unlock(&w->mu);
}

static void w_event(void *ud, kube_event_type t, const cJSON *obj)
{
	wctx *w = ud;
	const char *n = jstr(obj, "metadata", "name", NULL);

	pthread_mutex_lock(&w->mu);
	if (n && strcmp(n, w->want) == 0) {
		if (t == KUBE_EVENT_ADDED) {
			w->added++;
			w->seen_at = kt_now();
		}
		if (t == KUBE_EVENT_MODIFIED && jstr(obj, "metadata", "labels", "kt"))
			w->modified++;
		if (t == KUBE_EVENT_DELETED)
			w->deleted++;
	}
	pthread_mutex_unlock(&w->mu);
}

static void w_state(void *ud, bool connected, const char *why)
{
	wctx *w = ud;

	pthread_mutex_lock(&w->mu);
	w->connected = connected;
	pthread_mutex_unlock(&w->mu);
}

static void *w_run(void *ud)
{
	wctx *w = ud;
	ag_err err;

	cr_assert_eq(kube_informer_run(w->c, &w->o, &w->st, &err), 0, "%s", err.msg);
	return NULL;
}

static int w_get(wctx *w, const int *field)
{
	int v;

	pthread_mutex_lock(&w->mu);
	v = *field;
	pthread_mutex_unlock(&w->mu);
	return v;
}

static bool w_wait(wctx *w, const int *field, int want, double secs)
{
	double end = kt_now() + secs;

	while (kt_now() < end) {
		if (w_get(w, field) >= want)
			return true;
		kt_sleep_ms(20);
	}
	return false;
}

Test(kube_integ, watch_sees_kubectl_changes, .timeout = 90)
{
	wctx w;
	pthread_t th;
	double t0;
	double stop_t;

	memset(&w, 0, sizeof(w));
	pthread_mutex_init(&w.mu, NULL);
	snprintf(w.want, sizeof(w.want), "kt-watch-%d", (int)getpid());
	w.c = kt_admin_client();
	kube_client_set_stop_flag(w.c, &w.stop);
	w.o = (kube_informer_opts){ .collection_path = "/api/v1/namespaces/default/configmaps",
				    .on_replace = w_replace,
				    .on_event = w_event,
				    .on_state = w_state,
				    .ud = &w };
	cr_assert_eq(pthread_create(&th, NULL, w_run, &w), 0);
	cr_assert(w_wait(&w, &w.replaces, 1, 20), "no initial list");
	kt_sleep_ms(300); /* let the watch connect */
	{
		const char *a[] = { "-n", "default", "create", "configmap", w.want, "--from-literal=k=v", NULL };
		t0 = kt_now();
		cr_assert_eq(kt_kubectl(NULL, a), 0);
	}
	cr_assert(w_wait(&w, &w.added, 1, 20), "ADDED not seen");
	{
		const char *a[] = { "-n", "default", "label", "configmap", w.want, "kt=yes", NULL };
		cr_assert_eq(kt_kubectl(NULL, a), 0);
	}
	cr_assert(w_wait(&w, &w.modified, 1, 20), "MODIFIED not seen");
	{
		const char *a[] = { "-n", "default", "delete", "configmap", w.want, NULL };
		cr_assert_eq(kt_kubectl(NULL, a), 0);
	}
	cr_assert(w_wait(&w, &w.deleted, 1, 20), "DELETED not seen");
	cr_assert(w.connected);
	/* Shutdown is prompt although the watch is idle. */
	stop_t = kt_now();
	w.stop = 1;
	pthread_join(th, NULL);
	cr_assert(kt_now() - stop_t < 3.0, "informer took %.2fs to stop", kt_now() - stop_t);
	fprintf(stderr, "watch: kubectl create -> ADDED within %.3fs (incl. kubectl start)\n", w.seen_at - t0);
	cr_assert_eq(w.added, 1);
	kube_client_free(w.c);
}

static char *kt_token_for_sa(const char *name)
{
	char *tok = NULL;
	char crb[80];
	char sa[96];
	const char *a1[] = { "-n", "default", "create", "serviceaccount", name, NULL };
	const char *a3[] = { "-n", "default", "create", "token", name, "--duration=1h", NULL };

	snprintf(crb, sizeof(crb), "%s-admin", name);
	snprintf(sa, sizeof(sa), "--serviceaccount=default:%s", name);
	{
		const char *a2[] = { "create", "clusterrolebinding", crb, "--clusterrole=cluster-admin", sa, NULL };

		cr_assert_eq(kt_kubectl(NULL, a1), 0);
		cr_assert_eq(kt_kubectl(NULL, a2), 0);
	}
	cr_assert_eq(kt_kubectl(&tok, a3), 0);
	tok[strcspn(tok, "\r\n")] = '\0';
	cr_assert(strlen(tok) > 20);
	return tok;
}

/* A config with the shared cluster's server + CA but no client identity. */
static void kt_anon_config(kube_config *cfg)
{
	kube_config admin;
	ag_err err;

	cr_assert_eq(kube_config_from_kubeconfig(kt_kubeconfig(), NULL, &admin, &err), 0, "%s", err.msg);
	memset(cfg, 0, sizeof(*cfg));
	cfg->server = strdup(admin.server);
	cfg->ca_pem = strdup(admin.ca_pem);
	kube_config_cleanup(&admin);
}

Test(kube_integ, token_auth_and_rotation, .timeout = 90)
{
	char name[64];
	char *tok;
	kube_config cfg;
	kube_client *c;
	cJSON *o = NULL;
	ag_err err;
	char *dir = kt_tempdir("kube-token");
	char tf[4200];
	char line[4200];

	snprintf(name, sizeof(name), "kt-sa-%d", (int)getpid());
	tok = kt_token_for_sa(name);

	/* Static token. */
	kt_anon_config(&cfg);
	cfg.token = strdup(tok);
	c = kube_client_new(&cfg, &err);
	cr_assert_not_null(c, "%s", err.msg);
	cr_assert_eq(kube_get(c, "/api/v1/namespaces/default", &o, &err), 0, "%s", err.msg);
	cJSON_Delete(o);
	kube_client_free(c);
	kube_config_cleanup(&cfg);

	/* Token file, re-read when it changes (rotation). */
	snprintf(tf, sizeof(tf), "%s/token", dir);
	snprintf(line, sizeof(line), "%s\n", tok);
	kt_write_file(tf, line);
	kt_anon_config(&cfg);
	cfg.token_file = strdup(tf);
	c = kube_client_new(&cfg, &err);
	cr_assert_not_null(c, "%s", err.msg);
	cr_assert_eq(kube_get(c, "/api/v1/namespaces/default", &o, &err), 0, "%s", err.msg);
	cJSON_Delete(o);
	{
		char tmp[4300];

		snprintf(tmp, sizeof(tmp), "%s.new", tf);
		kt_write_file(tmp, "not-a-valid-token\n");
		cr_assert_eq(rename(tmp, tf), 0);
	}
	cr_assert_eq(kube_get(c, "/api/v1/namespaces/default", &o, &err), -1, "rotated token not re-read");
	cr_assert_eq(err.http_status, 401);
	cr_assert(strstr(err.msg, "401 Unauthorized") && strstr(err.msg, "check the token"), "%s", err.msg);
	kt_write_file(tf, line);
	cr_assert_eq(kube_get(c, "/api/v1/namespaces/default", &o, &err), 0, "%s", err.msg);
	cJSON_Delete(o);
	kube_client_free(c);
	kube_config_cleanup(&cfg);

	/* The same through a kubeconfig with tokenFile relative to it. */
	{
		char kc[4300];
		char text[8192];
		kube_config admin;

		cr_assert_eq(kube_config_from_kubeconfig(kt_kubeconfig(), NULL, &admin, &err), 0, "%s", err.msg);
		snprintf(kc, sizeof(kc), "%s/ca.crt", dir);
		kt_write_file(kc, admin.ca_pem);
		snprintf(text, sizeof(text),
			 "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster:\n    server: %s\n"
			 "    certificate-authority: ca.crt\nusers:\n- name: u\n  user:\n    tokenFile: token\n"
			 "contexts:\n- name: x\n  context: {cluster: c, user: u}\ncurrent-context: x\n",
			 admin.server);
		kube_config_cleanup(&admin);
		snprintf(kc, sizeof(kc), "%s/kubeconfig", dir);
		kt_write_file(kc, text);
		cr_assert_eq(kube_config_from_kubeconfig(kc, NULL, &cfg, &err), 0, "%s", err.msg);
		c = kube_client_new(&cfg, &err);
		cr_assert_eq(kube_get(c, "/api/v1/namespaces/default", &o, &err), 0, "%s", err.msg);
		cJSON_Delete(o);
		kube_client_free(c);
		kube_config_cleanup(&cfg);
	}
	free(tok);
	kt_rm_rf(dir);
	free(dir);
}

Test(kube_integ, client_cert_auth_from_files)
{
	/* The admin kubeconfig has inline data; write it out as relative files. */
	kube_config admin;
	kube_config cfg;
	kube_client *c;
	ag_err err;
	cJSON *o = NULL;
	char *dir = kt_tempdir("kube-cert");
	char p[4300];
	char text[8192];

	cr_assert_eq(kube_config_from_kubeconfig(kt_kubeconfig(), NULL, &admin, &err), 0, "%s", err.msg);
	cr_assert_not_null(admin.cert_pem);
	cr_assert_not_null(admin.key_pem);
	snprintf(p, sizeof(p), "%s/sub", dir);
	cr_assert_eq(mkdir(p, 0700), 0);
	snprintf(p, sizeof(p), "%s/sub/ca.pem", dir);
	kt_write_file(p, admin.ca_pem);
	snprintf(p, sizeof(p), "%s/sub/c.pem", dir);
	kt_write_file(p, admin.cert_pem);
	snprintf(p, sizeof(p), "%s/sub/k.pem", dir);
	kt_write_file(p, admin.key_pem);
	snprintf(text, sizeof(text),
		 "clusters:\n- name: c\n  cluster:\n    server: %s/\n    certificate-authority: sub/ca.pem\n"
		 "users:\n- name: u\n  user:\n    client-certificate: sub/c.pem\n    client-key: sub/k.pem\n"
		 "contexts:\n- name: x\n  context: {cluster: c, user: u}\ncurrent-context: x\n",
		 admin.server);
	snprintf(p, sizeof(p), "%s/kubeconfig", dir);
	kt_write_file(p, text);
	cr_assert_eq(kube_config_from_kubeconfig(p, NULL, &cfg, &err), 0, "%s", err.msg);
	cr_assert_not_null(cfg.ca_file);
	cr_assert_str_eq(cfg.server, admin.server);
	c = kube_client_new(&cfg, &err);
	cr_assert_eq(kube_get(c, "/api/v1/nodes", &o, &err), 0, "%s", err.msg);
	cJSON_Delete(o);
	kube_client_free(c);
	kube_config_cleanup(&cfg);
	kube_config_cleanup(&admin);
	kt_rm_rf(dir);
	free(dir);
}

Test(kube_integ, errors_wrong_ca_token_unreachable)
{
	kube_config cfg;
	kube_client *c;
	ag_err err;
	cJSON *o = NULL;
	char *dir = kt_tempdir("kube-ca");
	char key[4300];
	char crt[4300];
	char *pem = NULL;

	/* A CA that did not sign the server's certificate. */
	snprintf(key, sizeof(key), "%s/k.pem", dir);
	snprintf(crt, sizeof(crt), "%s/c.pem", dir);
	{
		const char *a[] = { "openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
				    "-nodes", "-keyout", key, "-out", crt, "-subj", "/CN=other-ca", "-days", "1", NULL };
		cr_assert_eq(kt_run(NULL, a, 30000), 0);
	}
	kt_anon_config(&cfg);
	free(cfg.ca_pem);
	cfg.ca_pem = NULL;
	cfg.ca_file = strdup(crt);
	c = kube_client_new(&cfg, &err);
	cr_assert_eq(kube_get(c, "/api/v1/nodes", &o, &err), -1);
	cr_assert(strstr(err.msg, "TLS: certificate verify failed for https://127.0.0.1:") &&
			  strstr(err.msg, "check the CA in the kubeconfig"),
		  "%s", err.msg);
	cr_assert_eq(err.http_status, 0);
	kube_client_free(c);
	kube_config_cleanup(&cfg);

	/* Wrong token. */
	kt_anon_config(&cfg);
	cfg.token = strdup("armorgate-wrong-token");
	c = kube_client_new(&cfg, &err);
	cr_assert_eq(kube_get(c, "/api/v1/nodes", &o, &err), -1);
	cr_assert_eq(err.http_status, 401);
	cr_assert(strstr(err.msg, "401 Unauthorized: ") && strstr(err.msg, "check the token"), "%s", err.msg);
	kube_client_free(c);
	kube_config_cleanup(&cfg);

	/* Known identity without rights: 403 with the server's message. */
	{
		char tf[4200];

		snprintf(tf, sizeof(tf), "%s/nobody-token", kt_cluster_dir());
		if (access(tf, R_OK) == 0) {
			kt_anon_config(&cfg);
			cfg.token_file = strdup(tf);
			c = kube_client_new(&cfg, &err);
			cr_assert_eq(kube_get(c, "/api/v1/nodes", &o, &err), -1);
			cr_assert_eq(err.http_status, 403);
			cr_assert(strstr(err.msg, "403 Forbidden: ") && strstr(err.msg, "cannot list resource"), "%s",
				  err.msg);
			kube_client_free(c);
			kube_config_cleanup(&cfg);
		}
	}

	/* Unreachable. */
	memset(&cfg, 0, sizeof(cfg));
	cfg.server = strdup("https://127.0.0.1:1");
	c = kube_client_new(&cfg, &err);
	cr_assert_eq(kube_get(c, "/api/v1/nodes", &o, &err), -1);
	cr_assert(strstr(err.msg, "cannot reach https://127.0.0.1:1: Connection refused"), "%s", err.msg);
	kube_client_free(c);
	kube_config_cleanup(&cfg);
	free(pem);
	kt_rm_rf(dir);
	free(dir);
}
