/* config: one table of options (flag, env var, type, bounds, default, help),
 * redis-style. Flags win over ARMORGATE_<FLAG_IN_CAPS> env vars, which win
 * over defaults. --help is generated from the table; out-of-range values are
 * refused with the bound named. */
#ifndef ARMORGATE_CONFIG_H
#define ARMORGATE_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <sys/socket.h>

#include "err.h"

typedef enum config_type { CONFIG_STRING, CONFIG_INT, CONFIG_BOOL } config_type;

typedef struct config_option {
	const char *name; /* flag without "--", e.g. "poll-interval" */
	config_type type;
	const char *def;     /* default as text, NULL = unset */
	long min, max;       /* CONFIG_INT bounds, inclusive */
	const char *metavar; /* e.g. "SECONDS" */
	const char *help;
	const char *env_alias; /* extra env var read after ARMORGATE_*, e.g. "NODE_NAME"; may be NULL */
	void *dest;            /* char ** (heap copy, config_free_strings frees), long *, bool * */
} config_option;

typedef struct config_spec {
	const char *prog;
	const char *summary; /* one line under the usage line */
	const char *version;
	const config_option *opts;
	size_t nopts;
} config_spec;

/* A program's spec from its option table (an array, not a pointer). */
#define CONFIG_SPEC(PROG, SUMMARY, OPTS)                                                                               \
	{                                                                                                              \
		.prog = (PROG), .summary = (SUMMARY), .version = ARMORGATE_VERSION, .opts = (OPTS),                    \
		.nopts = sizeof(OPTS) / sizeof((OPTS)[0])                                                              \
	}

typedef enum config_result { CONFIG_OK = 0, CONFIG_EXIT_SUCCESS = 1, CONFIG_ERROR = -1 } config_result;

/* Parses argv (and the environment). Prints --help/--version to out and
 * returns CONFIG_EXIT_SUCCESS for them. On CONFIG_ERROR, err says which
 * option and why (and which bound). */
config_result config_parse(const config_spec *spec, int argc, char **argv, FILE *out, ag_err *err);
/* The env var name for a flag: ARMORGATE_ + upper-case, '-' -> '_'. */
void config_env_name(const char *flag, char *out, size_t cap);
void config_usage(const config_spec *spec, FILE *out);
/* Frees the strings config_parse stored in CONFIG_STRING destinations. */
void config_free_strings(const config_spec *spec);

/* Listen addresses: "ADDR:PORT", "[V6]:PORT" or ":PORT" (port 0..65535).
 * An empty ADDR or "*" means any: *any is set and ss is the IPv6 wildcard
 * (callers fall back to IPv4 where IPv6 is off). Names are resolved. */
int config_resolve_listen(const char *listen, struct sockaddr_storage *ss, socklen_t *sslen, bool *any, int *port,
			  ag_err *err) AG_WARN_UNUSED;
/* CPUs this process may use: its affinity mask, lowered to a cgroup v2 CPU
 * limit (cpu.max, rounded up) when one is set; at least 1. cpu_max is the
 * text of cpu.max ("max 100000", "150000 100000") or NULL. */
long config_usable_cpus(const char *cpu_max);
/* The same, reading /sys/fs/cgroup/cpu.max (a container's own cgroup). */
long config_usable_cpus_here(void);
/* "ns/name" -> both parts, each a DNS label-ish non-empty string. */
int config_split_nsname(const char *s, char *ns, size_t nscap, char *name, size_t namecap, ag_err *err) AG_WARN_UNUSED;

#endif
