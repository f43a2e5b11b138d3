/* aaparser: runs apparmor_parser (see aaparser.h). */
#include "aaparser.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "contract.h"
#include "run.h"

enum {
	AAPARSER_FIXED_ARGS = 14, /* parser, mode flags, -q, -j N, -M F, -b D, --, NULL */
	AAPARSER_PATH_MAX = 4096,
};

static const aaparser_opts aaparser_defaults;

static bool aaparser_starts(const char *line, size_t n, const char *prefix)
{
	size_t pl = strlen(prefix);

	return n >= pl && memcmp(line, prefix, pl) == 0;
}

/* Lines that are not the error: printed on hosts without a cache interface
 * or AppArmor, and warnings (only the first error matters). */
static bool aaparser_noise(const char *line, size_t n)
{
	return n == 0 || aaparser_starts(line, n, "Cache read/write disabled") || aaparser_starts(line, n, "Warning") ||
		memmem(line, n, "HOMEDIRS", 8) != NULL;
}

/* The first meaningful stderr line, strip_dir + "/" removed from paths (so a
 * private temp file reads as its key), non-printables replaced. Falls back
 * to the first non-empty line other than the cache notice. */
static void aaparser_first_line(const char *errout, const char *strip_dir, char *out, size_t outsz)
{
	const char *p = errout;
	const char *pick = NULL;
	size_t pick_n = 0;
	const char *fallback = NULL;
	size_t fallback_n = 0;
	size_t dlen = strip_dir ? strlen(strip_dir) : 0;
	size_t j = 0;

	while (*p) {
		size_t n = strcspn(p, "\n");

		if (!aaparser_noise(p, n)) {
			pick = p;
			pick_n = n;
			break;
		}
		if (!fallback && n > 0 && !aaparser_starts(p, n, "Cache read/write disabled")) {
			fallback = p;
			fallback_n = n;
		}
		p += n;
		if (*p == '\n')
			p++;
	}
	if (!pick) {
		pick = fallback;
		pick_n = fallback_n;
	}
	out[0] = '\0';
	if (!pick)
		return;
	for (size_t i = 0; i < pick_n && j + 1 < outsz;) {
		unsigned char c = (unsigned char)pick[i];

		if (dlen && pick_n - i > dlen && memcmp(pick + i, strip_dir, dlen) == 0 && pick[i + dlen] == '/') {
			i += dlen + 1;
			continue;
		}
		out[j++] = (c >= 0x20 && c < 0x7f) ? (char)c : '?';
		i++;
	}
	out[j] = '\0';
}

/* Appends "flag value" when value is set; returns the new count. */
static size_t aaparser_argv_opt(const char **argv, size_t a, const char *flag, const char *value)
{
	if (value) {
		argv[a++] = flag;
		argv[a++] = value;
	}
	return a;
}

/* The one argv builder. No -O anywhere, on purpose: the tree options that
 * speed up abstractions/base keep the policy bytes but blow up on some
 * plausible profiles (ms -> > 10 s, GBs; bench/agent/compile_options.py).
 * argv needs room for n + AAPARSER_FIXED_ARGS entries. */
static void aaparser_argv(const aaparser_opts *o, aaparser_mode mode, const char *cacheopt, const char *jobs,
			  const char *const *files, size_t n, const char **argv)
{
	size_t a = 0;

	argv[a++] = o->parser_path ? o->parser_path : "apparmor_parser";
	switch (mode) {
	case AAPARSER_NAMES:
	case AAPARSER_COMPILE:
		argv[a++] = "-Q"; /* do not load into the kernel */
		argv[a++] = "-K"; /* do not touch the cache */
		if (mode == AAPARSER_NAMES)
			argv[a++] = "-N";
		break;
	case AAPARSER_COMPILE_CACHE:
		argv[a++] = "-Q";
		argv[a++] = "--write-cache";
		argv[a++] = cacheopt;
		break;
	case AAPARSER_REPLACE:
		argv[a++] = "--replace";
		if (cacheopt) {
			argv[a++] = "--write-cache";
			argv[a++] = cacheopt;
		}
		break;
	case AAPARSER_REMOVE: argv[a++] = "--remove"; break;
	}
	argv[a++] = "-q";
	/* Each job is a forked compiler child: -j bounds the run's peak memory. */
	a = aaparser_argv_opt(argv, a, "-j", jobs);
	a = aaparser_argv_opt(argv, a, "-M", o->features_file);
	a = aaparser_argv_opt(argv, a, "-b", o->base_dir);
	argv[a++] = "--";
	for (size_t i = 0; i < n; i++)
		argv[a++] = files[i];
	argv[a] = NULL;
}

