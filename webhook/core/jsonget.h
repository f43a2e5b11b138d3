/* jsonget: type-checked member lookups in a cJSON tree, inline because the
 * admission rules make dozens of them per review. Pure: no globals. */
#ifndef ARMORGATE_JSONGET_H
#define ARMORGATE_JSONGET_H

#include <string.h>

#include <cjson/cJSON.h>

/* cJSON_GetObjectItemCaseSensitive's answer (the first member named k; the
 * search ends at a member without a name), with the first byte compared
 * before strcmp: names in a Pod mostly differ at once. NULL when o is not an
 * object. */
static inline const cJSON *jsonget_item(const cJSON *o, const char *k)
{
	const cJSON *c;

	if (!cJSON_IsObject(o) || !k)
		return NULL;
	for (c = o->child; c && c->string; c = c->next)
		if (c->string[0] == k[0] && strcmp(c->string, k) == 0)
			return c;
	return NULL;
}

/* The string value of member k, or NULL when absent or not a string. */
static inline const char *jsonget_str(const cJSON *o, const char *k)
{
	const cJSON *v = jsonget_item(o, k);

	return cJSON_IsString(v) ? v->valuestring : NULL;
}

#endif
