/* admission_mutate: the mutating rules for a Pod CREATE (DESIGN.md
 * "Webhook behaviour"): each valid AppArmor annotation becomes its
 * container's securityContext.appArmorProfile and is removed, and every
 * custom.* profile the pod uses gets a profiles.armorgate.io/<p>=loaded
 * nodeSelector; one RFC 6902 patch, none when nothing is to do. Pure: no
 * I/O, no globals. */
#ifndef ARMORGATE_ADMISSION_MUTATE_H
#define ARMORGATE_ADMISSION_MUTATE_H

#include <cjson/cJSON.h>

#include "admission.h"

/* Answers the review uid about the Pod obj into res. */
void admission_mutate_pod(const char *uid, const cJSON *obj, admission_result *res);

#endif
