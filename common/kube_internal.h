/* kube_internal: what the kube_*.c modules share and nobody else may use.
 * The client struct, the one HTTP request primitive (kube_http.c) and the
 * small helpers the config/list/watch modules need. Not a public header. */
#ifndef ARMORGATE_KUBE_INTERNAL_H
#define ARMORGATE_KUBE_INTERNAL_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>
#include <time.h>

#include "buf.h"
#include "kube.h"

enum {
	KUBE_KUBECONFIG_MAX = 4u << 20,  /* a kubeconfig with inline certs is a few KiB */
	KUBE_PEM_FILE_MAX = 1u << 20,    /* CA bundle / client cert / key read from disk */
	KUBE_ERROR_BODY_MAX = 64u << 10, /* body kept from a non-2xx response for its message */
	KUBE_PATH_MAX = 8u << 10,        /* API path + query we build */
	KUBE_UA_MAX = 128,
	KUBE_IDLE_HANDLES = 4, /* idle curl handles kept for connection reuse */
};

struct kube_client {
	kube_config cfg;
	char ua[KUBE_UA_MAX];
	volatile sig_atomic_t *stop;

	/* Bearer token: cfg.token (static) or re-read from cfg.token_file when the
	 * file's identity or mtime changes (projected SA tokens rotate in place). */
	pthread_mutex_t tok_lock;
	char *tok; /* current token, secret, NULL when none */
	dev_t tok_dev;
	ino_t tok_ino;
	struct timespec tok_mtime;
	off_t tok_size;

	/* Idle curl easy handles (each keeps its live connections and TLS
	 * sessions): a call borrows one, so each handle has one user at a time. */
	pthread_mutex_t pool_lock;
	void *pool[KUBE_IDLE_HANDLES];
	size_t npool;
};

/* One request. write_fn, when set, receives the 2xx body as it streams in
 * (return false to abort); otherwise the body is collected into resp. */
typedef struct kube_req {
	const char *method;       /* "GET", "POST", "PATCH", "DELETE" */
	const char *path;         /* API path + query */
	const char *accept;       /* NULL = application/json */
	const char *content_type; /* for body */
	const char *body;         /* NULL = none */
	bool (*write_fn)(void *ud, const char *data, size_t len);
	void *write_ud;
	/* Optional: called once the response headers of a 2xx answer are in
	 * (a watch is "connected" before its first event). */
	void (*on_connected)(void *ud);
	buf *resp;           /* used when write_fn is NULL; caller inits with its ceiling */
	long idle_timeout_s; /* >0: streaming request, no total timeout, abort if idle this long */
} kube_req;

/* Performs r. 0 on a 2xx status; -1 with err (http_status set for HTTP
 * errors, the Kubernetes Status message or the transport error in msg).
 * *aborted (may be NULL) is set when the stop flag or write_fn ended it. */
int kube_http_perform(kube_client *c, const kube_req *r, bool *aborted, ag_err *err) AG_WARN_UNUSED;

/* Whether the client's stop flag is set. */
bool kube_http_stopping(const kube_client *c);

/* Appends "key=escaped(value)" with '?' or '&' as needed. */
int kube_path_add_query(buf *path, const char *key, const char *value) AG_WARN_UNUSED;

/* Deep copy of a config (kube_client_new). */
int kube_config_copy(kube_config *dst, const kube_config *src, ag_err *err) AG_WARN_UNUSED;

/* Frees a secret string after wiping it. */
void kube_secret_free(char *s);

/* Accept headers for metadata-only list and watch. */
#define KUBE_ACCEPT_META_LIST "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1,application/json"
#define KUBE_ACCEPT_META_WATCH "application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1,application/json"

#endif
