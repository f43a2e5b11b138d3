/* agent_loader: apparmor_parser batch load / per-profile fallback / removal. */
#include "agent_loader.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "agent_host.h"
#include "aaparser.h"
#include "run.h"

enum { AGENT_LOADER_FIXED_ARGS = 8 };

const char *agent_loader_find_parser(const char *flag)
{
	if (flag && *flag)
		return flag;
	if (access("/sbin/apparmor_parser", X_OK) == 0)
		return "/sbin/apparmor_parser";
	if (access("/usr/sbin/apparmor_parser", X_OK) == 0)
		return "/usr/sbin/apparmor_parser";
	return "apparmor_parser";
}

/* First useful stderr line: the parser prints harmless noise on hosts
 * without a cache interface, and only its first error matters. */
static void agent_loader_first_error(const char *text, char *msg, size_t cap)
{
	const char *p = text;
	const char *fallback = NULL;

	if (cap)
		msg[0] = '\0';
	while (p && *p) {
		const char *nl = strchr(p, '\n');
		size_t l = nl ? (size_t)(nl - p) : strlen(p);
		bool noise = l == 0 || strncmp(p, "Cache read/write disabled", 25) == 0 ||
			     strncmp(p, "Warning", 7) == 0 || (l > 0 && memmem(p, l, "HOMEDIRS", 8) != NULL);
		if (!noise) {
			snprintf(msg, cap, "%.*s", (int)l, p);
			return;
		}
		if (!fallback && l > 0)
			fallback = p;
		p = nl ? nl + 1 : NULL;
	}
	if (fallback) {
		const char *nl = strchr(fallback, '\n');
		snprintf(msg, cap, "%.*s", (int)(nl ? (size_t)(nl - fallback) : strlen(fallback)), fallback);
	}
}

static int agent_loader_exec(const agent_loader *l, const char *op, const char *const *files, size_t n, char *msg,
			     size_t cap)
{
	const char **argv = calloc(n + AGENT_LOADER_FIXED_ARGS + 1, sizeof(*argv));
	char cacheopt[4200];
	size_t a = 0;
	run_result res;
	ag_err e;
	int rc = -1;

	if (cap)
		msg[0] = '\0';
	if (!argv) {
		snprintf(msg, cap, "out of memory");
		return -1;
	}
	/* No -O here or in aaparser_compile_check, on purpose: the tree options
	 * that speed up abstractions/base keep the policy bytes but blow up on
	 * some plausible profiles (ms -> > 10 s, GBs; bench/agent/compile_options.py). */
	argv[a++] = l->parser;
	if (l->compile_only) {
		argv[a++] = "-Q";
		argv[a++] = "-K";
	} else if (strcmp(op, "--compile-to-cache") == 0) {
		snprintf(cacheopt, sizeof(cacheopt), "--cache-loc=%s", l->cache_dir);
		argv[a++] = "-Q";
		argv[a++] = "--write-cache";
		argv[a++] = cacheopt;
	} else {
		argv[a++] = op;
		if (l->cache_dir && strcmp(op, "--replace") == 0) {
			snprintf(cacheopt, sizeof(cacheopt), "--cache-loc=%s", l->cache_dir);
			argv[a++] = "--write-cache";
			argv[a++] = cacheopt;
		}
	}
	argv[a++] = "-q";
	for (size_t i = 0; i < n; i++)
		argv[a++] = files[i];
	argv[a] = NULL;
	if (run_program(argv, NULL, NULL, 0, l->timeout_ms, &res, &e) != 0) {
		snprintf(msg, cap, "cannot run %.200s: %.250s", l->parser, e.msg);
		free(argv);
		return -1;
	}
	if (res.timed_out)
		snprintf(msg, cap, "%s timed out after %ld ms", l->parser, l->timeout_ms);
	else if (!res.exited)
		snprintf(msg, cap, "%s was killed by signal %d", l->parser, res.status);
	else if (res.status != 0) {
		agent_loader_first_error(buf_cstr(&res.errout), msg, cap);
		if (!msg[0])
			snprintf(msg, cap, "%s exited with status %d", l->parser, res.status);
	} else
		rc = 0;
	run_result_cleanup(&res);
	free(argv);
	return rc;
}

int agent_loader_run(const agent_loader *l, const char *const *files, size_t n, char *msg, size_t cap)
{
	return agent_loader_exec(l, "--replace", files, n, msg, cap);
}

static double agent_loader_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* The batched names gate: 1 when `apparmor_parser -N` over all files reports
 * exactly the keys, each once (every file passed profile_check_text, so each
 * names its key; a hat, child or extra profile, also one brought in by an
 * include, adds a name and fails this); 0 otherwise (the caller then asks
 * aaparser_compile_check, per profile); -1 when the parser cannot run. */
