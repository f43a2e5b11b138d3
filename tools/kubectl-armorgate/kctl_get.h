/* kctl_get: API objects through the user's own kubectl (`kubectl get ... -o
 * json`, run by execve, no shell), so every kubeconfig, context and
 * credential plugin the user has works unchanged. */
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

/* `kubectl get what... -o json` parsed into *out (caller deletes). what is a
 * NULL-terminated list (e.g. {"nodes", NULL} or {"pod", NAME, NULL});
 * namespaced says whether -n applies. 0, or -1 with kubectl's own message. */
int kctl_get(const kctl_target *t, const char *const *what, int namespaced, cJSON **out, ag_err *err) AG_WARN_UNUSED;

#endif
