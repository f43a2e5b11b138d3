/* agent_daemon: the wiring — options to modules, start and stop. */
#include "agent_daemon.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent_blobenv.h"
#include "agent_blobs.h"
#include "agent_host.h"
#include "agent_loader.h"
#include "agent_loop.h"
#include "agent_publish.h"
#include "agent_reconcile.h"
#include "agent_source.h"
#include "config.h"
#include "denial_telemetry.h"
#include "kube.h"
#include "log.h"
#include "metrics.h"
#include "mono.h"
#include "probe.h"
#include "sig.h"

enum { AGENT_DAEMON_PATH_MAX = 4200 };

/* Everything the daemon owns while it runs. */
typedef struct agent_daemon {
	const agent_opts *o;
	agent_host host;
	agent_loader loader;
	agent_blobs blobs; /* the binary policy store, once opened */
	agent_reconcile rec;
	agent_loop loop;
	agent_cmsource cm;
	char staging[AGENT_DAEMON_PATH_MAX], cache[AGENT_DAEMON_PATH_MAX];
	char boot_id[64];
	kube_config kcfg;
	kube_client *kc;
	metrics *m;
	agent_publisher *pub;
	probe_server *probe;
	denial_telemetry *denials;
} agent_daemon;

static bool agent_daemon_ready(void *ud, char *why, size_t cap)
{
	agent_loop *l = ud;

	if (atomic_load(&l->ready))
		return true;
	snprintf(why, cap, "%s",
		 atomic_load(&l->reconciled)
			 ? "a profile load failed; retrying with backoff (see the status annotation)"
			 : "first reconcile not finished");
	return false;
}

static int agent_daemon_define_metrics(metrics *m)
{
	static const double rb[] = { 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30 };
	const size_t nb = sizeof(rb) / sizeof(rb[0]);
	if (metrics_define(m, "armorgate_agent_profiles", METRICS_GAUGE, "Managed profiles by state.", NULL, 0) ||
	    metrics_define(m, "armorgate_agent_loads_total", METRICS_COUNTER, "Profiles loaded into the kernel.", NULL,
			   0) ||
	    metrics_define(m, "armorgate_agent_load_failures_total", METRICS_COUNTER, "Profile loads that failed.",
			   NULL, 0) ||
	    metrics_define(m, "armorgate_agent_parser_runs_total", METRICS_COUNTER, "apparmor_parser runs for loading.",
			   NULL, 0) ||
	    metrics_define(m, "armorgate_agent_load_retries_total", METRICS_COUNTER,
			   "Load attempts repeated after a failed load (backoff 1 s to 5 min).", NULL, 0) ||
	    metrics_define(m, "armorgate_agent_load_retry_pending", METRICS_GAUGE,
			   "Profiles whose load failed and waits for its retry.", NULL, 0) ||
	    metrics_define(m, "armorgate_agent_source_missing", METRICS_GAUGE,
			   "1 while the profiles ConfigMap does not exist (everything loaded is kept).", NULL, 0) ||
	    metrics_define(m, "armorgate_agent_reconcile_duration_seconds", METRICS_HISTOGRAM,
			   "Duration of a full reconcile.", rb, nb) ||
	    metrics_define(m, "armorgate_agent_load_duration_seconds", METRICS_HISTOGRAM,
			   "Duration of a batched parser load (fallback included).", rb, nb) ||
	    metrics_define(m, "armorgate_agent_validate_duration_seconds", METRICS_HISTOGRAM,
			   "Duration of validating new or changed profiles.", rb, nb) ||
	    metrics_define(m, "armorgate_agent_last_reconcile_timestamp_seconds", METRICS_GAUGE,
			   "Unix time of the last full reconcile.", NULL, 0) ||
	    metrics_define(m, "armorgate_agent_node_patches_total", METRICS_COUNTER, "Node PATCH requests sent.", NULL,
			   0) ||
	    metrics_define(
		    m, "armorgate_agent_node_reads_total", METRICS_COUNTER,
		    "Node GET requests (at start, after a failure or reconnect, and every poll interval at most).",
		    NULL, 0) ||
	    metrics_define(m, "armorgate_agent_node_patch_failures_total", METRICS_COUNTER,
			   "Failed attempts to publish node readiness.", NULL, 0) ||
	    metrics_define(m, "armorgate_agent_apparmor_enabled", METRICS_GAUGE, "1 when AppArmor is usable.", NULL, 0))
		return -1;
	/* Counters start at 0 in the output, so "none since start" is a visible
	 * fact (a restart with nothing changed must show zero runs and writes). */
	static const char *const zero[] = {
		"armorgate_agent_loads_total",        "armorgate_agent_load_failures_total",
		"armorgate_agent_parser_runs_total",  "armorgate_agent_load_retries_total",
		"armorgate_agent_node_patches_total", "armorgate_agent_node_patch_failures_total",
		"armorgate_agent_node_reads_total"
	};
	for (size_t i = 0; i < sizeof(zero) / sizeof(zero[0]); i++)
		metrics_add(m, zero[i], "", 0);
	return 0;
}

