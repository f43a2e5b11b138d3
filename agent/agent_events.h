/* agent_events: Kubernetes Events about this node's profiles, aggregated the
 * way client-go's correlator does it: one Event object per (object, reason,
 * profile key) per agent run whose count grows, and at most one write per
 * key per AGENT_EVENTS_GAP_S; what happens in between is folded into the
 * next write. Objects: this Node (Events in "default") and the profiles
 * ConfigMap (Events in its namespace), when the source is one.
 * Not thread-safe: agent_publish guards the table and does the writes
 * (agent_events_write) without its lock, on a copy. Pod Events (the denial
 * telemetry) use only agent_events_write: an unnamed entry is named there. No
 * globals. */
#ifndef ARMORGATE_AGENT_EVENTS_H
#define ARMORGATE_AGENT_EVENTS_H

#include <stdbool.h>
#include <stddef.h>

#include "agent_plan.h"
#include "err.h"
#include "kube.h"

enum { AGENT_EVENTS_GAP_S = 60, AGENT_EVENTS_MAX = 512, AGENT_EVENTS_MSG_CAP = AGENT_MSG_CAP + 320 };

/* POD: Events about a pod (the denial telemetry aggregates those itself and
 * uses only agent_events_write, with the pod in obj_*). */
typedef enum agent_event_target { AGENT_EVENT_NODE, AGENT_EVENT_CONFIGMAP, AGENT_EVENT_POD } agent_event_target;

typedef struct agent_event {
	agent_event_target target;
	char type[16], reason[64], key[256];
	char message[AGENT_EVENTS_MSG_CAP];
	char name[300];      /* the Event object's name */
	bool created;        /* ... and it exists */
	unsigned long count; /* occurrences in this run */
	char first[32];      /* RFC 3339 of the first occurrence */
	double last_write;   /* mono seconds of the last write; 0 = never */
	bool dirty;          /* occurrences not written yet */
	/* AGENT_EVENT_POD: the pod (namespace, name, uid). */
	char obj_ns[64], obj_name[254], obj_uid[40];
} agent_event;

/* Where the Events go; strings copied by agent_events_set_*. */
typedef struct agent_events {
	char node[256];
	char cm_ns[254], cm_name[254], cm_uid[64]; /* cm_name "" = no ConfigMap */
	agent_event *items;
	size_t n, cap;
	unsigned long seq; /* for unique names */
} agent_events;

/* Now in the API's time format (RFC 3339, UTC, seconds). */
void agent_events_now(char *out, size_t cap);
void agent_events_init(agent_events *t, const char *node);
void agent_events_set_configmap(agent_events *t, const char *ns, const char *name, const char *uid);
/* One occurrence (reason, profile key or "" for the whole source). For the
 * ConfigMap the message is prefixed with the node's name. Returns false when
 * the table is full of unwritten entries (the occurrence is dropped). */
bool agent_events_add(agent_events *t, agent_event_target target, const char *type, const char *reason, const char *key,
		      const char *message);
/* The index of an entry due for a write at mono time now, or -1; *next (0 =
 * none) gets the earliest time a not-yet-due entry becomes due. */
long agent_events_due(const agent_events *t, double now, double *next);
/* Writes a copy of entry ev (create, or a merge patch of count, message and
 * lastTimestamp; re-created under a new name if it expired). On success
 * ev->created and ev->name say what exists; the caller copies them back. */
int agent_events_write(kube_client *c, const agent_events *t, agent_event *ev, ag_err *err) AG_WARN_UNUSED;
void agent_events_cleanup(agent_events *t);

#endif
