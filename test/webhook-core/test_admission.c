/* Unit tests of webhook/core/admission: one test per rule, on hand-made
 * AdmissionReviews (the golden files cover whole realistic reviews). */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "aaparser.h"
#include "admission.h"
#include "jsonarena.h"

#define AN "container.apparmor.security.beta.kubernetes.io/"

/* The webhook's own allocation path (jsonarena.h), as main sets it up. */
__attribute__((constructor)) static void arena_install(void)
{
	jsonarena_install();
}

static nodeset *nodes;
static admission_env env;

static void setup(void)
{
	cJSON *items = cJSON_Parse(
		"[{\"metadata\":{\"name\":\"n1\",\"labels\":{\"armorgate.io/apparmor\":\"enabled\","
		"\"profiles.armorgate.io/custom.web\":\"loaded\"}}},"
		"{\"metadata\":{\"name\":\"n2\",\"labels\":{\"armorgate.io/apparmor\":\"enabled\"}}}]");

	nodes = nodeset_new();
	nodeset_replace(nodes, items);
	cJSON_Delete(items);
	memset(&env, 0, sizeof(env));
	env.nodes = nodes;
	env.profiles_namespace = "armorgate-system";
	env.profiles_name = "armorgate-profiles";
}

static void teardown(void)
{
	nodeset_free(nodes);
}

TestSuite(admission, .init = setup, .fini = teardown);

/* Wraps obj (JSON text) into a v1 AdmissionReview. */
static char *review(const char *resource, const char *sub, const char *op, const char *ns, const char *name,
		    const char *obj)
{
	size_t cap = strlen(obj) + 1024;
	char *s = malloc(cap);

	snprintf(s, cap,
		 "{\"apiVersion\":\"admission.k8s.io/v1\",\"kind\":\"AdmissionReview\",\"request\":{\"uid\":\"u-1\","
		 "\"resource\":{\"group\":\"\",\"version\":\"v1\",\"resource\":\"%s\"}%s%s%s,\"operation\":\"%s\","
		 "\"namespace\":\"%s\",\"name\":\"%s\",\"object\":%s}}",
		 resource, sub ? ",\"subResource\":\"" : "", sub ? sub : "", sub ? "\"" : "", op, ns, name, obj);
	return s;
}

static char *pod_review(const char *pod)
{
	return review("pods", NULL, "CREATE", "default", "p", pod);
}

/* Runs the handler on an exact-size heap copy (no NUL after the body, so
 * ASan catches any read past len). */
static void run(admission_op op, const char *text, size_t len, admission_result *r)
{
	char *copy = malloc(len ? len : 1);

	memcpy(copy, text, len);
	admission_handle(op, copy, len, &env, r);
	free(copy);
}

static cJSON *run_json(admission_op op, const char *text, admission_result *r)
{
	cJSON *j;

	run(op, text, strlen(text), r);
	cr_assert_eq(r->http_status, 200, "status %d: %s", r->http_status, buf_cstr(&r->body));
	cr_assert_str_eq(r->content_type, "application/json");
	j = cJSON_Parse(buf_cstr(&r->body));
	cr_assert_not_null(j, "%s", buf_cstr(&r->body));
	cr_assert_str_eq(cJSON_GetObjectItem(j, "apiVersion")->valuestring, "admission.k8s.io/v1");
	cr_assert_str_eq(cJSON_GetObjectItem(cJSON_GetObjectItem(j, "response"), "uid")->valuestring, "u-1");
	return j;
}

static const cJSON *resp(const cJSON *j, const char *k)
{
	return cJSON_GetObjectItem(cJSON_GetObjectItem(j, "response"), k);
}

static char *b64dec(const char *s)
{
	static const char tbl[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	char *out = calloc(strlen(s) + 1, 1);
	size_t o = 0;
	unsigned acc = 0;
	int bits = 0;

	for (; *s && *s != '='; s++) {
		const char *p = strchr(tbl, *s);

		cr_assert_not_null(p);
		acc = acc << 6 | (unsigned)(p - tbl);
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			out[o++] = (char)((acc >> bits) & 0xff);
		}
	}
	return out;
}

/* Mutates pod and returns the decoded patch (NULL when no patch). */
static cJSON *mutate_patch(const char *pod, admission_result *r)
{
	char *rv = pod_review(pod);
	cJSON *j = run_json(ADMISSION_MUTATE, rv, r);
	const cJSON *p = resp(j, "patch");
	cJSON *patch = NULL;

	cr_assert(cJSON_IsTrue(resp(j, "allowed")));
	if (p) {
		char *dec = b64dec(p->valuestring);

		cr_assert_str_eq(resp(j, "patchType")->valuestring, "JSONPatch");
		patch = cJSON_Parse(dec);
		cr_assert_not_null(patch, "%s", dec);
		free(dec);
	}
	cJSON_Delete(j);
	free(rv);
	return patch;
}

static void expect_patch(const char *pod, const char *want)
{
	admission_result r;
	cJSON *got = mutate_patch(pod, &r);
	cJSON *w = cJSON_Parse(want);

	cr_assert_not_null(w, "bad expectation %s", want);
	cr_assert_not_null(got, "no patch for %s", pod);
	if (!cJSON_Compare(got, w, 1)) {
		char *g = cJSON_PrintUnformatted(got);

		cr_expect(0, "patch\n got %s\nwant %s", g, want);
		free(g);
	}
	cr_expect_eq(r.verdict, ADMISSION_VERDICT_PATCH);
	cJSON_Delete(got);
	cJSON_Delete(w);
	buf_cleanup(&r.body);
}

