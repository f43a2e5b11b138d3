/* Unit tests: the option table (common/config.c): bounds, env precedence, --help. */
#include <criterion/criterion.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"

static char *s_kc;
static char *s_node;
static long s_poll;
static bool s_flag;

static const config_option opts[] = {
	{ "kubeconfig", CONFIG_STRING, NULL, 0, 0, "FILE", "kubeconfig file", NULL, &s_kc },
	{ "node-name", CONFIG_STRING, NULL, 0, 0, "NAME", "this node", "NODE_NAME", &s_node },
	{ "poll-interval", CONFIG_INT, "30", 1, 86400, "SECONDS", "poll period", NULL, &s_poll },
	{ "dry-run", CONFIG_BOOL, "false", 0, 0, NULL, "do nothing", NULL, &s_flag },
};
static const config_spec spec = { "prog", "A test program.", "9.9", opts, sizeof(opts) / sizeof(opts[0]) };

static void clean_env(void)
{
	unsetenv("ARMORGATE_KUBECONFIG");
	unsetenv("ARMORGATE_NODE_NAME");
	unsetenv("NODE_NAME");
	unsetenv("ARMORGATE_POLL_INTERVAL");
	unsetenv("ARMORGATE_DRY_RUN");
}

static config_result parse(int argc, const char *const *argv, ag_err *e)
{
	return config_parse(&spec, argc, (char **)(uintptr_t)argv, stdout, e);
}

Test(config, defaults)
{
	const char *argv[] = { "prog", NULL };
	ag_err e;

	clean_env();
	cr_assert_eq(parse(1, argv, &e), CONFIG_OK, "%s", e.msg);
	cr_assert_eq(s_poll, 30);
	cr_assert_not(s_flag);
	cr_assert_null(s_kc);
	config_free_strings(&spec);
}

Test(config, bounds_inclusive_and_named)
{
	const char *lo[] = { "prog", "--poll-interval", "1", NULL };
	const char *hi[] = { "prog", "--poll-interval=86400", NULL };
	const char *under[] = { "prog", "--poll-interval", "0", NULL };
	const char *over[] = { "prog", "--poll-interval=86401", NULL };
	const char *nan[] = { "prog", "--poll-interval", "12x", NULL };
	ag_err e;

	clean_env();
	cr_assert_eq(parse(3, lo, &e), CONFIG_OK);
	cr_assert_eq(s_poll, 1);
	cr_assert_eq(parse(2, hi, &e), CONFIG_OK);
	cr_assert_eq(s_poll, 86400);
	cr_assert_eq(parse(3, under, &e), CONFIG_ERROR);
	cr_assert(strstr(e.msg, "--poll-interval") && strstr(e.msg, "1..86400"), "%s", e.msg);
	cr_assert_eq(parse(2, over, &e), CONFIG_ERROR);
	cr_assert(strstr(e.msg, "86401") && strstr(e.msg, "1..86400"), "%s", e.msg);
	cr_assert_eq(parse(3, nan, &e), CONFIG_ERROR);
	cr_assert(strstr(e.msg, "not an integer"), "%s", e.msg);
	setenv("ARMORGATE_POLL_INTERVAL", "0", 1);
	cr_assert_eq(parse(1, lo, &e), CONFIG_ERROR);
	cr_assert(strstr(e.msg, "ARMORGATE_POLL_INTERVAL"), "env source not named: %s", e.msg);
	clean_env();
	config_free_strings(&spec);
}

Test(config, precedence_flag_env_alias_default)
{
	const char *none[] = { "prog", NULL };
	const char *flag[] = { "prog", "--node-name", "from-flag", "--kubeconfig=/f", NULL };
	ag_err e;

	clean_env();
	setenv("NODE_NAME", "from-alias", 1);
	cr_assert_eq(parse(1, none, &e), CONFIG_OK);
	cr_assert_str_eq(s_node, "from-alias");
	setenv("ARMORGATE_NODE_NAME", "from-env", 1);
	setenv("ARMORGATE_KUBECONFIG", "/env", 1);
	setenv("ARMORGATE_POLL_INTERVAL", "77", 1);
	setenv("ARMORGATE_DRY_RUN", "yes", 1);
	cr_assert_eq(parse(1, none, &e), CONFIG_OK);
	cr_assert_str_eq(s_node, "from-env");
	cr_assert_str_eq(s_kc, "/env");
	cr_assert_eq(s_poll, 77);
	cr_assert(s_flag);
	cr_assert_eq(parse(4, flag, &e), CONFIG_OK);
	cr_assert_str_eq(s_node, "from-flag");
	cr_assert_str_eq(s_kc, "/f");
	clean_env();
	config_free_strings(&spec);
	cr_assert_null(s_kc);
}

