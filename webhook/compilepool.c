/* compilepool: parser runs of profiles-ConfigMap reviews on a few worker
 * threads (see compilepool.h). One FIFO of jobs (one profile each) for all
 * reviews; a review's jobs share its deadline. FIFO plus one deadline length
 * bounds the wait: every job ahead of a review's was queued earlier, so it
 * ends by that review's own deadline (a job whose time is up when its turn
 * comes is refused without a run), and the review is answered by its
 * deadline plus the parser's kill grace (run.h).
 *
 * Ownership: a batch (a review's jobs) belongs to its compilepool_req; while
 * its jobs are queued or running the workers use it, and a req cleaned up
 * then (it cannot be, while its connection is suspended; defensive) leaves
 * it to the last worker to free. Job texts are copies (the review's JSON tree
 * is gone by then), freed as soon as the job has run. */
#include "compilepool.h"

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "compilecache.h"
#include "log.h"
#include "mono.h"

enum {
	COMPILEPOOL_MIN_RUN_MS = 50, /* less time left than this: refused without a run */
	COMPILEPOOL_WORKERS_MAX = 64,
};

typedef struct compilepool_job {
	unsigned char cj_hash[COMPILECACHE_HASH_LEN];
	char *cj_key;  /* owned (NULL for a result taken from the cache) */
	char *cj_text; /* owned until the job has run */
	size_t cj_len;
	bool cj_run; /* needs a parser run; else the result came from the cache */
	bool cj_done;
	bool cj_ok;
	char cj_message[AG_ERR_MSG_MAX];
	struct compilepool_batch *cj_batch;
	struct compilepool_job *cj_next; /* the pool's queue */
} compilepool_job;

typedef struct compilepool_batch {
	compilepool_job *cb_jobs; /* cb_n, owned: every profile that passed the text rules */
	size_t cb_n;
	size_t cb_left; /* jobs to run that have not finished */
	int64_t cb_deadline_ms;
	bool cb_submitted;
	bool cb_orphan; /* its req is gone: the last worker frees it */
	void (*cb_done)(void *ctx);
	void *cb_ctx;
} compilepool_batch;

struct compilepool {
	pthread_mutex_t cp_lock;
	pthread_cond_t cp_wake;
	compilepool_job *cp_head; /* FIFO of jobs to run */
	compilepool_job *cp_tail;
	pthread_t cp_threads[COMPILEPOOL_WORKERS_MAX];
	unsigned int cp_nthreads; /* started, not yet joined */
	unsigned int cp_queue;    /* --compile-queue */
	unsigned int cp_batches;  /* reviews holding a place: reserved, waiting or compiling */
	bool cp_stopping;
	long cp_timeout_ms;
	compilecache *cp_cache; /* owned, NULL = none */
	aaparser_opts cp_parser;
	metrics *cp_metrics;
};

int compilepool_define_metrics(metrics *m)
{
	if (metrics_define(m, COMPILEPOOL_M_CACHE, METRICS_COUNTER,
			   "Profiles of ConfigMap reviews whose compile result was cached (hit) or not (miss).", NULL,
			   0) ||
	    metrics_define(m, COMPILEPOOL_M_RUNS, METRICS_COUNTER,
			   "apparmor_parser compile checks by result (ok, refused, timeout, error: not run).", NULL,
			   0) ||
	    metrics_define(m, COMPILEPOOL_M_REFUSED, METRICS_COUNTER,
			   "Profiles refused without a result of their own: queue_full, deadline, stopping.", NULL,
			   0) ||
	    metrics_define(m, COMPILEPOOL_M_QUEUE, METRICS_GAUGE,
			   "Profiles-ConfigMap reviews compiling or waiting for a compile (of --compile-queue).", NULL,
			   0))
		return -1;
	metrics_add(m, COMPILEPOOL_M_CACHE, "result=\"hit\"", 0);
	metrics_add(m, COMPILEPOOL_M_CACHE, "result=\"miss\"", 0);
	metrics_add(m, COMPILEPOOL_M_REFUSED, "reason=\"queue_full\"", 0);
	metrics_add(m, COMPILEPOOL_M_REFUSED, "reason=\"deadline\"", 0);
	metrics_set(m, COMPILEPOOL_M_QUEUE, "", 0);
	return 0;
}