static void aaparser_describe(const run_result *rr, const char *strip_dir, long tmo, aaparser_result *res, ag_err *err)
{
	char line[AAPARSER_LINE_MAX];

	if (rr->timed_out) {
		res->outcome = AAPARSER_TIMED_OUT;
		err_set(err, ETIMEDOUT, "apparmor_parser did not finish within %ld ms", tmo);
		return;
	}
	aaparser_first_line(buf_cstr(&rr->errout), strip_dir, line, sizeof(line));
	res->outcome = rr->exited ? AAPARSER_FAILED : AAPARSER_KILLED;
	if (line[0])
		err_set(err, EINVAL, "%s", line);
	else if (rr->exited)
		err_set(err, EINVAL, "apparmor_parser exited with status %d", rr->status);
	else
		err_set(err, EINVAL, "apparmor_parser killed by signal %d", rr->status);
}

/* aaparser_run, with strip_dir cut from the reported line. */
static int aaparser_exec(const aaparser_opts *opts, aaparser_mode mode, const char *const *files, size_t n,
			 const char *strip_dir, aaparser_result *res, ag_err *err)
{
	const char **argv = NULL;
	char cacheopt[AAPARSER_PATH_MAX + 16];
	char jobs[24];
	run_result rr;
	run_limits limits;
	long tmo;
	int rc = -1;

	memset(res, 0, sizeof(*res));
	buf_init(&res->out, RUN_OUTPUT_MAX);
	res->outcome = AAPARSER_NOT_RUN;
	if (!opts)
		opts = &aaparser_defaults;
	tmo = opts->timeout_ms > 0 ? opts->timeout_ms : AAPARSER_TIMEOUT_MS;
	limits = (run_limits){ opts->mem_limit_bytes, opts->cpu_limit_s, opts->nice };
	if (mode == AAPARSER_COMPILE_CACHE && !opts->cache_dir)
		return err_set(err, EINVAL, "apparmor_parser: compiling into the cache needs a cache directory");
	if (opts->cache_dir && (mode == AAPARSER_COMPILE_CACHE || mode == AAPARSER_REPLACE) &&
	    (size_t)snprintf(cacheopt, sizeof(cacheopt), "--cache-loc=%s", opts->cache_dir) >= sizeof(cacheopt))
		return err_set(err, ENAMETOOLONG, "apparmor_parser: cache directory path too long");
	snprintf(jobs, sizeof(jobs), "%ld", opts->jobs);
	argv = calloc(n + AAPARSER_FIXED_ARGS, sizeof(*argv));
	if (!argv)
		return err_set(err, ENOMEM, "cannot run apparmor_parser: out of memory");
	aaparser_argv(opts, mode,
		      opts->cache_dir && (mode == AAPARSER_COMPILE_CACHE || mode == AAPARSER_REPLACE) ? cacheopt : NULL,
		      opts->jobs > 0 ? jobs : NULL, files, n, argv);
	if (run_program_limited(argv, NULL, NULL, 0, tmo, &limits, &rr, err) != 0)
		goto cleanup;
	if (rr.out_truncated) {
		res->outcome = AAPARSER_FAILED;
		err_set(err, E2BIG, "apparmor_parser printed more than %u bytes", (unsigned)RUN_OUTPUT_MAX);
	} else if (rr.exited && rr.status == 0 && !rr.timed_out) {
		res->outcome = AAPARSER_OK;
		buf_cleanup(&res->out);
		res->out = rr.out;
		buf_init(&rr.out, RUN_OUTPUT_MAX);
		rc = 0;
	} else {
		aaparser_describe(&rr, strip_dir, tmo, res, err);
	}
	run_result_cleanup(&rr);
cleanup:
	free(argv);
	return rc;
}

int aaparser_run(const aaparser_opts *opts, aaparser_mode mode, const char *const *files, size_t n,
		 aaparser_result *res, ag_err *err)
{
	return aaparser_exec(opts, mode, files, n, NULL, res, err);
}

void aaparser_result_cleanup(aaparser_result *res)
{
	if (res)
		buf_cleanup(&res->out);
}