static int agent_loader_names_ok(const agent_loader *l, const char *const *files, const char *const *keys, size_t n,
				 const aaparser_opts *popts, char *msg, size_t cap)
{
	const char **argv = calloc(n + 12, sizeof(*argv));
	bool *seen = calloc(n ? n : 1, sizeof(*seen));
	size_t a = 0, count = 0;
	run_result res;
	ag_err e;
	int rc = 0;

	msg[0] = '\0';
	if (!argv || !seen) {
		free(argv);
		free(seen);
		snprintf(msg, cap, "cannot run %s: out of memory", l->parser);
		return -1;
	}
	argv[a++] = l->parser;
	argv[a++] = "-Q";
	argv[a++] = "-K";
	argv[a++] = "-q";
	argv[a++] = "-N";
	if (popts->features_file) {
		argv[a++] = "-M";
		argv[a++] = popts->features_file;
	}
	if (popts->base_dir) {
		argv[a++] = "-b";
		argv[a++] = popts->base_dir;
	}
	argv[a++] = "--";
	for (size_t i = 0; i < n; i++)
		argv[a++] = files[i];
	argv[a] = NULL;
	if (run_program(argv, NULL, NULL, 0, l->timeout_ms, &res, &e) != 0) {
		snprintf(msg, cap, "cannot run %.200s: %.250s", l->parser, e.msg);
		free(argv);
		free(seen);
		return -1;
	}
	if (res.exited && res.status == 0 && !res.timed_out && !res.out_truncated) {
		const char *p = buf_cstr(&res.out);

		rc = 1;
		while (*p && rc == 1) {
			size_t len = strcspn(p, "\n");
			bool found = false;

			if (len > 0) {
				count++;
				for (size_t i = 0; i < n && !found; i++)
					if (!seen[i] && strlen(keys[i]) == len && memcmp(keys[i], p, len) == 0)
						seen[i] = found = true;
				if (!found)
					rc = 0; /* a name that is no key, or a key seen twice */
			}
			p += len;
			if (*p == '\n')
				p++;
		}
		if (count != n)
			rc = 0;
	}
	run_result_cleanup(&res);
	free(argv);
	free(seen);
	return rc;
}

int agent_loader_load_checked(const agent_loader *l, const char *const *files, const char *const *keys,
			      const char *const *texts, const size_t *lens, size_t n, const aaparser_opts *popts,
			      agent_load_result *res, agent_load_stats *stats, ag_err *err)
{
	char msg[AGENT_MSG_CAP];
	double t0 = agent_loader_now();
	agent_load_stats st = { 0, false, 0 };
	bool batch = true;

	for (size_t i = 0; i < n; i++) {
		res[i].ok = false;
		res[i].refused = false;
		res[i].message[0] = '\0';
	}
	if (n == 0) {
		if (stats)
			*stats = st;
		return 0;
	}
	if (popts) {
		int names;

		st.parser_runs++;
		names = agent_loader_names_ok(l, files, keys, n, popts, msg, sizeof(msg));
		if (names < 0) {
			for (size_t i = 0; i < n; i++)
				snprintf(res[i].message, sizeof(res[i].message), "%s", msg);
			st.seconds = agent_loader_now() - t0;
			if (stats)
				*stats = st;
			return err_set(err, ENOENT, "%s", msg);
		}
		batch = names == 1;
	}
	if (batch && popts && l->cache_dir && !l->compile_only) {
		/* The compile check as its own step, nothing loaded: compile-only
		 * into the binary cache; the load below then reads the cache (a hit:
		 * same files, fresh entries), so nothing is compiled twice. */
		st.parser_runs++;
		batch = agent_loader_exec(l, "--compile-to-cache", files, n, msg, sizeof(msg)) == 0;
	}
	if (batch) {
		st.parser_runs++;
		if (agent_loader_exec(l, "--replace", files, n, msg, sizeof(msg)) == 0) {
			for (size_t i = 0; i < n; i++)
				res[i].ok = true;
			st.batch_ok = true;
			goto done;
		}
		if (n == 1 && !popts) {
			snprintf(res[0].message, sizeof(res[0].message), "%s", msg);
			goto done;
		}
	}
	/* One bad profile must not block the others: decide and load each alone. */
	for (size_t i = 0; i < n; i++) {
		if (popts) {
			ag_err ce;

			err_clear(&ce);
			st.parser_runs += 2;
			if (aaparser_compile_check(keys[i], texts[i], lens[i], popts, &ce) != 0) {
				res[i].refused = true;
				snprintf(res[i].message, sizeof(res[i].message), "%s", ce.msg);
				continue;
			}
		}
		st.parser_runs++;
		if (agent_loader_exec(l, "--replace", &files[i], 1, res[i].message, sizeof(res[i].message)) == 0)
			res[i].ok = true;
	}
done:
	st.seconds = agent_loader_now() - t0;
	if (stats)
		*stats = st;
	/* The parser could not be started at all: say so once for the caller. */
	if (!st.batch_ok && !res[0].ok && strncmp(res[0].message, "cannot run", 10) == 0)
		return err_set(err, ENOENT, "%s", res[0].message);
	return 0;
}

int agent_loader_load(const agent_loader *l, const char *const *files, size_t n, agent_load_result *res,
		      agent_load_stats *stats, ag_err *err)
{
	return agent_loader_load_checked(l, files, NULL, NULL, NULL, n, NULL, res, stats, err);
}

int agent_loader_remove(const agent_loader *l, const char *name, ag_err *err)
{
	char stub[AGENT_NAME_CAP + 32], path[4200], msg[AGENT_MSG_CAP], fname[AGENT_NAME_CAP + 16];
	int n;

	/* -R only needs the profile's name; a stub avoids depending on the last
	 * file being present or still compiling. */
	n = snprintf(stub, sizeof(stub), "profile %s {\n}\n", name);
	snprintf(fname, sizeof(fname), ".remove.%s", name);
	if (agent_host_write_atomic(l->stub_dir, fname, stub, (size_t)n, err) != 0)
		return -1;
	snprintf(path, sizeof(path), "%s/%s", l->stub_dir, fname);
	const char *files[1] = { path };
	int rc = agent_loader_exec(l, "--remove", files, 1, msg, sizeof(msg));
	unlink(path);
	if (rc != 0)
		return err_set(err, EIO, "unloading %s failed: %s", name, msg);
	return 0;
}
