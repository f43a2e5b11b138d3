/* Unit tests of webhook/core/nodeset: readiness from labels, watch events,
 * counts when nodes change or go away, why a node cannot run a profile. */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "nodeset.h"

static cJSON *node(const char *name, const char *apparmor, const char *const *profiles)
{
	cJSON *n = cJSON_CreateObject();
	cJSON *meta = cJSON_AddObjectToObject(n, "metadata");
	cJSON *labels = cJSON_AddObjectToObject(meta, "labels");

	cJSON_AddStringToObject(meta, "name", name);
	if (apparmor)
		cJSON_AddStringToObject(labels, "armorgate.io/apparmor", apparmor);
	for (; profiles && *profiles; profiles++) {
		char key[128];

		snprintf(key, sizeof(key), "profiles.armorgate.io/%s", *profiles);
		cJSON_AddStringToObject(labels, key, "loaded");
	}
	cJSON_AddStringToObject(labels, "kubernetes.io/hostname", name);
	return n;
}

static void apply(nodeset *ns, nodeset_event t, cJSON *n)
{
	nodeset_apply(ns, t, n);
	cJSON_Delete(n);
}

Test(nodeset, empty)
{
	nodeset *ns = nodeset_new();

	cr_assert_not_null(ns);
	cr_expect_eq(nodeset_size(ns), 0);
	cr_expect_not(nodeset_any_has(ns, "custom.a"));
	cr_expect_eq(nodeset_node_has(ns, "n1", "custom.a"), NODESET_NODE_UNKNOWN);
	cr_expect_str_eq(nodeset_node_state_text(NODESET_NODE_UNKNOWN), "unknown node");
	nodeset_free(ns);
	nodeset_free(NULL);
}

Test(nodeset, replace_and_lookup)
{
	const char *const pa[] = { "custom.a", "custom.b", NULL };
	const char *const pb[] = { "custom.c", NULL };
	nodeset *ns = nodeset_new();
	cJSON *items = cJSON_CreateArray();

	cJSON_AddItemToArray(items, node("n1", "enabled", pa));
	cJSON_AddItemToArray(items, node("n2", "unsupported", pb));
	cJSON_AddItemToArray(items, node("n3", NULL, pb));
	cJSON_AddItemToArray(items, cJSON_CreateString("garbage"));
	cJSON_AddItemToArray(items, cJSON_Parse("{\"metadata\":{\"labels\":{}}}"));
	nodeset_replace(ns, items);
	cJSON_Delete(items);

	cr_expect_eq(nodeset_size(ns), 3);
	cr_expect_eq(nodeset_enabled_count(ns), 1);
	cr_expect(nodeset_any_has(ns, "custom.a"));
	cr_expect(nodeset_any_has(ns, "custom.b"));
	/* Only on nodes without AppArmor: not usable. */
	cr_expect_not(nodeset_any_has(ns, "custom.c"));
	cr_expect_eq(nodeset_node_has(ns, "n1", "custom.a"), NODESET_NODE_READY);
	cr_expect_str_eq(nodeset_node_state_text(NODESET_NODE_READY), "");
	cr_expect_eq(nodeset_node_has(ns, "n1", "custom.c"), NODESET_NODE_NOT_LOADED);
	cr_expect_str_eq(nodeset_node_state_text(NODESET_NODE_NOT_LOADED), "profile not loaded");
	cr_expect_eq(nodeset_node_has(ns, "n2", "custom.c"), NODESET_NODE_NO_APPARMOR);
	cr_expect_str_eq(nodeset_node_state_text(NODESET_NODE_NO_APPARMOR), "AppArmor not enabled on the node");
	cr_expect_eq(nodeset_node_has(ns, "n3", "custom.c"), NODESET_NODE_NO_APPARMOR);
	nodeset_free(ns);
}

Test(nodeset, label_values_matter)
{
	nodeset *ns = nodeset_new();
	cJSON *n = cJSON_Parse("{\"metadata\":{\"name\":\"n1\",\"labels\":{\"armorgate.io/apparmor\":\"enabled\","
			       "\"profiles.armorgate.io/custom.a\":\"loading\",\"profiles.armorgate.io/\":\"loaded\","
			       "\"profiles.armorgate.io/custom.b\":\"loaded\",\"x/custom.c\":\"loaded\"}}}");

	apply(ns, NODESET_UPSERT, n);
	cr_expect_not(nodeset_any_has(ns, "custom.a"));
	cr_expect(nodeset_any_has(ns, "custom.b"));
	cr_expect_not(nodeset_any_has(ns, "custom.c"));
	cr_expect_not(nodeset_any_has(ns, ""));
	nodeset_free(ns);
}