/* Is the name line p[0..len) one of keys? */
static bool aaparser_is_key(const char *const *keys, size_t n, const char *p, size_t len)
{
	for (size_t i = 0; i < n; i++)
		if (strlen(keys[i]) == len && memcmp(keys[i], p, len) == 0)
			return true;
	return false;
}

/* How many lines of names are exactly key. */
static size_t aaparser_count_of(const char *names, const char *key)
{
	size_t klen = strlen(key);
	size_t count = 0;

	for (const char *p = names; *p;) {
		size_t len = strcspn(p, "\n");

		if (len == klen && memcmp(p, key, len) == 0)
			count++;
		p += len;
		if (*p == '\n')
			p++;
	}
	return count;
}

/* Linear scans, no allocation: at most a few hundred keys a batch. */
int aaparser_names_check(const char *const *keys, size_t n, const char *names, ag_err *err)
{
	char shown[80];
	int count = 0;
	const char *other = NULL;
	size_t other_n = 0;

	for (const char *p = names; *p;) {
		size_t len = strcspn(p, "\n");

		if (len > 0) {
			count++;
			if (!other && !aaparser_is_key(keys, n, p, len)) {
				other = p;
				other_n = len;
			}
		}
		p += len;
		if (*p == '\n')
			p++;
	}
	profile_shown(shown, sizeof(shown), other ? other : "", other_n);
	if (n == 1 && other)
		return err_set(
			err, EINVAL,
			"%s: apparmor_parser sees profile \"%s\"; exactly one profile, \"%s\", without hats or child "
			"profiles is allowed (includes count too)",
			keys[0], shown, keys[0]);
	if (n == 1 && count != 1)
		return err_set(err, EINVAL, "%s: apparmor_parser sees %d profiles; exactly one, \"%s\", is allowed",
			       keys[0], count, keys[0]);
	if (other)
		return err_set(err, EINVAL, "apparmor_parser sees profile \"%s\", which is none of the %zu keys", shown,
			       n);
	for (size_t i = 0; i < n; i++)
		if (aaparser_count_of(names, keys[i]) != 1)
			return err_set(err, EINVAL,
				       "apparmor_parser sees profile \"%s\" %zu times; exactly once is allowed",
				       keys[i], aaparser_count_of(names, keys[i]));
	return 0;
}

/* The check of dir/fname, whose profile must be key. */
static int aaparser_check(const char *key, const char *dir, const char *fname, const aaparser_opts *opts, ag_err *err)
{
	char file[AAPARSER_PATH_MAX];
	const char *files[1] = { file };
	aaparser_result res;
	ag_err rerr;
	int rc = -1;

	if ((size_t)snprintf(file, sizeof(file), "%s/%s", dir, fname) >= sizeof(file))
		return err_set(err, ENAMETOOLONG, "%s: cannot compile-check: path too long", key);
	/* Pass 1, names only (-N: parse and includes, no DFA, a few ms): the
	 * parser itself must see exactly one profile, the key — a second line of
	 * defence behind the text rules against hats or profiles that our lexer
	 * missed or that an include brought in. Pass 2 compiles. */
	err_clear(&rerr);
	if (aaparser_exec(opts, AAPARSER_NAMES, files, 1, dir, &res, &rerr) == 0) {
		if (aaparser_names_check(&key, 1, buf_cstr(&res.out), err) != 0)
			goto cleanup;
		aaparser_result_cleanup(&res);
		(void)aaparser_exec(opts, AAPARSER_COMPILE, files, 1, dir, &res, &rerr);
	}
	switch (res.outcome) {
	case AAPARSER_OK: rc = 0; break;
	case AAPARSER_NOT_RUN: err_set(err, rerr.code, "%s: cannot compile-check: %s", key, rerr.msg); break;
	case AAPARSER_TIMED_OUT: err_set(err, rerr.code, "%s: %s; simplify the profile", key, rerr.msg); break;
	case AAPARSER_KILLED:
	case AAPARSER_FAILED: err_set(err, EINVAL, "%s: does not compile: %s", key, rerr.msg); break;
	}
cleanup:
	aaparser_result_cleanup(&res);
	return rc;
}

int aaparser_check_file(const char *key, const char *dir, const aaparser_opts *opts, ag_err *err)
{
	return aaparser_check(key, dir, key, opts, err);
}