static void compilepool_batch_free(compilepool_batch *b)
{
	if (!b)
		return;
	for (size_t i = 0; i < b->cb_n; i++) {
		free(b->cb_jobs[i].cj_key);
		free(b->cb_jobs[i].cj_text);
	}
	free(b->cb_jobs);
	free(b);
}

static void compilepool_refuse(profile_entry *e, const char *msg)
{
	e->ok = false;
	snprintf(e->message, sizeof(e->message), "%s", msg);
}

/* The job's result text when refused for a reason of the pool's own. */
static void compilepool_job_refuse(compilepool *p, compilepool_job *j, const char *reason, const char *why)
{
	char labels[48];

	j->cj_ok = false;
	snprintf(j->cj_message, sizeof(j->cj_message), "%.253s: not compiled: %s", j->cj_key, why);
	snprintf(labels, sizeof(labels), "reason=\"%s\"", reason);
	metrics_add(p->cp_metrics, COMPILEPOOL_M_REFUSED, labels, 1);
}

/* A parser refusal that may depend on load is kept only a while. */
static int64_t compilepool_ttl(const char *msg, bool timed_out)
{
	if (timed_out || strstr(msg, "killed by signal"))
		return COMPILEPOOL_TRANSIENT_TTL_MS;
	return 0;
}

/* One parser run (no lock held): the result into j, and into the cache when
 * it says something about the profile rather than about this moment. */
static void compilepool_run(compilepool *p, compilepool_job *j, int64_t deadline_ms, bool stopping)
{
	int64_t now = mono_ms();
	long left = (long)(deadline_ms - now);
	aaparser_opts o = p->cp_parser;
	const char *result = "result=\"ok\"";
	ag_err err;

	if (stopping || left < COMPILEPOOL_MIN_RUN_MS) {
		char why[160];

		snprintf(why, sizeof(why),
			 "its turn came after the %ld ms compile deadline (--compile-timeout): other profiles were "
			 "compiling; retry",
			 p->cp_timeout_ms);
		compilepool_job_refuse(p, j, stopping ? "stopping" : "deadline",
				       stopping ? "the webhook is stopping; retry" : why);
		return;
	}
	o.timeout_ms = left;
	/* Wall time is the deadline's; CPU time is only the backstop of it. */
	o.cpu_limit_s = (unsigned long)(left / 1000 + 2);
	err_clear(&err);
	j->cj_ok = aaparser_compile_check(j->cj_key, j->cj_text, j->cj_len, &o, &err) == 0;
	if (j->cj_ok) {
		compilecache_put(p->cp_cache, j->cj_hash, true, NULL, mono_ms(), 0);
	} else if (err.code == ETIMEDOUT) {
		result = "result=\"timeout\"";
		snprintf(
			j->cj_message, sizeof(j->cj_message),
			"%.253s: not compiled within the webhook's %ld ms deadline (--compile-timeout); the parser was "
			"stopped: simplify the profile",
			j->cj_key, p->cp_timeout_ms);
		metrics_add(p->cp_metrics, COMPILEPOOL_M_REFUSED, "reason=\"deadline\"", 1);
		/* Only a run that had the whole deadline says the profile is slow. */
		if (left >= p->cp_timeout_ms - p->cp_timeout_ms / 10)
			compilecache_put(p->cp_cache, j->cj_hash, false, j->cj_message, mono_ms(),
					 compilepool_ttl(j->cj_message, true));
	} else if (err.code == EINVAL) {
		result = "result=\"refused\"";
		if (o.mem_limit_bytes && (strstr(err.msg, "bad_alloc") || strstr(err.msg, "emory")))
			snprintf(j->cj_message, sizeof(j->cj_message),
				 "%.400s (a parser may use %llu MiB, "
				 "--compile-memory-limit)",
				 err.msg, o.mem_limit_bytes >> 20);
		else
			snprintf(j->cj_message, sizeof(j->cj_message), "%s", err.msg);
		compilecache_put(p->cp_cache, j->cj_hash, false, j->cj_message, mono_ms(),
				 compilepool_ttl(j->cj_message, false));
	} else {
		/* Not run (no parser, no resources): says nothing about the profile. */
		result = "result=\"error\"";
		snprintf(j->cj_message, sizeof(j->cj_message), "%s", err.msg);
		log_kv(LOG_LVL_WARN, "compile check not run", "error", err.msg, (char *)NULL);
	}
	metrics_add(p->cp_metrics, COMPILEPOOL_M_RUNS, result, 1);
}

