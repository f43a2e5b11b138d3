/* admission: the AdmissionReview envelope. Parses the request (one
 * jsonprune_load call: a pruned tree or a 400 reason), checks apiVersion,
 * kind and uid, and routes by operation, resource and subresource to the
 * rules: admission_mutate.c, admission_validate_pod.c,
 * admission_validate_configmap.c. Answers are written by admission_reply.c.
 * Trust boundary: the request body is untrusted. Its nesting is bounded
 * before cJSON sees it, every lookup is type-checked, and any object we do
 * not understand is allowed with a warning instead of being guessed at.
 * Decisions beyond DESIGN.md (tested in test/webhook-core):
 *  - "agrees" compares the annotation with the container's effective setting
 *    (its own field, else the pod-level one), as the API server does;
 *  - an empty annotation value means "no setting" (Kubernetes accepts it);
 *  - a pod-level custom profile gets its nodeSelector even when every
 *    container overrides it, and validation checks it the same way;
 *  - validation also checks profiles named only by annotations (the mutating
 *    webhook may not have run) and refuses annotations for absent containers;
 *  - pods/ephemeralcontainers UPDATE checks only the ephemeral containers
 *    that are new compared with oldObject (the others already run);
 *  - a pod with more than 4096 containers is refused by validate (fail
 *    closed) and left alone by mutate;
 *  - a profiles ConfigMap UPDATE runs the compile check only on new or
 *    changed profiles (the rules still run on all); one with a \u0000 escape
 *    is refused, since cJSON would cut the text short;
 *  - so is a pod with one anywhere in its review (a profile name would be cut
 *    short: "custom.web\u0000x" read as custom.web), and mutate leaves it
 *    alone; only AppArmor pods reach the webhook (matchConditions). */
#include "admission.h"

#include <stdio.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "admission_mutate.h"
#include "admission_reply.h"
#include "admission_validate_configmap.h"
#include "admission_validate_pod.h"
#include "jsonarena.h"
#include "jsonget.h"
#include "jsonprune.h"

#define ADMISSION_API_VERSION "admission.k8s.io/v1"

enum { ADMISSION_UID_MAX = 128 };

/* Every member the rules read of an AdmissionReview (Pod or ConfigMap: this
 * file, admission_pod.c, admission_validate_*.c); the rest of a review is
 * skipped unparsed (jsonprune.h). A member read there must be listed here:
 * the golden and unit tests run through this path.
 * ADMISSION_OBJECT(name, members...): an object node keeping those members. */
