/* config: option table parsing; see config.h. */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <sched.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void config_env_name(const char *flag, char *out, size_t cap)
{
	size_t o = 0;
	const char *pre = "ARMORGATE_";

	if (cap == 0)
		return;
	for (const char *p = pre; *p && o + 1 < cap; p++)
		out[o++] = *p;
	for (const char *p = flag; *p && o + 1 < cap; p++)
		out[o++] = *p == '-' ? '_' : (char)toupper((unsigned char)*p);
	out[o] = '\0';
}

static int config_parse_long(const char *s, long *out)
{
	char *end = NULL;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0')
		return -1;
	*out = v;
	return 0;
}

static int config_parse_bool(const char *s, bool *out)
{
	if (!strcmp(s, "1") || !strcmp(s, "true") || !strcmp(s, "yes") || !strcmp(s, "on")) {
		*out = true;
		return 0;
	}
	if (!strcmp(s, "0") || !strcmp(s, "false") || !strcmp(s, "no") || !strcmp(s, "off")) {
		*out = false;
		return 0;
	}
	return -1;
}

static int config_apply(const config_option *o, const char *val, const char *source, ag_err *err)
{
	switch (o->type) {
	case CONFIG_STRING: {
		char **dst = o->dest;
		char *copy = strdup(val);

		if (!copy)
			return err_set(err, ENOMEM, "out of memory");
		free(*dst);
		*dst = copy;
		return 0;
	}
	case CONFIG_INT: {
		long v;

		if (config_parse_long(val, &v) != 0)
			return err_set(err, EINVAL, "--%s (%s): \"%s\" is not an integer", o->name, source, val);
		if (v < o->min || v > o->max)
			return err_set(err, ERANGE, "--%s (%s): %ld is out of range %ld..%ld", o->name, source, v,
				       o->min, o->max);
		*(long *)o->dest = v;
		return 0;
	}
	case CONFIG_BOOL:
		if (config_parse_bool(val, (bool *)o->dest) != 0)
			return err_set(err, EINVAL, "--%s (%s): \"%s\" is not a boolean (true/false)", o->name, source,
				       val);
		return 0;
	}
	return err_set(err, EINVAL, "--%s: unknown option type", o->name);
}

static const config_option *config_find(const config_spec *spec, const char *name, size_t len)
{
	for (size_t i = 0; i < spec->nopts; i++) {
		const config_option *o = &spec->opts[i];

		if (strlen(o->name) == len && strncmp(o->name, name, len) == 0)
			return o;
	}
	return NULL;
}

void config_usage(const config_spec *spec, FILE *out)
{
	fprintf(out, "Usage: %s [OPTIONS]\n%s\n\nOptions (each also read from the environment variable shown):\n",
		spec->prog, spec->summary);
	for (size_t i = 0; i < spec->nopts; i++) {
		const config_option *o = &spec->opts[i];
		char env[128];
		char left[96];

		config_env_name(o->name, env, sizeof(env));
		if (o->type == CONFIG_BOOL)
			snprintf(left, sizeof(left), "--%s[=BOOL]", o->name);
		else
			snprintf(left, sizeof(left), "--%s %s", o->name, o->metavar ? o->metavar : "VALUE");
		fprintf(out, "  %-34s %s\n", left, o->help);
		fprintf(out, "  %-34s env %s%s%s", "", env, o->env_alias ? ", " : "", o->env_alias ? o->env_alias : "");
		if (o->def)
			fprintf(out, "; default %s", o->def[0] ? o->def : "\"\"");
		if (o->type == CONFIG_INT)
			fprintf(out, "; range %ld..%ld", o->min, o->max);
		fputc('\n', out);
	}
	fprintf(out, "  %-34s %s\n  %-34s %s\n", "--help", "show this help and exit", "--version",
		"show the version and exit");
}

config_result config_parse(const config_spec *spec, int argc, char **argv, FILE *out, ag_err *err)
{
	/* Defaults, then environment, then flags: later layers override. */
	for (size_t i = 0; i < spec->nopts; i++) {
		const config_option *o = &spec->opts[i];
		char env[128];
		const char *v;

		if (o->def && config_apply(o, o->def, "default", err) != 0)
			return CONFIG_ERROR;
		if (o->env_alias && (v = getenv(o->env_alias)) && *v) {
			if (config_apply(o, v, o->env_alias, err) != 0)
				return CONFIG_ERROR;
		}
		config_env_name(o->name, env, sizeof(env));
		if ((v = getenv(env)) && *v) {
			if (config_apply(o, v, env, err) != 0)
				return CONFIG_ERROR;
		}
	}
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		const char *eq;
		const char *val;
		const config_option *o;
		size_t nlen;

		if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
			config_usage(spec, out);
			return CONFIG_EXIT_SUCCESS;
		}
		if (!strcmp(a, "--version")) {
			fprintf(out, "%s %s\n", spec->prog, spec->version);
			return CONFIG_EXIT_SUCCESS;
		}
		if (strncmp(a, "--", 2) != 0) {
			err_set(err, EINVAL, "unexpected argument \"%s\" (see --help)", a);
			return CONFIG_ERROR;
		}
		a += 2;
		eq = strchr(a, '=');
		nlen = eq ? (size_t)(eq - a) : strlen(a);
		o = config_find(spec, a, nlen);
		if (!o) {
			err_set(err, EINVAL, "unknown option --%.*s (see --help)", (int)nlen, a);
			return CONFIG_ERROR;
		}
		if (eq)
			val = eq + 1;
		else if (o->type == CONFIG_BOOL)
			val = "true";
		else if (i + 1 < argc)
			val = argv[++i];
		else {
			err_set(err, EINVAL, "--%s needs a value", o->name);
			return CONFIG_ERROR;
		}
		if (config_apply(o, val, "flag", err) != 0)
			return CONFIG_ERROR;
	}
	return CONFIG_OK;
}