static void expect_no_patch(const char *pod)
{
	admission_result r;
	cJSON *got = mutate_patch(pod, &r);

	cr_expect_null(got, "unexpected patch for %s", pod);
	cr_expect_eq(r.verdict, ADMISSION_VERDICT_ALLOW);
	cJSON_Delete(got);
	buf_cleanup(&r.body);
}

/* Validates obj; returns the denial message or NULL when allowed (caller frees). */
static char *validate_msg(const char *text)
{
	admission_result r;
	cJSON *j = run_json(ADMISSION_VALIDATE, text, &r);
	char *msg = NULL;

	if (!cJSON_IsTrue(resp(j, "allowed"))) {
		const cJSON *st = resp(j, "status");

		cr_expect_eq(cJSON_GetObjectItem(st, "code")->valueint, 403);
		cr_expect_str_eq(cJSON_GetObjectItem(st, "reason")->valuestring, "Forbidden");
		cr_expect_eq(r.verdict, ADMISSION_VERDICT_DENY);
		msg = strdup(cJSON_GetObjectItem(st, "message")->valuestring);
	} else {
		cr_expect_eq(r.verdict, ADMISSION_VERDICT_ALLOW);
	}
	cJSON_Delete(j);
	buf_cleanup(&r.body);
	return msg;
}

static char *validate_pod_msg(const char *pod)
{
	char *rv = pod_review(pod);
	char *m = validate_msg(rv);

	free(rv);
	return m;
}

static void expect_400(const char *text, const char *needle)
{
	admission_result r;

	for (int op = 0; op < 2; op++) {
		run(op ? ADMISSION_VALIDATE : ADMISSION_MUTATE, text, strlen(text), &r);
		cr_expect_eq(r.http_status, 400, "%s -> %d", text, r.http_status);
		cr_expect_eq(r.verdict, ADMISSION_VERDICT_ERROR);
		cr_expect(strstr(buf_cstr(&r.body), needle), "'%s' lacks '%s'", buf_cstr(&r.body), needle);
		cr_expect_eq(strchr(buf_cstr(&r.body), '\n'), buf_cstr(&r.body) + r.body.len - 1, "one line");
		buf_cleanup(&r.body);
	}
}

/* ---- request checks ---- */

Test(admission, malformed_requests_get_400)
{
	char deep[300];
	char ok_deep[400];
	admission_result r;

	expect_400("", "empty");
	expect_400("{", "malformed JSON");
	expect_400("nul", "malformed JSON");
	expect_400("\"x\"", "not a JSON object");
	expect_400("{} {}", "trailing bytes");
	expect_400("{\"apiVersion\":\"admission.k8s.io/v1beta1\",\"kind\":\"AdmissionReview\"}", "apiVersion");
	expect_400("{\"apiVersion\":\"admission.k8s.io/v1\",\"kind\":\"Pod\"}", "kind");
	expect_400("{\"apiVersion\":\"admission.k8s.io/v1\",\"kind\":\"AdmissionReview\",\"request\":[]}", "request");
	expect_400("{\"apiVersion\":\"admission.k8s.io/v1\",\"kind\":\"AdmissionReview\",\"request\":{}}", "uid");
	expect_400("{\"apiVersion\":\"admission.k8s.io/v1\",\"kind\":\"AdmissionReview\",\"request\":{\"uid\":7}}",
		   "uid");
	expect_400("{\"apiVersion\":\"admission.k8s.io/v1\",\"kind\":\"AdmissionReview\",\"request\":{\"uid\":\"\"}}",
		   "uid");

	/* 65 levels refused, 64 accepted (brackets inside strings do not count). */
	memset(deep, 0, sizeof(deep));
	for (int i = 0; i < 65; i++)
		deep[i] = '[';
	for (int i = 0; i < 65; i++)
		deep[65 + i] = ']';
	expect_400(deep, "nested deeper");
	snprintf(ok_deep, sizeof(ok_deep),
		 "{\"apiVersion\":\"admission.k8s.io/v1\",\"kind\":\"AdmissionReview\",\"request\":{\"uid\":\"u-1\","
		 "\"operation\":\"CREATE\",\"x\":\"[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[\","
		 "\"object\":%.122s%.122s}}",
		 "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[",
		 "]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]");
	run(ADMISSION_VALIDATE, ok_deep, strlen(ok_deep), &r);
	cr_expect_eq(r.http_status, 200, "%s", buf_cstr(&r.body));
	buf_cleanup(&r.body);
}

/* The depth scan works on 64-byte blocks: the limit, strings holding brackets,
 * escaped quotes and backslashes must count the same at every offset and across
 * block edges. */
Test(admission, depth_limit_at_every_offset)
{
	static const char head[] = "{\"apiVersion\":\"admission.k8s.io/v1\",\"kind\":\"AdmissionReview\",\"request\":{"
				   "\"uid\":\"u-1\",\"operation\":\"CREATE\",\"pad\":\"";
	static const char tail[] = "\\\"[\\\\\",\"object\":";
	char text[1024];
	admission_result r;

	for (int pad = 0; pad < 140; pad++) {
		for (int extra = 0; extra < 2; extra++) {
			size_t n = 0;
			/* head + "pad" string + 62 or 63 arrays: 64 or 65 levels in all. */
			int levels = 62 + extra;

			memcpy(text, head, sizeof(head) - 1);
			n = sizeof(head) - 1;
			for (int i = 0; i < pad; i++)
				text[n++] = "x[{]} a"[i % 7];
			/* an escaped quote and an escaped backslash inside the string */
			memcpy(text + n, tail, sizeof(tail) - 1);
			n += sizeof(tail) - 1;
			for (int i = 0; i < levels; i++)
				text[n++] = '[';
			for (int i = 0; i < levels; i++)
				text[n++] = ']';
			text[n++] = '}';
			text[n++] = '}';
			run(ADMISSION_VALIDATE, text, n, &r);
			if (extra)
				cr_expect(strstr(buf_cstr(&r.body), "nested deeper"), "pad %d: %s", pad, buf_cstr(&r.body));
			else
				cr_expect_eq(r.http_status, 200, "pad %d: %s", pad, buf_cstr(&r.body));
			buf_cleanup(&r.body);
		}
	}
}