/* A job finished (lock held): the batch's last one releases its place and
 * returns the batch when its done is to be called (after unlocking). */
static compilepool_batch *compilepool_finish(compilepool *p, compilepool_job *j, compilepool_batch **orphan)
{
	compilepool_batch *b = j->cj_batch;

	j->cj_done = true;
	free(j->cj_text);
	j->cj_text = NULL;
	if (--b->cb_left > 0)
		return NULL;
	p->cp_batches--;
	metrics_set(p->cp_metrics, COMPILEPOOL_M_QUEUE, "", p->cp_batches);
	if (b->cb_orphan) {
		*orphan = b;
		return NULL;
	}
	return b;
}

static void *compilepool_worker(void *arg)
{
	compilepool *p = arg;

	pthread_mutex_lock(&p->cp_lock);
	for (;;) {
		compilepool_job *j;
		compilepool_batch *fire;
		compilepool_batch *orphan = NULL;
		bool stopping;
		int64_t deadline;

		while (!p->cp_head && !p->cp_stopping)
			pthread_cond_wait(&p->cp_wake, &p->cp_lock);
		j = p->cp_head;
		if (!j)
			break; /* stopping, nothing left */
		p->cp_head = j->cj_next;
		if (!p->cp_head)
			p->cp_tail = NULL;
		stopping = p->cp_stopping;
		deadline = j->cj_batch->cb_deadline_ms;
		pthread_mutex_unlock(&p->cp_lock);
		compilepool_run(p, j, deadline, stopping);
		pthread_mutex_lock(&p->cp_lock);
		fire = compilepool_finish(p, j, &orphan);
		if (fire || orphan) {
			pthread_mutex_unlock(&p->cp_lock);
			/* After done the batch is its owner's again: not touched here. */
			if (fire)
				fire->cb_done(fire->cb_ctx);
			compilepool_batch_free(orphan);
			pthread_mutex_lock(&p->cp_lock);
		}
	}
	pthread_mutex_unlock(&p->cp_lock);
	return NULL;
}

compilepool *compilepool_start(const compilepool_opts *opts, ag_err *err)
{
	compilepool *p = calloc(1, sizeof(*p));
	unsigned int workers = opts->workers ? opts->workers : COMPILEPOOL_WORKERS;

	if (!p)
		return err_set(err, ENOMEM, "compile pool: out of memory"), NULL;
	if (workers > COMPILEPOOL_WORKERS_MAX)
		workers = COMPILEPOOL_WORKERS_MAX;
	p->cp_queue = opts->queue ? opts->queue : COMPILEPOOL_QUEUE;
	p->cp_timeout_ms = opts->timeout_ms > 0 ? opts->timeout_ms : COMPILEPOOL_TIMEOUT_MS;
	p->cp_parser = opts->parser;
	p->cp_metrics = opts->metrics;
	if (opts->cache_entries) {
		p->cp_cache = compilecache_new(opts->cache_entries);
		if (!p->cp_cache) {
			free(p);
			return err_set(err, ENOMEM, "compile pool: out of memory"), NULL;
		}
	}
	pthread_mutex_init(&p->cp_lock, NULL);
	pthread_cond_init(&p->cp_wake, NULL);
	for (unsigned int i = 0; i < workers; i++) {
		int rc = pthread_create(&p->cp_threads[i], NULL, compilepool_worker, p);

		if (rc != 0) {
			err_set(err, rc, "compile pool: cannot start worker %u: %s", i + 1, strerror(rc));
			compilepool_stop(p);
			compilepool_free(p);
			return NULL;
		}
		p->cp_nthreads++;
	}
	return p;
}

void compilepool_stop(compilepool *p)
{
	if (!p)
		return;
	pthread_mutex_lock(&p->cp_lock);
	p->cp_stopping = true;
	pthread_cond_broadcast(&p->cp_wake);
	pthread_mutex_unlock(&p->cp_lock);
	for (unsigned int i = 0; i < p->cp_nthreads; i++)
		pthread_join(p->cp_threads[i], NULL);
	p->cp_nthreads = 0;
}

