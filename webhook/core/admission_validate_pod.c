/* admission_validate_pod: denials for Pods whose AppArmor settings are
 * malformed or name a profile no suitable node has (see
 * admission_validate_pod.h). Every problem is listed in one message that
 * names the profile, the container and what to do. */
#include "admission_validate_pod.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "admission_pod.h"
#include "admission_problems.h"
#include "admission_reply.h"
#include "contract.h"
#include "jsonget.h"

/* A warn-mode warning: this, then the problems. */
#define ADMISSION_VALIDATE_POD_WARN_HEAD "armorgate (enforcement=warn, admitted anyway) would deny this pod: "

/* The problem, if any, with the custom profile one container (or the pod,
 * what = "pod (spec.securityContext)") uses. */
static void admission_validate_pod_profile(const admission_env *env, const admission_pod *p, admission_problems *m,
					   const char *what, const char *name, const char *profile)
{
	nodeset_node_state st;

	if (!admission_aa_is_custom(profile))
		return;
	if (!contract_profile_name_valid(profile)) {
		admission_problems_add(
			m,
			"%s \"%.253s\" uses AppArmor profile \"%.253s\", which is not a valid armorgate profile name "
			"(custom.<name>: letters, digits, '-', '.', '_', starting and ending with a letter or digit, at most 63 "
			"characters)",
			what, name, profile);
		return;
	}
	if (p->node_name) {
		st = env->nodes ? nodeset_node_has(env->nodes, p->node_name, profile) : NODESET_NODE_UNKNOWN;
		if (st == NODESET_NODE_READY)
			return;
		if (st == NODESET_NODE_NOT_LOADED)
			admission_problems_add(
				m,
				"%s \"%.253s\" uses AppArmor profile \"%s\", but node \"%.253s\" cannot run it (%s). Add "
				"the key \"%s\" to ConfigMap %s/%s and wait until the node reports it: kubectl get nodes -L " CONTRACT_LABEL_PROFILE_PREFIX
				"%s",
				what, name, profile, p->node_name, nodeset_node_state_text(st), profile,
				env->profiles_namespace, env->profiles_name, profile);
		else
			/* Loading the profile would not help: another node is needed. */
			admission_problems_add(
				m,
				"%s \"%.253s\" uses AppArmor profile \"%s\", but node \"%.253s\" cannot run it (%s). Pick a "
				"node that has AppArmor and the profile: kubectl get nodes -L " CONTRACT_LABEL_APPARMOR
				"," CONTRACT_LABEL_PROFILE_PREFIX "%s",
				what, name, profile, p->node_name, nodeset_node_state_text(st), profile);
		return;
	}
	if (env->nodes && nodeset_any_has(env->nodes, profile))
		return;
	admission_problems_add(
		m,
		"%s \"%.253s\" uses AppArmor profile \"%s\", which no node has loaded. Add the key \"%s\" to "
		"ConfigMap %s/%s and wait until a node reports it: kubectl get nodes -L " CONTRACT_LABEL_PROFILE_PREFIX
		"%s",
		what, name, profile, profile, env->profiles_namespace, env->profiles_name, profile);
}

/* The pod's nodeSelector asks for nodes with profile loaded. */
static bool admission_validate_pod_pinned(const admission_pod *p, const char *profile)
{
	char key[sizeof(CONTRACT_LABEL_PROFILE_PREFIX) + CONTRACT_PROFILE_NAME_MAX + 1];
	const char *v;

	if (!cJSON_IsObject(p->node_selector))
		return false;
	snprintf(key, sizeof(key), CONTRACT_LABEL_PROFILE_PREFIX "%s", profile);
	v = jsonget_str(p->node_selector, key);
	return v && strcmp(v, CONTRACT_PROFILE_LOADED) == 0;
}

/* A new ephemeral container of a pod not scheduled yet: its nodeSelector
 * cannot change any more, so only the profiles it pins are sure to be on
 * the node the pod lands on. */
static void admission_validate_pod_unscheduled(const admission_pod *p, admission_problems *m,
					       const admission_pod_ctr *c, const char *profile)
{
	if (p->node_name || !admission_aa_is_custom(profile) || !contract_profile_name_valid(profile) ||
	    admission_validate_pod_pinned(p, profile))
		return;
	admission_problems_add(
		m,
		"%s \"%.253s\" uses AppArmor profile \"%s\", but the pod is not scheduled yet and its nodeSelector "
		"does not ask for that profile (it cannot change now), so the pod may land on a node without it. "
		"Wait until the pod runs on a node (spec.nodeName) and add the container again, or use a profile the "
		"pod's nodeSelector already asks for",
		c->what, c->name, profile);
}

/* The problems of one container; true when it runs under the pod-level
 * profile (so that one has been checked). */