Test(nodeset, events_keep_counts)
{
	const char *const pab[] = { "custom.a", "custom.b", NULL };
	const char *const pa[] = { "custom.a", NULL };
	nodeset *ns = nodeset_new();

	apply(ns, NODESET_UPSERT, node("n1", "enabled", pab));
	apply(ns, NODESET_UPSERT, node("n2", "enabled", pa));
	cr_expect(nodeset_any_has(ns, "custom.b"));
	/* n1 loses custom.b. */
	apply(ns, NODESET_UPSERT, node("n1", "enabled", pa));
	cr_expect_not(nodeset_any_has(ns, "custom.b"));
	cr_expect(nodeset_any_has(ns, "custom.a"));
	apply(ns, NODESET_DELETE, node("n1", NULL, NULL));
	cr_expect(nodeset_any_has(ns, "custom.a"));
	/* n2 turns unsupported: its profiles stop counting. */
	apply(ns, NODESET_UPSERT, node("n2", "unsupported", pa));
	cr_expect_not(nodeset_any_has(ns, "custom.a"));
	cr_expect_eq(nodeset_enabled_count(ns), 0);
	apply(ns, NODESET_UPSERT, node("n2", "enabled", pa));
	cr_expect(nodeset_any_has(ns, "custom.a"));
	/* Deleting an unknown node is fine. */
	apply(ns, NODESET_DELETE, node("nx", NULL, NULL));
	cr_expect(nodeset_any_has(ns, "custom.a"));
	cr_expect_eq(nodeset_size(ns), 1);
	apply(ns, NODESET_DELETE, node("n2", "enabled", pa));
	cr_expect_not(nodeset_any_has(ns, "custom.a"));
	cr_expect_eq(nodeset_size(ns), 0);
	nodeset_apply(ns, NODESET_UPSERT, NULL);
	nodeset_free(ns);
}

Test(nodeset, many_nodes_rehash)
{
	nodeset *ns = nodeset_new();
	cJSON *items = cJSON_CreateArray();

	for (int i = 0; i < 5000; i++) {
		char name[32], prof[32];
		const char *pl[] = { prof, NULL };

		snprintf(name, sizeof(name), "node-%d", i);
		snprintf(prof, sizeof(prof), "custom.p%d", i % 50);
		cJSON_AddItemToArray(items, node(name, "enabled", pl));
	}
	nodeset_replace(ns, items);
	cJSON_Delete(items);
	cr_expect_eq(nodeset_size(ns), 5000);
	cr_expect(nodeset_any_has(ns, "custom.p49"));
	cr_expect_not(nodeset_any_has(ns, "custom.p50"));
	cr_expect_eq(nodeset_node_has(ns, "node-4999", "custom.p49"), NODESET_NODE_READY);
	for (int i = 0; i < 5000; i += 50) {
		char name[32];

		snprintf(name, sizeof(name), "node-%d", i);
		apply(ns, NODESET_DELETE, node(name, NULL, NULL));
	}
	cr_expect_not(nodeset_any_has(ns, "custom.p0"));
	cr_expect(nodeset_any_has(ns, "custom.p1"));
	/* A relist replaces everything. */
	items = cJSON_CreateArray();
	nodeset_replace(ns, items);
	cJSON_Delete(items);
	cr_expect_eq(nodeset_size(ns), 0);
	cr_expect_not(nodeset_any_has(ns, "custom.p1"));
	nodeset_free(ns);
}

static void *reader(void *arg)
{
	nodeset *ns = arg;

	for (int i = 0; i < 20000; i++) {
		(void)nodeset_any_has(ns, "custom.a");
		(void)nodeset_node_has(ns, "n1", "custom.a");
	}
	return NULL;
}

Test(nodeset, concurrent_readers_and_writer)
{
	const char *const pa[] = { "custom.a", NULL };
	nodeset *ns = nodeset_new();
	pthread_t th[2];

	for (int i = 0; i < 2; i++)
		cr_assert_eq(pthread_create(&th[i], NULL, reader, ns), 0);
	for (int i = 0; i < 2000; i++)
		apply(ns, i % 2 ? NODESET_DELETE : NODESET_UPSERT, node("n1", "enabled", pa));
	for (int i = 0; i < 2; i++)
		pthread_join(th[i], NULL);
	cr_expect_not(nodeset_any_has(ns, "custom.a"));
	nodeset_free(ns);
}

/* A node as an agent leaves it: status annotation with bootID, and the
 * kubelet's status.nodeInfo.bootID. */
static cJSON *booted(const char *name, const char *status_boot, const char *kubelet_boot)
{
	const char *const pa[] = { "custom.a", NULL };
	cJSON *n = node(name, "enabled", pa);
	char st[256];

	if (status_boot) {
		snprintf(st, sizeof(st), "{\"agentVersion\":\"1\",\"bootID\":\"%s\",\"profiles\":{}}", status_boot);
		cJSON_AddStringToObject(cJSON_AddObjectToObject(cJSON_GetObjectItem(n, "metadata"), "annotations"),
					"armorgate.io/status", st);
	}
	if (kubelet_boot)
		cJSON_AddStringToObject(cJSON_AddObjectToObject(cJSON_AddObjectToObject(n, "status"), "nodeInfo"),
					"bootID", kubelet_boot);
	return n;
}

