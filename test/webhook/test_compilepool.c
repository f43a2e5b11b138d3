/* Unit tests of the webhook's compile pool and result cache (webhook/
 * compilepool.c, compilecache.c) and of the parser limits (run.h
 * run_program_limited). The pool runs test/webhook/fake-slow-parser (a
 * MOCK: SLOW profiles sleep until killed, BROKEN ones fail) copied into a
 * scratch bin/ directory, where it also logs its runs. */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "compilecache.h"
#include "compilepool.h"
#include "run.h"
#include "test_util.h"

/* ---- the cache ---- */

static void hash_of(const char *key, const char *text, unsigned char h[COMPILECACHE_HASH_LEN])
{
	compilecache_hash(key, text, strlen(text), h);
}

Test(compilecache, key_is_part_of_the_hash)
{
	unsigned char a[COMPILECACHE_HASH_LEN];
	unsigned char b[COMPILECACHE_HASH_LEN];
	unsigned char c[COMPILECACHE_HASH_LEN];

	hash_of("custom.a", "profile x {}", a);
	hash_of("custom.b", "profile x {}", b);
	hash_of("custom.a", "profile x {}", c);
	cr_assert_neq(memcmp(a, b, sizeof(a)), 0);
	cr_assert_eq(memcmp(a, c, sizeof(a)), 0);
	/* "ab" + "c" is not "a" + "bc": the NUL separates key and text. */
	hash_of("ab", "c", a);
	hash_of("a", "bc", b);
	cr_assert_neq(memcmp(a, b, sizeof(a)), 0);
}

Test(compilecache, ok_and_refused_results)
{
	compilecache *c = compilecache_new(4);
	unsigned char a[COMPILECACHE_HASH_LEN];
	unsigned char b[COMPILECACHE_HASH_LEN];
	char msg[64] = "x";
	bool ok = false;

	cr_assert(c);
	hash_of("custom.a", "A", a);
	hash_of("custom.b", "B", b);
	cr_assert_not(compilecache_get(c, a, 0, &ok, msg, sizeof(msg)));
	compilecache_put(c, a, true, NULL, 0, 0);
	compilecache_put(c, b, false, "custom.b: does not compile", 0, 0);
	cr_assert(compilecache_get(c, a, 0, &ok, msg, sizeof(msg)));
	cr_assert(ok);
	cr_assert_str_eq(msg, "");
	cr_assert(compilecache_get(c, b, 0, &ok, msg, sizeof(msg)));
	cr_assert_not(ok);
	cr_assert_str_eq(msg, "custom.b: does not compile");
	/* Replaced, not added twice. */
	compilecache_put(c, b, true, NULL, 0, 0);
	cr_assert_eq(compilecache_size(c), 2);
	compilecache_free(c);
}

Test(compilecache, least_recently_used_goes_first)
{
	compilecache *c = compilecache_new(2);
	unsigned char a[COMPILECACHE_HASH_LEN];
	unsigned char b[COMPILECACHE_HASH_LEN];
	unsigned char d[COMPILECACHE_HASH_LEN];
	bool ok;

	hash_of("custom.a", "A", a);
	hash_of("custom.b", "B", b);
	hash_of("custom.d", "D", d);
	compilecache_put(c, a, true, NULL, 0, 0);
	compilecache_put(c, b, true, NULL, 0, 0);
	cr_assert(compilecache_get(c, a, 0, &ok, NULL, 0)); /* a is now the recent one */
	compilecache_put(c, d, true, NULL, 0, 0);
	cr_assert_eq(compilecache_size(c), 2);
	cr_assert(compilecache_get(c, a, 0, &ok, NULL, 0));
	cr_assert(compilecache_get(c, d, 0, &ok, NULL, 0));
	cr_assert_not(compilecache_get(c, b, 0, &ok, NULL, 0));
	compilecache_free(c);
}

