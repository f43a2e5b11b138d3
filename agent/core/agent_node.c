/* agent_node: Node labels / status annotation / merge patch (pure). */
#include "agent_node.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *agent_node_pstate_name(agent_pstate s)
{
	switch (s) {
	case AGENT_PSTATE_LOADED: return "loaded";
	case AGENT_PSTATE_REMOVAL_DEFERRED: return "removal-deferred";
	case AGENT_PSTATE_ERROR:
	case AGENT_PSTATE_COUNT: break;
	}
	return "error";
}

static const char *agent_node_apparmor_value(bool apparmor)
{
	return apparmor ? CONTRACT_APPARMOR_ENABLED : CONTRACT_APPARMOR_UNSUPPORTED;
}

cJSON *agent_node_wanted_labels(bool apparmor, const agent_klist *kernel)
{
	cJSON *o = cJSON_CreateObject();
	if (!o)
		return NULL;
	if (!cJSON_AddStringToObject(o, CONTRACT_LABEL_APPARMOR, agent_node_apparmor_value(apparmor)))
		goto fail;
	if (!apparmor)
		return o;
	for (size_t i = 0; kernel && i < kernel->n; i++) {
		char key[sizeof(CONTRACT_LABEL_PROFILE_PREFIX) + AGENT_NAME_CAP];
		if (!contract_profile_name_valid(kernel->items[i].name))
			continue;
		snprintf(key, sizeof(key), "%s%s", CONTRACT_LABEL_PROFILE_PREFIX, kernel->items[i].name);
		if (!cJSON_GetObjectItemCaseSensitive(o, key) &&
		    !cJSON_AddStringToObject(o, key, CONTRACT_PROFILE_LOADED))
			goto fail;
	}
	return o;
fail:
	cJSON_Delete(o);
	return NULL;
}

static cJSON *agent_node_status_obj(const agent_status *st, const char *observed_at)
{
	cJSON *o = cJSON_CreateObject(), *ps = NULL;
	if (!o)
		return NULL;
	if (!cJSON_AddStringToObject(o, "agentVersion", st->agent_version ? st->agent_version : "") ||
	    !cJSON_AddStringToObject(o, "apparmor", agent_node_apparmor_value(st->apparmor)) ||
	    !cJSON_AddStringToObject(o, "bootID", st->boot_id ? st->boot_id : ""))
		goto fail;
	if (observed_at && !cJSON_AddStringToObject(o, "observedAt", observed_at))
		goto fail;
	if (st->source && !cJSON_AddStringToObject(o, "source", st->source))
		goto fail;
	ps = cJSON_AddObjectToObject(o, "profiles");
	if (!ps)
		goto fail;
	for (size_t i = 0; i < st->n; i++) {
		const agent_pstatus *p = &st->profiles[i];
		cJSON *e = cJSON_AddObjectToObject(ps, p->name);
		if (!e || !cJSON_AddStringToObject(e, "sha256", p->sha256) ||
		    !cJSON_AddStringToObject(e, "mode", p->mode) ||
		    !cJSON_AddStringToObject(e, "state", agent_node_pstate_name(p->state)) ||
		    !cJSON_AddStringToObject(e, "message", p->message))
			goto fail;
	}
	return o;
fail:
	cJSON_Delete(o);
	return NULL;
}

char *agent_node_status_json(const agent_status *st, const char *observed_at)
{
	cJSON *o = agent_node_status_obj(st, observed_at);
	char *s = o ? cJSON_PrintUnformatted(o) : NULL;
	cJSON_Delete(o);
	return s;
}

/* Is the current annotation the same as what we want, observedAt aside? */
static bool agent_node_status_same(const cJSON *cur_annotations, const agent_status *st)
{
	const cJSON *a = cJSON_GetObjectItemCaseSensitive(cur_annotations, CONTRACT_ANNOTATION_STATUS);
	bool same = false;
	if (!cJSON_IsString(a) || !a->valuestring)
		return false;
	cJSON *cur = cJSON_Parse(a->valuestring);
	cJSON *want = agent_node_status_obj(st, NULL);
	if (cur && want && cJSON_IsObject(cur)) {
		cJSON_DeleteItemFromObjectCaseSensitive(cur, "observedAt");
		same = cJSON_Compare(cur, want, true);
	}
	cJSON_Delete(cur);
	cJSON_Delete(want);
	return same;
}

int agent_node_patch(const cJSON *cur_labels, const cJSON *cur_annotations, const cJSON *wanted_labels,
		     const agent_status *st, const char *observed_at, char **patch, ag_err *err)
{
	cJSON *root = NULL, *md, *labels;
	bool changed = false;

	*patch = NULL;
	root = cJSON_CreateObject();
	md = root ? cJSON_AddObjectToObject(root, "metadata") : NULL;
	labels = md ? cJSON_AddObjectToObject(md, "labels") : NULL;
	if (!labels)
		goto nomem;
	const cJSON *w;
	cJSON_ArrayForEach (w, wanted_labels) {
		const cJSON *c = cJSON_GetObjectItemCaseSensitive(cur_labels, w->string);
		if (cJSON_IsString(c) && c->valuestring && strcmp(c->valuestring, w->valuestring) == 0)
			continue;
		if (!cJSON_AddStringToObject(labels, w->string, w->valuestring))
			goto nomem;
		changed = true;
	}
	const cJSON *c;
	cJSON_ArrayForEach (c, cur_labels) {
		if (!c->string ||
		    strncmp(c->string, CONTRACT_LABEL_PROFILE_PREFIX, sizeof(CONTRACT_LABEL_PROFILE_PREFIX) - 1) != 0)
			continue;
		if (cJSON_GetObjectItemCaseSensitive(wanted_labels, c->string))
			continue;
		if (!cJSON_AddNullToObject(labels, c->string))
			goto nomem;
		changed = true;
	}
	if (!changed)
		cJSON_DeleteItemFromObjectCaseSensitive(md, "labels");
	if (!agent_node_status_same(cur_annotations, st)) {
		char *s = agent_node_status_json(st, observed_at);
		cJSON *ann = s ? cJSON_AddObjectToObject(md, "annotations") : NULL;
		if (!ann || !cJSON_AddStringToObject(ann, CONTRACT_ANNOTATION_STATUS, s)) {
			free(s);
			goto nomem;
		}
		free(s);
		changed = true;
	}
	if (changed) {
		*patch = cJSON_PrintUnformatted(root);
		if (!*patch)
			goto nomem;
	}
	cJSON_Delete(root);
	return 0;
nomem:
	cJSON_Delete(root);
	return err_set(err, ENOMEM, "out of memory building the Node patch");
}

int agent_node_patch_for(const cJSON *node, const cJSON *wanted_labels, const agent_status *st, const char *observed_at,
			 char **patch, ag_err *err)
{
	const cJSON *md = cJSON_GetObjectItemCaseSensitive(node, "metadata");
	const cJSON *l = cJSON_GetObjectItemCaseSensitive(md, "labels");
	const cJSON *a = cJSON_GetObjectItemCaseSensitive(md, "annotations");
	return agent_node_patch(cJSON_IsObject(l) ? l : NULL, cJSON_IsObject(a) ? a : NULL, wanted_labels, st,
				observed_at, patch, err);
}