void config_free_strings(const config_spec *spec)
{
	for (size_t i = 0; i < spec->nopts; i++) {
		if (spec->opts[i].type == CONFIG_STRING) {
			char **dst = spec->opts[i].dest;

			free(*dst);
			*dst = NULL;
		}
	}
}

int config_resolve_listen(const char *listen, struct sockaddr_storage *ss, socklen_t *sslen, bool *any, int *port,
			  ag_err *err)
{
	char host[256];
	const char *colon;
	size_t hlen;
	char *end;
	long pv;
	struct addrinfo hints;
	struct addrinfo *res = NULL;
	int gai;

	colon = listen ? strrchr(listen, ':') : NULL;
	if (!colon)
		return err_set(err, EINVAL, "listen address \"%s\" is not ADDR:PORT", listen ? listen : "");
	errno = 0;
	pv = strtol(colon + 1, &end, 10);
	if (colon[1] == '\0' || *end != '\0' || errno != 0 || pv < 0 || pv > 65535)
		return err_set(err, EINVAL, "listen address \"%s\": port must be 0..65535", listen);
	hlen = (size_t)(colon - listen);
	if (hlen >= 2 && listen[0] == '[' && listen[hlen - 1] == ']') {
		listen++;
		hlen -= 2;
	}
	if (hlen >= sizeof(host))
		return err_set(err, EINVAL, "listen address \"%s\": address too long", listen);
	memcpy(host, listen, hlen);
	host[hlen] = '\0';
	*port = (int)pv;
	*any = hlen == 0 || strcmp(host, "*") == 0;
	memset(ss, 0, sizeof(*ss));
	if (*any) {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;

		s6->sin6_family = AF_INET6;
		s6->sin6_addr = in6addr_any;
		s6->sin6_port = htons((uint16_t)pv);
		*sslen = sizeof(*s6);
		return 0;
	}
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE;
	gai = getaddrinfo(host, NULL, &hints, &res);
	if (gai != 0 || !res)
		return err_set(err, EINVAL, "listen address \"%s\": %s", host, gai_strerror(gai));
	memcpy(ss, res->ai_addr, res->ai_addrlen);
	ss->ss_family = (sa_family_t)res->ai_family;
	*sslen = res->ai_addrlen;
	if (ss->ss_family == AF_INET)
		((struct sockaddr_in *)ss)->sin_port = htons((uint16_t)pv);
	else
		((struct sockaddr_in6 *)ss)->sin6_port = htons((uint16_t)pv);
	freeaddrinfo(res);
	return 0;
}

int config_split_nsname(const char *s, char *ns, size_t nscap, char *name, size_t namecap, ag_err *err)
{
	const char *slash = strchr(s, '/');
	size_t nslen;
	size_t namelen;

	if (!slash || slash == s || slash[1] == '\0' || strchr(slash + 1, '/'))
		return err_set(err, EINVAL, "\"%s\" is not NAMESPACE/NAME", s);
	nslen = (size_t)(slash - s);
	namelen = strlen(slash + 1);
	if (nslen >= nscap || namelen >= namecap || nslen > 63 || namelen > 253)
		return err_set(err, EINVAL, "\"%s\": namespace or name too long", s);
	memcpy(ns, s, nslen);
	ns[nslen] = '\0';
	memcpy(name, slash + 1, namelen + 1);
	return 0;
}

long config_usable_cpus(const char *cpu_max)
{
	cpu_set_t set;
	long n = 0;

	if (sched_getaffinity(0, sizeof(set), &set) == 0)
		n = CPU_COUNT(&set);
	if (n <= 0)
		n = sysconf(_SC_NPROCESSORS_ONLN);
	if (n <= 0)
		n = 1;
	/* A Pod's CPU limit: threads beyond it only queue on the quota. */
	if (cpu_max && isdigit((unsigned char)cpu_max[0])) {
		char *end;
		unsigned long long quota;
		unsigned long long period;

		errno = 0;
		quota = strtoull(cpu_max, &end, 10);
		if (*end == ' ' && isdigit((unsigned char)end[1])) {
			period = strtoull(end + 1, &end, 10);
			if (errno == 0 && period > 0 && quota / period < (unsigned long long)n) {
				unsigned long long lim = quota / period + (quota % period != 0);

				n = lim < 1 ? 1 : (long)lim;
			}
		}
	}
	return n;
}

long config_usable_cpus_here(void)
{
	char line[64] = "";
	FILE *f = fopen("/sys/fs/cgroup/cpu.max", "re");

	if (f) {
		if (!fgets(line, sizeof(line), f))
			line[0] = '\0';
		fclose(f);
	}
	return config_usable_cpus(line[0] ? line : NULL);
}
