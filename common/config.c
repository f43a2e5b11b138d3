/* config: option table parsing; see config.h. */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

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
			return err_set(err, EINVAL, "--%s (%s): \"%s\" is not a boolean (true/false)", o->name,
				       source, val);
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

int config_split_hostport(const char *s, char *host, size_t hostcap, int *port, ag_err *err)
{
	const char *colon = strrchr(s, ':');
	long p;
	size_t hlen;

	if (!colon)
		return err_set(err, EINVAL, "\"%s\" is not ADDR:PORT", s);
	hlen = (size_t)(colon - s);
	if (hlen >= hostcap)
		return err_set(err, EINVAL, "\"%s\": address too long", s);
	if (config_parse_long(colon + 1, &p) != 0 || p < 0 || p > 65535)
		return err_set(err, EINVAL, "\"%s\": port must be 0..65535", s);
	memcpy(host, s, hlen);
	host[hlen] = '\0';
	*port = (int)p;
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