static bool admission_validate_pod_ctr(const admission_env *env, const admission_pod *p, const admission_pod_ctr *c,
				       bool ephemeral_only, admission_problems *m)
{
	admission_aa eff = admission_pod_effective(p, c);
	bool pod_checked = false;

	if (c->own.type == ADMISSION_AA_INVALID)
		admission_problems_add(m, "%s \"%.253s\": securityContext.appArmorProfile %s", c->what, c->name,
				       c->own.bad);
	if (c->annref.type == ADMISSION_AA_INVALID && !ephemeral_only)
		admission_problems_add(m, "%s \"%.253s\": annotation \"%.300s\" %s", c->what, c->name, c->ann->string,
				       c->annref.bad);
	if (admission_aa_valid(eff) && admission_aa_valid(c->annref) && !admission_aa_agree(eff, c->annref) &&
	    !ephemeral_only)
		admission_problems_add(
			m,
			"%s \"%.253s\": the AppArmor annotation \"%.300s\" and securityContext.appArmorProfile "
			"disagree; remove the annotation or make them match",
			c->what, c->name, c->ann->string);
	if (eff.type == ADMISSION_AA_LOCALHOST) {
		admission_validate_pod_profile(env, p, m, c->what, c->name, eff.profile);
		if (ephemeral_only)
			admission_validate_pod_unscheduled(p, m, c, eff.profile);
		pod_checked = c->own.type == ADMISSION_AA_NONE;
	}
	if (c->annref.type == ADMISSION_AA_LOCALHOST && !ephemeral_only &&
	    (eff.type != ADMISSION_AA_LOCALHOST || strcmp(eff.profile, c->annref.profile) != 0))
		admission_validate_pod_profile(env, p, m, c->what, c->name, c->annref.profile);
	return pod_checked;
}

/* The problems of the whole pod into m. */
static void admission_validate_pod_problems(const admission_env *env, const admission_pod *p, const char *pod_name,
					    bool ephemeral_only, admission_problems *m)
{
	bool pod_checked = false;

	if (p->pod.type == ADMISSION_AA_INVALID && !ephemeral_only)
		admission_problems_add(m, "pod securityContext.appArmorProfile %s", p->pod.bad);
	for (size_t i = 0; i < p->n; i++) {
		const admission_pod_ctr *c = &p->ctrs[i];

		if (ephemeral_only && (c->kind != ADMISSION_POD_EPHEMERAL_CONTAINERS || !c->is_new))
			continue;
		if (admission_validate_pod_ctr(env, p, c, ephemeral_only, m))
			pod_checked = true;
	}
	if (ephemeral_only)
		return;
	for (size_t a = 0; a < p->nanns; a++)
		if (!p->ann_used[a])
			admission_problems_add(m, "annotation \"%.300s\" names a container the pod does not have",
					       p->anns[a]->string);
	if (p->pod.type == ADMISSION_AA_LOCALHOST && !pod_checked)
		admission_validate_pod_profile(env, p, m, "pod (spec.securityContext)", pod_name ? pod_name : "",
					       p->pod.profile);
}

/* The problems found, as enforcement says: a denial, or (warn) an allow
 * whose warning names them; kubectl prints it as "Warning: ...". */
static void admission_validate_pod_refuse(const char *uid, const char *text, const admission_env *env,
					  admission_result *res)
{
	static const char head[] = "armorgate: ";
	char *warn;
	size_t n;

	if (!text || env->enforcement != ADMISSION_ENFORCE_WARN || strncmp(text, head, sizeof(head) - 1) != 0) {
		admission_reply_deny(res, uid, text);
		return;
	}
	n = strlen(text) + sizeof(ADMISSION_VALIDATE_POD_WARN_HEAD);
	warn = malloc(n);
	if (!warn) {
		admission_reply_oom(res);
		return;
	}
	snprintf(warn, n, ADMISSION_VALIDATE_POD_WARN_HEAD "%s", text + sizeof(head) - 1);
	admission_reply_reason(res, warn);
	admission_reply_review(res, uid, true, NULL, warn, NULL);
	res->warned = res->verdict == ADMISSION_VERDICT_ALLOW;
	free(warn);
}

void admission_validate_pod(const char *uid, const cJSON *obj, const cJSON *old, bool ephemeral_only, bool has_nul,
			    const admission_env *env, admission_result *res)
{
	admission_pod p;
	admission_problems m;
	ag_err err;
	char *text = NULL;

	if (env->enforcement == ADMISSION_ENFORCE_OFF) {
		admission_reply_reason(res, "enforcement off: pod not checked");
		admission_reply_review(res, uid, true, NULL, NULL, NULL);
		return;
	}
	admission_problems_init(&m, 0);
	memset(&p, 0, sizeof(p));
	if (has_nul) {
		/* cJSON ends a string at its NUL: "custom.web\u0000x" would read as
		 * custom.web. Refused like a profiles ConfigMap with one. */
		admission_problems_add(&m, "%s", ADMISSION_NUL_PROBLEM);
		text = admission_problems_finish(&m);
		admission_validate_pod_refuse(uid, text, env, res);
		goto cleanup;
	}
	if (admission_pod_load(obj, old, &p, &err) != 0) {
		if (err.code == E2BIG) {
			/* A real pod could be this big: fail closed rather than skip checks. */
			admission_problems_add(&m, "%.200s", err.msg);
			text = admission_problems_finish(&m);
			admission_validate_pod_refuse(uid, text, env, res);
		} else if (err.code == ENOMEM) {
			admission_reply_oom(res);
		} else {
			admission_reply_allow_warn(res, uid, "armorgate: pod not validated: %s", err.msg);
		}
		goto cleanup;
	}
	admission_validate_pod_problems(env, &p, jsonget_str(jsonget_item(obj, "metadata"), "name"), ephemeral_only,
					&m);
	if (!m.count) {
		admission_reply_reason(res, "pod AppArmor profiles available");
		admission_reply_review(res, uid, true, NULL, NULL, NULL);
		goto cleanup;
	}
	text = admission_problems_finish(&m);
	admission_validate_pod_refuse(uid, text, env, res);
cleanup:
	free(text);
	admission_problems_cleanup(&m);
	admission_pod_cleanup(&p);
}