static int aaparser_write_all(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

int aaparser_compile_check(const char *key, const char *text, size_t len, const aaparser_opts *opts, ag_err *err)
{
	const char *tmp = getenv("TMPDIR");
	char dir[256];
	char file[320];
	int fd = -1;
	int rc = -1;
	const char *shown_key;

	shown_key = key && contract_profile_name_valid(key) ? key : "profile";
	if (!key)
		key = "(no key)";
	if (!tmp || tmp[0] != '/' || strlen(tmp) > 180)
		tmp = "/tmp";
	snprintf(dir, sizeof(dir), "%s/armorgate-profile-XXXXXX", tmp);
	if (!mkdtemp(dir))
		return err_set(err, errno, "%s: cannot compile-check: mkdtemp in %s: %s", key, tmp, strerror(errno));
	/* The file is named after the key so the parser's messages read naturally
	 * once the private dir prefix is cut. */
	snprintf(file, sizeof(file), "%s/%s", dir, shown_key);
	fd = open(file, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0) {
		err_set(err, errno, "%s: cannot compile-check: %s: %s", key, file, strerror(errno));
		goto cleanup;
	}
	if (aaparser_write_all(fd, text, len) != 0 || close(fd) != 0) {
		err_set(err, errno, "%s: cannot compile-check: write %s: %s", key, file, strerror(errno));
		fd = -1;
		goto cleanup;
	}
	fd = -1;
	rc = aaparser_check(key, dir, shown_key, opts, err);
cleanup:
	if (fd >= 0)
		(void)close(fd);
	(void)unlink(file);
	(void)rmdir(dir);
	return rc;
}

/* ---- many profiles ---- */

/* Compile checks run in a few threads, one parser child each:
 * apparmor_parser is CPU-bound and single-threaded (batching files into one
 * process saves nothing: bench/agent/README.md), so the useful parallelism
 * is the number of CPUs, capped. */
#ifndef AAPARSER_JOBS
#define AAPARSER_JOBS 4
#endif

static size_t aaparser_jobs(size_t work, long cap)
{
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	size_t jobs = cpus > 0 ? (size_t)cpus : 1;

	if (jobs > AAPARSER_JOBS)
		jobs = AAPARSER_JOBS;
	if (cap > 0 && jobs > (size_t)cap)
		jobs = (size_t)cap;
	return jobs < work ? jobs : work;
}

typedef struct aaparser_pool {
	pthread_mutex_t mu;
	profile_entry *entries;
	size_t n;
	size_t next;
	const aaparser_opts *opts;
} aaparser_pool;

static void *aaparser_worker(void *arg)
{
	aaparser_pool *pool = arg;

	for (;;) {
		profile_entry *e = NULL;
		ag_err cerr;

		pthread_mutex_lock(&pool->mu);
		while (pool->next < pool->n && !pool->entries[pool->next].ok)
			pool->next++;
		if (pool->next < pool->n)
			e = &pool->entries[pool->next++];
		pthread_mutex_unlock(&pool->mu);
		if (!e)
			return NULL;
		err_clear(&cerr);
		if (aaparser_compile_check(e->key, e->text, e->len, pool->opts, &cerr) != 0) {
			e->ok = false;
			snprintf(e->message, sizeof(e->message), "%s", cerr.msg);
		}
	}
}

size_t aaparser_compile_entries(profile_entry *entries, size_t n, const aaparser_opts *opts)
{
	aaparser_pool pool;
	pthread_t th[AAPARSER_JOBS];
	size_t started = 0;
	size_t to_compile = 0;
	size_t refused = 0;
	size_t jobs;

	for (size_t i = 0; i < n; i++)
		if (entries[i].ok)
			to_compile++;
	if (to_compile == 0)
		return 0;
	jobs = aaparser_jobs(to_compile, opts ? opts->jobs : 0);
	pthread_mutex_init(&pool.mu, NULL);
	pool.entries = entries;
	pool.n = n;
	pool.next = 0;
	pool.opts = opts;
	for (size_t i = 1; i < jobs; i++) {
		if (pthread_create(&th[started], NULL, aaparser_worker, &pool) != 0)
			break;
		started++;
	}
	(void)aaparser_worker(&pool); /* this thread works too */
	for (size_t i = 0; i < started; i++)
		pthread_join(th[i], NULL);
	pthread_mutex_destroy(&pool.mu);
	for (size_t i = 0; i < n; i++)
		if (!entries[i].ok)
			refused++;
	return refused - (n - to_compile);
}
