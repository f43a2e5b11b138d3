/* profile: the profile rules of DESIGN.md, one implementation for the webhook
 * (ConfigMap admission) and the agent (before loading). Pure: no I/O except
 * profile_compile_check, which runs apparmor_parser compile-only. */
#ifndef ARMORGATE_PROFILE_H
#define ARMORGATE_PROFILE_H

#include <stdbool.h>
#include <stddef.h>

#include "err.h"

enum {
	PROFILE_NAME_MAX = 63,
	PROFILE_DEFAULT_MAX_BYTES = 256 * 1024,
	PROFILE_DEFAULT_MAX_COUNT = 200,
	PROFILE_PARSER_TIMEOUT_MS = 10000,
};

#define PROFILE_PREFIX "custom."
#define PROFILE_LABEL_PREFIX "profiles.armorgate.io/"

/* Does name match ^custom\.[a-z0-9]([-a-z0-9._]*[a-z0-9])?$ and fit in 63 chars? */
bool profile_name_valid(const char *name);

/* Checks the text rules for one profile: size, exactly one top-level
 * `profile <key> [flags=(...)] {` named like the key, no hats/child
 * profiles, includes only <...> or `include if exists <...>`.
 * Also refused: an attachment path in the header, include paths with a ".."
 * component, NUL bytes. max_bytes 0 = PROFILE_DEFAULT_MAX_BYTES.
 * 0 when fine; -1 with a message naming the key and the rule. */
int profile_check_text(const char *key, const char *text, size_t len, size_t max_bytes, ag_err *err) AG_WARN_UNUSED;

/* Where apparmor_parser is and how to call it. NULL fields = defaults
 * (PATH lookup of "apparmor_parser", no -M features file). */
typedef struct profile_parser_opts {
	const char *parser_path;
	const char *features_file; /* -M FILE, optional */
	const char *base_dir;      /* -b DIR for includes, optional */
	long timeout_ms;           /* 0 = PROFILE_PARSER_TIMEOUT_MS */
} profile_parser_opts;

/* apparmor_parser compile-only (-Q -K, nothing loaded) on the text. 0 when it
 * compiles; -1 with the parser's first error line (noise like "Cache
 * read/write disabled" filtered) naming the key.
 * Two parser runs on a private temp file named after the key: `-N` (names;
 * the parser must see exactly one profile, the key — catches hats/children
 * brought in by includes), then the compile. Thread-safe. ~30 ms CPU for a
 * profile that includes abstractions/base. */
int profile_compile_check(const char *key, const char *text, size_t len, const profile_parser_opts *popts,
			  ag_err *err) AG_WARN_UNUSED;

/* One key=value pair of a profiles ConfigMap and its verdict. */
typedef struct profile_entry {
	const char *key;   /* borrowed */
	const char *text;  /* borrowed */
	size_t len;
	bool ok;
	char message[AG_ERR_MSG_MAX]; /* why it was refused, "" when ok */
} profile_entry;

typedef struct profile_limits {
	size_t max_bytes; /* 0 = default */
	size_t max_count; /* 0 = default */
	bool compile;     /* also run profile_compile_check */
	profile_parser_opts parser;
} profile_limits;

/* Validates every entry (name, text rules, optionally compile; compile checks
 * run in parallel, one thread per online CPU, at most 4). Keys that do
 * not start with "custom." are refused too (the ConfigMap holds only
 * profiles). Returns the number of refused entries; a count over the limit
 * is reported in err (and counts as one refusal) without checking entries;
 * every entry is then marked not ok. */
size_t profile_validate_all(profile_entry *entries, size_t n, const profile_limits *lim, ag_err *count_err);

#endif