Test(admission, trailing_whitespace_is_fine)
{
	char *rv = pod_review("{\"metadata\":{\"name\":\"p\"},\"spec\":{\"containers\":[{\"name\":\"a\"}]}}");
	size_t n = strlen(rv);
	char *padded = malloc(n + 4);
	admission_result r;

	memcpy(padded, rv, n);
	memcpy(padded + n, " \r\n\t", 4);
	run(ADMISSION_MUTATE, padded, n + 4, &r);
	cr_expect_eq(r.http_status, 200, "%s", buf_cstr(&r.body));
	buf_cleanup(&r.body);
	free(padded);
	free(rv);
}

Test(admission, unknown_requests_allowed_with_warning)
{
	const char *cases[][3] = {
		{ "services", "CREATE", NULL },
		{ "pods", "UPDATE", NULL },
		{ "pods", "DELETE", NULL },
		{ "pods", "CREATE", "status" },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		for (int op = 0; op < 2; op++) {
			char *rv = review(cases[i][0], cases[i][2], cases[i][1], "default", "x", "{\"spec\":{}}");
			admission_result r;
			cJSON *j = run_json(op ? ADMISSION_VALIDATE : ADMISSION_MUTATE, rv, &r);
			const cJSON *w = resp(j, "warnings");

			cr_expect(cJSON_IsTrue(resp(j, "allowed")));
			cr_expect(cJSON_IsArray(w) && cJSON_GetArraySize(w) == 1, "%s", buf_cstr(&r.body));
			cr_expect_null(resp(j, "patch"));
			cJSON_Delete(j);
			buf_cleanup(&r.body);
			free(rv);
		}
	}
}

Test(admission, uid_is_echoed_escaped)
{
	const char *rv = "{\"apiVersion\":\"admission.k8s.io/v1\",\"kind\":\"AdmissionReview\",\"request\":{"
			 "\"uid\":\"a\\\"b\\\\c\\n\",\"operation\":\"CREATE\",\"resource\":{\"group\":\"\",\"resource\":"
			 "\"pods\"},\"object\":{\"spec\":{\"containers\":[]}}}}";
	admission_result r;
	cJSON *j;

	run(ADMISSION_MUTATE, rv, strlen(rv), &r);
	j = cJSON_Parse(buf_cstr(&r.body));
	cr_assert_not_null(j, "%s", buf_cstr(&r.body));
	cr_expect_str_eq(resp(j, "uid")->valuestring, "a\"b\\c\n");
	cJSON_Delete(j);
	buf_cleanup(&r.body);
}

/* ---- mutate ---- */

Test(admission, annotation_values_become_fields)
{
	expect_patch("{\"metadata\":{\"annotations\":{\"" AN "a\":\"localhost/custom.web\"}},"
		     "\"spec\":{\"containers\":[{\"name\":\"a\"}]}}",
		     "[{\"op\":\"add\",\"path\":\"/spec/containers/0/securityContext\",\"value\":{\"appArmorProfile\":"
		     "{\"type\":\"Localhost\",\"localhostProfile\":\"custom.web\"}}},"
		     "{\"op\":\"remove\",\"path\":\"/metadata/annotations/container.apparmor.security.beta.kubernetes.io~1a\"},"
		     "{\"op\":\"add\",\"path\":\"/spec/nodeSelector\",\"value\":{\"profiles.armorgate.io/custom.web\":\"loaded\"}}]");
	expect_patch("{\"metadata\":{\"annotations\":{\"" AN "a\":\"runtime/default\"}},"
		     "\"spec\":{\"containers\":[{\"name\":\"a\",\"securityContext\":{\"privileged\":false}}]}}",
		     "[{\"op\":\"add\",\"path\":\"/spec/containers/0/securityContext/appArmorProfile\",\"value\":"
		     "{\"type\":\"RuntimeDefault\"}},"
		     "{\"op\":\"remove\",\"path\":\"/metadata/annotations/container.apparmor.security.beta.kubernetes.io~1a\"}]");
	expect_patch("{\"metadata\":{\"annotations\":{\"" AN "a\":\"unconfined\"}},"
		     "\"spec\":{\"initContainers\":[{\"name\":\"x\"},{\"name\":\"a\",\"restartPolicy\":\"Always\"}],"
		     "\"containers\":[{\"name\":\"b\"}]}}",
		     "[{\"op\":\"add\",\"path\":\"/spec/initContainers/1/securityContext\",\"value\":{\"appArmorProfile\":"
		     "{\"type\":\"Unconfined\"}}},"
		     "{\"op\":\"remove\",\"path\":\"/metadata/annotations/container.apparmor.security.beta.kubernetes.io~1a\"}]");
}

Test(admission, invalid_annotation_values_left_alone)
{
	const char *bad[] = { "localhost/", "localhost/ custom.web", "Localhost/custom.web", "runtime/default ",
			      "docker/default", "" };

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char pod[512];

		snprintf(pod, sizeof(pod),
			 "{\"metadata\":{\"annotations\":{\"" AN "a\":\"%s\"}},\"spec\":{\"containers\":[{\"name\":\"a\"}]}}",
			 bad[i]);
		expect_no_patch(pod);
	}
}

