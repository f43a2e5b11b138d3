/* Unit tests of the enforcement modes (DESIGN.md "Webhook behaviour"): warn
 * admits a pod that deny refuses, with a warning naming the problems; off
 * checks nothing; mutation and the profiles ConfigMap do not change. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "admission.h"

static nodeset *nodes;

static void setup(void)
{
	cJSON *items = cJSON_Parse("[{\"metadata\":{\"name\":\"n1\",\"labels\":{\"armorgate.io/apparmor\":\"enabled\","
				   "\"profiles.armorgate.io/custom.web\":\"loaded\"}}}]");

	nodes = nodeset_new();
	nodeset_replace(nodes, items);
	cJSON_Delete(items);
}

static void teardown(void)
{
	nodeset_free(nodes);
}

TestSuite(enforcement, .init = setup, .fini = teardown);

#define POD_REVIEW(obj)                                                                                                \
	"{\"apiVersion\":\"admission.k8s.io/v1\",\"kind\":\"AdmissionReview\",\"request\":{\"uid\":\"u-1\","           \
	"\"resource\":{\"group\":\"\",\"version\":\"v1\",\"resource\":\"pods\"},\"operation\":\"CREATE\","             \
	"\"namespace\":\"apps\",\"object\":" obj "}}"

#define UNLOADED_POD                                                                                                   \
	"{\"metadata\":{\"name\":\"p\",\"annotations\":{\"container.apparmor.security.beta.kubernetes.io/app\":"       \
	"\"localhost/custom.db\"}},\"spec\":{\"containers\":[{\"name\":\"app\"}]}}"

/* The response object of one review under mode (caller cJSON_Delete). */
static cJSON *answer(admission_op op, admission_enforcement mode, const char *text, admission_result *r)
{
	admission_env env;
	cJSON *j;

	memset(&env, 0, sizeof(env));
	env.nodes = nodes;
	env.enforcement = mode;
	admission_handle(op, text, strlen(text), &env, r);
	cr_assert_eq(r->http_status, 200, "%s", buf_cstr(&r->body));
	j = cJSON_Parse(buf_cstr(&r->body));
	cr_assert_not_null(j);
	return j;
}

static const cJSON *resp(const cJSON *j, const char *k)
{
	return cJSON_GetObjectItem(cJSON_GetObjectItem(j, "response"), k);
}

Test(enforcement, names_parse_both_ways)
{
	static const char *names[] = { "deny", "warn", "off" };
	admission_enforcement e = ADMISSION_ENFORCE_OFF;

	for (size_t i = 0; i < 3; i++) {
		cr_assert_eq(admission_enforcement_parse(names[i], &e), 0);
		cr_expect_str_eq(admission_enforcement_name(e), names[i]);
	}
	cr_expect_eq(admission_enforcement_parse("Warn", &e), -1);
	cr_expect_eq(admission_enforcement_parse("", &e), -1);
	cr_expect_eq(admission_enforcement_parse(NULL, &e), -1);
}

Test(enforcement, warn_admits_with_the_denial_as_warning)
{
	admission_result r;
	cJSON *deny = answer(ADMISSION_VALIDATE, ADMISSION_ENFORCE_DENY, POD_REVIEW(UNLOADED_POD), &r);
	char *denied = strdup(cJSON_GetObjectItem(resp(deny, "status"), "message")->valuestring);
	const cJSON *w;
	cJSON *warn;

	cr_expect(!r.warned);
	buf_cleanup(&r.body);
	warn = answer(ADMISSION_VALIDATE, ADMISSION_ENFORCE_WARN, POD_REVIEW(UNLOADED_POD), &r);
	cr_expect(cJSON_IsTrue(resp(warn, "allowed")));
	cr_expect_null(resp(warn, "status"));
	cr_expect_eq(r.verdict, ADMISSION_VERDICT_ALLOW);
	cr_expect(r.warned);
	w = resp(warn, "warnings");
	cr_assert_eq(cJSON_GetArraySize(w), 1);
	/* the same problems as the denial, after a head that says warn */
	cr_expect(strstr(cJSON_GetArrayItem(w, 0)->valuestring, "enforcement=warn"), "%s",
		  cJSON_GetArrayItem(w, 0)->valuestring);
	cr_expect(strstr(cJSON_GetArrayItem(w, 0)->valuestring, denied + strlen("armorgate: ")), "%s",
		  cJSON_GetArrayItem(w, 0)->valuestring);
	free(denied);
	buf_cleanup(&r.body);
	cJSON_Delete(warn);
	cJSON_Delete(deny);
}

/* Allowed, no warning, not counted. */
static void expect_quiet_allow(admission_enforcement mode, const char *rv)
{
	admission_result r;
	cJSON *j = answer(ADMISSION_VALIDATE, mode, rv, &r);

	cr_expect(cJSON_IsTrue(resp(j, "allowed")), "%s", buf_cstr(&r.body));
	cr_expect_null(resp(j, "warnings"));
	cr_expect(!r.warned);
	buf_cleanup(&r.body);
	cJSON_Delete(j);
}

Test(enforcement, warn_passes_a_good_pod_silently)
{
	expect_quiet_allow(
		ADMISSION_ENFORCE_WARN,
		POD_REVIEW("{\"spec\":{\"containers\":[{\"name\":\"a\",\"securityContext\":{"
			   "\"appArmorProfile\":{\"type\":\"Localhost\",\"localhostProfile\":\"custom.web\"}}}]}}"));
}

Test(enforcement, off_checks_nothing)
{
	expect_quiet_allow(ADMISSION_ENFORCE_OFF, POD_REVIEW(UNLOADED_POD));
}

/* warn still mutates (the registration keeps off namespaces away from /mutate). */
Test(enforcement, mutation_does_not_depend_on_the_mode)
{
	admission_result a;
	admission_result b;
	cJSON *ja = answer(ADMISSION_MUTATE, ADMISSION_ENFORCE_DENY, POD_REVIEW(UNLOADED_POD), &a);
	cJSON *jb = answer(ADMISSION_MUTATE, ADMISSION_ENFORCE_WARN, POD_REVIEW(UNLOADED_POD), &b);

	cr_expect_eq(a.verdict, ADMISSION_VERDICT_PATCH);
	cr_expect_str_eq(buf_cstr(&a.body), buf_cstr(&b.body));
	buf_cleanup(&a.body);
	buf_cleanup(&b.body);
	cJSON_Delete(ja);
	cJSON_Delete(jb);
}

/* The profiles ConfigMap is not a pod: a bad one is denied in every mode. */
Test(enforcement, configmap_denied_in_every_mode)
{
	static const char rv[] =
		"{\"apiVersion\":\"admission.k8s.io/v1\",\"kind\":\"AdmissionReview\",\"request\":{\"uid\":\"u-1\","
		"\"resource\":{\"group\":\"\",\"version\":\"v1\",\"resource\":\"configmaps\"},\"operation\":\"CREATE\","
		"\"namespace\":\"armorgate-system\",\"name\":\"armorgate-profiles\",\"object\":{\"data\":{\"bad\":\"x\"}}}}";

	for (int m = ADMISSION_ENFORCE_DENY; m <= ADMISSION_ENFORCE_OFF; m++) {
		admission_result r;
		cJSON *j = answer(ADMISSION_VALIDATE, (admission_enforcement)m, rv, &r);

		cr_expect(cJSON_IsFalse(resp(j, "allowed")), "mode %d", m);
		buf_cleanup(&r.body);
		cJSON_Delete(j);
	}
}