static void agent_daemon_on_api_back(void *ud)
{
	agent_publisher_kick(ud);
}

/* Options into the modules' structs; nothing started. */
static void agent_daemon_configure(agent_daemon *d, const agent_opts *o)
{
	memset(d, 0, sizeof(*d));
	d->o = o;
	d->host.sysfs_root = o->sysfs_root;
	d->host.securityfs_root = o->securityfs_root;
	d->host.proc_root = o->proc_root;
	d->host.profiles_dir = o->host_dir;
	d->host.max_profile_bytes = (size_t)o->max_profile_bytes;
	snprintf(d->staging, sizeof(d->staging), "%s/.staging", o->host_dir);
	if (o->cache_dir && *o->cache_dir)
		snprintf(d->cache, sizeof(d->cache), "%s", o->cache_dir);
	else
		snprintf(d->cache, sizeof(d->cache), "%s/.cache", o->host_dir);
	d->loader.parser.parser_path = agent_loader_find_parser(o->parser);
	d->loader.parser.timeout_ms = o->parser_timeout_s * 1000;
	d->loader.parser.cache_dir = d->cache;
	d->loader.parser.jobs = o->parser_jobs;
	d->loader.stub_dir = d->staging;
	d->loader.host = &d->host;
	d->loader.check = o->compile_check;
	d->rec.report.host = &d->host;
	d->rec.report.boot_id = d->boot_id;
	d->rec.loader = &d->loader;
	d->rec.staging = d->staging;
	d->rec.host_dir = o->host_dir;
	d->rec.compile_check = o->compile_check;
	d->rec.max_profile_bytes = (size_t)o->max_profile_bytes;
	d->loop.rec = &d->rec;
	d->loop.max_profile_bytes = (size_t)o->max_profile_bytes;
	d->loop.max_profiles = (size_t)o->max_profiles;
	d->loop.poll_interval_s = o->poll_interval_s;
	agent_loop_init(&d->loop);
}

/* Logs why the start failed (the operator's one line); returns -1. */
static int agent_daemon_fail(const char *what, const ag_err *e)
{
	log_kv(LOG_LVL_ERROR, what, "error", e->msg, (char *)NULL);
	return -1;
}

/* The binary policy store (agent/README.md): without it every load
 * compiles — correct, only slower. */
static void agent_daemon_open_store(agent_daemon *d)
{
	agent_blobenv env;
	char id[AGENT_SHA256_HEX], took[32];
	double t0 = mono_sec();
	ag_err e;

	memset(&env, 0, sizeof(env));
	env.securityfs_root = d->o->securityfs_root;
	env.parser_path = d->loader.parser.parser_path;
	env.features_file = d->loader.parser.features_file;
	env.base_dir = d->loader.parser.base_dir;
	env.skip[0] = d->o->host_dir;
	env.skip[1] = d->cache;
	if (agent_blobenv_id(&env, id, &e) != 0 || agent_blobs_open(&d->blobs, d->cache, id, d->o->host_dir, &e) != 0) {
		log_kv(LOG_LVL_WARN, "binary policy store off: every load compiles", "error", e.msg, (char *)NULL);
		return;
	}
	d->loader.blobs = &d->blobs;
	snprintf(took, sizeof(took), "%.3f", mono_sec() - t0);
	log_kv(LOG_LVL_INFO, "binary policy store", "dir", d->blobs.dir, "seconds", took, (char *)NULL);
}

/* Denial telemetry on its own threads; a node without AppArmor has no source. */
static int agent_daemon_denials(agent_daemon *d)
{
	const agent_opts *o = d->o;
	bool test_feed = strncmp(o->denial_source, "file:", 5) == 0;
	denial_telemetry_opts dto = {
		.source = d->rec.report.apparmor || test_feed ? o->denial_source : "off",
		.node = o->node_name,
		.proc_root = o->proc_root,
		.boot_id = d->boot_id,
		.events_per_minute = o->denial_events_per_minute,
		.max_keys = o->denial_keys,
		.client = d->kc,
		.m = d->m,
	};
	ag_err e;

	err_clear(&e);
	d->denials = denial_telemetry_start(&dto, &e);
	return d->denials ? 0 : agent_daemon_fail("cannot start the denial telemetry", &e);
}

