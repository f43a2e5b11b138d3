/* admission_validate_pod: the validating rules for a Pod CREATE and for
 * pods/ephemeralcontainers UPDATE (DESIGN.md "Webhook behaviour"): every
 * AppArmor setting well-formed, annotations agreeing with fields, and each
 * custom.* Localhost profile loaded on an AppArmor-enabled node (on
 * spec.nodeName when set). Pure: no I/O, no globals; nodes come from the
 * borrowed nodeset of the env. */
#ifndef ARMORGATE_ADMISSION_VALIDATE_POD_H
#define ARMORGATE_ADMISSION_VALIDATE_POD_H

#include <stdbool.h>

#include <cjson/cJSON.h>

#include "admission.h"

/* Answers the review uid about the Pod obj into res. ephemeral_only
 * (pods/ephemeralcontainers UPDATE): only the ephemeral containers not in
 * old are admitted, so only they are checked. has_nul: the review holds a
 * \u0000 escape, so a name read from it may have been cut short (refused).
 * env: defaults filled in; env->enforcement decides what problems do. */
void admission_validate_pod(const char *uid, const cJSON *obj, const cJSON *old, bool ephemeral_only, bool has_nul,
			    const admission_env *env, admission_result *res);

#endif
