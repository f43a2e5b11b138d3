/* kctl_get: the user's own kubectl, run by execve (no shell), so every
 * kubeconfig, context and credential plugin the user has works unchanged. */
#ifndef ARMORGATE_KCTL_GET_H
#define ARMORGATE_KCTL_GET_H

#include <cjson/cJSON.h>

#include "err.h"

/* kubectl options passed through to every call (borrowed; NULL = unset). */
typedef struct kctl_target {
	const char *kubectl;    /* program: $KUBECTL, else "kubectl" from PATH */
	const char *kubeconfig; /* --kubeconfig */
	const char *context;    /* --context */
	const char *namespace_; /* -n, for namespaced objects; NULL = the context's */
} kctl_target;

/* Runs `kubectl args...` (a NULL-terminated list; -n added when namespaced).
 * 0, or -1 with kubectl's own first error line. */
int kctl_run(const kctl_target *t, const char *const *args, int namespaced, ag_err *err) AG_WARN_UNUSED;

/* `kubectl get what... -o json` parsed into *out (caller deletes). what is a
 * NULL-terminated list (e.g. {"nodes", NULL} or {"pod", NAME, NULL}). */
int kctl_get(const kctl_target *t, const char *const *what, int namespaced, cJSON **out, ag_err *err) AG_WARN_UNUSED;

#endif