Test(compilecache, transient_results_expire)
{
	compilecache *c = compilecache_new(2);
	unsigned char a[COMPILECACHE_HASH_LEN];
	unsigned char b[COMPILECACHE_HASH_LEN];
	unsigned char d[COMPILECACHE_HASH_LEN];
	bool ok;

	hash_of("custom.a", "A", a);
	hash_of("custom.b", "B", b);
	hash_of("custom.d", "D", d);
	compilecache_put(c, a, false, "timed out", 1000, 500);
	compilecache_put(c, b, true, NULL, 1000, 0);
	cr_assert(compilecache_get(c, a, 1499, &ok, NULL, 0));
	cr_assert_not(compilecache_get(c, a, 1500, &ok, NULL, 0));
	/* The expired entry's slot is taken before the least recently used one. */
	cr_assert(compilecache_get(c, a, 1000, &ok, NULL, 0));
	compilecache_put(c, d, true, NULL, 2000, 0);
	cr_assert(compilecache_get(c, b, 2000, &ok, NULL, 0));
	cr_assert(compilecache_get(c, d, 2000, &ok, NULL, 0));
	compilecache_free(c);
}

/* ---- parser limits ---- */

/* The shell's `ulimit` text for this process's soft limit of r, in units. */
static const char *limit_text(int r, rlim_t unit, char out[32])
{
	struct rlimit rl;

	cr_assert_eq(getrlimit(r, &rl), 0);
	if (rl.rlim_cur == RLIM_INFINITY)
		return "unlimited";
	snprintf(out, 32, "%llu", (unsigned long long)(rl.rlim_cur / unit));
	return out;
}

/* Under valgrind the forked child runs inside valgrind until its execve,
 * and valgrind (over 100 MB mapped) cannot live in the child's RLIMIT_AS:
 * the memcheck twin skips the two tests that set it (the plain run and the
 * webhook_compile test cover them). */
static bool under_valgrind(void)
{
	const char *pre = getenv("LD_PRELOAD");

	return pre && strstr(pre, "vgpreload");
}

Test(run_limits, set_in_the_child_only)
{
	if (under_valgrind())
		cr_skip_test("RLIMIT_AS in a child forked under valgrind");
	const char *argv[] = { "sh", "-c", "echo $(ulimit -v) $(ulimit -t) $(nice)", NULL };
	run_limits lim = { .rl_as_bytes = 64ull << 20, .rl_cpu_s = 3, .rl_nice = 5 };
	run_result res;
	ag_err err;
	char want[96];
	char as[32];
	char cpu[32];

	err_clear(&err);
	cr_assert_eq(run_program_limited(argv, NULL, NULL, 0, 5000, &lim, &res, &err), 0, "%s", err.msg);
	snprintf(want, sizeof(want), "65536 3 %d\n", nice(0) + 5);
	cr_assert_str_eq(buf_cstr(&res.out), want);
	run_result_cleanup(&res);
	/* No limits: what the parent has. */
	cr_assert_eq(run_program_limited(argv, NULL, NULL, 0, 5000, NULL, &res, &err), 0, "%s", err.msg);
	snprintf(want, sizeof(want), "%s %s %d\n", limit_text(RLIMIT_AS, 1024, as), limit_text(RLIMIT_CPU, 1, cpu),
		 nice(0));
	cr_assert_str_eq(buf_cstr(&res.out), want);
	run_result_cleanup(&res);
}

Test(run_limits, address_space_limit_stops_allocations)
{
	if (under_valgrind())
		cr_skip_test("RLIMIT_AS in a child forked under valgrind");
	/* 32 MiB of address space: a 64 MiB allocation fails in the child. */
	const char *argv[] = { "python3", "-c", "b = bytearray(64 << 20)", NULL };
	run_limits lim = { .rl_as_bytes = 32ull << 20 };
	run_result res;
	ag_err err;

	err_clear(&err);
	cr_assert_eq(run_program_limited(argv, NULL, NULL, 0, 10000, &lim, &res, &err), 0, "%s", err.msg);
	cr_assert_neq(res.exited && res.status == 0, 1, "the allocation succeeded under a 32 MiB limit");
	run_result_cleanup(&res);
}

/* ---- the pool, with the fake parser ---- */

static char scratch[256];
static char parser[300];

static void scratch_path(char *out, size_t cap, const char *name)
{
	snprintf(out, cap, "%s/%s", scratch, name);
}

