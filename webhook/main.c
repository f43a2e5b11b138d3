/* armorgate-webhook: wires config, TLS material, the Node cache, the HTTPS
 * admission server and the probe port; the main loop reloads certificates,
 * refreshes metrics and performs the graceful SIGTERM shutdown (stop
 * accepting, finish in-flight reviews, stop the watch, exit 0). */
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "aaparser.h"
#include "admission.h"
#include "budget.h"
#include "buf.h"
#include "buf_file.h"
#include "certs.h"
#include "compilepool.h"
#include "config.h"
#include "contract.h"
#include "jsonarena.h"
#include "kube.h"
#include "log.h"
#include "metrics.h"
#include "nodeset.h"
#include "nodewatch.h"
#include "probe.h"
#include "server.h"
#include "sig.h"

enum {
	MAIN_DRAIN_MS = 20000,            /* in-flight reviews get this long after SIGTERM */
	MAIN_NODES_FILE_MAX = 256u << 20, /* --nodes-file ceiling (tests, benchmark) */
	MAIN_NS_MAX = 64,
	MAIN_NAME_MAX = 254,
};

static char *opt_tls_cert;
static char *opt_tls_key;
static char *opt_listen;
static char *opt_profiles_cm;
static char *opt_probe_listen;
static char *opt_kubeconfig;
static char *opt_log_level;
static char *opt_nodes_file;
static char *opt_enforcement;
static long opt_threads;
static long opt_handshake_timeout;
static long opt_conns_per_peer;
static long opt_request_budget_mib;
static long opt_full_parse_kib;
static long opt_compile_workers;
static long opt_compile_queue;
static long opt_compile_timeout_ms;
static long opt_compile_memory_mib;
static long opt_compile_cache;

static const config_option main_opts[] = {
	{ "tls-cert", CONFIG_STRING, NULL, 0, 0, "FILE",
	  "serving certificate (PEM, chain allowed); reloaded when it changes", NULL, &opt_tls_cert },
	{ "tls-key", CONFIG_STRING, NULL, 0, 0, "FILE", "private key of the serving certificate (PEM)", NULL,
	  &opt_tls_key },
	{ "listen", CONFIG_STRING, ":8443", 0, 0, "ADDR:PORT", "HTTPS address for /mutate and /validate", NULL,
	  &opt_listen },
	{ "profiles-configmap", CONFIG_STRING, CONTRACT_CONFIGMAP_DEFAULT, 0, 0, "NS/NAME",
	  "the profiles ConfigMap whose changes are validated", NULL, &opt_profiles_cm },
	{ "probe-listen", CONFIG_STRING, ":8081", 0, 0, "ADDR:PORT", "plain-HTTP /healthz, /readyz, /metrics", NULL,
	  &opt_probe_listen },
	{ "kubeconfig", CONFIG_STRING, "", 0, 0, "FILE", "kubeconfig to reach the API server (default: in-cluster)",
	  NULL, &opt_kubeconfig },
	{ "log-level", CONFIG_STRING, "info", 0, 0, "LEVEL", "debug, info, warn or error", NULL, &opt_log_level },
	{ "threads", CONFIG_INT, "0", 0, 64, "N",
	  "HTTPS worker threads (0 = one per usable CPU: affinity, cgroup CPU limit; at most 64)", NULL, &opt_threads },
	{ "tls-handshake-timeout", CONFIG_INT, "10", 1, 60, "SECONDS",
	  "a connection may be idle this long from accept until its first request head (TLS handshake included)", NULL,
	  &opt_handshake_timeout },
	{ "max-connections-per-peer", CONFIG_INT, "128", 1, 1024, "N",
	  "HTTPS connections one client address may hold (of 1024 in all); more are refused", NULL,
	  &opt_conns_per_peer },
	{ "request-buffer-budget", CONFIG_INT, "24", 4, 1024, "MIB",
	  "review bodies being received, all together; bodies over 64 KiB may use two thirds (more: 503, busy)", NULL,
	  &opt_request_budget_mib },
	{ "full-parse-budget", CONFIG_INT, "256", 16, 65536, "KIB",
	  "review text in full JSON parses at once (the fallback for what the pruning parse refuses; more: 503)", NULL,
	  &opt_full_parse_kib },
	{ "compile-workers", CONFIG_INT, "2", 1, 16, "N",
	  "apparmor_parser compile checks of profiles-ConfigMap reviews at once (off the HTTPS threads)", NULL,
	  &opt_compile_workers },
	{ "compile-queue", CONFIG_INT, "8", 1, 256, "N",
	  "profiles-ConfigMap reviews compiling or waiting at once; more are refused (compile queue full, retry)", NULL,
	  &opt_compile_queue },
	{ "compile-timeout", CONFIG_INT, "3000", 100, 60000, "MS",
	  "deadline of a ConfigMap review's compile checks from queueing: a parser still running is killed and its "
	  "profile refused; keep it 2 s below the webhook's timeoutSeconds",
	  NULL, &opt_compile_timeout_ms },
	{ "compile-memory-limit", CONFIG_INT, "64", 16, 65536, "MIB",
	  "address space (RLIMIT_AS) of each apparmor_parser run of a compile check", NULL, &opt_compile_memory_mib },
	{ "compile-cache", CONFIG_INT, "256", 0, 65536, "N",
	  "compile results kept by content hash (SHA-256 of key and text), least recently used out first; 0 = none",
	  NULL, &opt_compile_cache },
	{ "enforcement-default", CONFIG_STRING, "deny", 0, 0, "MODE",
	  "pod validation on /validate (not /validate/<mode>): deny, warn (admit, warn the user) or off", NULL,
	  &opt_enforcement },
	{ "nodes-file", CONFIG_STRING, NULL, 0, 0, "FILE",
	  "testing/benchmark only: seed the Node cache from a JSON NodeList (or array) and do not watch the API", NULL,
	  &opt_nodes_file },
};

