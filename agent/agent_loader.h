/* agent_loader: puts profiles into the kernel and takes them out, through
 * apparmor_parser run by execve (common/run.h) with a timeout and stderr
 * captured. Loads are batched (one parser run for every new/changed
 * profile); when a batch fails, each profile is retried alone so one bad
 * profile cannot block the others. Nothing here decides WHAT to load: that
 * is agent_plan. Trust boundary: parser output is bounded and only quoted in
 * messages. */
#ifndef ARMORGATE_AGENT_LOADER_H
#define ARMORGATE_AGENT_LOADER_H

#include <stdbool.h>
#include <stddef.h>

#include "agent_plan.h"
#include "err.h"
#include "aaparser.h"

typedef struct agent_loader {
	const char *parser;     /* path or name found in PATH */
	long timeout_ms;        /* per parser run */
	const char *cache_dir;  /* --cache-loc (binary cache reused after restarts); NULL = none */
	const char *stub_dir;   /* writable dir for removal stubs */
	bool compile_only;      /* -Q -K: nothing touches the kernel (bench/tests) */
} agent_loader;

typedef struct agent_load_result {
	bool ok;
	bool refused; /* failed the pre-load gate (names/compile): a validation refusal, not a load failure */
	char message[AGENT_MSG_CAP];
} agent_load_result;

typedef struct agent_load_stats {
	unsigned parser_runs;
	bool batch_ok;
	double seconds;
} agent_load_stats;

/* Loads files[0..n) (full paths). res[i] tells each one's outcome. Returns 0
 * when the parser could be run at all (see res), -1 with err otherwise. */
int agent_loader_load(const agent_loader *l, const char *const *files, size_t n, agent_load_result *res,
		      agent_load_stats *stats, ag_err *err) AG_WARN_UNUSED;
/* Like agent_loader_load, with the webhook's parser gate in front of the
 * kernel (popts non-NULL; keys/texts/lens parallel to files): the load run
 * itself is the compile check (against this node's kernel features), so a
 * profile is compiled once, not once to validate and again to load.
 * Happy path: one `-N` over every file (the names the parser sees must be
 * exactly the keys, one each: no hat, child or extra profile, included ones
 * too); with a cache_dir on a real kernel, one compile-only run
 * (`-Q --write-cache`, nothing loaded) into the binary cache; then the
 * batched load, which reads that cache. Any failure sends each
 * profile through aaparser_compile_check (common/profile, the webhook's own
 * per-profile check: same verdict, same message); one refused there gets
 * res[i].refused and is never loaded; the others load one by one. */
int agent_loader_load_checked(const agent_loader *l, const char *const *files, const char *const *keys,
			      const char *const *texts, const size_t *lens, size_t n, const aaparser_opts *popts,
			      agent_load_result *res, agent_load_stats *stats, ag_err *err) AG_WARN_UNUSED;
/* One parser run over all files with no per-file fallback (the bench's
 * "batched" vs "one by one" comparison uses this). */
int agent_loader_run(const agent_loader *l, const char *const *files, size_t n, char *msg, size_t cap) AG_WARN_UNUSED;
/* Unloads a profile by name (apparmor_parser -R on a stub naming it). */
int agent_loader_remove(const agent_loader *l, const char *name, ag_err *err) AG_WARN_UNUSED;
/* Picks the parser: explicit path, else /sbin or /usr/sbin, else "apparmor_parser" via PATH. */
const char *agent_loader_find_parser(const char *flag);

#endif
