/* admission_validate_configmap: denial of a profiles ConfigMap that breaks
 * the profile rules, with every broken key listed (see
 * admission_validate_configmap.h). */
#include "admission_validate_configmap.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "admission_problems.h"
#include "admission_reply.h"
#include "jsonget.h"
#include "profile.h"

/* Rules for every entry; the compile check only for entries that are new or
 * changed since oldObject: an unchanged profile was compiled when it was
 * admitted, and the agent compiles again before loading anyway. Keeps the
 * update of a large ConfigMap inside the webhook timeout. cerr gets a message
 * only when nothing was checked (over the count limit). */
static void admission_validate_configmap_check(profile_entry *entries, size_t n, const cJSON *old_data,
					       const admission_env *env, ag_err *cerr)
{
	profile_entry *sub = NULL;
	size_t *idx = NULL;
	size_t m = 0;

	if (profile_check_entries(entries, n, &env->limits, cerr) > 0 && cerr->msg[0])
		return;
	if (!env->compile || !n)
		return;
	sub = calloc(n, sizeof(*sub));
	idx = calloc(n, sizeof(*idx));
	for (size_t i = 0; i < n; i++) {
		const char *was;

		if (!entries[i].ok)
			continue;
		was = jsonget_str(old_data, entries[i].key);
		if (was && strcmp(was, entries[i].text) == 0)
			continue;
		if (!sub || !idx) {
			/* Fail closed: what could not be compiled is not admitted. */
			entries[i].ok = false;
			snprintf(entries[i].message, sizeof(entries[i].message), "not compiled: out of memory");
			continue;
		}
		sub[m] = entries[i];
		idx[m++] = i;
	}
	if (m && env->compile(env->compile_ctx, sub, m) > 0) {
		for (size_t j = 0; j < m; j++) {
			if (sub[j].ok)
				continue;
			entries[idx[j]].ok = false;
			memcpy(entries[idx[j]].message, sub[j].message, sizeof(sub[j].message));
		}
	}
	free(sub);
	free(idx);
}

/* The string members of data as entries (borrowed), the others as
 * problems. -1 when out of memory. */
static int admission_validate_configmap_entries(const cJSON *data, profile_entry **out, size_t *n,
						admission_problems *m)
{
	size_t total = (size_t)cJSON_GetArraySize(data);
	profile_entry *entries = calloc(total ? total : 1, sizeof(*entries));
	const cJSON *it;

	*out = entries;
	*n = 0;
	if (!entries)
		return -1;
	cJSON_ArrayForEach (it, data) {
		if (!it->string)
			continue;
		if (!cJSON_IsString(it)) {
			admission_problems_add(m, "\"%.253s\": value is not a string", it->string);
			continue;
		}
		entries[*n].key = it->string;
		entries[*n].text = it->valuestring;
		entries[*n].len = strlen(it->valuestring);
		(*n)++;
	}
	return 0;
}

/* The problems of obj (data, binaryData) into m; *n: profiles seen. -1 when
 * out of memory. */
static int admission_validate_configmap_problems(const cJSON *obj, const cJSON *old, const admission_env *env,
						 admission_problems *m, size_t *n)
{
	const cJSON *data = jsonget_item(obj, "data");
	const cJSON *bin = jsonget_item(obj, "binaryData");
	const cJSON *it;
	profile_entry *entries = NULL;
	ag_err cerr;

	*n = 0;
	err_clear(&cerr);
	if (data && !cJSON_IsNull(data) && !cJSON_IsObject(data))
		admission_problems_add(m, "data is not an object");
	if (!cJSON_IsObject(bin))
		bin = NULL;
	cJSON_ArrayForEach (it, bin) {
		admission_problems_add(m, "\"%.253s\": binaryData is not allowed, put the profile text under data",
				       it->string);
	}
	if (!cJSON_IsObject(data))
		return 0;
	if (admission_validate_configmap_entries(data, &entries, n, m) != 0)
		return -1;
	admission_validate_configmap_check(entries, *n, jsonget_item(old, "data"), env, &cerr);
	/* Over the count limit nothing was checked: one line says so. */
	if (cerr.msg[0])
		admission_problems_add(m, "%s", cerr.msg);
	for (size_t i = 0; i < *n && !cerr.msg[0]; i++) {
		if (entries[i].ok)
			continue;
		if (strstr(entries[i].message, entries[i].key))
			admission_problems_add(m, "%s", entries[i].message);
		else
			admission_problems_add(m, "\"%.253s\": %s", entries[i].key, entries[i].message);
	}
	free(entries);
	return 0;
}

/* "armorgate: ConfigMap NS/NAME refused, N problem(s): ..." on the heap. */
static char *admission_validate_configmap_message(const admission_env *env, const admission_problems *m)
{
	admission_problems full;
	char head[512];
	char *text;

	admission_problems_init(&full, 1024);
	snprintf(head, sizeof(head), "ConfigMap %s/%s refused, %zu problem(s): ", env->profiles_namespace,
		 env->profiles_name, m->count);
	full.rc |= buf_appends(&full.b, head);
	full.rc |= buf_append(&full.b, m->b.data ? m->b.data : "", m->b.len);
	full.dropped = m->dropped;
	full.rc |= m->rc;
	text = admission_problems_finish(&full);
	admission_problems_cleanup(&full);
	return text;
}

void admission_validate_configmap(const char *uid, const cJSON *obj, const cJSON *old, const admission_env *env,
				  admission_result *res)
{
	admission_problems m;
	size_t n = 0;
	char *text = NULL;

	admission_problems_init(&m, 0);
	if (admission_validate_configmap_problems(obj, old, env, &m, &n) != 0) {
		admission_reply_oom(res);
		goto cleanup;
	}
	if (!m.count) {
		snprintf(res->reason, sizeof(res->reason), "profiles ConfigMap accepted (%zu profile(s))", n);
		admission_reply_review(res, uid, true, NULL, NULL, NULL);
	} else {
		text = admission_validate_configmap_message(env, &m);
		admission_reply_deny(res, uid, text);
	}
	res->profile_check = res->verdict != ADMISSION_VERDICT_ERROR;
cleanup:
	free(text);
	admission_problems_cleanup(&m);
}