static const config_spec main_spec = CONFIG_SPEC(
	"armorgate-webhook",
	"Fail-closed admission webhook for custom.* AppArmor profiles (mutate + validate over HTTPS).", main_opts);

typedef struct main_ready {
	nodewatch *watch;
	bool seeded; /* --nodes-file */
} main_ready;

static bool main_is_ready(void *ud, char *why, size_t cap)
{
	main_ready *r = ud;

	if (r->seeded || nodewatch_synced(r->watch))
		return true;
	snprintf(why, cap, "node cache not synced yet");
	return false;
}

/* admission_env.full_parse: the budget, and the memory given back after. */
static bool main_full_parse(void *ctx, size_t n, bool begin)
{
	budget *b = ctx;

	if (begin)
		return budget_take(b, n, b->b_max);
	budget_give(b, n);
	/* glibc keeps a freed multi-MB tree's pages otherwise (RSS stays high). */
	(void)malloc_trim(0);
	return true;
}

static int main_define_metrics(metrics *m)
{
	static const double lat[] = { 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01,
				      0.025,  0.05,    0.1,    0.25,  1,      2.5 };

	if (metrics_define(m, SERVER_M_REQUESTS, METRICS_COUNTER, "Admission requests by endpoint and verdict.", NULL,
			   0) ||
	    metrics_define(m, SERVER_M_LATENCY, METRICS_HISTOGRAM, "Time to answer one admission review.", lat,
			   sizeof(lat) / sizeof(lat[0])) ||
	    metrics_define(m, SERVER_M_REJECTED, METRICS_COUNTER,
			   "Requests refused before admission (404, 405, 413, 415) by status code.", NULL, 0) ||
	    metrics_define(m, SERVER_M_IN_FLIGHT, METRICS_GAUGE, "Requests being received or answered.", NULL, 0) ||
	    metrics_define(
		    m, SERVER_M_PROFILE_CHECKS, METRICS_COUNTER,
		    "Profiles ConfigMap validations (each runs the profile rules and apparmor_parser) by verdict.",
		    NULL, 0) ||
	    metrics_define(m, SERVER_M_WARNINGS, METRICS_COUNTER,
			   "Pods admitted with a warning (enforcement warn) that deny would have refused.", NULL, 0) ||
	    metrics_define(m, SERVER_M_CUT, METRICS_COUNTER,
			   "Connections closed because the client did not read its answer (100 ms).", NULL, 0) ||
	    metrics_define(m, NODEWATCH_M_NODES, METRICS_GAUGE, "Nodes in the cache.", NULL, 0) ||
	    metrics_define(m, NODEWATCH_M_ENABLED, METRICS_GAUGE,
			   "Nodes in the cache labelled armorgate.io/apparmor=enabled.", NULL, 0) ||
	    metrics_define(m, NODEWATCH_M_CONNECTED, METRICS_GAUGE,
			   "1 while the Node watch is connected; 0 means admitting from the last known state.", NULL,
			   0) ||
	    metrics_define(m, NODEWATCH_M_SYNCED, METRICS_GAUGE, "1 once the first Node list was applied.", NULL, 0) ||
	    metrics_define(m, NODEWATCH_M_RESTARTS, METRICS_COUNTER, "Node watch reconnects.", NULL, 0) ||
	    metrics_define(m, NODEWATCH_M_RELISTS, METRICS_COUNTER, "Node relists (start, 410 Gone).", NULL, 0) ||
	    metrics_define(m, NODEWATCH_M_EVENTS, METRICS_COUNTER, "Node watch events applied.", NULL, 0) ||
	    metrics_define(m, "armorgate_webhook_cert_reloads_total", METRICS_COUNTER,
			   "Serving certificate reloads by result (ok, error: the previous pair stays in use).", NULL,
			   0) ||
	    compilepool_define_metrics(m))
		return -1;
	metrics_set(m, SERVER_M_IN_FLIGHT, "", 0);
	metrics_add(m, SERVER_M_CUT, "", 0);
	metrics_add(m, SERVER_M_WARNINGS, "", 0);
	metrics_add(m, "armorgate_webhook_cert_reloads_total", "result=\"ok\"", 0);
	metrics_add(m, "armorgate_webhook_cert_reloads_total", "result=\"error\"", 0);
	return 0;
}