static void pool_setup(void)
{
	const char *src = getenv("ARMORGATE_SOURCE_DIR");
	char path[512];
	char *text;
	size_t len;
	FILE *f;

	cr_assert(src, "ARMORGATE_SOURCE_DIR unset");
	snprintf(scratch, sizeof(scratch), "/tmp/armorgate-compilepool-XXXXXX");
	cr_assert(mkdtemp(scratch));
	scratch_path(path, sizeof(path), "bin");
	cr_assert_eq(mkdir(path, 0700), 0);
	snprintf(parser, sizeof(parser), "%s/bin/apparmor_parser", scratch);
	snprintf(path, sizeof(path), "%s/test/webhook/fake-slow-parser", src);
	text = test_read_file(path, &len);
	f = fopen(parser, "w");
	cr_assert(f);
	cr_assert_eq(fwrite(text, 1, len, f), len);
	cr_assert_eq(fclose(f), 0);
	cr_assert_eq(chmod(parser, 0700), 0);
	free(text);
}

static void pool_teardown(void)
{
	static const char *const files[] = { "bin/apparmor_parser", "runs", "slow.pid", "bin" };
	char path[512];

	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		scratch_path(path, sizeof(path), files[i]);
		(void)remove(path);
	}
	(void)rmdir(scratch);
}

static int parser_runs(void)
{
	char path[300];
	FILE *f;
	int n = 0;
	int c;

	snprintf(path, sizeof(path), "%s/runs", scratch);
	f = fopen(path, "r");
	if (!f)
		return 0;
	while ((c = fgetc(f)) != EOF)
		n += c == '\n';
	fclose(f);
	return n;
}

static compilepool *pool_new(unsigned int queue, long timeout_ms)
{
	compilepool_opts o = { .workers = 2, .queue = queue, .timeout_ms = timeout_ms, .cache_entries = 16 };
	ag_err err;
	compilepool *p;

	o.parser.parser_path = parser;
	err_clear(&err);
	p = compilepool_start(&o, &err);
	cr_assert(p, "%s", err.msg);
	return p;
}

typedef struct waiter {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int done;
} waiter;

static void waiter_done(void *ctx)
{
	waiter *w = ctx;

	pthread_mutex_lock(&w->mu);
	w->done++;
	pthread_cond_signal(&w->cv);
	pthread_mutex_unlock(&w->mu);
}

static void waiter_wait(waiter *w)
{
	pthread_mutex_lock(&w->mu);
	while (!w->done)
		pthread_cond_wait(&w->cv, &w->mu);
	pthread_mutex_unlock(&w->mu);
}

/* Profile entries as the admission core passes them: every one ok so far. */
static void entries_of(profile_entry *e, size_t n, const char *const *kv)
{
	memset(e, 0, n * sizeof(*e));
	for (size_t i = 0; i < n; i++) {
		e[i].key = kv[2 * i];
		e[i].text = kv[2 * i + 1];
		e[i].len = strlen(kv[2 * i + 1]);
		e[i].ok = true;
	}
}

/* Both passes of a review as server.c runs them; returns refusals. */
static size_t review(compilepool *p, profile_entry *e, size_t n, const char *const *kv)
{
	compilepool_req r = { .cr_pool = p };
	waiter w = { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0 };
	size_t refused;

	entries_of(e, n, kv);
	refused = compilepool_compile(&r, e, n);
	if (compilepool_pending(&r)) {
		compilepool_submit(&r, waiter_done, &w);
		waiter_wait(&w);
		cr_assert_eq(w.done, 1);
		entries_of(e, n, kv);
		refused = compilepool_compile(&r, e, n);
		cr_assert_not(compilepool_pending(&r));
	}
	compilepool_req_cleanup(&r);
	return refused;
}

static const char *const good[] = { "custom.a", "profile custom.a { # fine\n}\n", "custom.b",
				    "profile custom.b { # BROKEN\n}\n" };

Test(compilepool, results_then_cache, .init = pool_setup, .fini = pool_teardown)
{
	compilepool *p = pool_new(4, 5000);
	profile_entry e[2];

	cr_assert_eq(review(p, e, 2, good), 1);
	cr_assert(e[0].ok);
	cr_assert_not(e[1].ok);
	cr_assert(strstr(e[1].message, "custom.b: does not compile: AppArmor parser error"), "%s", e[1].message);
	cr_assert_eq(parser_runs(), 4); /* -N and compile for a, -N and compile for b */
	/* Again: both from the cache, no pass 2, no run. */
	cr_assert_eq(review(p, e, 2, good), 1);
	cr_assert(e[0].ok);
	cr_assert(strstr(e[1].message, "does not compile"));
	cr_assert_eq(parser_runs(), 4);
	compilepool_stop(p);
	compilepool_free(p);
}

