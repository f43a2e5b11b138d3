/* kctl_view: the plugin's status and why views on Node and Pod objects like
 * those the API server returns. */
#include <criterion/criterion.h>
#include <string.h>

#include "kctl_view.h"

#define STATUS(json) "\"armorgate.io/status\":\"" json "\""
#define ST_OK "{\\\"agentVersion\\\":\\\"0.1.0\\\",\\\"apparmor\\\":true,\\\"bootID\\\":\\\"b1\\\",\\\"observedAt\\\":\\\"2026-12-07T10:00:00Z\\\",\\\"profiles\\\":{\\\"custom.web\\\":{\\\"state\\\":\\\"loaded\\\",\\\"message\\\":\\\"\\\"}}}"
#define ST_ERR "{\\\"agentVersion\\\":\\\"0.1.0\\\",\\\"apparmor\\\":true,\\\"bootID\\\":\\\"b2\\\",\\\"observedAt\\\":\\\"2026-12-07T10:00:01Z\\\",\\\"profiles\\\":{\\\"custom.web\\\":{\\\"state\\\":\\\"error\\\",\\\"message\\\":\\\"custom.web: does not compile: syntax error\\\"}}}"

static const char nodes_json[] =
	"{\"items\":["
	"{\"metadata\":{\"name\":\"node-1\",\"labels\":{\"armorgate.io/apparmor\":\"enabled\","
	"\"profiles.armorgate.io/custom.web\":\"loaded\"},\"annotations\":{" STATUS(ST_OK) "}},"
	"\"status\":{\"nodeInfo\":{\"bootID\":\"b1\"}}},"
	"{\"metadata\":{\"name\":\"node-2\",\"labels\":{\"armorgate.io/apparmor\":\"enabled\"},"
	"\"annotations\":{" STATUS(ST_ERR) "}},\"status\":{\"nodeInfo\":{\"bootID\":\"b2\"}}},"
	"{\"metadata\":{\"name\":\"node-3\",\"labels\":{\"armorgate.io/apparmor\":\"unsupported\"}}},"
	"{\"metadata\":{\"name\":\"node-4\"}}"
	"]}";

static cJSON *parse(const char *s)
{
	cJSON *j = cJSON_Parse(s);

	cr_assert_not_null(j, "fixture is not JSON: %s", s);
	return j;
}

static char *render_status(const char *json)
{
	cJSON *n = parse(json);
	buf b;

	buf_init(&b, 1u << 20);
	cr_assert_eq(kctl_view_status(n, &b), 0);
	cJSON_Delete(n);
	return buf_steal(&b);
}

Test(kctl_view, status_matrix_and_messages)
{
	char *s = render_status(nodes_json);

	cr_expect(strstr(s, "node-1  enabled      0.1.0     2026-12-07T10:00:00Z\n") != NULL, "%s", s);
	cr_expect(strstr(s, "node-3  unsupported  -") != NULL, "%s", s);
	cr_expect(strstr(s, "node-4  -") && strstr(s, "no status from an armorgate agent"), "%s", s);
	cr_expect(strstr(s, "custom.web  loaded            error             -                 -\n") != NULL, "%s", s);
	cr_expect(strstr(s, "custom.web on node-2: error: custom.web: does not compile: syntax error") != NULL, "%s", s);
	free(s);
}

Test(kctl_view, status_stale_after_reboot)
{
	char *s = render_status("{\"items\":[{\"metadata\":{\"name\":\"n\",\"labels\":{\"armorgate.io/apparmor\":"
				"\"enabled\"},\"annotations\":{" STATUS(ST_OK) "}},\"status\":{\"nodeInfo\":{\"bootID\":"
				"\"new-boot\"}}}]}");

	cr_expect(strstr(s, "before the node's last boot") != NULL, "%s", s);
	free(s);
}

Test(kctl_view, status_tolerates_garbage)
{
	static const char *const inputs[] = {
		"{}", "{\"items\":[]}", "{\"items\":[1,\"x\",null,{}]}",
		"{\"items\":[{\"metadata\":{\"name\":7,\"annotations\":{\"armorgate.io/status\":\"not json\"}}}]}",
		"{\"items\":[{\"metadata\":{\"annotations\":{\"armorgate.io/status\":\"{\\\"profiles\\\":[1,2]}\"}}}]}",
	};

	for (size_t i = 0; i < sizeof(inputs) / sizeof(inputs[0]); i++)
		free(render_status(inputs[i]));
}

static char *render_why(const char *pod_json)
{
	cJSON *n = parse(nodes_json);
	cJSON *p = parse(pod_json);
	buf b;

	buf_init(&b, 1u << 20);
	cr_assert_eq(kctl_view_why(p, n, &b), 0);
	cJSON_Delete(n);
	cJSON_Delete(p);
	return buf_steal(&b);
}

Test(kctl_view, why_pending_pod)
{
	char *s = render_why("{\"metadata\":{\"namespace\":\"demo\",\"name\":\"web\"},\"spec\":{\"nodeSelector\":"
			     "{\"profiles.armorgate.io/custom.web\":\"loaded\"},\"containers\":[{\"name\":\"app\","
			     "\"securityContext\":{\"appArmorProfile\":{\"type\":\"Localhost\",\"localhostProfile\":"
			     "\"custom.web\"}}}]},\"status\":{\"phase\":\"Pending\",\"conditions\":[{\"type\":"
			     "\"PodScheduled\",\"status\":\"False\",\"message\":\"0/4 nodes are available\"}]}}");

	cr_expect(strstr(s, "Pod demo/web: Pending; not scheduled: 0/4 nodes are available") != NULL, "%s", s);
	cr_expect(strstr(s, "needs on its node: custom.web\n") != NULL, "%s", s);
	cr_expect(strstr(s, "node-1  yes") != NULL, "%s", s);
	cr_expect(strstr(s, "node-2  no    custom.web: error: custom.web: does not compile") != NULL, "%s", s);
	cr_expect(strstr(s, "node-3  no    AppArmor is not usable") != NULL, "%s", s);
	cr_expect(strstr(s, "node-4  no    no armorgate agent") != NULL, "%s", s);
	free(s);
}

Test(kctl_view, why_bound_pod_and_annotation)
{
	char *s = render_why("{\"metadata\":{\"namespace\":\"d\",\"name\":\"p\",\"annotations\":{"
			     "\"container.apparmor.security.beta.kubernetes.io/app\":\"localhost/custom.web\"}},"
			     "\"spec\":{\"nodeName\":\"node-2\"},\"status\":{\"phase\":\"Pending\"}}");

	cr_expect(strstr(s, "on node-2") && strstr(s, "node-2  no") && !strstr(s, "node-1"), "%s", s);
	cr_expect(strstr(s, "No node has every profile loaded") != NULL, "%s", s);
	free(s);
}

Test(kctl_view, why_unconfined_pod)
{
	char *s = render_why("{\"metadata\":{\"namespace\":\"d\",\"name\":\"p\"},\"spec\":{\"securityContext\":"
			     "{\"appArmorProfile\":{\"type\":\"RuntimeDefault\"}}},\"status\":{\"phase\":\"Running\"}}");

	cr_expect(strstr(s, "uses no custom.* AppArmor profile") != NULL, "%s", s);
	free(s);
}