Test(admission, field_wins_only_when_agreeing)
{
	/* Agrees: just drop the annotation. */
	expect_patch("{\"metadata\":{\"annotations\":{\"" AN "a\":\"localhost/k8s-x\"}},\"spec\":{\"containers\":[{"
		     "\"name\":\"a\",\"securityContext\":{\"appArmorProfile\":{\"type\":\"Localhost\",\"localhostProfile\":"
		     "\"k8s-x\"}}}]}}",
		     "[{\"op\":\"remove\",\"path\":\"/metadata/annotations/container.apparmor.security.beta.kubernetes.io~1a\"}]");
	/* Disagrees (profile differs): both stay for validation. */
	expect_no_patch("{\"metadata\":{\"annotations\":{\"" AN "a\":\"localhost/k8s-y\"}},\"spec\":{\"containers\":[{"
			"\"name\":\"a\",\"securityContext\":{\"appArmorProfile\":{\"type\":\"Localhost\",\"localhostProfile\":"
			"\"k8s-x\"}}}]}}");
	/* Pod-level setting counts as the container's. */
	expect_no_patch("{\"metadata\":{\"annotations\":{\"" AN "a\":\"unconfined\"}},\"spec\":{\"securityContext\":{"
			"\"appArmorProfile\":{\"type\":\"RuntimeDefault\"}},\"containers\":[{\"name\":\"a\"}]}}");
	expect_patch("{\"metadata\":{\"annotations\":{\"" AN "a\":\"runtime/default\"}},\"spec\":{\"securityContext\":{"
		     "\"appArmorProfile\":{\"type\":\"RuntimeDefault\"}},\"containers\":[{\"name\":\"a\"}]}}",
		     "[{\"op\":\"remove\",\"path\":\"/metadata/annotations/container.apparmor.security.beta.kubernetes.io~1a\"}]");
	/* An invalid field never agrees. */
	expect_no_patch("{\"metadata\":{\"annotations\":{\"" AN "a\":\"runtime/default\"}},\"spec\":{\"containers\":[{"
			"\"name\":\"a\",\"securityContext\":{\"appArmorProfile\":{\"type\":\"Bogus\"}}}]}}");
}

Test(admission, node_selector_merged_and_escaped)
{
	expect_patch("{\"spec\":{\"nodeSelector\":{\"a/b\":\"c\"},\"securityContext\":{\"appArmorProfile\":{\"type\":"
		     "\"Localhost\",\"localhostProfile\":\"custom.x-1\"}},\"containers\":[{\"name\":\"a\",\"securityContext\":"
		     "{\"appArmorProfile\":{\"type\":\"Localhost\",\"localhostProfile\":\"custom.y\"}}}]}}",
		     "[{\"op\":\"add\",\"path\":\"/spec/nodeSelector/profiles.armorgate.io~1custom.x-1\",\"value\":\"loaded\"},"
		     "{\"op\":\"add\",\"path\":\"/spec/nodeSelector/profiles.armorgate.io~1custom.y\",\"value\":\"loaded\"}]");
	/* null nodeSelector is replaced as a whole. */
	expect_patch("{\"spec\":{\"nodeSelector\":null,\"containers\":[{\"name\":\"a\",\"securityContext\":"
		     "{\"appArmorProfile\":{\"type\":\"Localhost\",\"localhostProfile\":\"custom.y\"}}}]}}",
		     "[{\"op\":\"add\",\"path\":\"/spec/nodeSelector\",\"value\":{\"profiles.armorgate.io/custom.y\":\"loaded\"}}]");
	/* Already there: nothing. Non-custom and invalid custom names: no selector. */
	expect_no_patch("{\"spec\":{\"nodeSelector\":{\"profiles.armorgate.io/custom.y\":\"loaded\"},\"containers\":[{"
			"\"name\":\"a\",\"securityContext\":{\"appArmorProfile\":{\"type\":\"Localhost\",\"localhostProfile\":"
			"\"custom.y\"}}}]}}");
	expect_no_patch("{\"spec\":{\"containers\":[{\"name\":\"a\",\"securityContext\":{\"appArmorProfile\":{\"type\":"
			"\"Localhost\",\"localhostProfile\":\"custom.-bad\"}}},{\"name\":\"b\",\"securityContext\":{"
			"\"appArmorProfile\":{\"type\":\"Localhost\",\"localhostProfile\":\"other\"}}}]}}");
	/* Pointer escaping of '~' and '/' in annotation keys. */
	expect_patch("{\"metadata\":{\"annotations\":{\"" AN "x~/y\":\"unconfined\"}},\"spec\":{\"containers\":[{"
		     "\"name\":\"x~/y\",\"securityContext\":null}]}}",
		     "[{\"op\":\"add\",\"path\":\"/spec/containers/0/securityContext\",\"value\":{\"appArmorProfile\":"
		     "{\"type\":\"Unconfined\"}}},"
		     "{\"op\":\"remove\",\"path\":\"/metadata/annotations/container.apparmor.security.beta.kubernetes.io~1x~0~1y\"}]");
}

Test(admission, mutate_never_denies_odd_pods)
{
	const char *odd[] = {
		"{}",
		"{\"spec\":[]}",
		"{\"spec\":{\"containers\":{}}}",
		"{\"spec\":{\"containers\":[1,\"x\",null,{\"name\":5}]}}",
		"{\"metadata\":{\"annotations\":[]},\"spec\":{\"containers\":[{\"name\":\"a\"}]}}",
		"{\"metadata\":{\"annotations\":{\"" AN "a\":7}},\"spec\":{\"containers\":[{\"name\":\"a\"}]}}",
		("{\"spec\":{\"nodeSelector\":\"x\",\"containers\":[{\"name\":\"a\",\"securityContext\":{\"appArmorProfile\":"
		 "{\"type\":\"Localhost\",\"localhostProfile\":\"custom.y\"}}}]}}"),
	};

	for (size_t i = 0; i < sizeof(odd) / sizeof(odd[0]); i++) {
		admission_result r;
		cJSON *p = mutate_patch(odd[i], &r);

		cr_expect_null(p, "%s", odd[i]);
		cJSON_Delete(p);
		buf_cleanup(&r.body);
	}
}

