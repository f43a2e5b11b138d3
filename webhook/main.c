/* armorgate-webhook: wires config, TLS material, the Node cache, the HTTPS
 * admission server and the probe port; the main loop reloads certificates,
 * refreshes metrics and performs the graceful SIGTERM shutdown (stop
 * accepting, finish in-flight reviews, stop the watch, exit 0). */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "aaparser.h"
#include "admission.h"
#include "buf.h"
#include "buf_file.h"
#include "certs.h"
#include "config.h"
#include "contract.h"
#include "kube.h"
#include "log.h"
#include "metrics.h"
#include "nodeset.h"
#include "nodewatch.h"
#include "probe.h"
#include "server.h"
#include "sig.h"

enum {
	MAIN_DRAIN_MS = 20000,           /* in-flight reviews get this long after SIGTERM */
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
static long opt_threads;

static const config_option main_opts[] = {
	{ "tls-cert", CONFIG_STRING, NULL, 0, 0, "FILE", "serving certificate (PEM, chain allowed); reloaded when it changes",
	  NULL, &opt_tls_cert },
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
	{ "threads", CONFIG_INT, "0", 0, 64, "N", "HTTPS worker threads (0 = one per usable CPU: affinity, cgroup CPU limit; at most 64)", NULL, &opt_threads },
	{ "nodes-file", CONFIG_STRING, NULL, 0, 0, "FILE",
	  "testing/benchmark only: seed the Node cache from a JSON NodeList (or array) and do not watch the API",
	  NULL, &opt_nodes_file },
};

static const config_spec main_spec = {
	.prog = "armorgate-webhook",
	.summary = "Fail-closed admission webhook for custom.* AppArmor profiles (mutate + validate over HTTPS).",
	.version = ARMORGATE_VERSION,
	.opts = main_opts,
	.nopts = sizeof(main_opts) / sizeof(main_opts[0]),
};

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

/* admission_env.compile: the parser runs here, not in the pure core. */
static size_t main_compile(void *ctx, profile_entry *entries, size_t n)
{
	return aaparser_compile_entries(entries, n, ctx);
}

static int main_define_metrics(metrics *m)
{
	static const double lat[] = { 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1, 2.5 };

	if (metrics_define(m, SERVER_M_REQUESTS, METRICS_COUNTER, "Admission requests by endpoint and verdict.", NULL, 0) ||
	    metrics_define(m, SERVER_M_LATENCY, METRICS_HISTOGRAM, "Time to answer one admission review.", lat,
			   sizeof(lat) / sizeof(lat[0])) ||
	    metrics_define(m, SERVER_M_REJECTED, METRICS_COUNTER,
			   "Requests refused before admission (404, 405, 413, 415) by status code.", NULL, 0) ||
	    metrics_define(m, SERVER_M_IN_FLIGHT, METRICS_GAUGE, "Requests being received or answered.", NULL, 0) ||
	    metrics_define(m, SERVER_M_PROFILE_CHECKS, METRICS_COUNTER,
			   "Profiles ConfigMap validations (each runs the profile rules and apparmor_parser) by verdict.",
			   NULL, 0) ||
	    metrics_define(m, SERVER_M_CUT, METRICS_COUNTER,
			   "Connections closed because the client did not read its answer (100 ms).", NULL, 0) ||
	    metrics_define(m, NODEWATCH_M_NODES, METRICS_GAUGE, "Nodes in the cache.", NULL, 0) ||
	    metrics_define(m, NODEWATCH_M_ENABLED, METRICS_GAUGE, "Nodes in the cache labelled armorgate.io/apparmor=enabled.",
			   NULL, 0) ||
	    metrics_define(m, NODEWATCH_M_CONNECTED, METRICS_GAUGE,
			   "1 while the Node watch is connected; 0 means admitting from the last known state.", NULL, 0) ||
	    metrics_define(m, NODEWATCH_M_SYNCED, METRICS_GAUGE, "1 once the first Node list was applied.", NULL, 0) ||
	    metrics_define(m, NODEWATCH_M_RESTARTS, METRICS_COUNTER, "Node watch reconnects.", NULL, 0) ||
	    metrics_define(m, NODEWATCH_M_RELISTS, METRICS_COUNTER, "Node relists (start, 410 Gone).", NULL, 0) ||
	    metrics_define(m, NODEWATCH_M_EVENTS, METRICS_COUNTER, "Node watch events applied.", NULL, 0) ||
	    metrics_define(m, "armorgate_webhook_cert_reloads_total", METRICS_COUNTER,
			   "Serving certificate reloads by result (ok, error: the previous pair stays in use).", NULL, 0))
		return -1;
	metrics_set(m, SERVER_M_IN_FLIGHT, "", 0);
	metrics_add(m, SERVER_M_CUT, "", 0);
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
		nodeset_apply(ns, KUBE_EVENT_ADDED, item);
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
		log_kv(LOG_LVL_INFO, "serving certificate reloaded; new connections use it", "sha256", fp, (char *)NULL);
	} else if (rc < 0) {
		metrics_add(m, "armorgate_webhook_cert_reloads_total", "result=\"error\"", 1);
		log_kv(LOG_LVL_ERROR, "new serving certificate refused; still serving the previous one", "error", err.msg,
		       (char *)NULL);
	}
}