void compilepool_free(compilepool *p)
{
	if (!p)
		return;
	pthread_mutex_destroy(&p->cp_lock);
	pthread_cond_destroy(&p->cp_wake);
	compilecache_free(p->cp_cache);
	free(p);
}

/* Pass 2: the results of this review's own batch (a cache entry may have
 * been evicted since). */
static size_t compilepool_apply(const compilepool_batch *b, profile_entry *entries, size_t n)
{
	size_t refused = 0;

	for (size_t i = 0; i < n; i++) {
		unsigned char h[COMPILECACHE_HASH_LEN];
		const compilepool_job *j = NULL;

		if (!entries[i].ok)
			continue;
		compilecache_hash(entries[i].key, entries[i].text, entries[i].len, h);
		for (size_t k = 0; k < b->cb_n && !j; k++)
			if (memcmp(b->cb_jobs[k].cj_hash, h, sizeof(h)) == 0)
				j = &b->cb_jobs[k];
		if (!j || !j->cj_done)
			compilepool_refuse(&entries[i], "not compiled: the review changed while compiling; retry");
		else if (!j->cj_ok)
			compilepool_refuse(&entries[i], j->cj_message);
		refused += !entries[i].ok;
	}
	return refused;
}

/* A place for one more review, or false (queue full, stopping). */
static bool compilepool_reserve(compilepool *p, bool *stopping)
{
	bool ok;

	pthread_mutex_lock(&p->cp_lock);
	*stopping = p->cp_stopping;
	ok = !p->cp_stopping && p->cp_batches < p->cp_queue;
	if (ok)
		p->cp_batches++;
	metrics_set(p->cp_metrics, COMPILEPOOL_M_QUEUE, "", p->cp_batches);
	pthread_mutex_unlock(&p->cp_lock);
	return ok;
}

/* The batch of pass 1: every entry still ok, misses with copies to run. */
static compilepool_batch *compilepool_batch_new(profile_entry *entries, size_t n, const bool *hit,
						const unsigned char (*h)[COMPILECACHE_HASH_LEN])
{
	compilepool_batch *b = calloc(1, sizeof(*b));

	if (!b || !(b->cb_jobs = calloc(n, sizeof(*b->cb_jobs)))) {
		free(b);
		return NULL;
	}
	for (size_t i = 0; i < n; i++) {
		compilepool_job *j = &b->cb_jobs[b->cb_n];

		if (!entries[i].ok && !hit[i])
			continue;
		b->cb_n++;
		memcpy(j->cj_hash, h[i], COMPILECACHE_HASH_LEN);
		j->cj_batch = b;
		if (hit[i]) {
			j->cj_done = true;
			j->cj_ok = entries[i].ok;
			snprintf(j->cj_message, sizeof(j->cj_message), "%s", entries[i].message);
			continue;
		}
		j->cj_key = strdup(entries[i].key);
		j->cj_text = malloc(entries[i].len + 1);
		if (!j->cj_key || !j->cj_text) {
			compilepool_batch_free(b);
			return NULL;
		}
		memcpy(j->cj_text, entries[i].text, entries[i].len);
		j->cj_text[entries[i].len] = '\0';
		j->cj_len = entries[i].len;
		j->cj_run = true;
		b->cb_left++;
		/* This answer is dropped; the one after the run counts. */
		compilepool_refuse(&entries[i], "compile pending");
	}
	return b;
}

/* Misses that cannot be queued are refused here, fail closed. */
static void compilepool_refuse_misses(compilepool *p, profile_entry *entries, size_t n, const bool *hit, bool stopping)
{
	char msg[AG_ERR_MSG_MAX];

	for (size_t i = 0; i < n; i++) {
		if (!entries[i].ok || hit[i])
			continue;
		if (stopping)
			snprintf(msg, sizeof(msg), "%.253s: not compiled: the webhook is stopping; retry",
				 entries[i].key);
		else
			snprintf(msg, sizeof(msg),
				 "%.253s: not compiled: compile queue full (%u ConfigMap reviews compiling or waiting, "
				 "--compile-queue); retry",
				 entries[i].key, p->cp_queue);
		compilepool_refuse(&entries[i], msg);
		metrics_add(p->cp_metrics, COMPILEPOOL_M_REFUSED,
			    stopping ? "reason=\"stopping\"" : "reason=\"queue_full\"", 1);
	}
}

