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

static bool aaparser_noise(const char *line, size_t n)
{
	static const char *const noise[] = {
		"Cache read/write disabled", /* every run without AppArmor in the kernel */
		"Warning: unable to find a suitable fs",
		"Warning from",
		"Warning:",
		NULL,
	};

	if (n == 0)
		return true;
	for (size_t i = 0; noise[i]; i++)
		if (n >= strlen(noise[i]) && memcmp(line, noise[i], strlen(noise[i])) == 0)
			return true;
	return false;
}

/* The first meaningful stderr line, the temp dir prefix removed (so paths read
 * as the key), non-printables replaced. Falls back to the first noise line. */
static void aaparser_first_line(const char *errout, const char *dir, char *out, size_t outsz)
{
	const char *p = errout;
	const char *pick = NULL;
	size_t pick_n = 0;
	const char *fallback = NULL;
	size_t fallback_n = 0;
	size_t dlen = strlen(dir);
	size_t j = 0;

	while (*p) {
		size_t n = strcspn(p, "\n");

		if (!aaparser_noise(p, n)) {
			pick = p;
			pick_n = n;
			break;
		}
		if (!fallback && n > 0 && strncmp(p, "Cache read/write disabled", 25) != 0) {
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

		if (dlen && pick_n - i > dlen && memcmp(pick + i, dir, dlen) == 0 && pick[i + dlen] == '/') {
			i += dlen + 1;
			continue;
		}
		out[j++] = (c >= 0x20 && c < 0x7f) ? (char)c : '?';
		i++;
	}
	out[j] = '\0';
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

/* The `-N` output must be exactly one line, the key. */
int aaparser_names_check(const char *key, const char *names, ag_err *err)
{
	size_t klen = strlen(key);
	char shown[80];
	const char *p = names;
	int count = 0;
	const char *other = NULL;
	size_t other_n = 0;

	while (*p) {
		size_t n = strcspn(p, "\n");

		if (n > 0) {
			count++;
			if (!(n == klen && memcmp(p, key, n) == 0) && !other) {
				other = p;
				other_n = n;
			}
		}
		p += n;
		if (*p == '\n')
			p++;
	}
	if (other)
		return err_set(err, EINVAL,
			       "%s: apparmor_parser sees profile \"%s\"; exactly one profile, \"%s\", without hats or child "
			       "profiles is allowed (includes count too)",
			       key, profile_shown(shown, sizeof(shown), other, other_n), key);
	if (count != 1)
		return err_set(err, EINVAL, "%s: apparmor_parser sees %d profiles; exactly one, \"%s\", is allowed", key,
			       count, key);
	return 0;
}

int aaparser_compile_check(const char *key, const char *text, size_t len, const aaparser_opts *opts,
			  ag_err *err)
{
	static const aaparser_opts defaults = {NULL, NULL, NULL, 0};
	const char *tmp = getenv("TMPDIR");
	char dir[256];
	char file[320];
	char line[AAPARSER_LINE_MAX];
	const char *argv[12];
	size_t argc = 0;
	run_result res;
	ag_err rerr;
	int fd = -1;
	int rc = -1;
	int have_file = 0;
	int have_res = 0;
	long tmo;
	const char *shown_key;

	if (!opts)
		opts = &defaults;
	shown_key = key && contract_profile_name_valid(key) ? key : "profile";
	if (!key)
		key = "(no key)";
	tmo = opts->timeout_ms > 0 ? opts->timeout_ms : AAPARSER_TIMEOUT_MS;
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
		goto out;
	}
	have_file = 1;
	if (aaparser_write_all(fd, text, len) != 0 || close(fd) != 0) {
		err_set(err, errno, "%s: cannot compile-check: write %s: %s", key, file, strerror(errno));
		fd = -1;
		goto out;
	}
	fd = -1;

	/* Pass 1, names only (-N: parse and includes, no DFA, a few ms): the
	 * parser itself must see exactly one profile, the key — a second line of
	 * defence behind the text rules against hats or profiles that our lexer
	 * missed or that an include brought in. Pass 2 compiles. */
	for (int pass = 1; pass <= 2; pass++) {
		argc = 0;
		argv[argc++] = opts->parser_path ? opts->parser_path : "apparmor_parser";
		argv[argc++] = "-Q"; /* do not load into the kernel */
		argv[argc++] = "-K"; /* do not touch the cache */
		argv[argc++] = "-q";
		if (pass == 1)
			argv[argc++] = "-N";
		if (opts->features_file) {
			argv[argc++] = "-M";
			argv[argc++] = opts->features_file;
		}
		if (opts->base_dir) {
			argv[argc++] = "-b";
			argv[argc++] = opts->base_dir;
		}
		argv[argc++] = "--";
		argv[argc++] = file;
		argv[argc] = NULL;

		if (have_res) {
			run_result_cleanup(&res);
			have_res = 0;
		}
		err_clear(&rerr);
		if (run_program(argv, NULL, NULL, 0, tmo, &res, &rerr) != 0) {
			err_set(err, rerr.code, "%s: cannot compile-check: %s", key, rerr.msg);
			goto out;
		}
		have_res = 1;
		if (res.timed_out) {
			err_set(err, ETIMEDOUT, "%s: apparmor_parser did not finish within %ld ms; simplify the profile", key,
				tmo);
			goto out;
		}
		if (!res.exited || res.status != 0)
			break;
		if (pass == 1 && aaparser_names_check(key, buf_cstr(&res.out), err) != 0)
			goto out;
		if (pass == 2) {
			rc = 0;
			goto out;
		}
	}
	aaparser_first_line(buf_cstr(&res.errout), dir, line, sizeof(line));
	if (line[0] == '\0') {
		if (res.exited)
			snprintf(line, sizeof(line), "apparmor_parser exited with status %d", res.status);
		else
			snprintf(line, sizeof(line), "apparmor_parser killed by signal %d", res.status);
	}
	err_set(err, EINVAL, "%s: does not compile: %s", key, line);
out:
	if (fd >= 0)
		(void)close(fd);
	if (have_res)
		run_result_cleanup(&res);
	if (have_file)
		(void)unlink(file);
	(void)rmdir(dir);
	return rc;
}

/* ---- many profiles ---- */

/* Compile checks run in a few threads, one parser child each:
 * apparmor_parser is CPU-bound and single-threaded (~27 ms CPU for the seed
 * profile; batching files into one process saves nothing), so the useful
 * parallelism is the number of CPUs, capped. */
#ifndef AAPARSER_JOBS
#define AAPARSER_JOBS 4
#endif

static size_t aaparser_jobs(size_t work)
{
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	size_t jobs = cpus > 0 ? (size_t)cpus : 1;

	if (jobs > AAPARSER_JOBS)
		jobs = AAPARSER_JOBS;
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
	jobs = aaparser_jobs(to_compile);
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
