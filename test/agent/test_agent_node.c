/* Unit tests: wanted labels, status annotation, merge patch. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent_node.h"

static agent_klist kl(const char *text)
{
	agent_klist l;
	ag_err e;
	cr_assert_eq(agent_kernel_parse_list(text, strlen(text), &l, &e), 0);
	return l;
}

static agent_pstatus ps_loaded = { "custom.a", "aaaa", "enforce", AGENT_PSTATE_LOADED, "" };

Test(agent_node, wanted_labels_only_kernel_listed_managed)
{
	agent_klist l =
		kl("custom.a (enforce)\nfoo (enforce)\ncustom.b (complain)\ncustom.X (enforce)\ncustom.x! (enforce)\n");
	cJSON *w = agent_node_wanted_labels(true, &l);
	char *s = cJSON_PrintUnformatted(w);
	cr_assert_str_eq(
		s,
		"{\"armorgate.io/apparmor\":\"enabled\",\"profiles.armorgate.io/custom.X\":\"loaded\","
		"\"profiles.armorgate.io/custom.a\":\"loaded\",\"profiles.armorgate.io/custom.b\":\"loaded\"}");
	free(s);
	cJSON_Delete(w);
	w = agent_node_wanted_labels(false, &l);
	s = cJSON_PrintUnformatted(w);
	cr_assert_str_eq(s, "{\"armorgate.io/apparmor\":\"unsupported\"}");
	free(s);
	cJSON_Delete(w);
	agent_kernel_list_cleanup(&l);
}

Test(agent_node, status_json)
{
	agent_status st = { true, "0.1.0", "boot-1", &ps_loaded, 1, NULL };
	char *s = agent_node_status_json(&st, "2026-01-01T00:00:00Z");
	cr_assert_str_eq(s,
			 "{\"agentVersion\":\"0.1.0\",\"apparmor\":\"enabled\",\"bootID\":\"boot-1\","
			 "\"observedAt\":\"2026-01-01T00:00:00Z\",\"profiles\":{\"custom.a\":{\"sha256\":\"aaaa\","
			 "\"mode\":\"enforce\",\"state\":\"loaded\",\"message\":\"\"}}}");
	free(s);
}

Test(agent_node, status_json_source_missing)
{
	agent_status st = { true, "0.1.0", "boot-1", &ps_loaded, 1, "missing" };
	char *s = agent_node_status_json(&st, "T");
	cr_assert_str_eq(s,
			 "{\"agentVersion\":\"0.1.0\",\"apparmor\":\"enabled\",\"bootID\":\"boot-1\","
			 "\"observedAt\":\"T\",\"source\":\"missing\",\"profiles\":{\"custom.a\":{\"sha256\":\"aaaa\","
			 "\"mode\":\"enforce\",\"state\":\"loaded\",\"message\":\"\"}}}");
	free(s);
}

Test(agent_node, patch_clears_stale_and_sets_status)
{
	agent_klist l = kl("");
	cJSON *w = agent_node_wanted_labels(false, &l);
	cJSON *node =
		cJSON_Parse("{\"metadata\":{\"name\":\"n1\",\"labels\":{\"kubernetes.io/hostname\":\"n1\","
			    "\"profiles.armorgate.io/custom.old\":\"loaded\",\"armorgate.io/apparmor\":\"enabled\"}}}");
	agent_status st = { false, "0.1.0", "b", NULL, 0, NULL };
	char *patch = NULL;
	ag_err e;
	cr_assert_eq(agent_node_patch_for(node, w, &st, "T1", &patch, &e), 0);
	cr_assert(patch);
	cr_assert_str_eq(patch,
			 "{\"metadata\":{\"labels\":{\"armorgate.io/apparmor\":\"unsupported\","
			 "\"profiles.armorgate.io/custom.old\":null},\"annotations\":{\"armorgate.io/status\":"
			 "\"{\\\"agentVersion\\\":\\\"0.1.0\\\",\\\"apparmor\\\":\\\"unsupported\\\",\\\"bootID\\\":"
			 "\\\"b\\\",\\\"observedAt\\\":\\\"T1\\\",\\\"profiles\\\":{}}\"}}}");
	free(patch);
	cJSON_Delete(node);
	cJSON_Delete(w);
	agent_kernel_list_cleanup(&l);
}

Test(agent_node, no_change_no_patch_even_if_time_moves)
{
	agent_klist l = kl("custom.a (enforce)\n");
	cJSON *w = agent_node_wanted_labels(true, &l);
	agent_status st = { true, "0.1.0", "b", &ps_loaded, 1, NULL };
	char *ann = agent_node_status_json(&st, "T1");
	cJSON *node = cJSON_CreateObject();
	cJSON *md = cJSON_AddObjectToObject(node, "metadata");
	cJSON_AddItemToObject(md, "labels", cJSON_Duplicate(w, true));
	cJSON_AddStringToObject(cJSON_AddObjectToObject(md, "annotations"), "armorgate.io/status", ann);
	char *patch = (char *)1;
	ag_err e;
	cr_assert_eq(agent_node_patch_for(node, w, &st, "T2", &patch, &e), 0);
	cr_assert_null(patch);

	/* A profile state change -> annotation only, labels untouched. */
	agent_pstatus p2 = ps_loaded;
	snprintf(p2.message, sizeof(p2.message), "load failed");
	p2.state = AGENT_PSTATE_ERROR;
	agent_status st2 = { true, "0.1.0", "b", &p2, 1, NULL };
	cr_assert_eq(agent_node_patch_for(node, w, &st2, "T3", &patch, &e), 0);
	cr_assert(patch);
	cr_assert_null(strstr(patch, "\"labels\""));
	cr_assert(strstr(patch, "load failed"));
	free(patch);

	/* Kernel lost custom.a (reboot) -> label nulled. */
	agent_klist l2 = kl("");
	cJSON *w2 = agent_node_wanted_labels(true, &l2);
	cr_assert_eq(agent_node_patch_for(node, w2, &st, "T4", &patch, &e), 0);
	cr_assert(strstr(patch, "\"profiles.armorgate.io/custom.a\":null"));
	cr_assert_null(strstr(patch, "annotations"));
	free(patch);

	free(ann);
	cJSON_Delete(node);
	cJSON_Delete(w);
	cJSON_Delete(w2);
	agent_kernel_list_cleanup(&l);
	agent_kernel_list_cleanup(&l2);
}

Test(agent_node, garbage_annotation_is_rewritten)
{
	agent_klist l = kl("");
	cJSON *w = agent_node_wanted_labels(false, &l);
	cJSON *node = cJSON_Parse("{\"metadata\":{\"labels\":{\"armorgate.io/apparmor\":\"unsupported\"},"
				  "\"annotations\":{\"armorgate.io/status\":\"not json\"}}}");
	agent_status st = { false, "0.1.0", "b", NULL, 0, NULL };
	char *patch = NULL;
	ag_err e;
	cr_assert_eq(agent_node_patch_for(node, w, &st, "T", &patch, &e), 0);
	cr_assert(patch);
	cr_assert_null(strstr(patch, "labels"));
	free(patch);
	cJSON_Delete(node);
	cJSON_Delete(w);
	agent_kernel_list_cleanup(&l);
}
