/* denial_record: one AppArmor audit record (apparmor="DENIED" or "ALLOWED")
 * for a custom.* profile, parsed from the key=value text the kernel writes
 * (audit netlink AUDIT_AVC payload, or the part of a /dev/kmsg line after
 * "audit(...): "). Pure: no I/O, no allocation, no globals.
 * Trust boundary: name= and comm= are chosen by the confined process; the
 * kernel hex-encodes any value with a space, quote or control byte, so a
 * quoted value never contains '"' — the parser relies on that, decodes hex
 * values, and truncates (flag) rather than overflows. */
#ifndef ARMORGATE_DENIAL_RECORD_H
#define ARMORGATE_DENIAL_RECORD_H

#include <stdbool.h>
#include <stddef.h>

#include "contract.h"

typedef enum denial_mode {
	DENIAL_ENFORCE, /* apparmor="DENIED": the access was refused */
	DENIAL_COMPLAIN /* apparmor="ALLOWED": complain mode, would have been refused */
} denial_mode;

enum {
	DENIAL_OP_MAX = 32,
	DENIAL_NAME_MAX = 256, /* name= (a path), decoded; longer is truncated */
	DENIAL_MASK_MAX = 16,
	DENIAL_COMM_MAX = 17, /* TASK_COMM_LEN + 1 */
	DENIAL_WORD_MAX = 16, /* family=, sock_type= */
	DENIAL_CAPNAME_MAX = 24,
};

typedef struct denial_record {
	denial_mode mode;
	char operation[DENIAL_OP_MAX];               /* "open", "exec", "capable", "create", ... */
	char profile[CONTRACT_PROFILE_NAME_MAX + 1]; /* always a valid custom.* name */
	bool child; /* profile= was "<profile>//<hat or child>", e.g. complain mode's "//null-/bin/ls" learning child */
	char name[DENIAL_NAME_MAX]; /* "" when absent */
	bool name_truncated;
	char requested[DENIAL_MASK_MAX], denied[DENIAL_MASK_MAX]; /* "r", "wc", ... "" when absent */
	int pid;                                                  /* 0 when absent */
	char comm[DENIAL_COMM_MAX];
	int capability;                                           /* -1 when absent */
	char capname[DENIAL_CAPNAME_MAX];                         /* "net_raw" */
	char family[DENIAL_WORD_MAX], sock_type[DENIAL_WORD_MAX]; /* "inet", "stream" */
} denial_record;

typedef enum denial_parse_result {
	DENIAL_PARSE_IGNORED = 0, /* not an apparmor DENIED/ALLOWED record of a custom.* profile */
	DENIAL_PARSE_OK = 1,
} denial_parse_result;

/* Parse text[0..len) (not NUL-terminated) into *out. Malformed text is
 * IGNORED, never an error: the source logs a counter, not a message. */
denial_parse_result denial_record_parse(const char *text, size_t len, denial_record *out);

#endif
