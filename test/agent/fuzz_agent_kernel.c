/* Fuzz target: the agent's parsers of untrusted bytes — the kernel profile
 * list, /proc attr labels, and the Node object the API returns (fed to the
 * merge-patch computation). Built as a corpus replay program for ctest and,
 * with ARMORGATE_FUZZ, as a libFuzzer binary. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "agent_kernel.h"
#include "agent_node.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fuzz_count(void *ud, const char *name, size_t len)
{
	size_t *n = ud;
	*n += len + (name ? 1 : 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	agent_klist l;
	ag_err e;
	char *s = malloc(size + 1);
	if (!s)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';

	if (agent_kernel_parse_list(s, size, &l, &e) == 0) {
		for (size_t i = 0; i < l.n; i++)
			(void)agent_kernel_find(&l, l.items[i].name);
		cJSON *w = agent_node_wanted_labels(true, &l);
		cJSON *node = cJSON_ParseWithLength(s, size);
		agent_pstatus ps = { "custom.a", "00", "enforce", AGENT_PSTATE_LOADED, "" };
		agent_status st = { true, "v", "b", &ps, 1, NULL };
		char *patch = NULL;
		if (w && agent_node_patch_for(node, w, &st, "T", &patch, &e) == 0)
			free(patch);
		cJSON_Delete(node);
		cJSON_Delete(w);
		agent_kernel_list_cleanup(&l);
	}
	char label[256], mode[32];
	if (agent_kernel_parse_attr(s, size, label, sizeof(label), mode, sizeof(mode)) == 0) {
		size_t n = 0;
		agent_kernel_label_each(label, fuzz_count, &n);
		(void)agent_kernel_label_has(label, "custom.a");
	}
	free(s);
	return 0;
}
