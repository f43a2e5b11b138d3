/* agent_loader: the agent's loading policy on top of common/aaparser (which
 * owns running apparmor_parser). Loads are batched (one parser run for every
 * new/changed profile); when a batch fails, each profile is checked and
 * loaded alone so one bad profile cannot block the others; removals go
 * through a stub naming the profile. Nothing here decides WHAT to load: that
 * is agent_plan. No globals. */
#ifndef ARMORGATE_AGENT_LOADER_H
#define ARMORGATE_AGENT_LOADER_H

#include <stdbool.h>
#include <stddef.h>

#include "aaparser.h"
#include "agent_blobs.h"
#include "agent_host.h"
#include "agent_plan.h"
#include "err.h"

typedef struct agent_loader {
	/* parser_path, timeout_ms, jobs; cache_dir: where each batch gets a
	 * private, fresh parser cache (never read by a later batch: the parser's
	 * cache trusts mtimes); NULL = none. */
	aaparser_opts parser;
	const char *stub_dir;     /* writable dir for removal stubs */
	bool check;               /* the webhook's parser gate (names + compile) in front of the kernel */
	bool compile_only;        /* -Q -K: nothing touches the kernel (bench/tests) */
	const agent_blobs *blobs; /* binary policy store, borrowed; NULL = every load compiles */
	const agent_host *host;   /* kernel interface for loads from the store; borrowed */
} agent_loader;

typedef enum agent_load_outcome {
	AGENT_LOAD_FAILED,  /* not loaded: the parser failed or could not run */
	AGENT_LOAD_OK,      /* loaded */
	AGENT_LOAD_REFUSED, /* the pre-load gate (names/compile) refused it: a validation verdict */
} agent_load_outcome;

/* One profile to load: the file dir/key, whose profile is key. */
typedef struct agent_load_job {
	const char *key;             /* borrowed */
	const char *dir;             /* borrowed */
	agent_load_outcome outcome;  /* set by agent_loader_load */
	char message[AGENT_MSG_CAP]; /* why not loaded */
} agent_load_job;

typedef struct agent_load_stats {
	unsigned parser_runs;
	bool batch_ok;
	double seconds;
} agent_load_stats;

/* Loads every job; each job's outcome and message tell how it went.
 * First the store (blobs and host set, not compile_only): a job whose file's
 * exact text (sha256) was compiled before in this environment loads from its
 * blob, written to the kernel directly — no parser run, no check (that text
 * passed them when it was compiled). A missing, damaged or refused blob is a
 * miss. The misses take the parser path; each one that loads has its blob
 * stored from the batch's private cache (when its file did not change
 * meanwhile).
 * Parser path: with check, one `-N` over every file (the names the parser
 * sees must be exactly the keys, one each: no hat, child or extra profile,
 * included ones too); with check and a cache_dir on a real kernel, one
 * compile-only run into the batch's private cache; then the batched load,
 * which reads that cache (so a profile is compiled once, against this node's
 * kernel features). Any failure sends each profile through aaparser_check_file (the
 * webhook's own check: same verdict, same message); one refused there is
 * AGENT_LOAD_REFUSED and never loaded; the others load one by one.
 * 0 when the parser could be run (see the jobs), -1 with err when not. */
int agent_loader_load(const agent_loader *l, agent_load_job *const *jobs, size_t n, agent_load_stats *stats,
		      ag_err *err) AG_WARN_UNUSED;
/* Unloads a profile by name (apparmor_parser --remove on a stub naming it)
 * and forgets its blobs. */
int agent_loader_remove(const agent_loader *l, const char *name, ag_err *err) AG_WARN_UNUSED;
/* Picks the parser: explicit path, else /sbin or /usr/sbin, else "apparmor_parser" via PATH. */
const char *agent_loader_find_parser(const char *flag);

#endif