/* --nodes-file: a NodeList ({"items":[...]}) or a bare array. Items are
 * parsed and applied one at a time so the seed does not hold a whole parsed
 * list (the peak RSS the benchmark reports is the serving footprint). */
static int main_seed_nodes(nodeset *ns, const char *path, ag_err *err)
{
	buf b;
	cJSON *empty = NULL;
	const char *p;
	const char *end;
	int rc = -1;

	buf_init(&b, MAIN_NODES_FILE_MAX);
	if (buf_read_file(&b, path, err) != 0) {
		err_wrap(err, "--nodes-file");
		goto out;
	}
	p = buf_cstr(&b);
	end = p + b.len;
	while (p < end && (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n'))
		p++;
	if (p < end && *p == '{') {
		const char *items = strstr(p, "\"items\"");

		p = items ? strchr(items, '[') : NULL;
	}
	if (!p || p >= end || *p != '[') {
		err_set(err, EINVAL, "--nodes-file %s: not a JSON NodeList or array", path);
		goto out;
	}
	p++;
	empty = cJSON_CreateArray();
	if (!empty) {
		err_set(err, ENOMEM, "out of memory");
		goto out;
	}
	nodeset_replace(ns, empty);
	for (;;) {
		const char *next = NULL;
		cJSON *item;

		while (p < end && (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n' || *p == ','))
			p++;
		if (p >= end || *p == ']')
			break;
		item = cJSON_ParseWithLengthOpts(p, (size_t)(end - p), &next, 0);
		if (!item || !next || next <= p) {
			cJSON_Delete(item);
			err_set(err, EINVAL, "--nodes-file %s: malformed item near byte %zu", path,
				(size_t)(p - buf_cstr(&b)));
			goto out;
		}
		nodeset_apply(ns, NODESET_UPSERT, item);
		cJSON_Delete(item);
		p = next;
	}
	rc = 0;
out:
	cJSON_Delete(empty);
	buf_cleanup(&b);
	return rc;
}

static void main_reload_certs(certs *c, metrics *m)
{
	ag_err err;
	char fp[80];
	int rc;

	err_clear(&err);
	rc = certs_reload(c, &err);
	if (rc > 0) {
		certs_fingerprint(c, fp, sizeof(fp));
		metrics_add(m, "armorgate_webhook_cert_reloads_total", "result=\"ok\"", 1);
		log_kv(LOG_LVL_INFO, "serving certificate reloaded; new connections use it", "sha256", fp,
		       (char *)NULL);
	} else if (rc < 0) {
		metrics_add(m, "armorgate_webhook_cert_reloads_total", "result=\"error\"", 1);
		log_kv(LOG_LVL_ERROR, "new serving certificate refused; still serving the previous one", "error",
		       err.msg, (char *)NULL);
	}
}

/* Everything main starts, stopped and freed by main_cleanup. */
typedef struct main_state {
	char cm_ns[MAIN_NS_MAX];
	char cm_name[MAIN_NAME_MAX];
	certs *tls;
	metrics *m;
	nodeset *nodes;
	kube_config kcfg;
	bool kcfg_loaded;
	kube_client *client;
	nodewatch *watch;
	probe_server *probe;
	server *srv;
	compilepool *compile; /* stopped before srv, freed after it */
	admission_env env;
	main_ready ready;
	budget bodies;     /* --request-buffer-budget */
	budget full_parse; /* --full-parse-budget */
} main_state;

/* The Node cache: seeded from --nodes-file, else an API client for the watch. */
static int main_start_nodes(main_state *st, ag_err *err)
{
	if (opt_nodes_file && *opt_nodes_file) {
		if (main_seed_nodes(st->nodes, opt_nodes_file, err) != 0)
			return -1;
		st->ready.seeded = true;
		metrics_set(st->m, NODEWATCH_M_NODES, "", (double)nodeset_size(st->nodes));
		metrics_set(st->m, NODEWATCH_M_ENABLED, "", (double)nodeset_enabled_count(st->nodes));
		metrics_set(st->m, NODEWATCH_M_SYNCED, "", 1);
		log_kv(LOG_LVL_WARN, "node cache seeded from a file; the API is not watched (testing only)", "file",
		       opt_nodes_file, (char *)NULL);
		return 0;
	}
	if (kube_config_load(opt_kubeconfig, &st->kcfg, err) != 0)
		return err_wrap(err, "API server configuration");
	st->kcfg_loaded = true;
	st->client = kube_client_new(&st->kcfg, err);
	return st->client ? 0 : -1;
}

/* The probe port, the HTTPS server, then the Node watch. */
static int main_start_serving(main_state *st, ag_err *err)
{
	server_opts so;
	long cpus = config_usable_cpus_here();
	char fp[80];
	char port[16];
	char pport[16];

	st->env.nodes = st->nodes;
	st->env.profiles_namespace = st->cm_ns;
	st->env.profiles_name = st->cm_name;
	/* env.compile stays NULL: the server runs compile checks in the pool. */
	budget_init(&st->full_parse, (size_t)opt_full_parse_kib << 10);
	st->env.full_parse = main_full_parse;
	st->env.full_parse_ctx = &st->full_parse;

	st->probe = probe_server_start(opt_probe_listen, st->m, main_is_ready, &st->ready, err);
	if (!st->probe)
		return err_wrap(err, "--probe-listen");
	memset(&so, 0, sizeof(so));
	so.listen = opt_listen;
	so.threads = (unsigned int)(opt_threads > 0 ? opt_threads : (cpus < 64 ? cpus : 64));
	so.env = &st->env;
	so.metrics = st->m;
	so.handshake_timeout_s = (unsigned int)opt_handshake_timeout;
	so.conns_per_peer = (unsigned int)opt_conns_per_peer;
	budget_init(&st->bodies, (size_t)opt_request_budget_mib << 20);
	so.bodies = &st->bodies;
	so.compile = st->compile;
	st->srv = server_start(&so, err);
	if (!st->srv)
		return -1;
	if (st->client) {
		st->watch = nodewatch_start(st->client, st->nodes, st->m, err);
		if (!st->watch)
			return -1;
		st->ready.watch = st->watch;
	}
	certs_fingerprint(st->tls, fp, sizeof(fp));
	snprintf(port, sizeof(port), "%d", server_port(st->srv));
	snprintf(pport, sizeof(pport), "%d", probe_server_port(st->probe));
	log_kv(LOG_LVL_INFO, "serving admission reviews", "listen", opt_listen, "port", port, "probePort", pport,
	       "certSha256", fp, "profilesConfigMap", opt_profiles_cm, "enforcementDefault",
	       admission_enforcement_name(st->env.enforcement), (char *)NULL);
	return 0;
}

/* The compile pool: parser from PATH, one process a run (-j 1) so the
 * address-space limit bounds the whole run, niced below the review threads. */
static int main_start_compile(main_state *st, ag_err *err)
{
	compilepool_opts co;

	memset(&co, 0, sizeof(co));
	co.workers = (unsigned int)opt_compile_workers;
	co.queue = (unsigned int)opt_compile_queue;
	co.timeout_ms = opt_compile_timeout_ms;
	co.cache_entries = (unsigned int)opt_compile_cache;
	co.parser.jobs = 1;
	co.parser.mem_limit_bytes = (unsigned long long)opt_compile_memory_mib << 20;
	co.parser.nice = COMPILEPOOL_NICE;
	co.metrics = st->m;
	st->compile = compilepool_start(&co, err);
	return st->compile ? 0 : err_wrap(err, "compile pool");
}

/* Flags, TLS material, metrics and the Node cache, then serving. */
static int main_start(main_state *st, ag_err *err)
{
	log_level lvl = LOG_LVL_INFO;

	if (log_level_parse(opt_log_level, &lvl) != 0)
		return err_set(err, EINVAL, "--log-level \"%s\": use debug, info, warn or error", opt_log_level);
	log_set_level(lvl);
	memset(&st->env, 0, sizeof(st->env));
	if (admission_enforcement_parse(opt_enforcement, &st->env.enforcement) != 0)
		return err_set(err, EINVAL, "--enforcement-default \"%s\": use deny, warn or off", opt_enforcement);
	if (config_split_nsname(opt_profiles_cm, st->cm_ns, sizeof(st->cm_ns), st->cm_name, sizeof(st->cm_name), err) !=
	    0)
		return err_wrap(err, "--profiles-configmap");
	if (sig_init(err) != 0)
		return -1;
	st->tls = certs_new(opt_tls_cert, opt_tls_key, err);
	if (!st->tls)
		return -1;
	certs_install(st->tls);
	st->m = metrics_new();
	st->nodes = nodeset_new();
	if (!st->m || !st->nodes || main_define_metrics(st->m) != 0)
		return err_set(err, ENOMEM, "out of memory");
	if (main_start_nodes(st, err) != 0 || main_start_compile(st, err) != 0)
		return -1;
	return main_start_serving(st, err);
}

/* Until SIGTERM/SIGINT: certificate reloads and watch counters each second. */
static void main_loop(main_state *st)
{
	while (!sig_stop_requested()) {
		struct pollfd p = { .fd = sig_fd(), .events = POLLIN };

		(void)poll(&p, 1, 1000);
		if (sig_stop_requested())
			break;
		sig_drain();
		(void)sig_take_hup(); /* a reload check runs every second anyway */
		main_reload_certs(st->tls, st->m);
		if (st->watch)
			nodewatch_tick(st->watch);
	}
}

/* Graceful stop: no new connections, in-flight reviews finish, then the watch. */
static void main_drain(main_state *st)
{
	char n[32];

	snprintf(n, sizeof(n), "%lu", server_in_flight(st->srv));
	log_kv(LOG_LVL_INFO, "stopping: no new connections; finishing in-flight reviews", "inFlight", n, (char *)NULL);
	server_quiesce(st->srv);
	if (!server_drain(st->srv, MAIN_DRAIN_MS))
		log_kv(LOG_LVL_WARN, "stopping with reviews still in flight after the drain period", (char *)NULL);
	/* Every suspended ConfigMap review resumed before the server stops. */
	compilepool_stop(st->compile);
	server_stop(st->srv);
	st->srv = NULL;
	nodewatch_stop(st->watch);
	st->watch = NULL;
	log_kv(LOG_LVL_INFO, "stopped", (char *)NULL);
}

static void main_cleanup(main_state *st)
{
	compilepool_stop(st->compile);
	server_stop(st->srv);
	compilepool_free(st->compile);
	nodewatch_stop(st->watch);
	probe_server_stop(st->probe);
	kube_client_free(st->client);
	if (st->kcfg_loaded)
		kube_config_cleanup(&st->kcfg);
	nodeset_free(st->nodes);
	metrics_free(st->m);
	certs_install(NULL);
	certs_free(st->tls);
	config_free_strings(&main_spec);
}

int main(int argc, char **argv)
{
	main_state st;
	ag_err err;
	config_result cr;
	int status = 1;

	/* Still one thread: the cJSON hooks may change (jsonarena.h). */
	jsonarena_install();
	log_init("webhook", LOG_LVL_INFO);
	err_clear(&err);
	memset(&st, 0, sizeof(st));
	cr = config_parse(&main_spec, argc, argv, stdout, &err);
	if (cr == CONFIG_EXIT_SUCCESS) {
		status = 0;
		goto cleanup;
	}
	if (cr == CONFIG_ERROR || main_start(&st, &err) != 0) {
		log_kv(LOG_LVL_ERROR, "cannot start", "error", err.msg, (char *)NULL);
		goto cleanup;
	}
	main_loop(&st);
	main_drain(&st);
	status = 0;
cleanup:
	main_cleanup(&st);
	return status;
}
