/* kctl_cleanup: `kubectl armorgate cleanup`, what `helm uninstall` (or
 * deleting deploy/) leaves in the cluster: the agents' Node labels and status
 * annotations, and the kept self-signed TLS Secret. Refuses while armorgate
 * is still installed (its agents would write the labels again, its label
 * policy would refuse their removal). Nodes keep their loaded profiles and
 * host files; it says what they are. */
#ifndef ARMORGATE_KCTL_CLEANUP_H
#define ARMORGATE_KCTL_CLEANUP_H

#include <stdio.h>

#include "err.h"
#include "kctl_get.h"

/* Progress lines to out. 0, or -1 with err (nothing or part done; a re-run
 * finishes the rest). */
int kctl_cleanup(const kctl_target *t, FILE *out, ag_err *err) AG_WARN_UNUSED;

#endif
