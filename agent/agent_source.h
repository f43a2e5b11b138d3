/* agent_source: where the desired profiles come from — a mounted ConfigMap
 * directory (inotify on kubelet's ..data swap + polling) or the ConfigMap
 * itself through the API (an informer on one object). Both produce a
 * snapshot: key -> text. Trust boundary: keys and texts are untrusted until
 * common/profile validates them; sizes and counts are bounded here first.
 * No globals; the API source runs one informer thread. */
#ifndef ARMORGATE_AGENT_SOURCE_H
#define ARMORGATE_AGENT_SOURCE_H

#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stddef.h>

#include <cjson/cJSON.h>

#include "err.h"
#include "kube.h"

/* The ConfigMap's data as the API source last saw it: immutable, shared by
 * the source and the snapshots taken from it (reference counted), so a
 * profile's text is held once however many snapshots borrow it. */
typedef struct agent_cmdata agent_cmdata;

typedef struct agent_snapshot_entry {
	char *key;  /* owned by the snapshot (or by its shared data) */
	char *text; /* same; NUL-terminated ("" when pre-refused) */
	size_t len;
	char *refusal; /* heap message when refused while reading (too big), else NULL */
} agent_snapshot_entry;

typedef struct agent_snapshot {
	agent_snapshot_entry *items;
	size_t n;
	bool over_count;      /* more entries than the limit: the whole source is refused */
	bool missing;         /* API source: the ConfigMap does not exist (not the same as empty) */
	agent_cmdata *shared; /* API source: key and text borrowed from it; NULL: each owned */
	char uid[64];         /* API source: the ConfigMap's metadata.uid (Events name it) */
} agent_snapshot;

void agent_snapshot_free(agent_snapshot *s);

typedef enum agent_dir_state {
	AGENT_DIR_OK,      /* entries read (maybe zero after a confirmed swap) */
	AGENT_DIR_MISSING, /* the directory does not exist: change nothing */
	AGENT_DIR_EMPTY,   /* empty, not yet confirmed: change nothing, re-read soon */
} agent_dir_state;

/* Reads a ConfigMap mount. With kubelet's layout (a ..data symlink) entries
 * are read from the resolved ..data dir so a swap in progress is never seen
 * half done, and an empty ..data dir is a confirmed "no profiles". A plain
 * directory that is empty is reported EMPTY until confirm_empty is true
 * (the caller re-reads after a short delay). Hidden entries are ignored. */
int agent_source_dir_read(const char *dir, size_t max_bytes, size_t max_count, bool confirm_empty, agent_snapshot *out,
			  agent_dir_state *state, ag_err *err) AG_WARN_UNUSED;
/* inotify fd watching dir (non-blocking), or -1 when it cannot be watched. */
int agent_source_dir_watch(const char *dir);
/* Drains pending inotify events; true when any was read. */
bool agent_source_dir_drain(int fd);

/* The ConfigMap through the API: an informer thread keeps the newest copy. */
typedef struct agent_cmsource {
	kube_client *client; /* borrowed */
	char ns[254], name[254];
	pthread_t thread;
	bool started;
	pthread_mutex_t mu;
	agent_cmdata *data; /* the newest .data (NULL: absent) */
	char uid[64];       /* of the newest copy */
	bool synced;        /* first list done */
	unsigned long gen;  /* bumps on every change */
	bool connected;
	int wake[2]; /* written on change; poll wake[0] */
	size_t max_bytes, max_count;
	/* Called (informer thread) when the watch (re)connects; set before start. */
	void (*on_connected)(void *ud);
	void *on_connected_ud;
} agent_cmsource;

/* on_connected (may be NULL) is called from the informer thread. */
int agent_cmsource_start(agent_cmsource *s, kube_client *c, const char *ns, const char *name, size_t max_bytes,
			 size_t max_count, void (*on_connected)(void *ud), void *ud, ag_err *err) AG_WARN_UNUSED;
/* The kube client's stop flag must be set before calling this. */
void agent_cmsource_stop(agent_cmsource *s);
/* A snapshot of the newest data (texts shared, not copied): 1 with *out and
 * *gen the generation taken (out->missing when the ConfigMap is absent); 0 (nothing taken) until the first list is done;
 * -1 with err (out of memory). */
int agent_cmsource_snapshot(agent_cmsource *s, agent_snapshot *out, unsigned long *gen, ag_err *err) AG_WARN_UNUSED;
void agent_cmsource_drain(agent_cmsource *s);

/* Builds a snapshot from a ConfigMap's .data object (NULL = none), copying
 * the strings. */
int agent_snapshot_from_json(const cJSON *data, size_t max_bytes, size_t max_count, agent_snapshot *out,
			     ag_err *err) AG_WARN_UNUSED;

#endif