int main(int argc, char **argv)
{
	ag_err err;
	config_result cr;
	log_level lvl = LOG_LVL_INFO;
	char cm_ns[MAIN_NS_MAX];
	char cm_name[MAIN_NAME_MAX];
	certs *tls = NULL;
	metrics *m = NULL;
	nodeset *nodes = NULL;
	kube_config kcfg;
	bool kcfg_loaded = false;
	kube_client *client = NULL;
	nodewatch *watch = NULL;
	probe_server *probe = NULL;
	server *srv = NULL;
	admission_env env;
	aaparser_opts parser_opts; /* defaults: PATH lookup, no -M, default timeout */
	server_opts so;
	main_ready ready = { 0 };
	char fp[80];
	char port[16];
	int status = 1;
	long cpus;

	log_init("webhook", LOG_LVL_INFO);
	err_clear(&err);
	memset(&kcfg, 0, sizeof(kcfg));
	cr = config_parse(&main_spec, argc, argv, stdout, &err);
	if (cr == CONFIG_EXIT_SUCCESS) {
		status = 0;
		goto out;
	}
	if (cr == CONFIG_ERROR)
		goto fail;
	if (log_level_parse(opt_log_level, &lvl) != 0) {
		err_set(&err, EINVAL, "--log-level \"%s\": use debug, info, warn or error", opt_log_level);
		goto fail;
	}
	log_set_level(lvl);
	if (config_split_nsname(opt_profiles_cm, cm_ns, sizeof(cm_ns), cm_name, sizeof(cm_name), &err) != 0) {
		err_wrap(&err, "--profiles-configmap");
		goto fail;
	}
	if (sig_init(&err) != 0)
		goto fail;
	tls = certs_new(opt_tls_cert, opt_tls_key, &err);
	if (!tls)
		goto fail;
	certs_install(tls);
	m = metrics_new();
	nodes = nodeset_new();
	if (!m || !nodes || main_define_metrics(m) != 0) {
		err_set(&err, ENOMEM, "out of memory");
		goto fail;
	}
	if (opt_nodes_file && *opt_nodes_file) {
		if (main_seed_nodes(nodes, opt_nodes_file, &err) != 0)
			goto fail;
		ready.seeded = true;
		metrics_set(m, NODEWATCH_M_NODES, "", (double)nodeset_size(nodes));
		metrics_set(m, NODEWATCH_M_ENABLED, "", (double)nodeset_enabled_count(nodes));
		metrics_set(m, NODEWATCH_M_SYNCED, "", 1);
		log_kv(LOG_LVL_WARN, "node cache seeded from a file; the API is not watched (testing only)", "file",
		       opt_nodes_file, (char *)NULL);
	} else {
		if (kube_config_load(opt_kubeconfig, &kcfg, &err) != 0) {
			err_wrap(&err, "API server configuration");
			goto fail;
		}
		kcfg_loaded = true;
		client = kube_client_new(&kcfg, &err);
		if (!client)
			goto fail;
	}

	memset(&env, 0, sizeof(env));
	env.nodes = nodes;
	env.profiles_namespace = cm_ns;
	env.profiles_name = cm_name;
	memset(&parser_opts, 0, sizeof(parser_opts));
	env.compile = main_compile;
	env.compile_ctx = &parser_opts;

	probe = probe_server_start(opt_probe_listen, m, main_is_ready, &ready, &err);
	if (!probe) {
		err_wrap(&err, "--probe-listen");
		goto fail;
	}
	cpus = config_usable_cpus_here();
	memset(&so, 0, sizeof(so));
	so.listen = opt_listen;
	so.threads = (unsigned int)(opt_threads > 0 ? opt_threads : (cpus < 64 ? cpus : 64));
	so.env = &env;
	so.metrics = m;
	srv = server_start(&so, &err);
	if (!srv)
		goto fail;
	if (client) {
		watch = nodewatch_start(client, nodes, m, &err);
		if (!watch)
			goto fail;
		ready.watch = watch;
	}
	certs_fingerprint(tls, fp, sizeof(fp));
	snprintf(port, sizeof(port), "%d", server_port(srv));
	{
		char pport[16];

		snprintf(pport, sizeof(pport), "%d", probe_server_port(probe));
		log_kv(LOG_LVL_INFO, "serving admission reviews", "listen", opt_listen, "port", port, "probePort", pport,
		       "certSha256", fp, "profilesConfigMap", opt_profiles_cm, (char *)NULL);
	}

	while (!sig_stop_requested()) {
		struct pollfd p = { .fd = sig_fd(), .events = POLLIN };

		(void)poll(&p, 1, 1000);
		if (sig_stop_requested())
			break;
		sig_drain();
		(void)sig_take_hup(); /* a reload check runs every second anyway */
		main_reload_certs(tls, m);
		if (watch)
			nodewatch_tick(watch);
	}

	{
		char n[32];

		snprintf(n, sizeof(n), "%lu", server_in_flight(srv));
		log_kv(LOG_LVL_INFO, "stopping: no new connections; finishing in-flight reviews", "inFlight", n,
		       (char *)NULL);
	}
	server_quiesce(srv);
	if (!server_drain(srv, MAIN_DRAIN_MS))
		log_kv(LOG_LVL_WARN, "stopping with reviews still in flight after the drain period", (char *)NULL);
	server_stop(srv);
	srv = NULL;
	nodewatch_stop(watch);
	watch = NULL;
	log_kv(LOG_LVL_INFO, "stopped", (char *)NULL);
	status = 0;
	goto out;
fail:
	log_kv(LOG_LVL_ERROR, "cannot start", "error", err.msg, (char *)NULL);
	status = 1;
out:
	server_stop(srv);
	nodewatch_stop(watch);
	probe_server_stop(probe);
	kube_client_free(client);
	if (kcfg_loaded)
		kube_config_cleanup(&kcfg);
	nodeset_free(nodes);
	metrics_free(m);
	certs_install(NULL);
	certs_free(tls);
	config_free_strings(&main_spec);
	return status;
}
