/* armorgate-agent: parses the option table and runs the node agent
 * (agent_daemon). Exit 0 on SIGTERM (profiles stay loaded), non-zero with one
 * clear line when the configuration is unusable. */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent_daemon.h"
#include "config.h"
#include "log.h"

/* Filled by config_parse through the table below (strings: heap copies that
 * config_free_strings frees); read by the daemon. */
static agent_opts main_o;
static char *opt_log_level;

static const config_option main_opts[] = {
	{ "node-name", CONFIG_STRING, NULL, 0, 0, "NAME", "this node's name (the only Node the agent writes)",
	  "NODE_NAME", &main_o.node_name },
	{ "profiles-dir", CONFIG_STRING, NULL, 0, 0, "DIR",
	  "profiles from a mounted ConfigMap directory (inotify + polling)", NULL, &main_o.profiles_dir },
	{ "configmap", CONFIG_STRING, NULL, 0, 0, "NS/NAME", "profiles from this ConfigMap, watched through the API",
	  NULL, &main_o.configmap },
	{ "host-profiles-dir", CONFIG_STRING, "/etc/apparmor.d/armorgate", 0, 0, "DIR",
	  "where managed profiles are written on the host", NULL, &main_o.host_dir },
	{ "cache-dir", CONFIG_STRING, "", 0, 0, "DIR",
	  "apparmor_parser binary cache (default: <host-profiles-dir>/.cache)", NULL, &main_o.cache_dir },
	{ "poll-interval", CONFIG_INT, "30", 1, 86400, "SECONDS", "full re-check period (safety net for missed events)",
	  NULL, &main_o.poll_interval_s },
	{ "kubeconfig", CONFIG_STRING, "", 0, 0, "FILE", "kubeconfig to reach the API server (default: in-cluster)",
	  NULL, &main_o.kubeconfig },
	{ "probe-listen", CONFIG_STRING, ":8082", 0, 0, "ADDR:PORT", "plain-HTTP /healthz, /readyz, /metrics", NULL,
	  &main_o.probe_listen },
	{ "log-level", CONFIG_STRING, "info", 0, 0, "LEVEL", "debug, info, warn or error", NULL, &opt_log_level },
	{ "max-profile-bytes", CONFIG_INT, "262144", 1, 16L << 20, "BYTES", "largest accepted profile text", NULL,
	  &main_o.max_profile_bytes },
	{ "max-profiles", CONFIG_INT, "200", 1, 10000, "N", "most profiles accepted from the source", NULL,
	  &main_o.max_profiles },
	{ "parser-path", CONFIG_STRING, "", 0, 0, "FILE",
	  "apparmor_parser to run (default: /sbin, /usr/sbin, then PATH)", NULL, &main_o.parser },
	{ "parser-timeout", CONFIG_INT, "60", 1, 3600, "SECONDS", "kill a parser run after this long", NULL,
	  &main_o.parser_timeout_s },
	{ "parser-jobs", CONFIG_INT, "4", 0, 64, "N",
	  "apparmor_parser compile children at a time (-j N), which bound its memory; 0 = one per CPU", NULL,
	  &main_o.parser_jobs },
	{ "compile-check", CONFIG_BOOL, "true", 0, 0, "BOOL",
	  "compile new/changed profiles (apparmor_parser -Q) before loading, like the webhook", NULL,
	  &main_o.compile_check },
	{ "denial-source", CONFIG_STRING, "auto", 0, 0, "SOURCE",
	  "AppArmor denial records: auto (audit netlink, else /dev/kmsg), netlink, kmsg or off; testing: "
	  "file:FIFO (record lines)",
	  NULL, &main_o.denial_source },
	{ "denial-events-per-minute", CONFIG_INT, "60", 0, 6000, "N",
	  "most denial Event writes (and aggregated log lines) per minute, all pods; 0 = no Events", NULL,
	  &main_o.denial_events_per_minute },
	{ "denial-keys", CONFIG_INT, "1024", 16, 65536, "N",
	  "most pod x profile x operation x path keys aggregated at once (about 1.3 KB each)", NULL,
	  &main_o.denial_keys },
	{ "sysfs-root", CONFIG_STRING, "/sys", 0, 0, "DIR", "testing: where sysfs is mounted", NULL,
	  &main_o.sysfs_root },
	{ "securityfs-root", CONFIG_STRING, "/sys/kernel/security", 0, 0, "DIR", "testing: where securityfs is mounted",
	  NULL, &main_o.securityfs_root },
	{ "proc-root", CONFIG_STRING, "/proc", 0, 0, "DIR", "testing: the host's /proc (needs hostPID)", NULL,
	  &main_o.proc_root },
};

static const config_spec main_spec = CONFIG_SPEC(
	"armorgate-agent",
	"Loads custom.* AppArmor profiles from a ConfigMap into this node's kernel and labels the Node.", main_opts);

/* Checks the combination of options and runs the daemon. */
static int main_run(void)
{
	log_level lvl;

	if (log_level_parse(opt_log_level, &lvl) != 0) {
		fprintf(stderr, "armorgate-agent: --log-level: \"%s\" is not debug, info, warn or error\n",
			opt_log_level);
		return 2;
	}
	log_set_level(lvl);
	if (!main_o.node_name || !*main_o.node_name) {
		fprintf(stderr, "armorgate-agent: --node-name (or NODE_NAME) is required\n");
		return 2;
	}
	bool have_dir = main_o.profiles_dir && *main_o.profiles_dir;
	bool have_cm = main_o.configmap && *main_o.configmap;
	if (have_dir == have_cm) {
		fprintf(stderr, "armorgate-agent: give exactly one of --profiles-dir or --configmap\n");
		return 2;
	}
	if (have_cm && !strchr(main_o.configmap, '/')) {
		fprintf(stderr, "armorgate-agent: --configmap must be NAMESPACE/NAME\n");
		return 2;
	}
	const char *ds = main_o.denial_source;
	if (strcmp(ds, "auto") != 0 && strcmp(ds, "netlink") != 0 && strcmp(ds, "kmsg") != 0 &&
	    strcmp(ds, "off") != 0 && strncmp(ds, "file:", 5) != 0) {
		fprintf(stderr, "armorgate-agent: --denial-source: \"%s\" is not auto, netlink, kmsg or off\n", ds);
		return 2;
	}
	return agent_daemon_run(&main_o);
}

int main(int argc, char **argv)
{
	ag_err e;
	int rc = 2;

	log_init("agent", LOG_LVL_INFO);
	err_clear(&e);
	config_result cr = config_parse(&main_spec, argc, argv, stdout, &e);
	if (cr == CONFIG_EXIT_SUCCESS)
		rc = 0;
	else if (cr == CONFIG_ERROR)
		fprintf(stderr, "armorgate-agent: %s\n", e.msg);
	else
		rc = main_run();
	config_free_strings(&main_spec);
	return rc;
}