Test(nodeset, status_from_an_earlier_boot_counts_for_nothing)
{
	nodeset *ns = nodeset_new();

	apply(ns, NODESET_UPSERT, booted("n1", "boot-1", "boot-2"));
	cr_expect_eq(nodeset_size(ns), 1);
	cr_expect_eq(nodeset_enabled_count(ns), 0);
	cr_expect_not(nodeset_any_has(ns, "custom.a"));
	cr_expect_eq(nodeset_node_has(ns, "n1", "custom.a"), NODESET_NODE_STALE_BOOT);
	cr_expect_str_eq(nodeset_node_state_text(NODESET_NODE_STALE_BOOT), "status from before the node's last boot");
	/* The agent has reloaded: its status names the current boot. */
	apply(ns, NODESET_UPSERT, booted("n1", "boot-2", "boot-2"));
	cr_expect_eq(nodeset_enabled_count(ns), 1);
	cr_expect(nodeset_any_has(ns, "custom.a"));
	cr_expect_eq(nodeset_node_has(ns, "n1", "custom.a"), NODESET_NODE_READY);
	/* Rebooted again, the agent not yet back: gone from the counts. */
	apply(ns, NODESET_UPSERT, booted("n1", "boot-2", "boot-3"));
	cr_expect_not(nodeset_any_has(ns, "custom.a"));
	apply(ns, NODESET_DELETE, booted("n1", "boot-2", "boot-3"));
	cr_expect_eq(nodeset_size(ns), 0);
	cr_expect_eq(nodeset_enabled_count(ns), 0);
	nodeset_free(ns);
}

Test(nodeset, boot_judged_only_when_both_sides_name_one)
{
	nodeset *ns = nodeset_new();
	cJSON *bad = booted("n4", NULL, "boot-1");

	apply(ns, NODESET_UPSERT, booted("n1", "boot-1", NULL));
	apply(ns, NODESET_UPSERT, booted("n2", NULL, "boot-1"));
	apply(ns, NODESET_UPSERT, booted("n3", "", "boot-1"));
	cJSON_AddStringToObject(cJSON_AddObjectToObject(cJSON_GetObjectItem(bad, "metadata"), "annotations"),
				"armorgate.io/status", "{not json");
	apply(ns, NODESET_UPSERT, bad);
	cr_expect_eq(nodeset_enabled_count(ns), 4);
	for (int i = 1; i <= 4; i++) {
		char name[8];

		snprintf(name, sizeof(name), "n%d", i);
		cr_expect_eq(nodeset_node_has(ns, name, "custom.a"), NODESET_NODE_READY, "%s", name);
	}
	nodeset_free(ns);
}

/* What the Node list keeps (nodeset_slim) gives the same readiness as the
 * full object, and holds nothing else. */
Test(nodeset, slim_keeps_what_nodeset_reads)
{
	const char *const cases[][2] = { { "boot-1", "boot-2" }, { "boot-2", "boot-2" }, { NULL, "boot-1" } };

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		cJSON *full = booted("n1", cases[i][0], cases[i][1]);
		cJSON *slim;
		cJSON *items = cJSON_CreateArray();
		nodeset *a = nodeset_new();
		nodeset *b = nodeset_new();
		char *text;

		cJSON_AddStringToObject(cJSON_GetObjectItem(full, "metadata"), "resourceVersion", "42");
		cJSON_AddStringToObject(cJSON_GetObjectItem(full, "status"), "phase", "Running");
		slim = nodeset_slim(full);
		cr_assert_not_null(slim);
		text = cJSON_PrintUnformatted(slim);
		cr_expect_null(strstr(text, "kubernetes.io/hostname"), "%s", text);
		cr_expect_null(strstr(text, "agentVersion"), "%s", text);
		cr_expect_null(strstr(text, "Running"), "%s", text);
		cJSON_free(text);
		nodeset_apply(a, NODESET_UPSERT, full);
		cJSON_AddItemToArray(items, slim);
		nodeset_replace(b, items);
		cr_expect_eq(nodeset_node_has(a, "n1", "custom.a"), nodeset_node_has(b, "n1", "custom.a"), "case %zu",
			     i);
		cr_expect_eq(nodeset_enabled_count(a), nodeset_enabled_count(b), "case %zu", i);
		cJSON_Delete(full);
		cJSON_Delete(items);
		nodeset_free(a);
		nodeset_free(b);
	}
}
