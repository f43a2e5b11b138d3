/* admission_aa: AppArmor settings read from fields and annotations (see
 * admission_aa.h). Trust boundary: the values come from the request; every
 * one that is not exactly a known form is INVALID with a reason. */
#include "admission_aa.h"

#include <string.h>

#include "contract.h"
#include "jsonget.h"

static bool admission_aa_padded(const char *s)
{
	static const char ws[] = " \t\n\v\f\r";
	size_t n = strlen(s);

	return n && (strchr(ws, s[0]) || strchr(ws, s[n - 1]));
}

admission_aa admission_aa_from_field(const cJSON *f)
{
	admission_aa r = { ADMISSION_AA_INVALID, NULL, NULL };
	const cJSON *lp;
	const char *type;

	if (!f || cJSON_IsNull(f)) {
		r.type = ADMISSION_AA_NONE;
		return r;
	}
	if (!cJSON_IsObject(f)) {
		r.bad = "is not an object";
		return r;
	}
	type = jsonget_str(f, "type");
	lp = jsonget_item(f, "localhostProfile");
	if (!type) {
		r.bad = "has no type (use RuntimeDefault, Localhost or Unconfined)";
		return r;
	}
	if (strcmp(type, "Localhost") == 0) {
		if (!cJSON_IsString(lp) || !lp->valuestring[0]) {
			r.bad = "has type Localhost but no localhostProfile";
			return r;
		}
		if (admission_aa_padded(lp->valuestring)) {
			r.bad = "has a localhostProfile padded with whitespace";
			return r;
		}
		r.type = ADMISSION_AA_LOCALHOST;
		r.profile = lp->valuestring;
		return r;
	}
	if (lp && !cJSON_IsNull(lp)) {
		r.bad = "sets localhostProfile, which is only allowed with type Localhost";
		return r;
	}
	if (strcmp(type, "RuntimeDefault") == 0)
		r.type = ADMISSION_AA_RUNTIME_DEFAULT;
	else if (strcmp(type, "Unconfined") == 0)
		r.type = ADMISSION_AA_UNCONFINED;
	else
		r.bad = "has an unknown type (use RuntimeDefault, Localhost or Unconfined)";
	return r;
}

admission_aa admission_aa_from_annotation(const cJSON *a)
{
	admission_aa r = { ADMISSION_AA_INVALID, NULL,
			   "is not one of runtime/default, unconfined, localhost/<profile>" };
	const char *v;

	if (!a) {
		r.type = ADMISSION_AA_NONE;
		return r;
	}
	if (!cJSON_IsString(a)) {
		r.bad = "is not a string";
		return r;
	}
	v = a->valuestring;
	if (!v[0])
		r.type = ADMISSION_AA_NONE;
	else if (strcmp(v, "runtime/default") == 0)
		r.type = ADMISSION_AA_RUNTIME_DEFAULT;
	else if (strcmp(v, "unconfined") == 0)
		r.type = ADMISSION_AA_UNCONFINED;
	else if (strncmp(v, "localhost/", 10) == 0 && v[10] && !admission_aa_padded(v + 10)) {
		r.type = ADMISSION_AA_LOCALHOST;
		r.profile = v + 10;
	}
	return r;
}

bool admission_aa_valid(admission_aa r)
{
	return r.type != ADMISSION_AA_NONE && r.type != ADMISSION_AA_INVALID;
}

bool admission_aa_agree(admission_aa a, admission_aa b)
{
	if (a.type != b.type)
		return false;
	return a.type != ADMISSION_AA_LOCALHOST || strcmp(a.profile, b.profile) == 0;
}

bool admission_aa_is_custom(const char *profile)
{
	return strncmp(profile, CONTRACT_PROFILE_PREFIX, strlen(CONTRACT_PROFILE_PREFIX)) == 0;
}

const char *admission_aa_type_name(admission_aa_type t)
{
	switch (t) {
	case ADMISSION_AA_RUNTIME_DEFAULT: return "RuntimeDefault";
	case ADMISSION_AA_LOCALHOST: return "Localhost";
	case ADMISSION_AA_UNCONFINED: return "Unconfined";
	default: return "";
	}
}