#define ADMISSION_OBJECT(name, ...)                                                                                    \
	static const jsonprune_member name##_members[] = { __VA_ARGS__ };                                              \
	static const jsonprune_node name = { name##_members, sizeof(name##_members) / sizeof(name##_members[0]), NULL }

/* Of a securityContext only its presence and appArmorProfile matter: the
 * rest (capabilities, user ids, seccomp) is skipped, not built. */
ADMISSION_OBJECT(admission_sc_node, JSONPRUNE_MEMBER("appArmorProfile", NULL));
ADMISSION_OBJECT(admission_ctr_node, JSONPRUNE_MEMBER("name", NULL),
		 JSONPRUNE_MEMBER("securityContext", &admission_sc_node));
static const jsonprune_node admission_ctrs_node = { NULL, 0, &admission_ctr_node };
ADMISSION_OBJECT(admission_spec_node, JSONPRUNE_MEMBER("containers", &admission_ctrs_node),
		 JSONPRUNE_MEMBER("initContainers", &admission_ctrs_node),
		 JSONPRUNE_MEMBER("ephemeralContainers", &admission_ctrs_node),
		 JSONPRUNE_MEMBER("securityContext", &admission_sc_node), JSONPRUNE_MEMBER("nodeName", NULL),
		 JSONPRUNE_MEMBER("nodeSelector", NULL));
ADMISSION_OBJECT(admission_meta_node, JSONPRUNE_MEMBER("name", NULL), JSONPRUNE_MEMBER("annotations", NULL));
ADMISSION_OBJECT(admission_obj_node, JSONPRUNE_MEMBER("metadata", &admission_meta_node),
		 JSONPRUNE_MEMBER("spec", &admission_spec_node), JSONPRUNE_MEMBER("data", NULL),
		 JSONPRUNE_MEMBER("binaryData", NULL));
ADMISSION_OBJECT(admission_req_node, JSONPRUNE_MEMBER("uid", NULL), JSONPRUNE_MEMBER("operation", NULL),
		 JSONPRUNE_MEMBER("resource", NULL), JSONPRUNE_MEMBER("kind", NULL),
		 JSONPRUNE_MEMBER("subResource", NULL), JSONPRUNE_MEMBER("namespace", NULL),
		 JSONPRUNE_MEMBER("name", NULL), JSONPRUNE_MEMBER("object", &admission_obj_node),
		 JSONPRUNE_MEMBER("oldObject", &admission_obj_node));
ADMISSION_OBJECT(admission_review_node, JSONPRUNE_MEMBER("apiVersion", NULL), JSONPRUNE_MEMBER("kind", NULL),
		 JSONPRUNE_MEMBER("request", &admission_req_node));

/* What a request is about, from its resource and subresource. */
typedef enum {
	ADMISSION_TARGET_OTHER,
	ADMISSION_TARGET_POD,           /* pods */
	ADMISSION_TARGET_POD_EPHEMERAL, /* pods/ephemeralcontainers */
	ADMISSION_TARGET_CONFIGMAP,     /* configmaps */
} admission_target;

typedef enum { ADMISSION_VERB_OTHER, ADMISSION_VERB_CREATE, ADMISSION_VERB_UPDATE } admission_verb;

/* What a request asks, as read from its envelope. The strings stay for
 * messages; target and verb are what the routing looks at. */
typedef struct admission_request {
	const cJSON *req;
	const char *uid;
	const char *operation;
	const char *resource; /* NULL: not one we know */
	const char *group;
	const char *sub; /* subResource, NULL when none */
	const cJSON *obj;
	admission_target target;
	admission_verb verb;
	bool has_nul; /* some string holds a \u0000 escape */
} admission_request;

const char *admission_op_name(admission_op op)
{
	return op == ADMISSION_MUTATE ? "mutate" : "validate";
}

const char *admission_verdict_name(admission_verdict v)
{
	switch (v) {
	case ADMISSION_VERDICT_ALLOW: return "allow";
	case ADMISSION_VERDICT_DENY: return "deny";
	case ADMISSION_VERDICT_PATCH: return "patch";
	default: return "error";
	}
}

int admission_enforcement_parse(const char *s, admission_enforcement *out)
{
	static const admission_enforcement all[] = { ADMISSION_ENFORCE_DENY, ADMISSION_ENFORCE_WARN,
						     ADMISSION_ENFORCE_OFF };

	for (size_t i = 0; s && i < sizeof(all) / sizeof(all[0]); i++)
		if (strcmp(s, admission_enforcement_name(all[i])) == 0) {
			*out = all[i];
			return 0;
		}
	return -1;
}

const char *admission_enforcement_name(admission_enforcement e)
{
	switch (e) {
	case ADMISSION_ENFORCE_WARN: return "warn";
	case ADMISSION_ENFORCE_OFF: return "off";
	default: return "deny";
	}
}

/* The envelope of root: 0, or -1 with a 400 answered. */
static int admission_envelope(const cJSON *root, admission_request *rq, admission_result *res)
{
	const char *api = jsonget_str(root, "apiVersion");
	const char *kind = jsonget_str(root, "kind");

	if (!cJSON_IsObject(root)) {
		admission_reply_text(res, 400, "request body is not a JSON object");
		return -1;
	}
	if (!api || strcmp(api, ADMISSION_API_VERSION) != 0) {
		admission_reply_text(res, 400, "apiVersion must be " ADMISSION_API_VERSION);
		return -1;
	}
	if (!kind || strcmp(kind, "AdmissionReview") != 0) {
		admission_reply_text(res, 400, "kind must be AdmissionReview");
		return -1;
	}
	rq->req = jsonget_item(root, "request");
	if (!cJSON_IsObject(rq->req)) {
		admission_reply_text(res, 400, "AdmissionReview has no request object");
		return -1;
	}
	rq->uid = jsonget_str(rq->req, "uid");
	if (!rq->uid || !rq->uid[0]) {
		admission_reply_text(res, 400, "request.uid is missing");
		return -1;
	}
	if (strlen(rq->uid) > ADMISSION_UID_MAX) {
		admission_reply_text(res, 400, "request.uid is longer than 128 bytes");
		return -1;
	}
	return 0;
}

static bool admission_is(const char *have, const char *want)
{
	return have && strcmp(have, want) == 0;
}

/* Operation, resource (or, without one, the kind: hand-written reviews),
 * subresource and object of the request. */
static void admission_route(admission_request *rq)
{
	const cJSON *res_kind = jsonget_item(rq->req, "resource");

	rq->operation = jsonget_str(rq->req, "operation");
	if (cJSON_IsObject(res_kind)) {
		rq->resource = jsonget_str(res_kind, "resource");
		rq->group = jsonget_str(res_kind, "group");
	} else {
		const cJSON *kind = jsonget_item(rq->req, "kind");
		const char *k = jsonget_str(kind, "kind");

		rq->group = jsonget_str(kind, "group");
		rq->resource = !k                     ? NULL
			: strcmp(k, "Pod") == 0       ? "pods"
			: strcmp(k, "ConfigMap") == 0 ? "configmaps"
						      : NULL;
	}
	rq->sub = jsonget_str(rq->req, "subResource");
	if (rq->sub && !rq->sub[0])
		rq->sub = NULL;
	rq->obj = jsonget_item(rq->req, "object");
	if (admission_is(rq->resource, "pods") && !rq->sub)
		rq->target = ADMISSION_TARGET_POD;
	else if (admission_is(rq->resource, "pods") && admission_is(rq->sub, "ephemeralcontainers"))
		rq->target = ADMISSION_TARGET_POD_EPHEMERAL;
	else if (admission_is(rq->resource, "configmaps") && !rq->sub)
		rq->target = ADMISSION_TARGET_CONFIGMAP;
	if (admission_is(rq->operation, "CREATE"))
		rq->verb = ADMISSION_VERB_CREATE;
	else if (admission_is(rq->operation, "UPDATE"))
		rq->verb = ADMISSION_VERB_UPDATE;
}

/* A request for the profiles ConfigMap (any other ConfigMap is allowed). */
static void admission_configmap(const admission_request *rq, const admission_env *env, admission_result *res)
{
	const char *ns = jsonget_str(rq->req, "namespace");
	const char *name = jsonget_str(rq->req, "name");
	bool create = rq->verb == ADMISSION_VERB_CREATE;
	bool update = rq->verb == ADMISSION_VERB_UPDATE;

	if (!name || !name[0])
		name = jsonget_str(jsonget_item(rq->obj, "metadata"), "name");
	if (!ns || !name || strcmp(ns, env->profiles_namespace) != 0 || strcmp(name, env->profiles_name) != 0) {
		admission_reply_reason(res, "not the profiles ConfigMap");
		admission_reply_review(res, rq->uid, true, NULL, NULL, NULL);
	} else if (rq->has_nul && (create || update)) {
		snprintf(res->reason, sizeof(res->reason),
			 "armorgate: ConfigMap %s/%s refused: it contains a NUL character (\\u0000); profiles are "
			 "plain text",
			 env->profiles_namespace, env->profiles_name);
		admission_reply_review(res, rq->uid, false, NULL, NULL, res->reason);
		res->profile_check = res->verdict == ADMISSION_VERDICT_DENY;
	} else if ((create || update) && cJSON_IsObject(rq->obj)) {
		admission_validate_configmap(rq->uid, rq->obj, update ? jsonget_item(rq->req, "oldObject") : NULL, env,
					     res);
	} else {
		snprintf(res->reason, sizeof(res->reason), "profiles ConfigMap %.20s needs no check", rq->operation);
		admission_reply_review(res, rq->uid, true, NULL, NULL, NULL);
	}
}

static void admission_mutate(const admission_request *rq, admission_result *res)
{
	bool pod_create = rq->target == ADMISSION_TARGET_POD && rq->verb == ADMISSION_VERB_CREATE;

	if (pod_create && rq->has_nul)
		admission_reply_allow_warn(res, rq->uid, "armorgate: pod not mutated: %s", ADMISSION_NUL_PROBLEM);
	else if (pod_create && cJSON_IsObject(rq->obj))
		admission_mutate_pod(rq->uid, rq->obj, res);
	else
		admission_reply_allow_warn(
			res, rq->uid, "armorgate: mutate handles only Pod CREATE (got %.20s %.60s%s%.60s); allowed",
			rq->operation, rq->resource, rq->sub ? "/" : "", rq->sub ? rq->sub : "");
}

static void admission_validate(const admission_request *rq, const admission_env *env, admission_result *res)
{
	if (rq->target == ADMISSION_TARGET_POD && rq->verb == ADMISSION_VERB_CREATE && cJSON_IsObject(rq->obj))
		admission_validate_pod(rq->uid, rq->obj, NULL, false, rq->has_nul, env, res);
	else if (rq->target == ADMISSION_TARGET_POD_EPHEMERAL && rq->verb == ADMISSION_VERB_UPDATE &&
		 cJSON_IsObject(rq->obj))
		admission_validate_pod(rq->uid, rq->obj, jsonget_item(rq->req, "oldObject"), true, rq->has_nul, env,
				       res);
	else if (rq->target == ADMISSION_TARGET_CONFIGMAP)
		admission_configmap(rq, env, res);
	else
		admission_reply_allow_warn(res, rq->uid,
					   "armorgate: validate does not handle %.20s %.60s%s%.60s; allowed",
					   rq->operation, rq->resource, rq->sub ? "/" : "", rq->sub ? rq->sub : "");
}

/* The review in root, answered into res. */
static void admission_review(admission_op op, const cJSON *root, bool has_nul, const admission_env *env,
			     admission_result *res)
{
	admission_request rq;

	memset(&rq, 0, sizeof(rq));
	rq.has_nul = has_nul;
	if (admission_envelope(root, &rq, res) != 0)
		return;
	admission_route(&rq);
	if (!rq.operation || !rq.resource || (rq.group && rq.group[0])) {
		admission_reply_allow_warn(
			res, rq.uid, "armorgate: %s does not handle this request (resource %.60s%s%.60s); allowed",
			admission_op_name(op), rq.resource ? rq.resource : "?", rq.sub ? "/" : "",
			rq.sub ? rq.sub : "");
		return;
	}
	if (op == ADMISSION_MUTATE)
		admission_mutate(&rq, res);
	else
		admission_validate(&rq, env, res);
}

void admission_handle(admission_op op, const char *body, size_t len, const admission_env *env, admission_result *res)
{
	cJSON *root = NULL;
	admission_env envd;
	bool has_nul = false;
	bool gated = false;
	bool arena;
	ag_err err;

	memset(res, 0, sizeof(*res));
	buf_init(&res->body, ADMISSION_RESPONSE_MAX);
	/* Defaults of DESIGN.md for a caller that left fields out. */
	memset(&envd, 0, sizeof(envd));
	if (env)
		envd = *env;
	if (!envd.profiles_namespace || !envd.profiles_name) {
		envd.profiles_namespace = CONTRACT_NAMESPACE_DEFAULT;
		envd.profiles_name = CONTRACT_CONFIGMAP_DEFAULT_NAME;
	}
	if (!body || !len) {
		admission_reply_text(res, 400, "empty request body: expected an AdmissionReview");
		return;
	}
	arena = jsonarena_enter();
	root = jsonprune_parse(body, len, &admission_review_node, ADMISSION_JSON_DEPTH_MAX, &has_nul);
	if (!root && envd.full_parse && !envd.full_parse(envd.full_parse_ctx, len, true)) {
		admission_reply_text(
			res, 503,
			"busy: this review needs a full JSON parse (escaped member names or the like) and the "
			"memory for those is in use or too small for it; retry");
		gated = false;
	} else if (!root) {
		gated = envd.full_parse != NULL;
		/* Prunes again before the full parse: a rare path, kept simple. */
		if (jsonprune_load(body, len, &admission_review_node, ADMISSION_JSON_DEPTH_MAX, &root, &has_nul,
				   &err) != 0)
			admission_reply_text(res, 400, "%s", err.msg);
	}
	if (root)
		admission_review(op, root, has_nul, &envd, res);
	/* An arena-only tree is dropped with the arena: no walk, no frees. */
	if (root && (!arena || !jsonarena_clean()))
		cJSON_Delete(root);
	if (arena)
		jsonarena_leave();
	if (gated)
		envd.full_parse(envd.full_parse_ctx, len, false);
}