size_t compilepool_compile(void *req, profile_entry *entries, size_t n)
{
	compilepool_req *r = req;
	compilepool *p = r->cr_pool;
	unsigned char(*h)[COMPILECACHE_HASH_LEN] = NULL;
	bool *hit = NULL;
	size_t misses = 0;
	size_t refused = 0;
	bool stopping = false;

	if (r->cr_batch)
		return compilepool_apply(r->cr_batch, entries, n);
	h = calloc(n ? n : 1, sizeof(*h));
	hit = calloc(n ? n : 1, sizeof(*hit));
	for (size_t i = 0; i < n; i++) {
		if (!entries[i].ok)
			continue;
		if (!h || !hit || !p) {
			compilepool_refuse(&entries[i], "not compiled: out of memory");
			continue;
		}
		compilecache_hash(entries[i].key, entries[i].text, entries[i].len, h[i]);
		hit[i] = compilecache_get(p->cp_cache, h[i], mono_ms(), &entries[i].ok, entries[i].message,
					  sizeof(entries[i].message));
		metrics_add(p->cp_metrics, COMPILEPOOL_M_CACHE, hit[i] ? "result=\"hit\"" : "result=\"miss\"", 1);
		misses += !hit[i];
	}
	if (misses && !compilepool_reserve(p, &stopping)) {
		compilepool_refuse_misses(p, entries, n, hit, stopping);
	} else if (misses) {
		r->cr_batch = compilepool_batch_new(entries, n, hit, (const unsigned char(*)[COMPILECACHE_HASH_LEN])h);
		if (!r->cr_batch) {
			/* The place back; fail closed. */
			pthread_mutex_lock(&p->cp_lock);
			p->cp_batches--;
			pthread_mutex_unlock(&p->cp_lock);
			for (size_t i = 0; i < n; i++)
				if (entries[i].ok && !hit[i])
					compilepool_refuse(&entries[i], "not compiled: out of memory");
		}
	}
	for (size_t i = 0; i < n; i++)
		refused += !entries[i].ok;
	free(h);
	free(hit);
	return refused;
}

bool compilepool_pending(const compilepool_req *r)
{
	return r->cr_batch && !r->cr_batch->cb_submitted;
}

void compilepool_submit(compilepool_req *r, void (*done)(void *ctx), void *ctx)
{
	compilepool *p = r->cr_pool;
	compilepool_batch *b = r->cr_batch;
	bool fire;

	pthread_mutex_lock(&p->cp_lock);
	b->cb_submitted = true;
	b->cb_done = done;
	b->cb_ctx = ctx;
	b->cb_deadline_ms = mono_ms() + p->cp_timeout_ms;
	for (size_t i = 0; i < b->cb_n; i++) {
		compilepool_job *j = &b->cb_jobs[i];

		if (!j->cj_run)
			continue;
		if (p->cp_stopping) {
			/* The workers may be gone already: nobody would take it. */
			compilepool_job_refuse(p, j, "stopping", "the webhook is stopping; retry");
			j->cj_done = true;
			b->cb_left--;
			continue;
		}
		j->cj_next = NULL;
		if (p->cp_tail)
			p->cp_tail->cj_next = j;
		else
			p->cp_head = j;
		p->cp_tail = j;
	}
	fire = b->cb_left == 0;
	if (fire) {
		p->cp_batches--;
		metrics_set(p->cp_metrics, COMPILEPOOL_M_QUEUE, "", p->cp_batches);
	}
	pthread_cond_broadcast(&p->cp_wake);
	pthread_mutex_unlock(&p->cp_lock);
	if (fire)
		done(ctx);
}

void compilepool_req_cleanup(compilepool_req *r)
{
	compilepool_batch *b = r->cr_batch;

	if (!b)
		return;
	r->cr_batch = NULL;
	pthread_mutex_lock(&r->cr_pool->cp_lock);
	if (!b->cb_submitted) {
		r->cr_pool->cp_batches--; /* the place reserved in pass 1 */
		metrics_set(r->cr_pool->cp_metrics, COMPILEPOOL_M_QUEUE, "", r->cr_pool->cp_batches);
	} else if (b->cb_left > 0) {
		b->cb_orphan = true;
		b = NULL;
	}
	pthread_mutex_unlock(&r->cr_pool->cp_lock);
	compilepool_batch_free(b);
}