Test(config, bad_arguments)
{
	const char *unk[] = { "prog", "--nope", NULL };
	const char *pos[] = { "prog", "stray", NULL };
	const char *noval[] = { "prog", "--kubeconfig", NULL };
	const char *badbool[] = { "prog", "--dry-run=maybe", NULL };
	ag_err e;

	clean_env();
	cr_assert_eq(parse(2, unk, &e), CONFIG_ERROR);
	cr_assert(strstr(e.msg, "unknown option --nope"), "%s", e.msg);
	cr_assert_eq(parse(2, pos, &e), CONFIG_ERROR);
	cr_assert(strstr(e.msg, "stray"), "%s", e.msg);
	cr_assert_eq(parse(2, noval, &e), CONFIG_ERROR);
	cr_assert(strstr(e.msg, "needs a value"), "%s", e.msg);
	cr_assert_eq(parse(2, badbool, &e), CONFIG_ERROR);
	cr_assert(strstr(e.msg, "not a boolean"), "%s", e.msg);
	config_free_strings(&spec);
}

Test(config, help_and_version_generated)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	const char *help[] = { "prog", "--help", NULL };
	const char *ver[] = { "prog", "--version", NULL };
	ag_err e;

	clean_env();
	cr_assert_eq(config_parse(&spec, 2, (char **)(uintptr_t)help, f, &e), CONFIG_EXIT_SUCCESS);
	cr_assert_eq(config_parse(&spec, 2, (char **)(uintptr_t)ver, f, &e), CONFIG_EXIT_SUCCESS);
	fclose(f);
	cr_assert(strstr(text, "Usage: prog"), "%s", text);
	cr_assert(strstr(text, "--poll-interval SECONDS"), "%s", text);
	cr_assert(strstr(text, "ARMORGATE_POLL_INTERVAL"), "%s", text);
	cr_assert(strstr(text, "range 1..86400"), "%s", text);
	cr_assert(strstr(text, "default 30"), "%s", text);
	cr_assert(strstr(text, "NODE_NAME"), "%s", text);
	cr_assert(strstr(text, "--dry-run[=BOOL]"), "%s", text);
	cr_assert(strstr(text, "prog 9.9"), "%s", text);
	free(text);
	config_free_strings(&spec);
}

Test(config, env_name_and_splitters)
{
	char env[64];
	struct sockaddr_storage ss;
	socklen_t sslen;
	bool any;
	char ns[64];
	char name[64];
	int port;
	ag_err e;

	config_env_name("probe-listen", env, sizeof(env));
	cr_assert_str_eq(env, "ARMORGATE_PROBE_LISTEN");
	config_env_name("probe-listen", env, 12);
	cr_assert_str_eq(env, "ARMORGATE_P");
	cr_assert_eq(config_resolve_listen(":8443", &ss, &sslen, &any, &port, &e), 0, "%s", e.msg);
	cr_assert(any);
	cr_assert_eq(port, 8443);
	cr_assert_eq(ss.ss_family, AF_INET6);
	cr_assert_eq(config_resolve_listen("127.0.0.1:0", &ss, &sslen, &any, &port, &e), 0, "%s", e.msg);
	cr_assert(!any);
	cr_assert_eq(ss.ss_family, AF_INET);
	cr_assert_eq(sslen, sizeof(struct sockaddr_in));
	cr_assert_eq(ntohl(((struct sockaddr_in *)&ss)->sin_addr.s_addr), INADDR_LOOPBACK);
	cr_assert_eq(config_resolve_listen("[::1]:9", &ss, &sslen, &any, &port, &e), 0, "%s", e.msg);
	cr_assert_eq(ss.ss_family, AF_INET6);
	cr_assert_eq(ntohs(((struct sockaddr_in6 *)&ss)->sin6_port), 9);
	cr_assert_eq(config_resolve_listen("127.0.0.1:65536", &ss, &sslen, &any, &port, &e), -1);
	cr_assert(strstr(e.msg, "0..65535"), "%s", e.msg);
	cr_assert_eq(config_resolve_listen("nocolon", &ss, &sslen, &any, &port, &e), -1);
	cr_assert(strstr(e.msg, "nocolon"), "%s", e.msg);
	cr_assert_eq(config_split_nsname("armorgate-system/armorgate-profiles", ns, sizeof(ns), name, sizeof(name), &e),
		     0);
	cr_assert_str_eq(ns, "armorgate-system");
	cr_assert_str_eq(name, "armorgate-profiles");
	cr_assert_eq(config_split_nsname("/x", ns, sizeof(ns), name, sizeof(name), &e), -1);
	cr_assert_eq(config_split_nsname("a/b/c", ns, sizeof(ns), name, sizeof(name), &e), -1);
	cr_assert_eq(config_split_nsname("a/", ns, sizeof(ns), name, sizeof(name), &e), -1);
}

Test(config, usable_cpus_follow_the_cgroup_limit)
{
	long all = config_usable_cpus(NULL);

	cr_assert_geq(all, 1);
	cr_assert_eq(config_usable_cpus("max 100000\n"), all);
	cr_assert_eq(config_usable_cpus("100000 100000\n"), 1);
	cr_assert_eq(config_usable_cpus("50000 100000\n"), 1);
	cr_assert_eq(config_usable_cpus("150000 100000\n"), all < 2 ? all : 2);
	cr_assert_eq(config_usable_cpus("1 100000"), 1);
	cr_assert_eq(config_usable_cpus("100000 0"), all);
	cr_assert_eq(config_usable_cpus("garbage"), all);
	cr_assert_eq(config_usable_cpus(""), all);
	cr_assert_geq(config_usable_cpus_here(), 1);
}