/* The API client, metrics, AppArmor check, probe and publisher. */
static int agent_daemon_start(agent_daemon *d)
{
	const agent_opts *o = d->o;
	ag_err e;

	err_clear(&e);
	d->m = metrics_new();
	if (!d->m || agent_daemon_define_metrics(d->m) != 0) {
		log_error("cannot set up metrics");
		return -1;
	}
	if (kube_config_load(o->kubeconfig, &d->kcfg, &e) != 0)
		return agent_daemon_fail("cannot load the Kubernetes client configuration", &e);
	d->kc = kube_client_new(&d->kcfg, &e);
	if (!d->kc)
		return agent_daemon_fail("cannot create the Kubernetes client", &e);
	kube_client_set_stop_flag(d->kc, sig_stop_flag());
	kube_client_set_user_agent(d->kc, "armorgate-agent/" ARMORGATE_VERSION);

	d->rec.report.apparmor = agent_host_apparmor_enabled(&d->host, &e);
	metrics_set(d->m, "armorgate_agent_apparmor_enabled", "", d->rec.report.apparmor ? 1 : 0);
	agent_host_boot_id(&d->host, d->boot_id, sizeof(d->boot_id));
	if (!d->rec.report.apparmor)
		log_kv(LOG_LVL_WARN, "AppArmor is not usable on this node: labelling it unsupported, loading nothing",
		       "reason", e.msg, (char *)NULL);
	else if (agent_host_mkdirs(d->staging, &e) != 0 || agent_host_mkdirs(d->cache, &e) != 0)
		return agent_daemon_fail("cannot create the host profiles directory", &e);
	if (d->rec.report.apparmor)
		agent_daemon_open_store(d);

	d->probe = probe_server_start(o->probe_listen, d->m, agent_daemon_ready, &d->loop, &e);
	if (!d->probe) {
		log_kv(LOG_LVL_ERROR, "cannot start the probe server", "listen", o->probe_listen, "error", e.msg,
		       (char *)NULL);
		return -1;
	}
	d->pub = agent_publisher_start(d->kc, o->node_name, o->poll_interval_s, d->m, &e);
	if (!d->pub)
		return agent_daemon_fail("cannot start publishing", &e);
	d->rec.report.pub = d->pub;
	d->rec.report.m = d->m;
	return agent_daemon_denials(d);
}

/* The profiles source: the ConfigMap through the API, or the mounted dir. */
static int agent_daemon_source(agent_daemon *d)
{
	const agent_opts *o = d->o;
	char ns[254], name[254];
	ag_err e;

	if (!o->configmap || !*o->configmap) {
		d->loop.profiles_dir = o->profiles_dir;
		d->loop.inotify_fd = agent_source_dir_watch(o->profiles_dir);
		return 0;
	}
	if (config_split_nsname(o->configmap, ns, sizeof(ns), name, sizeof(name), &e) != 0 ||
	    agent_cmsource_start(&d->cm, d->kc, ns, name, (size_t)o->max_profile_bytes, (size_t)o->max_profiles,
				 agent_daemon_on_api_back, d->pub, &e) != 0)
		return agent_daemon_fail("cannot watch the profiles ConfigMap", &e);
	d->loop.cm = &d->cm;
	return 0;
}

/* Stops what runs, frees what is owned; what was never started is skipped. */
static void agent_daemon_stop(agent_daemon *d)
{
	/* Threads blocked in the API client see the stop flag. */
	sig_request_stop();
	if (d->loop.cm)
		agent_cmsource_stop(&d->cm);
	denial_telemetry_stop(d->denials);
	agent_publisher_stop(d->pub);
	probe_server_stop(d->probe);
	agent_loop_cleanup(&d->loop);
	kube_client_free(d->kc);
	kube_config_cleanup(&d->kcfg);
	metrics_free(d->m);
	agent_reconcile_cleanup(&d->rec);
}

int agent_daemon_run(const agent_opts *o)
{
	agent_daemon daemon;
	agent_daemon *d = &daemon;
	int rc = 1;
	ag_err e;

	err_clear(&e);
	agent_daemon_configure(d, o);
	if (sig_init(&e) != 0) {
		log_kv(LOG_LVL_ERROR, "cannot install signal handlers", "error", e.msg, (char *)NULL);
		return 1;
	}
	if (agent_daemon_start(d) != 0)
		goto cleanup;
	log_kv(LOG_LVL_INFO, "armorgate-agent starting", "version", ARMORGATE_VERSION, "node", o->node_name, "apparmor",
	       d->rec.report.apparmor ? "enabled" : "unsupported", "parser", d->loader.parser.parser_path,
	       (char *)NULL);
	/* Labels that match the kernel go out first (a rebooted node lost its
	 * profiles). Loading does not wait for that write: the publisher sends
	 * states in order and drops one superseded before it went out, and a
	 * label claims a profile only once the kernel lists it. Waiting cost a
	 * reboot about a third of a second (the first TLS connection). */
	agent_report_kernel_state(&d->rec.report);
	if (agent_daemon_source(d) != 0)
		goto cleanup;
	agent_loop_run(&d->loop);
	log_info("stopping (profiles stay loaded)");
	rc = 0;
cleanup:
	agent_daemon_stop(d);
	return rc;
}
