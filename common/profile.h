/* profile: the profile text rules of DESIGN.md, one implementation for the
 * webhook (ConfigMap admission) and the agent (before loading). Pure: no I/O,
 * no globals; running apparmor_parser is aaparser.h. */
#ifndef ARMORGATE_PROFILE_H
#define ARMORGATE_PROFILE_H

#include <stdbool.h>
#include <stddef.h>

#include "contract.h"
#include "err.h"

/* The name rule itself is contract_profile_name_valid (contract.h). */

/* Checks the text rules for one profile: size, exactly one top-level
 * `profile <key> [flags=(...)] {` named like the key, no hats/child
 * profiles, includes only <...> or `include if exists <...>`.
 * Also refused: an attachment path in the header, include paths with a ".."
 * component, NUL bytes. max_bytes 0 = CONTRACT_PROFILE_MAX_BYTES.
 * 0 when fine; -1 with a message naming the key and the rule. */
int profile_check_text(const char *key, const char *text, size_t len, size_t max_bytes, ag_err *err) AG_WARN_UNUSED;

/* One key=value pair of a profiles ConfigMap and its verdict. */
typedef struct profile_entry {
	const char *key;  /* borrowed */
	const char *text; /* borrowed */
	size_t len;
	bool ok;
	char message[AG_ERR_MSG_MAX]; /* why it was refused, "" when ok */
} profile_entry;

typedef struct profile_limits {
	size_t max_bytes; /* 0 = CONTRACT_PROFILE_MAX_BYTES */
	size_t max_count; /* 0 = CONTRACT_PROFILE_MAX_COUNT */
} profile_limits;

/* Checks every entry against the name and text rules (no parser: the compile
 * check is aaparser_compile_entries, run after this on the entries still ok).
 * Keys that do not start with "custom." are refused too (the ConfigMap holds
 * only profiles). Returns the number of refused entries; a count over the
 * limit is reported in count_err (and counts as one refusal) without
 * checking entries; every entry is then marked not ok. */
size_t profile_check_entries(profile_entry *entries, size_t n, const profile_limits *lim, ag_err *count_err);

/* Untrusted bytes quoted in a message: printable ASCII only, at most 64 of
 * them, into out; returns out. */
const char *profile_shown(char *out, size_t outsz, const char *p, size_t n);

#endif