/* ---- validate ---- */

Test(admission, denial_names_profile_container_and_fix)
{
	char *m = validate_pod_msg("{\"spec\":{\"containers\":[{\"name\":\"app\",\"securityContext\":{\"appArmorProfile\":"
				   "{\"type\":\"Localhost\",\"localhostProfile\":\"custom.foo\"}}}]}}");

	cr_assert_not_null(m);
	cr_expect_str_eq(m, "armorgate: container \"app\" uses AppArmor profile \"custom.foo\", which no node has "
			    "loaded. Add the key \"custom.foo\" to ConfigMap armorgate-system/armorgate-profiles and wait "
			    "until a node reports it: kubectl get nodes -L profiles.armorgate.io/custom.foo");
	free(m);
	m = validate_pod_msg("{\"spec\":{\"containers\":[{\"name\":\"app\",\"securityContext\":{\"appArmorProfile\":"
			     "{\"type\":\"Localhost\",\"localhostProfile\":\"custom.web\"}}}]}}");
	cr_expect_null(m);
	free(m);
}

Test(admission, node_name_decides)
{
#define NODE_POD_FMT "{\"spec\":{\"nodeName\":\"%s\",\"containers\":[{\"name\":\"app\",\"securityContext\":{" \
	"\"appArmorProfile\":{\"type\":\"Localhost\",\"localhostProfile\":\"custom.web\"}}}]}}"
	char pod[512];
	char *m;

	snprintf(pod, sizeof(pod), NODE_POD_FMT, "n1");
	m = validate_pod_msg(pod);
	cr_expect_null(m);
	free(m);
	snprintf(pod, sizeof(pod), NODE_POD_FMT, "n2");
	m = validate_pod_msg(pod);
	cr_assert_not_null(m);
	cr_expect(strstr(m, "node \"n2\"") && strstr(m, "profile not loaded"), "%s", m);
	free(m);
	snprintf(pod, sizeof(pod), NODE_POD_FMT, "nope");
	m = validate_pod_msg(pod);
	cr_assert_not_null(m);
	cr_expect(strstr(m, "unknown node"), "%s", m);
	free(m);
}

Test(admission, no_nodeset_fails_closed)
{
	char *m;

	env.nodes = NULL;
	m = validate_pod_msg("{\"spec\":{\"containers\":[{\"name\":\"app\",\"securityContext\":{\"appArmorProfile\":"
			     "{\"type\":\"Localhost\",\"localhostProfile\":\"custom.web\"}}}]}}");
	cr_expect_not_null(m);
	free(m);
	m = validate_pod_msg("{\"spec\":{\"nodeName\":\"n1\",\"containers\":[{\"name\":\"app\",\"securityContext\":{"
			     "\"appArmorProfile\":{\"type\":\"Localhost\",\"localhostProfile\":\"custom.web\"}}}]}}");
	cr_expect_not_null(m);
	free(m);
}

Test(admission, non_custom_profiles_pass)
{
	const char *pods[] = {
		"{\"spec\":{\"containers\":[{\"name\":\"a\",\"securityContext\":{\"appArmorProfile\":{\"type\":\"Localhost\","
		"\"localhostProfile\":\"k8s-deny-write\"}}}]}}",
		"{\"spec\":{\"securityContext\":{\"appArmorProfile\":{\"type\":\"RuntimeDefault\"}},\"containers\":[{\"name\":"
		"\"a\"}]}}",
		"{\"spec\":{\"containers\":[{\"name\":\"a\",\"securityContext\":{\"appArmorProfile\":{\"type\":\"Unconfined\""
		"}}}]}}",
		"{\"metadata\":{\"annotations\":{\"" AN "a\":\"\"}},\"spec\":{\"containers\":[{\"name\":\"a\"}]}}",
		"{\"spec\":{\"containers\":[{\"name\":\"a\"}]}}",
	};

	for (size_t i = 0; i < sizeof(pods) / sizeof(pods[0]); i++) {
		char *m = validate_pod_msg(pods[i]);

		cr_expect_null(m, "%s: %s", pods[i], m);
		free(m);
	}
}

Test(admission, malformed_references_denied)
{
	const char *pods[][2] = {
		{ "{\"type\":\"Localhost\"}", "no localhostProfile" },
		{ "{\"type\":\"Localhost\",\"localhostProfile\":\"\"}", "no localhostProfile" },
		{ "{\"type\":\"Localhost\",\"localhostProfile\":\"custom.web \"}", "whitespace" },
		{ "{\"type\":\"Localhost\",\"localhostProfile\":\"custom.a..b!\"}", "not a valid armorgate profile name" },
		{ "{\"type\":\"Unconfined\",\"localhostProfile\":\"x\"}", "only allowed with type Localhost" },
		{ "{\"localhostProfile\":\"x\"}", "no type" },
		{ "\"Localhost\"", "not an object" },
	};

	for (size_t i = 0; i < sizeof(pods) / sizeof(pods[0]); i++) {
		char pod[512];
		char *m;

		snprintf(pod, sizeof(pod),
			 "{\"spec\":{\"containers\":[{\"name\":\"a\",\"securityContext\":{\"appArmorProfile\":%s}}]}}",
			 pods[i][0]);
		m = validate_pod_msg(pod);
		cr_assert_not_null(m, "%s allowed", pods[i][0]);
		cr_expect(strstr(m, pods[i][1]) && strstr(m, "container \"a\""), "%s: %s", pods[i][0], m);
		free(m);
	}
}

