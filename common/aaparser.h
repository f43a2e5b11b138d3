/* aaparser: the one place that runs apparmor_parser — one argv builder, one
 * filter of its stderr, one check of the names it sees. Run by execve with an
 * argv array (common/run.h) and a timeout. Used by the webhook (compile checks
 * of a profiles ConfigMap) and the agent (the same checks, then loads and
 * removals: the agent decides what to run, aaparser how).
 * Trust boundary: profile text and parser output are untrusted; output is
 * bounded and only quoted, sanitised, in messages. No globals; thread-safe. */
#ifndef ARMORGATE_AAPARSER_H
#define ARMORGATE_AAPARSER_H

#include <stdbool.h>
#include <stddef.h>

#include "buf.h"
#include "err.h"
#include "profile.h"

enum {
	AAPARSER_TIMEOUT_MS = 10000, /* default per parser run */
	AAPARSER_LINE_MAX = 400,     /* one reported parser line */
};

/* Where apparmor_parser is and how to call it. Zero/NULL fields = defaults
 * (PATH lookup of "apparmor_parser", no -M features file, no -b, no cache). */
typedef struct aaparser_opts {
	const char *parser_path;
	const char *features_file; /* -M FILE, optional */
	const char *base_dir;      /* -b DIR for includes, optional */
	long timeout_ms;           /* 0 = AAPARSER_TIMEOUT_MS */
	const char *cache_dir;     /* --cache-loc for AAPARSER_COMPILE_CACHE / AAPARSER_REPLACE; NULL = none */
	long jobs;                 /* -j N (compile children per run) and concurrent compile checks; 0 = defaults */
	/* Limits of each parser process (run.h run_limits; 0 = none, the
	 * agent's case): address space in bytes, CPU seconds, added niceness. */
	unsigned long long mem_limit_bytes;
	unsigned long cpu_limit_s;
	int nice;
} aaparser_opts;

/* What one run does. Every mode passes -q; none passes -O (see aaparser.c). */
typedef enum aaparser_mode {
	AAPARSER_NAMES,         /* -Q -K -N: print the profile names, nothing compiled or loaded */
	AAPARSER_COMPILE,       /* -Q -K: compile only, nothing loaded, no cache */
	AAPARSER_COMPILE_CACHE, /* -Q --write-cache into cache_dir: compile, nothing loaded */
	AAPARSER_REPLACE,       /* --replace (and --write-cache when cache_dir is set) */
	AAPARSER_REMOVE,        /* --remove */
} aaparser_mode;

/* How a run ended. */
typedef enum aaparser_outcome {
	AAPARSER_OK,        /* exited 0 */
	AAPARSER_NOT_RUN,   /* could not be started (missing, not executable, no resources) */
	AAPARSER_TIMED_OUT, /* killed after timeout_ms */
	AAPARSER_KILLED,    /* ended by a signal */
	AAPARSER_FAILED,    /* exited non-zero */
} aaparser_outcome;

typedef struct aaparser_result {
	aaparser_outcome outcome;
	buf out; /* stdout (AAPARSER_NAMES: one name a line); aaparser_result_cleanup frees */
} aaparser_result;

/* One parser run in mode over files[0..n) (paths). 0 when it exited 0; -1
 * otherwise, res->outcome saying how and err one line: the parser's first
 * meaningful stderr line (noise such as "Cache read/write disabled" dropped),
 * else what happened (not started, timeout, signal, exit status). res is
 * always initialised; the caller calls aaparser_result_cleanup. */
int aaparser_run(const aaparser_opts *opts, aaparser_mode mode, const char *const *files, size_t n,
		 aaparser_result *res, ag_err *err) AG_WARN_UNUSED;
void aaparser_result_cleanup(aaparser_result *res);

/* The names a -N run printed (names) must be exactly keys[0..n), each once:
 * no hat, child or extra profile (includes count too). 0, or -1 with a
 * message naming what the parser saw (for n == 1, naming the key). */
int aaparser_names_check(const char *const *keys, size_t n, const char *names, ag_err *err) AG_WARN_UNUSED;

/* The webhook's compile check of the file dir/key (it must be named after
 * its key: messages then read as the key once dir is cut): a -N run whose
 * names must be exactly the key, then a compile-only run. 0, or -1 with a
 * message naming the key. */
int aaparser_check_file(const char *key, const char *dir, const aaparser_opts *opts, ag_err *err) AG_WARN_UNUSED;

/* aaparser_check_file on the text, written to a private temp file named
 * after the key. */
int aaparser_compile_check(const char *key, const char *text, size_t len, const aaparser_opts *opts,
			   ag_err *err) AG_WARN_UNUSED;

/* aaparser_compile_check on every entry still ok (after
 * profile_check_entries), in parallel: one thread per online CPU, at most 4
 * (at most opts->jobs when set).
 * A refused entry gets ok=false and its message. Returns how many it refused. */
size_t aaparser_compile_entries(profile_entry *entries, size_t n, const aaparser_opts *opts);

#endif
