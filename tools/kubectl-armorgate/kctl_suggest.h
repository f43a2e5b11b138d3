/* kctl_suggest: what `kubectl armorgate suggest PROFILE` prints: the AppArmor
 * rules that would have allowed what the agents observed of PROFILE, merged
 * from every Node's armorgate.io/observed annotation (DESIGN.md "Operator
 * tools"), ready to paste into the profile's body in the ConfigMap. Pure:
 * JSON in, text out; no I/O, no globals.
 * Trust boundary: the annotations are written by the agents, but their paths
 * come from kernel audit records of names the confined process chose. Every
 * path is escaped for the profile language (a glob character stays a literal,
 * nothing can end the rule or the line early, no control or non-ASCII byte
 * reaches the terminal), every other word is checked against a small
 * alphabet, and the number of rules is bounded. */
#ifndef ARMORGATE_KCTL_SUGGEST_H
#define ARMORGATE_KCTL_SUGGEST_H

#include <stdbool.h>

#include <cjson/cJSON.h>

#include "buf.h"
#include "contract.h"

#define KCTL_ANNOTATION_OBSERVED CONTRACT_ANNOTATION_OBSERVED

enum {
	KCTL_SUGGEST_RULES_MAX = 20000, /* distinct rules printed; more is reported, not printed */
	KCTL_SUGGEST_PATH_MAX = 4096,   /* PATH_MAX: a longer "path" is not one the kernel reported */
	KCTL_SUGGEST_NODES_LISTED = 20, /* node lines in the header; the rest are counted */
};

/* The suggestion for profile (a custom.* name) from nodes (a NodeList), into
 * out: a header of comment lines (nodes, modes, counts, warnings such as a
 * truncated observation), the rules, and how to switch the profile to
 * enforce. *found tells whether any node observed the profile; when none did,
 * out holds one explanatory line. Malformed annotations and entries are
 * skipped and counted, never fatal. 0, or -1 when out of memory or out's
 * ceiling is reached (errno). */
int kctl_suggest(const cJSON *nodes, const char *profile, buf *out, bool *found) AG_WARN_UNUSED;

/* Appends path (absolute) as an AppArmor file rule's path: glob and escape
 * characters (* ? [ ] { } ^ , \) backslash-escaped, in double quotes with \"
 * when it holds a blank, '"', '#', '!' or a byte outside printable ASCII,
 * which is written as a three-digit octal escape. 0, or -1 (errno). */
int kctl_suggest_path(buf *out, const char *path) AG_WARN_UNUSED;

#endif
