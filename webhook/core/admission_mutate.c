/* admission_mutate: the JSONPatch for a Pod CREATE (see admission_mutate.h).
 * A conflict between an annotation and a field is left alone for the
 * validating webhook to refuse; a pod we cannot read is allowed with a
 * warning, unchanged. */
#include "admission_mutate.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "admission_pod.h"
#include "admission_reply.h"
#include "contract.h"
#include "jsonget.h"
#include "jsonout.h"

/* Starts one operation of the patch, up to the opening quote of its path. */
static int admission_mutate_op(buf *ops, const char *op)
{
	int rc = 0;

	if (ops->len)
		rc |= buf_appends(ops, ",");
	rc |= buf_appends(ops, "{\"op\":\"");
	rc |= buf_appends(ops, op);
	rc |= buf_appends(ops, "\",\"path\":\"");
	return rc ? -1 : 0;
}

static int admission_mutate_aa_value(buf *ops, admission_aa r)
{
	int rc = 0;

	rc |= buf_appends(ops, "{\"type\":\"");
	rc |= buf_appends(ops, admission_aa_type_name(r.type));
	if (r.type == ADMISSION_AA_LOCALHOST) {
		rc |= buf_appends(ops, "\",\"localhostProfile\":\"");
		rc |= jsonout_esc(ops, r.profile);
	}
	rc |= buf_appends(ops, "\"}");
	return rc ? -1 : 0;
}

/* The annotation's setting as c's securityContext.appArmorProfile. */
static int admission_mutate_set_field(buf *ops, const admission_pod_ctr *c)
{
	int rc = 0;

	rc |= admission_mutate_op(ops, "add");
	rc |= buf_appends(ops, "/spec/");
	rc |= buf_appends(ops, c->list);
	rc |= buf_appends(ops, "/");
	rc |= jsonout_size(ops, c->index);
	rc |= buf_appends(ops, "/securityContext");
	if (c->sc)
		rc |= buf_appends(ops, "/appArmorProfile\",\"value\":");
	else
		rc |= buf_appends(ops, "\",\"value\":{\"appArmorProfile\":");
	rc |= admission_mutate_aa_value(ops, c->annref);
	rc |= buf_appends(ops, c->sc ? "}" : "}}");
	return rc ? -1 : 0;
}

/* Annotations -> fields, and the removal of each annotation carried over or
 * already agreeing. Updates c->own to what the pod will hold. */
static int admission_mutate_containers(admission_pod *p, buf *ops)
{
	int rc = 0;

	/* ann_used now means "removal already in the patch". */
	if (p->nanns)
		memset(p->ann_used, 0, p->nanns * sizeof(*p->ann_used));
	for (size_t i = 0; i < p->n; i++) {
		admission_pod_ctr *c = &p->ctrs[i];
		admission_aa eff = admission_pod_effective(p, c);

		if (!admission_aa_valid(c->annref))
			continue; /* no annotation, empty, or invalid: validation's job */
		if (eff.type == ADMISSION_AA_NONE) {
			rc |= admission_mutate_set_field(ops, c);
			c->own = c->annref;
		} else if (!admission_aa_valid(eff) || !admission_aa_agree(eff, c->annref)) {
			continue; /* conflict: both stay so validation can refuse the pod */
		}
		/* Duplicate container names (refused later by the API server) share
		 * one annotation: remove it once, or the whole patch would fail. */
		if (p->ann_used[c->ann_idx])
			continue;
		p->ann_used[c->ann_idx] = true;
		rc |= admission_mutate_op(ops, "remove");
		rc |= buf_appends(ops, "/metadata/annotations/");
		rc |= jsonout_ptr_token(ops, c->ann->string);
		rc |= buf_appends(ops, "\"}");
	}
	return rc ? -1 : 0;
}

/* Collects distinct custom profiles worth a nodeSelector. */
static void admission_mutate_used_add(const char **used, size_t *n, size_t cap, admission_aa r)
{
	if (r.type != ADMISSION_AA_LOCALHOST || !admission_aa_is_custom(r.profile) ||
	    !contract_profile_name_valid(r.profile))
		return;
	for (size_t i = 0; i < *n; i++)
		if (strcmp(used[i], r.profile) == 0)
			return;
	if (*n < cap)
		used[(*n)++] = r.profile;
}

