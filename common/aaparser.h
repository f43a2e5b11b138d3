/* aaparser: the one place that runs apparmor_parser — by execve with an argv
 * array (common/run.h), a timeout, stderr reduced to its first meaningful
 * line. Used by the webhook (compile checks of a profiles ConfigMap) and the
 * agent (the same checks, then loads and removals).
 * Trust boundary: profile text and parser output are untrusted; output is
 * bounded and only quoted, sanitised, in messages. Thread-safe. */
#ifndef ARMORGATE_AAPARSER_H
#define ARMORGATE_AAPARSER_H

#include <stdbool.h>
#include <stddef.h>

#include "err.h"
#include "profile.h"

enum {
	AAPARSER_TIMEOUT_MS = 10000, /* default per parser run */
	AAPARSER_LINE_MAX = 400,     /* one reported parser line */
};

/* Where apparmor_parser is and how to call it. NULL fields = defaults
 * (PATH lookup of "apparmor_parser", no -M features file, no -b). */
typedef struct aaparser_opts {
	const char *parser_path;
	const char *features_file; /* -M FILE, optional */
	const char *base_dir;      /* -b DIR for includes, optional */
	long timeout_ms;           /* 0 = AAPARSER_TIMEOUT_MS */
} aaparser_opts;

/* apparmor_parser compile-only (-Q -K, nothing loaded) on the text. 0 when it
 * compiles; -1 with the parser's first error line (noise like "Cache
 * read/write disabled" filtered) naming the key.
 * Two parser runs on a private temp file named after the key: `-N` (names;
 * the parser must see exactly one profile, the key — catches hats/children
 * brought in by includes), then the compile. ~30 ms CPU for a profile that
 * includes abstractions/base. */
int aaparser_compile_check(const char *key, const char *text, size_t len, const aaparser_opts *opts,
			   ag_err *err) AG_WARN_UNUSED;

/* aaparser_compile_check on every entry still ok (after
 * profile_check_entries), in parallel: one thread per online CPU, at most 4.
 * A refused entry gets ok=false and its message. Returns how many it refused. */
size_t aaparser_compile_entries(profile_entry *entries, size_t n, const aaparser_opts *opts);

/* The `-N` output names must be exactly one line, the key: 0, or -1 with a
 * message naming what the parser saw. */
int aaparser_names_check(const char *key, const char *names, ag_err *err) AG_WARN_UNUSED;

#endif
