/* Fuzz target over the whole admission handler: every input is answered by
 * both mutate and validate against a small fixed nodeset. Also built as a
 * corpus replay program run in the normal tests (replay_admission). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "admission.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static nodeset *fuzz_nodes(void)
{
	static nodeset *ns;

	if (!ns) {
		cJSON *items = cJSON_Parse(
			"[{\"metadata\":{\"name\":\"node-a\",\"labels\":{\"armorgate.io/apparmor\":\"enabled\","
			"\"profiles.armorgate.io/custom.web\":\"loaded\",\"profiles.armorgate.io/custom.db\":\"loaded\"}}},"
			"{\"metadata\":{\"name\":\"node-b\",\"labels\":{\"armorgate.io/apparmor\":\"unsupported\","
			"\"profiles.armorgate.io/custom.old\":\"loaded\"}}}]");

		ns = nodeset_new();
		nodeset_replace(ns, items);
		cJSON_Delete(items);
	}
	return ns;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	admission_env env;
	admission_result r;

	memset(&env, 0, sizeof(env));
	env.nodes = fuzz_nodes();
	env.profiles_namespace = "armorgate-system";
	env.profiles_name = "armorgate-profiles";
	/* env.compile stays NULL: no processes from the fuzzer */
	for (int op = 0; op < 2; op++) {
		admission_handle(op ? ADMISSION_VALIDATE : ADMISSION_MUTATE, (const char *)data, size, &env, &r);
		if (!r.http_status || !r.content_type || (r.http_status == 200) != (r.verdict != ADMISSION_VERDICT_ERROR))
			abort();
		if (r.http_status == 200) {
			/* Every 200 answer must be valid JSON. */
			cJSON *j = cJSON_Parse(buf_cstr(&r.body));

			if (!j)
				abort();
			cJSON_Delete(j);
		}
		buf_cleanup(&r.body);
	}
	return 0;
}
