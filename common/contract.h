/* contract: the names and limits of ../shared/DESIGN.md that more than one
 * part relies on — profile names, Node labels and annotation, the profiles
 * ConfigMap defaults. One definition here; the chart, manifests and docs
 * spell the same strings (test/deploy checks them). Pure: no I/O, no globals. */
#ifndef ARMORGATE_CONTRACT_H
#define ARMORGATE_CONTRACT_H

#include <stdbool.h>

/* Profiles (DESIGN.md "Profiles"). */
#define CONTRACT_PROFILE_PREFIX "custom."
#define CONTRACT_PROFILE_NAME_RULE "^custom\\.[A-Za-z0-9]([-A-Za-z0-9._]*[A-Za-z0-9])?$"
enum {
	CONTRACT_PROFILE_NAME_MAX = 63, /* a label name's limit: the name is part of a label key */
	CONTRACT_PROFILE_MAX_BYTES = 256 * 1024,
	CONTRACT_PROFILE_MAX_COUNT = 200,
};

/* Node readiness (DESIGN.md "Node readiness"). */
#define CONTRACT_LABEL_APPARMOR "armorgate.io/apparmor"
#define CONTRACT_APPARMOR_ENABLED "enabled"
#define CONTRACT_APPARMOR_UNSUPPORTED "unsupported"
#define CONTRACT_LABEL_PROFILE_PREFIX "profiles.armorgate.io/"
#define CONTRACT_PROFILE_LOADED "loaded"
#define CONTRACT_ANNOTATION_STATUS "armorgate.io/status"
/* Denial observations (DESIGN.md "Operator tools"): agent -> kubectl armorgate suggest. */
#define CONTRACT_ANNOTATION_OBSERVED "armorgate.io/observed"

/* The profiles ConfigMap (DESIGN.md "Names"). */
#define CONTRACT_NAMESPACE_DEFAULT "armorgate-system"
#define CONTRACT_CONFIGMAP_DEFAULT_NAME "armorgate-profiles"
#define CONTRACT_CONFIGMAP_DEFAULT CONTRACT_NAMESPACE_DEFAULT "/" CONTRACT_CONFIGMAP_DEFAULT_NAME

/* Does name follow CONTRACT_PROFILE_NAME_RULE within CONTRACT_PROFILE_NAME_MAX
 * characters? NULL is not a name. */
bool contract_profile_name_valid(const char *name);

#endif
