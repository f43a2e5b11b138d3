/* Differential fuzz target for webhook/core/jsonprune: whenever the pruned
 * parse accepts a text, the full cJSON parse must accept it too and hold the
 * same value at every kept path (jsonprune.h's contract). The schema has the
 * shape of the admission one, so the admission corpus exercises it. Also
 * built as a corpus replay program run in the normal tests. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "jsonprune.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const jsonprune_member sc_members[] = {
	JSONPRUNE_MEMBER("appArmorProfile", NULL),
};
static const jsonprune_node sc_node = { sc_members, 1, NULL };
static const jsonprune_member ctr_members[] = {
	JSONPRUNE_MEMBER("name", NULL),
	JSONPRUNE_MEMBER("securityContext", &sc_node),
};
static const jsonprune_node ctr_node = { ctr_members, 2, NULL };
static const jsonprune_node ctrs_node = { NULL, 0, &ctr_node };
static const jsonprune_member spec_members[] = {
	JSONPRUNE_MEMBER("containers", &ctrs_node),
	JSONPRUNE_MEMBER("securityContext", &sc_node),
	JSONPRUNE_MEMBER("nodeSelector", NULL),
};
static const jsonprune_node spec_node = { spec_members, 3, NULL };
static const jsonprune_member obj_members[] = {
	JSONPRUNE_MEMBER("metadata", NULL),
	JSONPRUNE_MEMBER("spec", &spec_node),
};
static const jsonprune_node obj_node = { obj_members, 2, NULL };
static const jsonprune_member req_members[] = {
	JSONPRUNE_MEMBER("uid", NULL),
	JSONPRUNE_MEMBER("object", &obj_node),
};
static const jsonprune_node req_node = { req_members, 2, NULL };
static const jsonprune_member root_members[] = {
	JSONPRUNE_MEMBER("kind", NULL),
	JSONPRUNE_MEMBER("request", &req_node),
};
static const jsonprune_node root_node = { root_members, 2, NULL };

static void same(const cJSON *full, const cJSON *pruned, const jsonprune_node *node)
{
	if (node && node->jn_members && cJSON_IsObject(full)) {
		if (!cJSON_IsObject(pruned))
			abort();
		for (size_t m = 0; m < node->jn_nmembers; m++) {
			const char *k = node->jn_members[m].jm_name;
			const cJSON *f = cJSON_GetObjectItemCaseSensitive(full, k);
			const cJSON *p = cJSON_GetObjectItemCaseSensitive(pruned, k);

			if (!f != !p)
				abort();
			if (f)
				same(f, p, node->jn_members[m].jm_node);
		}
		return;
	}
	if (node && node->jn_items && cJSON_IsArray(full)) {
		const cJSON *p;
		const cJSON *f;

		if (!cJSON_IsArray(pruned) || cJSON_GetArraySize(full) != cJSON_GetArraySize(pruned))
			abort();
		for (f = full->child, p = pruned->child; f && p; f = f->next, p = p->next)
			same(f, p, node->jn_items);
		return;
	}
	/* Kept whole: the same text when printed, so also the same member order
	 * and duplicate names, which the rules see when they walk an object.
	 * (cJSON_Compare cannot say: it looks members up by name, so an object
	 * with a repeated name differs even from itself, and inf from inf.) */
	{
		char *a = cJSON_PrintUnformatted(full);
		char *b = cJSON_PrintUnformatted(pruned);
		int diff = !a || !b || strcmp(a, b) != 0;

		cJSON_free(a);
		cJSON_free(b);
		if (diff)
			abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *s = (const char *)data;
	const char *end = NULL;
	bool nul = false;
	cJSON *pruned = jsonprune_parse(s, size, &root_node, 64, &nul);
	cJSON *full;

	if (!pruned)
		return 0;
	full = cJSON_ParseWithLengthOpts(s, size, &end, 0);
	if (!full || end < s || end > s + size)
		abort();
	while (end < s + size && strchr(" \t\r\n", *end) && *end)
		end++;
	if (end != s + size)
		abort();
	same(full, pruned, &root_node);
	cJSON_Delete(full);
	cJSON_Delete(pruned);
	return 0;
}