Test(admission, annotation_problems_denied)
{
	char *m = validate_pod_msg("{\"metadata\":{\"annotations\":{\"" AN "a\":\"runtime/default\"}},\"spec\":{"
				   "\"containers\":[{\"name\":\"a\",\"securityContext\":{\"appArmorProfile\":{\"type\":"
				   "\"Unconfined\"}}}]}}");

	cr_assert_not_null(m);
	cr_expect(strstr(m, "disagree"), "%s", m);
	free(m);
	m = validate_pod_msg("{\"metadata\":{\"annotations\":{\"" AN "a\":\"localhost/\"}},\"spec\":{\"containers\":[{"
			     "\"name\":\"a\"}]}}");
	cr_assert_not_null(m);
	cr_expect(strstr(m, "is not one of"), "%s", m);
	free(m);
	/* Annotation only (mutation did not run): its profile is checked. */
	m = validate_pod_msg("{\"metadata\":{\"annotations\":{\"" AN "a\":\"localhost/custom.nope\"}},\"spec\":{"
			     "\"containers\":[{\"name\":\"a\"}]}}");
	cr_assert_not_null(m);
	cr_expect(strstr(m, "\"custom.nope\""), "%s", m);
	free(m);
	m = validate_pod_msg("{\"metadata\":{\"annotations\":{\"" AN "a\":\"localhost/custom.web\"}},\"spec\":{"
			     "\"containers\":[{\"name\":\"a\"}]}}");
	cr_expect_null(m);
	free(m);
}

Test(admission, huge_pods)
{
	buf pod;
	char *rv;
	char *m;
	admission_result r;
	cJSON *p;

	buf_init(&pod, 1u << 20);
	cr_assert_eq(buf_appends(&pod, "{\"spec\":{\"containers\":["), 0);
	for (int i = 0; i < 4097; i++)
		cr_assert_eq(buf_appendf(&pod, "%s{\"name\":\"c%d\"}", i ? "," : "", i), 0);
	cr_assert_eq(buf_appends(&pod, "]}}"), 0);
	/* Too many to reason about: validate refuses (fail closed), mutate leaves it. */
	m = validate_pod_msg(buf_cstr(&pod));
	cr_assert_not_null(m);
	cr_expect(strstr(m, "more containers"), "%s", m);
	free(m);
	p = mutate_patch(buf_cstr(&pod), &r);
	cr_expect_null(p);
	buf_cleanup(&r.body);
	buf_cleanup(&pod);

	/* Many problems: the message is capped and says how many were left out. */
	buf_init(&pod, 4u << 20);
	cr_assert_eq(buf_appends(&pod, "{\"spec\":{\"containers\":["), 0);
	for (int i = 0; i < 2000; i++)
		cr_assert_eq(buf_appendf(&pod,
					 "%s{\"name\":\"c%d\",\"securityContext\":{\"appArmorProfile\":{\"type\":"
					 "\"Localhost\",\"localhostProfile\":\"custom.p%d\"}}}",
					 i ? "," : "", i, i),
			     0);
	cr_assert_eq(buf_appends(&pod, "]}}"), 0);
	rv = pod_review(buf_cstr(&pod));
	m = validate_msg(rv);
	cr_assert_not_null(m);
	cr_expect_leq(strlen(m), ADMISSION_MESSAGE_MAX + 128);
	cr_expect(strstr(m, "more problem(s)"), "%.200s", m);
	free(m);
	free(rv);
	buf_cleanup(&pod);
}

/* ---- profiles ConfigMap ---- */

static char *cm_review(const char *ns, const char *name, const char *op, const char *obj)
{
	return review("configmaps", NULL, op, ns, name, obj);
}

#define GOOD_PROFILE "profile custom.a {\\n  file,\\n}\\n"

Test(admission, configmap_good_and_bad)
{
	char *rv = cm_review("armorgate-system", "armorgate-profiles", "CREATE",
			     "{\"metadata\":{\"name\":\"armorgate-profiles\"},\"data\":{\"custom.a\":\"" GOOD_PROFILE "\"}}");
	char *m = validate_msg(rv);

	cr_expect_null(m, "%s", m);
	free(m);
	free(rv);
	rv = cm_review("armorgate-system", "armorgate-profiles", "UPDATE",
		       "{\"metadata\":{\"name\":\"armorgate-profiles\"},\"data\":{\"custom.a\":\"" GOOD_PROFILE "\","
		       "\"custom.b\":\"" GOOD_PROFILE "\",\"bad key\":\"x\",\"custom.n\":5},\"binaryData\":{\"custom.z\":\"AA==\"}}");
	m = validate_msg(rv);
	cr_assert_not_null(m);
	cr_expect(strstr(m, "4 problem(s)"), "%s", m);
	cr_expect(strstr(m, "custom.b") && strstr(m, "bad key") && strstr(m, "custom.n") && strstr(m, "custom.z"), "%s",
		  m);
	cr_expect_null(strstr(m, "custom.a:"), "%s", m);
	free(m);
	free(rv);
}

Test(admission, configmap_count_limit_one_line)
{
	char *rv = cm_review("armorgate-system", "armorgate-profiles", "CREATE",
			     "{\"data\":{\"custom.a\":\"" GOOD_PROFILE "\",\"custom.b\":\"x\"}}");
	char *m;

	env.limits.max_count = 1;
	m = validate_msg(rv);
	cr_assert_not_null(m);
	cr_expect(strstr(m, "1 problem(s)") && strstr(m, "limit is 1"), "%s", m);
	free(m);
	free(rv);
}

