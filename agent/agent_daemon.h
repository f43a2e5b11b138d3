/* agent_daemon: the node agent's wiring. Builds the modules from the
 * options — host, loader, reconcile (validate -> plan -> load -> confirm ->
 * report), loop, source, publisher, probe and metrics — starts them and stops
 * them. SIGTERM ends the loop between reconciles and nothing is unloaded.
 * Global: the signal handlers and stop flag of common/sig. */
#ifndef ARMORGATE_AGENT_DAEMON_H
#define ARMORGATE_AGENT_DAEMON_H

#include <stdbool.h>

/* The options (main.c's table writes them; strings owned by the caller). */
typedef struct agent_opts {
	char *node_name;
	char *profiles_dir; /* exactly one of profiles_dir / configmap is non-empty */
	char *configmap;    /* "ns/name" */
	char *host_dir;
	char *cache_dir; /* "" = <host_dir>/.cache */
	char *kubeconfig;
	char *probe_listen;
	char *parser; /* "" = /sbin, /usr/sbin, PATH */
	char *sysfs_root, *securityfs_root, *proc_root;
	long poll_interval_s;
	long max_profile_bytes, max_profiles;
	long parser_timeout_s;
	long parser_jobs; /* 0 = the parser's default (one compile child per CPU) */
	bool compile_check;
	/* Denial telemetry (denial_telemetry.h). */
	char *denial_source; /* auto, netlink, kmsg, off, file:PATH (testing) */
	long denial_events_per_minute, denial_keys;
} agent_opts;

/* Runs until SIGTERM/SIGINT. Returns the process exit status. */
int agent_daemon_run(const agent_opts *o);

#endif
