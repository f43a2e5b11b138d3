/* kube: a small Kubernetes API client over libcurl, shared by both daemons.
 * Trust boundary: everything the API server returns is untrusted bytes; every
 * response, watch line and token has a named ceiling below.
 *
 * Threads: a kube_client is safe to share between threads (each call uses its
 * own curl handle; the token is re-read under a lock). Calls block. */
#ifndef ARMORGATE_KUBE_H
#define ARMORGATE_KUBE_H

#include <stdbool.h>
#include <stddef.h>
#include <signal.h>

#include <cjson/cJSON.h>

#include "err.h"

enum {
	KUBE_RESPONSE_MAX = 64u << 20,   /* one GET/LIST page/PATCH response */
	KUBE_WATCH_LINE_MAX = 16u << 20, /* one watch event (a Node object can be large) */
	KUBE_TOKEN_MAX = 16u << 10,
	KUBE_CONNECT_TIMEOUT_S = 10,
	KUBE_REQUEST_TIMEOUT_S = 30,
};

/* Where and how to reach the API server. All strings are heap copies owned by
 * the struct; kube_config_cleanup() frees them (and wipes secrets). */
typedef struct kube_config {
	char *server; /* "https://host:port" without trailing slash */
	char *ca_pem; /* CA bundle (PEM text), or NULL to use ca_file */
	char *ca_file;
	char *cert_pem;            /* client certificate (PEM), optional */
	char *key_pem;             /* client key (PEM), optional, secret */
	char *token;               /* static bearer token, optional, secret */
	char *token_file;          /* bearer token re-read when it changes (in-cluster) */
	bool insecure_skip_verify; /* only honoured when the kubeconfig says so */
} kube_config;

/* kubeconfig: current-context (or context_override when non-NULL), its
 * cluster and user; inline *-data fields or file paths relative to the file. */
int kube_config_from_kubeconfig(const char *path, const char *context_override, kube_config *out,
				ag_err *err) AG_WARN_UNUSED;
/* Same, from kubeconfig YAML text already in memory (dir resolves relative paths). */
int kube_config_from_kubeconfig_text(const char *yaml, size_t len, const char *dir, const char *context_override,
				     kube_config *out, ag_err *err) AG_WARN_UNUSED;
/* In-cluster: KUBERNETES_SERVICE_HOST/PORT, sa_dir (NULL = the standard
 * /var/run/secrets/kubernetes.io/serviceaccount) token + ca.crt. */
int kube_config_in_cluster(const char *sa_dir, kube_config *out, ag_err *err) AG_WARN_UNUSED;
/* kubeconfig_path NULL or "" -> in-cluster. */
int kube_config_load(const char *kubeconfig_path, kube_config *out, ag_err *err) AG_WARN_UNUSED;
void kube_config_cleanup(kube_config *c);

typedef struct kube_client kube_client;

/* Copies cfg. Free with kube_client_free. */
kube_client *kube_client_new(const kube_config *cfg, ag_err *err);
void kube_client_free(kube_client *c);
/* Optional: a flag that, once non-zero, makes blocking calls (watch) return promptly. */
void kube_client_set_stop_flag(kube_client *c, volatile sig_atomic_t *stop);
/* Optional: user agent (default "armorgate/<version>"). Borrowed. */
void kube_client_set_user_agent(kube_client *c, const char *ua);

/* Paths are API paths with an optional query, e.g. "/api/v1/nodes/n1".
 * On an HTTP error the err has http_status set and msg carries the
 * Kubernetes Status message ("nodes \"x\" not found") or the curl error. */

/* GET -> parsed object (caller frees with cJSON_Delete). */
int kube_get(kube_client *c, const char *path, cJSON **out, ag_err *err) AG_WARN_UNUSED;

typedef enum kube_patch_type {
	KUBE_PATCH_MERGE,     /* application/merge-patch+json */
	KUBE_PATCH_STRATEGIC, /* application/strategic-merge-patch+json */
	KUBE_PATCH_JSON,      /* application/json-patch+json */
} kube_patch_type;

/* POST obj (JSON text) to a collection path. out may be NULL. */
int kube_create(kube_client *c, const char *path, const char *body, cJSON **out, ag_err *err) AG_WARN_UNUSED;
int kube_patch(kube_client *c, const char *path, kube_patch_type type, const char *body, cJSON **out,
	       ag_err *err) AG_WARN_UNUSED;
int kube_delete(kube_client *c, const char *path, ag_err *err) AG_WARN_UNUSED;