Test(admission, other_configmaps_untouched)
{
	const char *who[][3] = {
		{ "armorgate-system", "other", "CREATE" },
		{ "default", "armorgate-profiles", "CREATE" },
		{ "armorgate-system", "armorgate-profiles", "DELETE" },
	};

	for (size_t i = 0; i < sizeof(who) / sizeof(who[0]); i++) {
		char *rv = cm_review(who[i][0], who[i][1], who[i][2], "{\"data\":{\"junk\":\"junk\"}}");
		admission_result r;
		cJSON *j = run_json(ADMISSION_VALIDATE, rv, &r);

		cr_expect(cJSON_IsTrue(resp(j, "allowed")));
		cr_expect_null(resp(j, "warnings"));
		cJSON_Delete(j);
		buf_cleanup(&r.body);
		free(rv);
	}
}

/* The compile check the webhook injects (webhook/main.c). */
static aaparser_opts test_parser;

static size_t test_compile(void *ctx, profile_entry *entries, size_t n)
{
	return aaparser_compile_entries(entries, n, ctx);
}

Test(admission, configmap_compile_check)
{
	char *rv;
	char *m;

	if (access("/sbin/apparmor_parser", X_OK) != 0 && access("/usr/sbin/apparmor_parser", X_OK) != 0)
		cr_skip_test("apparmor_parser not installed");
	test_parser.parser_path =
		access("/sbin/apparmor_parser", X_OK) == 0 ? "/sbin/apparmor_parser" : "/usr/sbin/apparmor_parser";
	env.compile = test_compile;
	env.compile_ctx = &test_parser;
	rv = cm_review("armorgate-system", "armorgate-profiles", "CREATE",
		       "{\"data\":{\"custom.a\":\"" GOOD_PROFILE "\",\"custom.b\":\"profile custom.b {\\n  /tmp/x rwzq,\\n}\\n\"}}");
	m = validate_msg(rv);
	cr_assert_not_null(m);
	cr_expect(strstr(m, "custom.b") && strstr(m, "1 problem(s)"), "%s", m);
	free(m);
	free(rv);
}

Test(admission, op_names)
{
	cr_expect_str_eq(admission_op_name(ADMISSION_MUTATE), "mutate");
	cr_expect_str_eq(admission_op_name(ADMISSION_VALIDATE), "validate");
}

Test(admission, configmap_update_compiles_only_changed)
{
	const char *parser = access("/sbin/apparmor_parser", X_OK) == 0	    ? "/sbin/apparmor_parser"
			     : access("/usr/sbin/apparmor_parser", X_OK) == 0 ? "/usr/sbin/apparmor_parser"
									       : NULL;
	/* custom.b passes the text rules but not the compiler. */
	const char *cm = "{\"data\":{\"custom.a\":\"" GOOD_PROFILE "\",\"custom.b\":\"profile custom.b {\\n  /tmp/x rwzq,\\n}\\n\"}}";
	char *rv;
	char *m;
	size_t cap = 4096;

	if (!parser)
		cr_skip_test("apparmor_parser not installed");
	test_parser.parser_path = parser;
	env.compile = test_compile;
	env.compile_ctx = &test_parser;
	/* Unchanged since oldObject: not compiled again. */
	rv = malloc(cap);
	snprintf(rv, cap,
		 "{\"apiVersion\":\"admission.k8s.io/v1\",\"kind\":\"AdmissionReview\",\"request\":{\"uid\":\"u-1\","
		 "\"resource\":{\"group\":\"\",\"version\":\"v1\",\"resource\":\"configmaps\"},\"operation\":\"UPDATE\","
		 "\"namespace\":\"armorgate-system\",\"name\":\"armorgate-profiles\",\"object\":%s,\"oldObject\":%s}}",
		 cm, cm);
	m = validate_msg(rv);
	cr_expect_null(m, "%s", m);
	free(m);
	/* Changed (old had a different text): compiled and refused. */
	snprintf(rv, cap,
		 "{\"apiVersion\":\"admission.k8s.io/v1\",\"kind\":\"AdmissionReview\",\"request\":{\"uid\":\"u-1\","
		 "\"resource\":{\"group\":\"\",\"version\":\"v1\",\"resource\":\"configmaps\"},\"operation\":\"UPDATE\","
		 "\"namespace\":\"armorgate-system\",\"name\":\"armorgate-profiles\",\"object\":%s,\"oldObject\":"
		 "{\"data\":{\"custom.b\":\"old\"}}}}",
		 cm);
	m = validate_msg(rv);
	cr_assert_not_null(m);
	cr_expect(strstr(m, "custom.b") && strstr(m, "1 problem(s)"), "%s", m);
	free(m);
	free(rv);
}

Test(admission, configmap_nul_refused)
{
	/* cJSON would cut the text at the NUL: refuse rather than check a prefix. */
	char *rv = cm_review("armorgate-system", "armorgate-profiles", "CREATE",
			     "{\"data\":{\"custom.a\":\"" GOOD_PROFILE "\\u0000profile custom.b {}\"}}");
	char *m = validate_msg(rv);

	cr_assert_not_null(m);
	cr_expect(strstr(m, "NUL"), "%s", m);
	free(m);
	free(rv);
	/* An escaped backslash followed by "u0000" is just text. */
	rv = cm_review("armorgate-system", "armorgate-profiles", "CREATE",
		       "{\"data\":{\"custom.a\":\"# \\\\u0000\\n" GOOD_PROFILE "\"}}");
	m = validate_msg(rv);
	cr_expect_null(m, "%s", m);
	free(m);
	free(rv);
}

/* Reviews on several threads at once (each with its own cJSON arena) while
 * another thread keeps using cJSON outside any arena. */
