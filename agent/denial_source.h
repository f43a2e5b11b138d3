/* denial_source: the kernel's AppArmor audit records (AUDIT_AVC, type 1400),
 * read without taking them from anyone else, as payload texts for
 * denial_record_parse. Two ways in:
 * - netlink: an audit netlink socket joined to the read-only multicast group
 *   AUDIT_NLGRP_READLOG. Needs CAP_AUDIT_READ and the host's network
 *   namespace (the kernel multicasts only on init_net's audit socket); auditd
 *   and journald keep their copies; no rate limit but the socket buffer.
 * - kmsg: /dev/kmsg, where the kernel prints audit records only while no
 *   auditd is registered, rate-limited by printk_ratelimit (10 per 5 s burst):
 *   a fallback that loses records under load. Needs CAP_SYSLOG when
 *   kernel.dmesg_restrict=1. History is skipped (see denial_source_open).
 * Trust boundary: only the kernel is believed — netlink messages whose
 * sender port id is not 0, and kmsg lines of another facility than the
 * kernel's (0; userspace writes to /dev/kmsg cannot claim it), are dropped.
 * User space cannot send type 1400 through the audit socket (the kernel
 * accepts only the user message ranges), so a record is the LSM's own.
 * Memory: one fixed buffer inside the struct, nothing allocated per record. */
#ifndef ARMORGATE_DENIAL_SOURCE_H
#define ARMORGATE_DENIAL_SOURCE_H

#include <stdbool.h>
#include <stddef.h>

#include "err.h"

typedef enum denial_source_kind {
	DENIAL_SOURCE_AUTO,    /* netlink, else kmsg, else an error */
	DENIAL_SOURCE_NETLINK, /* only netlink */
	DENIAL_SOURCE_KMSG,    /* only /dev/kmsg */
	DENIAL_SOURCE_NONE,    /* nothing opened (open with NONE: a source that never reads) */
} denial_source_kind;

enum {
	/* One audit netlink message (MAX_AUDIT_MESSAGE_LENGTH 8970 plus its
	 * header) or one /dev/kmsg record (at most CONSOLE_EXT_LOG_MAX 8192; a
	 * smaller read buffer gets EINVAL). */
	DENIAL_SOURCE_BUF = 9216,
};

typedef struct denial_source {
	int fd;                                  /* -1 when closed */
	denial_source_kind kind;                 /* the way in that is open, NONE when closed */
	unsigned long long records;              /* AUDIT_AVC payloads handed to the callback */
	unsigned long long ignored;              /* messages/lines read that were not kernel AVC records */
	unsigned long long overruns;             /* times the kernel dropped records before we read them
				      * (netlink ENOBUFS, kmsg EPIPE) */
	_Alignas(8) char buf[DENIAL_SOURCE_BUF]; /* netlink headers are read in place */
} denial_source;

/* Called once per AUDIT_AVC record with the text after "audit(...): "
 * (not NUL-terminated; valid only during the call). */
typedef void (*denial_source_cb)(void *ctx, const char *text, size_t len);

/* Opens the way in that prefer names (AUTO: netlink, then kmsg). The fd is
 * non-blocking and close-on-exec; poll it for POLLIN. kmsg starts at the end
 * of the ring: records from before the agent started were seen (and
 * counted) by an earlier agent, or belong to a previous boot of the policy.
 * On failure s is closed (kind NONE, fd -1) and err names what is missing
 * (a capability, the host network namespace) in one line. s is caller
 * storage (counters start at 0 here); denial_source_close releases what
 * open took. */
int denial_source_open(denial_source *s, denial_source_kind prefer, ag_err *err) AG_WARN_UNUSED;

/* The descriptor to poll, -1 when closed. */
int denial_source_fd(const denial_source *s);

/* Reads what is waiting, at most max_records messages (bounded work per
 * call; ignored ones count too), calling cb for each AVC record. Returns the
 * number of cb calls (0: nothing waiting), or -1 with errno when the source
 * failed for good (the caller closes it and may reopen). Overruns are
 * counted, not errors. */
int denial_source_read(denial_source *s, denial_source_cb cb, void *ctx, size_t max_records);

/* Closes the descriptor; safe on a closed or zeroed-then-failed source.
 * Counters are kept. */
void denial_source_close(denial_source *s);

/* "auto", "netlink", "kmsg", "none". */
const char *denial_source_kind_name(denial_source_kind kind);

/* Pure helpers, exposed for the unit tests:
 * the text after "audit(<time>:<serial>): " in an audit payload, false when
 * the prefix is missing; */
bool denial_source_avc_text(const char *payload, size_t n, const char **text, size_t *tlen);
/* the AVC text of one /dev/kmsg record "PRI,SEQ,TS,FLAGS;audit: type=1400
 * audit(...): ...\n[ KEY=VALUE\n...]", false unless facility 0 (kernel) and
 * the message starts with exactly that audit prefix. */
bool denial_source_kmsg_text(const char *rec, size_t n, const char **text, size_t *tlen);
/* One received netlink datagram dgram[0..len) from port id from_pid: cb for
 * each AUDIT_AVC message in it when from_pid is the kernel's (0), counted
 * in s. Returns the cb calls. dgram must be 4-byte aligned. */
int denial_source_netlink_datagram(denial_source *s, const void *dgram, size_t len, unsigned from_pid,
				   denial_source_cb cb, void *ctx);

#endif
