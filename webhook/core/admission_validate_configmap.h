/* admission_validate_configmap: the validating rules for the profiles
 * ConfigMap (DESIGN.md "Profiles"): every key a valid profile under the text
 * rules of common/profile.h, and new or changed profiles compiled by the
 * injected admission_env.compile. Pure but for that callback: no I/O, no
 * globals. */
#ifndef ARMORGATE_ADMISSION_VALIDATE_CONFIGMAP_H
#define ARMORGATE_ADMISSION_VALIDATE_CONFIGMAP_H

#include <cjson/cJSON.h>

#include "admission.h"

/* Answers the review uid about the ConfigMap obj into res (CREATE: old
 * NULL; UPDATE: old is oldObject, whose unchanged profiles are not
 * compiled again). env: defaults filled in. */
void admission_validate_configmap(const char *uid, const cJSON *obj, const cJSON *old, const admission_env *env,
				  admission_result *res);

#endif