static void *review_loop(void *arg)
{
	const char *rv = arg;

	for (int i = 0; i < 3000; i++) {
		admission_result r;

		admission_handle(i % 2 ? ADMISSION_VALIDATE : ADMISSION_MUTATE, rv, strlen(rv), &env, &r);
		if (r.http_status != 200)
			abort();
		buf_cleanup(&r.body);
	}
	return NULL;
}

Test(admission, concurrent_reviews)
{
	char *rv = pod_review("{\"metadata\":{\"annotations\":{\"" AN "a\":\"localhost/custom.web\"}},\"spec\":{"
			      "\"containers\":[{\"name\":\"a\"},{\"name\":\"b\",\"securityContext\":{\"appArmorProfile\":{"
			      "\"type\":\"Localhost\",\"localhostProfile\":\"custom.nope\"}}}]}}");
	pthread_t th[3];

	for (int i = 0; i < 3; i++)
		cr_assert_eq(pthread_create(&th[i], NULL, review_loop, rv), 0);
	for (int i = 0; i < 3000; i++) {
		cJSON *j = cJSON_Parse(rv);

		cr_assert_not_null(j);
		cJSON_Delete(j);
	}
	for (int i = 0; i < 3; i++)
		pthread_join(th[i], NULL);
	free(rv);
}

/* The pod as the pruned parse sees it and, with "spec" spelled with an
 * escape (which jsonprune hands back to the full cJSON parse), as the full
 * parse sees it: the answers must be the same. */
static void expect_same_answer_both_parses(const char *meta, const char *spec)
{
	char pod[4096];
	char *plain;
	char *escaped;
	admission_result a;
	admission_result b;

	snprintf(pod, sizeof(pod), "{\"metadata\":%s,\"spec\":%s}", meta, spec);
	plain = pod_review(pod);
	snprintf(pod, sizeof(pod), "{\"metadata\":%s,\"sp\\u0065c\":%s}", meta, spec);
	escaped = pod_review(pod);
	for (int op = 0; op < 2; op++) {
		run(op ? ADMISSION_VALIDATE : ADMISSION_MUTATE, plain, strlen(plain), &a);
		run(op ? ADMISSION_VALIDATE : ADMISSION_MUTATE, escaped, strlen(escaped), &b);
		cr_expect_eq(a.http_status, 200);
		cr_expect_str_eq(buf_cstr(&a.body), buf_cstr(&b.body), "spec %s", spec);
		buf_cleanup(&a.body);
		buf_cleanup(&b.body);
	}
	free(plain);
	free(escaped);
}

Test(admission, full_parse_fallback_answers_the_same)
{
	const char *meta = "{\"name\":\"p\",\"annotations\":{\"" AN "a\":\"localhost/custom.web\"}}";
	/* securityContext is pruned to appArmorProfile: its other members, odd
	 * types and duplicates must not change an answer. */
	static const char *specs[] = {
		"{\"containers\":[{\"name\":\"a\"}]}",
		"{\"containers\":[{\"name\":\"a\",\"securityContext\":{\"privileged\":false,\"capabilities\":{\"drop\":"
		"[\"ALL\"]},\"runAsUser\":1000,\"seLinuxOptions\":{\"level\":\"s0\"}}}]}",
		"{\"containers\":[{\"name\":\"a\",\"securityContext\":{\"runAsUser\":1,\"appArmorProfile\":{\"type\":"
		"\"Localhost\",\"localhostProfile\":\"custom.web\"},\"readOnlyRootFilesystem\":true}}]}",
		"{\"containers\":[{\"name\":\"a\",\"securityContext\":{\"appArmorProfile\":{\"type\":\"Unconfined\"},"
		"\"appArmorProfile\":{\"type\":\"Localhost\",\"localhostProfile\":\"custom.web\"}}}]}",
		"{\"containers\":[{\"name\":\"a\",\"securityContext\":{\"appArmorProfile\":null}}]}",
		"{\"containers\":[{\"name\":\"a\",\"securityContext\":{\"appArmorProfile\":\"Localhost\"}}]}",
		"{\"containers\":[{\"name\":\"a\",\"securityContext\":{}}]}",
		"{\"containers\":[{\"name\":\"a\",\"securityContext\":[]}]}",
		"{\"containers\":[{\"name\":\"a\",\"securityContext\":\"x\"}]}",
		"{\"containers\":[{\"name\":\"a\",\"securityContext\":null}]}",
		"{\"securityContext\":{\"runAsUser\":10001,\"seccompProfile\":{\"type\":\"RuntimeDefault\"},"
		"\"appArmorProfile\":{\"type\":\"Localhost\",\"localhostProfile\":\"custom.missing\"}},"
		"\"containers\":[{\"name\":\"a\"}]}",
		"{\"securityContext\":{\"fsGroup\":1,\"sysctls\":[{\"name\":\"x\",\"value\":\"1\"}]},"
		"\"containers\":[{\"name\":\"a\"}]}",
		"{\"securityContext\":7,\"containers\":[{\"name\":\"a\"}]}",
	};
	admission_result r;
	char pod[512];
	char *plain;

	snprintf(pod, sizeof(pod), "{\"metadata\":%s,\"spec\":%s}", meta, specs[0]);
	plain = pod_review(pod);
	/* the baseline is a real patch, so "the same answer" compares patches */
	run(ADMISSION_MUTATE, plain, strlen(plain), &r);
	cr_expect(strstr(buf_cstr(&r.body), "\"patch\"") != NULL, "%s", buf_cstr(&r.body));
	buf_cleanup(&r.body);
	free(plain);
	for (size_t i = 0; i < sizeof(specs) / sizeof(specs[0]); i++)
		expect_same_answer_both_parses(meta, specs[i]);
}