typedef struct kube_list_opts {
	const char *label_selector; /* NULL = none */
	const char *field_selector;
	long limit;         /* page size, 0 = server default (no paging) */
	bool metadata_only; /* Accept PartialObjectMetadataList */
} kube_list_opts;

/* Called once per item in list order; item is borrowed for the call.
 * Return non-zero to stop early (kube_list then returns that value). */
typedef int (*kube_item_fn)(void *ud, const cJSON *item);

/* LIST with pagination (continue tokens). resource_version_out, when non-NULL,
 * receives a heap copy of the list's resourceVersion (caller frees). */
int kube_list(kube_client *c, const char *collection_path, const kube_list_opts *opts, kube_item_fn fn, void *ud,
	      char **resource_version_out, ag_err *err) AG_WARN_UNUSED;

typedef enum kube_event_type {
	KUBE_EVENT_ADDED,
	KUBE_EVENT_MODIFIED,
	KUBE_EVENT_DELETED,
	KUBE_EVENT_BOOKMARK,
	KUBE_EVENT_ERROR,
} kube_event_type;

/* One parsed watch line. Pure parser, no I/O: fuzzed and unit-tested. */
typedef struct kube_event {
	kube_event_type type;
	cJSON *object;                /* owned by the event */
	const char *resource_version; /* borrowed from object, may be NULL */
	long error_code;              /* for KUBE_EVENT_ERROR: Status.code, e.g. 410 */
} kube_event;

/* Parses one JSON line. 0 on success (free with kube_event_cleanup), -1 with err. */
int kube_event_parse(const char *line, size_t len, kube_event *ev, ag_err *err) AG_WARN_UNUSED;
void kube_event_cleanup(kube_event *ev);

/* Splits a chunked byte stream into lines with a ceiling (pure, fuzzed). */
typedef struct kube_line_splitter kube_line_splitter;
kube_line_splitter *kube_line_splitter_new(size_t max_line);
void kube_line_splitter_free(kube_line_splitter *s);
/* Feeds bytes; calls fn for each complete line (without '\n'). Returns -1
 * (E2BIG) if a line passes the ceiling, or fn's non-zero return.
 * The line passed to fn is NUL-terminated; a trailing '\r' is dropped and
 * empty lines are skipped. */
int kube_line_splitter_feed(kube_line_splitter *s, const char *data, size_t len,
			    int (*fn)(void *ud, const char *line, size_t len), void *ud) AG_WARN_UNUSED;

/* Informer: LIST then WATCH from the list's resourceVersion with bookmarks;
 * on a cut stream it resumes from the last seen resourceVersion, on 410 Gone
 * it relists; reconnects with exponential backoff + jitter (cap 30 s).
 * Callbacks run on the calling thread. */
typedef struct kube_informer_opts {
	const char *collection_path; /* "/api/v1/nodes" */
	kube_list_opts list;         /* selectors / metadata_only / page size */
	/* A complete, consistent set of items (initial list and every relist).
	 * items is a cJSON array, borrowed for the call. */
	void (*on_replace)(void *ud, const cJSON *items, const char *resource_version);
	/* ADDED/MODIFIED/DELETED; obj borrowed for the call. */
	void (*on_event)(void *ud, kube_event_type type, const cJSON *obj);
	/* Connection state changes (connected=false with a reason while retrying;
	 * called again with the new reason on every failed attempt). */
	void (*on_state)(void *ud, bool connected, const char *why);
	void *ud;
	long watch_timeout_s; /* server-side timeoutSeconds per watch, 0 = 300 */
	/* Optional: what a list keeps of each item until on_replace (a new tree,
	 * NULL when out of memory); unset keeps a full copy. Lets a caller that
	 * needs a few fields of large objects hold only those. */
	cJSON *(*keep)(void *ud, const cJSON *item);
} kube_informer_opts;

typedef struct kube_informer_stats {
	unsigned long relists;
	unsigned long watch_restarts;
	unsigned long events;
} kube_informer_stats;

/* Runs until the client's stop flag is set; returns 0 then. Returns -1 only
 * for unrecoverable misuse (bad opts). stats may be NULL; it is updated live
 * (read it racily from other threads for metrics). */
int kube_informer_run(kube_client *c, const kube_informer_opts *opts, kube_informer_stats *stats, ag_err *err);

/* Helpers for building paths: percent-encodes a query value into out.
 * Returns the escaped length (>= 0), or -1 with errno E2BIG when out (cap
 * bytes incl. the NUL) is too small. */
int kube_query_escape(const char *in, char *out, size_t cap) AG_WARN_UNUSED;

#endif
