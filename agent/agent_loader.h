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
#include "agent_plan.h"
#include "err.h"

typedef struct agent_loader {
	aaparser_opts parser; /* parser_path, timeout_ms, cache_dir (binary cache reused after restarts; NULL = none) */
	const char *stub_dir; /* writable dir for removal stubs */
	bool check;           /* the webhook's parser gate (names + compile) in front of the kernel */
	bool compile_only;    /* -Q -K: nothing touches the kernel (bench/tests) */
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
 * Happy path: with check, one `-N` over every file (the names the parser
 * sees must be exactly the keys, one each: no hat, child or extra profile,
 * included ones too); with check and a cache_dir on a real kernel, one
 * compile-only run into the binary cache; then the batched load, which reads
 * that cache (so a profile is compiled once, against this node's kernel
 * features). Any failure sends each profile through aaparser_check_file (the
 * webhook's own check: same verdict, same message); one refused there is
 * AGENT_LOAD_REFUSED and never loaded; the others load one by one.
 * 0 when the parser could be run (see the jobs), -1 with err when not. */
int agent_loader_load(const agent_loader *l, agent_load_job *const *jobs, size_t n, agent_load_stats *stats,
		      ag_err *err) AG_WARN_UNUSED;
/* Unloads a profile by name (apparmor_parser --remove on a stub naming it). */
int agent_loader_remove(const agent_loader *l, const char *name, ag_err *err) AG_WARN_UNUSED;
/* Picks the parser: explicit path, else /sbin or /usr/sbin, else "apparmor_parser" via PATH. */
const char *agent_loader_find_parser(const char *flag);

#endif