/* profiles.armorgate.io/<p>=loaded for each of used[0..nused) the
 * nodeSelector does not already hold; the nodeSelector is created when
 * absent or null. */
static int admission_mutate_node_selector(const admission_pod *p, const char **used, size_t nused, buf *ops)
{
	int rc = 0;

	if (nused && (!p->node_selector || cJSON_IsNull(p->node_selector))) {
		rc |= admission_mutate_op(ops, "add");
		rc |= buf_appends(ops, "/spec/nodeSelector\",\"value\":{");
		for (size_t i = 0; i < nused; i++) {
			rc |= buf_appends(ops,
					  i ? ",\"" CONTRACT_LABEL_PROFILE_PREFIX : "\"" CONTRACT_LABEL_PROFILE_PREFIX);
			rc |= jsonout_esc(ops, used[i]);
			rc |= buf_appends(ops, "\":\"" CONTRACT_PROFILE_LOADED "\"");
		}
		rc |= buf_appends(ops, "}}");
	} else if (nused && cJSON_IsObject(p->node_selector)) {
		for (size_t i = 0; i < nused; i++) {
			char key[sizeof(CONTRACT_LABEL_PROFILE_PREFIX) + CONTRACT_PROFILE_NAME_MAX + 1];
			const char *have;

			snprintf(key, sizeof(key), CONTRACT_LABEL_PROFILE_PREFIX "%s", used[i]);
			have = jsonget_str(p->node_selector, key);
			if (have && strcmp(have, CONTRACT_PROFILE_LOADED) == 0)
				continue;
			rc |= admission_mutate_op(ops, "add");
			rc |= buf_appends(ops, "/spec/nodeSelector/");
			rc |= jsonout_ptr_token(ops, key);
			rc |= buf_appends(ops, "\",\"value\":\"" CONTRACT_PROFILE_LOADED "\"}");
		}
	}
	return rc ? -1 : 0;
}

/* The answer: ops (operations without the brackets) as the patch, or none. */
static void admission_mutate_answer(const char *uid, const buf *ops, size_t nused, admission_result *res)
{
	buf patch;

	if (!ops->len) {
		admission_reply_reason(res, "nothing to mutate");
		admission_reply_review(res, uid, true, NULL, NULL, NULL);
		return;
	}
	buf_init(&patch, ADMISSION_RESPONSE_MAX / 2 + 2);
	if (buf_appends(&patch, "[") != 0 || buf_append(&patch, ops->data, ops->len) != 0 ||
	    buf_appends(&patch, "]") != 0) {
		admission_reply_oom(res);
	} else {
		admission_reply_reason_count(res, "patched: ", nused, " custom profile(s) pinned by nodeSelector");
		admission_reply_review(res, uid, true, &patch, NULL, NULL);
	}
	buf_cleanup(&patch);
}

void admission_mutate_pod(const char *uid, const cJSON *obj, admission_result *res)
{
	admission_pod p;
	ag_err err;
	const char **used = NULL;
	size_t nused = 0;
	buf ops;

	buf_init(&ops, ADMISSION_RESPONSE_MAX / 2);
	if (admission_pod_load(obj, NULL, &p, &err) != 0) {
		if (err.code == ENOMEM)
			admission_reply_oom(res);
		else
			admission_reply_allow_warn(res, uid, "armorgate: pod not mutated: %s", err.msg);
		goto cleanup;
	}
	used = calloc(p.n + 1, sizeof(*used));
	if (!used) {
		admission_reply_oom(res);
		goto cleanup;
	}
	if (admission_mutate_containers(&p, &ops) != 0)
		goto oom;
	admission_mutate_used_add(used, &nused, p.n + 1, p.pod);
	for (size_t i = 0; i < p.n; i++)
		admission_mutate_used_add(used, &nused, p.n + 1, p.ctrs[i].own);
	if (admission_mutate_node_selector(&p, used, nused, &ops) != 0)
		goto oom;
	admission_mutate_answer(uid, &ops, nused, res);
	goto cleanup;
oom:
	admission_reply_oom(res);
cleanup:
	free(used);
	buf_cleanup(&ops);
	admission_pod_cleanup(&p);
}
