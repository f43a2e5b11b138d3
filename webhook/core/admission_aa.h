/* admission_aa: one AppArmor setting of a Pod, as written in a
 * securityContext.appArmorProfile field or in a deprecated annotation.
 * Pure: no I/O, no globals. Strings are borrowed from the cJSON tree. */
#ifndef ARMORGATE_ADMISSION_AA_H
#define ARMORGATE_ADMISSION_AA_H

#include <stdbool.h>

#include <cjson/cJSON.h>

typedef enum {
	ADMISSION_AA_NONE,
	ADMISSION_AA_RUNTIME_DEFAULT,
	ADMISSION_AA_LOCALHOST,
	ADMISSION_AA_UNCONFINED,
	ADMISSION_AA_INVALID,
} admission_aa_type;

typedef struct admission_aa {
	admission_aa_type type;
	const char *profile; /* ADMISSION_AA_LOCALHOST: the profile name (borrowed) */
	const char *bad;     /* ADMISSION_AA_INVALID: why, a static string */
} admission_aa;

/* securityContext.appArmorProfile (absent or null: NONE). */
admission_aa admission_aa_from_field(const cJSON *f);
/* The annotation value; "" means no setting (Kubernetes accepts it). */
admission_aa admission_aa_from_annotation(const cJSON *a);
/* A setting that says something (neither NONE nor INVALID). */
bool admission_aa_valid(admission_aa r);
/* Same type and, for Localhost, the same profile. */
bool admission_aa_agree(admission_aa a, admission_aa b);
/* The profile is one of armorgate's (custom.*). */
bool admission_aa_is_custom(const char *profile);
/* The field's type value ("RuntimeDefault", ...); "" for NONE and INVALID. */
const char *admission_aa_type_name(admission_aa_type t);

#endif