static const char *const slow[] = { "custom.s", "profile custom.s { # SLOW\n}\n" };
static const char *const slow2[] = { "custom.t", "profile custom.t { # SLOW\n}\n" };

Test(compilepool, deadline_refuses_and_is_cached, .init = pool_setup, .fini = pool_teardown)
{
	compilepool *p = pool_new(4, 400);
	profile_entry e[1];
	int runs;

	cr_assert_eq(review(p, e, 1, slow), 1);
	cr_assert(strstr(e[0].message, "custom.s: not compiled within the webhook's 400 ms deadline"), "%s",
		  e[0].message);
	runs = parser_runs();
	cr_assert_eq(review(p, e, 1, slow), 1);
	cr_assert(strstr(e[0].message, "400 ms deadline"));
	cr_assert_eq(parser_runs(), runs);
	compilepool_stop(p);
	compilepool_free(p);
}

Test(compilepool, queue_full_and_place_given_back, .init = pool_setup, .fini = pool_teardown)
{
	compilepool *p = pool_new(1, 5000);
	compilepool_req r1 = { .cr_pool = p };
	compilepool_req r2 = { .cr_pool = p };
	profile_entry e[1];

	entries_of(e, 1, slow);
	cr_assert_eq(compilepool_compile(&r1, e, 1), 1);
	cr_assert(compilepool_pending(&r1));
	entries_of(e, 1, slow2);
	cr_assert_eq(compilepool_compile(&r2, e, 1), 1);
	cr_assert_not(compilepool_pending(&r2));
	cr_assert(strstr(e[0].message, "custom.t: not compiled: compile queue full"), "%s", e[0].message);
	/* Never submitted (the connection went away): its place comes back. */
	compilepool_req_cleanup(&r1);
	entries_of(e, 1, slow2);
	(void)compilepool_compile(&r2, e, 1);
	cr_assert(compilepool_pending(&r2));
	compilepool_req_cleanup(&r2);
	cr_assert_eq(parser_runs(), 0);
	compilepool_stop(p);
	compilepool_free(p);
}

Test(compilepool, stop_answers_every_review, .init = pool_setup, .fini = pool_teardown)
{
	compilepool *p = pool_new(4, 1000);
	compilepool_req r = { .cr_pool = p };
	compilepool_req late = { .cr_pool = p };
	waiter w = { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0 };
	waiter wl = { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0 };
	profile_entry e[1];
	char pid[512];

	entries_of(e, 1, slow);
	(void)compilepool_compile(&r, e, 1);
	compilepool_submit(&r, waiter_done, &w);
	entries_of(e, 1, slow2);
	(void)compilepool_compile(&late, e, 1);
	cr_assert(compilepool_pending(&late));
	scratch_path(pid, sizeof(pid), "slow.pid");
	for (int i = 0; i < 500 && access(pid, F_OK) != 0; i++)
		usleep(10000);
	cr_assert_eq(access(pid, F_OK), 0, "the slow parser did not start");
	compilepool_stop(p); /* the running parser ends at its deadline */
	cr_assert_eq(w.done, 1);
	entries_of(e, 1, slow);
	cr_assert_eq(compilepool_compile(&r, e, 1), 1);
	cr_assert(strstr(e[0].message, "1000 ms deadline"), "%s", e[0].message);
	/* Submitted after the stop: answered at once, refused. */
	compilepool_submit(&late, waiter_done, &wl);
	cr_assert_eq(wl.done, 1);
	entries_of(e, 1, slow2);
	cr_assert_eq(compilepool_compile(&late, e, 1), 1);
	cr_assert(strstr(e[0].message, "stopping"), "%s", e[0].message);
	compilepool_req_cleanup(&r);
	compilepool_req_cleanup(&late);
	compilepool_free(p);
}
