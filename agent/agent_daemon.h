/* agent_daemon: the node agent's loop. Wires source -> validation
 * (common/profile) -> plan (agent_plan) -> loader -> kernel confirmation ->
 * publisher, plus probes and metrics. One reconcile runs at a time on the
 * main thread; SIGTERM ends the loop between steps and nothing is unloaded. */
#ifndef ARMORGATE_AGENT_DAEMON_H
#define ARMORGATE_AGENT_DAEMON_H

#include <stdbool.h>

typedef struct agent_opts {
	const char *node_name;
	const char *profiles_dir;   /* exactly one of profiles_dir / configmap */
	const char *configmap;      /* "ns/name" */
	const char *host_dir;
	const char *cache_dir;      /* "" = <host_dir>/.cache */
	const char *kubeconfig;
	const char *probe_listen;
	const char *parser;         /* "" = /sbin, /usr/sbin, PATH */
	const char *sysfs_root, *securityfs_root, *proc_root;
	long poll_interval_s;
	long max_profile_bytes, max_profiles;
	long parser_timeout_s;
	bool compile_check;
} agent_opts;

/* Runs until SIGTERM/SIGINT. Returns the process exit status. */
int agent_daemon_run(const agent_opts *o);

#endif
