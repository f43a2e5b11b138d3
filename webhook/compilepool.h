/* compilepool: the apparmor_parser compile checks of profiles-ConfigMap
 * reviews, off the HTTPS threads. A fixed number of worker threads (one
 * parser run each at a time), a bounded number of reviews waiting or
 * compiling (more are refused at once: "compile queue full, retry"), one
 * deadline per review from the moment it is queued (a parser still running
 * then is killed and its profile refused), results kept by content hash
 * (compilecache.h) so a repeated ConfigMap costs no parser run.
 *
 * How a review uses it (server.c): the admission core runs on the HTTPS
 * thread with compilepool_compile as its compile step. Cached results are
 * applied at once; if some profile has none, the step queues nothing yet but
 * reserves a place, and compilepool_pending says so: the caller drops that
 * answer, suspends the connection (the thread serves its other connections
 * meanwhile) and calls compilepool_submit; done(ctx) runs on a worker once
 * every profile has a result, the caller resumes the connection and runs the
 * core again, whose compile step now finds every result.
 *
 * Threads: compile/pending/submit/cleanup from any thread for a given
 * compilepool_req (one at a time); done runs on a worker thread, or on the
 * submitting thread when the pool is stopped. Trust boundary: profile text is
 * untrusted; it only reaches apparmor_parser (aaparser.h), whose process is
 * limited (address space, CPU time, niceness) and killed at the deadline. */
#ifndef ARMORGATE_WEBHOOK_COMPILEPOOL_H
#define ARMORGATE_WEBHOOK_COMPILEPOOL_H

#include <stdbool.h>
#include <stddef.h>

#include "aaparser.h"
#include "err.h"
#include "metrics.h"
#include "profile.h"

enum {
	COMPILEPOOL_WORKERS = 2,       /* default parser runs at once */
	COMPILEPOOL_QUEUE = 8,         /* default reviews waiting or compiling at once */
	COMPILEPOOL_TIMEOUT_MS = 3000, /* default deadline of a review's compiles */
	COMPILEPOOL_CACHE = 256,       /* default results kept */
	COMPILEPOOL_MEMORY_MIB = 64,   /* default address-space limit of a parser */
	COMPILEPOOL_NICE = 10,         /* parsers yield the CPU to the review threads */
	/* A refusal that may depend on load (deadline, a parser killed by a
	 * signal) is kept this long: a retry later compiles again. */
	COMPILEPOOL_TRANSIENT_TTL_MS = 60000,
};

/* Metric family names (compilepool_define_metrics declares them). */
#define COMPILEPOOL_M_CACHE "armorgate_webhook_compile_cache_total"
#define COMPILEPOOL_M_RUNS "armorgate_webhook_compile_checks_total"
#define COMPILEPOOL_M_REFUSED "armorgate_webhook_compile_refusals_total"
#define COMPILEPOOL_M_QUEUE "armorgate_webhook_compile_queue"

typedef struct compilepool_opts {
	unsigned int workers;       /* >= 1; 0 = COMPILEPOOL_WORKERS */
	unsigned int queue;         /* >= 1; 0 = COMPILEPOOL_QUEUE */
	long timeout_ms;            /* > 0; 0 = COMPILEPOOL_TIMEOUT_MS */
	unsigned int cache_entries; /* 0 = no cache */
	/* Parser path, features, limits (mem_limit_bytes, nice: copied;
	 * timeout_ms and cpu_limit_s are set from the deadline per run). */
	aaparser_opts parser;
	metrics *metrics; /* borrowed, may be NULL */
} compilepool_opts;

typedef struct compilepool compilepool;
struct compilepool_batch;

/* One review's use of the pool, in the caller's memory: set cr_pool, the
 * rest zero. compilepool_req_cleanup releases it. */
typedef struct compilepool_req {
	compilepool *cr_pool;
	struct compilepool_batch *cr_batch; /* owned; NULL until a profile needs a parser run */
} compilepool_req;

/* Declares the metric families above. */
int compilepool_define_metrics(metrics *m) AG_WARN_UNUSED;

/* Starts the workers. NULL with err. */
compilepool *compilepool_start(const compilepool_opts *opts, ag_err *err);
/* Refuses what waits ("webhook stopping"), lets running parsers finish (the
 * deadline bounds them) and joins the workers: every submitted review's done
 * has run when it returns. Later reviews are refused at once. Idempotent. */
void compilepool_stop(compilepool *p);
/* After compilepool_stop, once no compilepool_req refers to p any more. */
void compilepool_free(compilepool *p);

/* admission_compile_fn (admission.h) with ctx a compilepool_req *: results
 * from the cache or from this review's finished batch; refused entries get
 * ok=false and the message. Returns how many it refused. */
size_t compilepool_compile(void *req, profile_entry *entries, size_t n);
/* The last compilepool_compile left profiles to run: submit, then run the
 * core again once done. */
bool compilepool_pending(const compilepool_req *r);
/* Queues the pending profiles; done(ctx) runs once, when all have a result. */
void compilepool_submit(compilepool_req *r, void (*done)(void *ctx), void *ctx);
void compilepool_req_cleanup(compilepool_req *r);

#endif
