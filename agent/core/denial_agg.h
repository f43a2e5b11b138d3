/* denial_agg: AppArmor denials aggregated per pod x profile x mode x
 * operation x name (a path, a capability, "family type"), the way Events
 * are written: one key per combination with a count, at most one Event
 * write per key per DENIAL_AGG_GAP_S, and at most writes_per_minute writes
 * in all. Pure: records and times in, due entries out; the telemetry does
 * the writes. No I/O, no globals, not thread-safe (the telemetry guards it).
 * Bounds: at most max_keys entries (fixed size each, about 1.3 KB), found
 * through their hash: a flood of identical records is one key whose count
 * grows, in constant memory and time per record. A record that finds the
 * table full of keys not yet written is counted (dropped_keys), never
 * queued; a write the per-minute budget refuses is folded into the key's
 * next write (dropped_writes). */
#ifndef ARMORGATE_DENIAL_AGG_H
#define ARMORGATE_DENIAL_AGG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "denial_pods.h"
#include "denial_record.h"

enum {
	DENIAL_AGG_GAP_S = 60, /* at most one write per key per minute */
	DENIAL_AGG_KEYS_DEFAULT = 1024,
	DENIAL_AGG_WRITES_DEFAULT = 60, /* Event writes per minute, all keys */
	DENIAL_AGG_EVENT_NAME_MAX = 300,
	DENIAL_AGG_MSG_MAX = 700,
};

/* Who a record is attributed to; uid "" = no pod (a host process, or one
 * gone before it was looked up): counted, logged, observed, no Event. */
typedef struct denial_who {
	char uid[DENIAL_UID_LEN + 1];
	char ns[DENIAL_NS_MAX], pod[DENIAL_POD_NAME_MAX], container[DENIAL_CONTAINER_MAX];
} denial_who;

typedef struct denial_agg_entry {
	uint32_t hash;
	unsigned long gen; /* changes when the slot is given to another key */
	denial_who who;
	denial_mode mode;
	char profile[CONTRACT_PROFILE_NAME_MAX + 1], op[DENIAL_OP_MAX], name[DENIAL_NAME_MAX];
	char mask[DENIAL_MASK_MAX], comm[DENIAL_COMM_MAX];
	unsigned long count;             /* occurrences since the key was made */
	unsigned long written;           /* count as of the last write (or log line) */
	unsigned long write_from;        /* written before the write in flight (denial_agg_failed restores it) */
	long long first_wall, last_wall; /* Unix seconds of the first and last occurrence */
	double last_seen;                /* mono seconds */
	double last_write;               /* mono seconds of the last write; 0 = never */
	double not_before;               /* mono seconds: the budget refused a write until then */
	char event_name[DENIAL_AGG_EVENT_NAME_MAX]; /* the Event object, "" until made */
	bool created;
} denial_agg_entry;

typedef struct denial_agg {
	denial_agg_entry *items; /* owned; grows to max_keys */
	size_t n, cap, max_keys;
	long last_hit; /* the last key found: floods hit it first */
	unsigned long gen;
	long writes_per_minute; /* 0: no Events (logs, metrics and observations only) */
	double window_start;    /* mono seconds; the budget refills each minute */
	long window_writes;
	unsigned long dropped_keys, dropped_writes;
} denial_agg;

void denial_agg_init(denial_agg *a, size_t max_keys, long writes_per_minute);
void denial_agg_cleanup(denial_agg *a);
/* One record: the key's entry (count +1, mask union), or NULL when the table
 * is full of keys with unwritten counts (dropped_keys +1). now: mono
 * seconds; wall: Unix seconds. *changed (may be NULL): a new key, or its
 * mask grew — what the observations may not know yet. */
denial_agg_entry *denial_agg_add(denial_agg *a, const denial_record *r, const denial_who *w, double now, long long wall,
				 bool *changed);
/* The file permission letters of a record ("" for network and capability
 * records, whose masks are words). */
const char *denial_agg_record_mask(const denial_record *r);
/* Indices of entries due at now, at most max, in out: an entry is due when
 * it has unwritten counts and its last write is DENIAL_AGG_GAP_S old. An
 * entry with a pod takes one write from the per-minute budget; an entry
 * the budget refuses waits for the next minute (dropped_writes +1). Each
 * returned entry is marked written (written = count, last_write = now):
 * the caller restores it with denial_agg_failed when the write fails. */
size_t denial_agg_due(denial_agg *a, double now, size_t *out, size_t max);
/* The write of entry i (taken at generation gen) failed: its counts are
 * unwritten again, unless the slot went to another key meanwhile. */
void denial_agg_failed(denial_agg *a, size_t i, unsigned long gen);
/* "AppArmor custom.web denied open /etc/shadow (r) by cat in container app (3×)". */
void denial_agg_message(const denial_agg_entry *e, char *out, size_t cap);
/* "AppArmorDenied" (enforce) or "AppArmorAudit" (complain). */
const char *denial_agg_reason(denial_mode m);
/* "enforce" / "complain": the metric's mode label. */
const char *denial_agg_mode(denial_mode m);
/* The metric's operation label: op when it is a known AppArmor operation,
 * else "other" (a bounded label set whatever the kernel says). */
const char *denial_agg_op_label(const char *op);
/* What the record is about: its path, capability name or "family type". */
void denial_agg_object(const denial_record *r, char *out, size_t cap);

#endif
