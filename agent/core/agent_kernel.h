/* agent_kernel: pure parsers for what the kernel tells us about AppArmor —
 * the <securityfs>/apparmor/profiles list and /proc/PID/attr/current labels.
 * Trust boundary: the bytes come from the kernel (or from a test's fake
 * root); they are parsed with ceilings and never trusted to be well formed.
 * No globals, no I/O. */
#ifndef ARMORGATE_AGENT_KERNEL_H
#define ARMORGATE_AGENT_KERNEL_H

#include <stdbool.h>
#include <stddef.h>

#include "err.h"

enum {
	AGENT_KLIST_MAX_BYTES = 16u << 20, /* whole profiles file */
	AGENT_KLIST_MAX_ENTRIES = 100000,
	AGENT_KNAME_MAX = 4096, /* one profile name / label */
	AGENT_KMODE_MAX = 32,
};

typedef struct agent_kprofile {
	char *name;                 /* heap, owned by the list */
	char mode[AGENT_KMODE_MAX]; /* "enforce", "complain", "kill", "unconfined", ... or "" */
} agent_kprofile;

typedef struct agent_klist {
	agent_kprofile *items; /* sorted by name (strcmp) */
	size_t n;
} agent_klist;

/* Parses "name (mode)\n" lines. The mode is the LAST " (word)" of a line, so
 * names with spaces or parentheses survive. Lines without a mode keep the
 * whole line as the name and mode "". Empty lines are skipped. 0 or -1 (a
 * ceiling passed, ENOMEM); on success free with agent_kernel_list_cleanup. */
int agent_kernel_parse_list(const char *text, size_t len, agent_klist *out, ag_err *err) AG_WARN_UNUSED;
void agent_kernel_list_cleanup(agent_klist *l);
/* Binary search; NULL when the kernel does not list name. */
const agent_kprofile *agent_kernel_find(const agent_klist *l, const char *name);

/* Parses /proc/PID/attr/current ("custom.x (enforce)\n", "unconfined\n",
 * stacks "a//&b (mixed)"). Writes the label (mode stripped) into label and
 * the mode into mode (may be NULL). Returns 0, or -1 when empty/too long. */
int agent_kernel_parse_attr(const char *text, size_t len, char *label, size_t cap, char *mode, size_t mcap);
/* Is profile part of label? Exact match, a stack component ("//&"), or a
 * child of it ("profile//hat"). */
bool agent_kernel_label_has(const char *label, const char *profile);
/* Calls fn once per stack component of label with its top-level profile name
 * (the part before any "//" child separator), len bytes, not NUL-terminated. */
void agent_kernel_label_each(const char *label, void (*fn)(void *ud, const char *name, size_t len), void *ud);

#endif
