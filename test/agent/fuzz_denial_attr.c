/* Fuzz target: denial attribution's parsers of untrusted bytes — a
 * /proc/<pid>/cgroup text (the path below a container's cgroup is named by
 * whoever may create cgroups there) and Pod objects from the API (slimmed,
 * then put in the pod table and looked up), plus the observed annotation a
 * previous run left on the Node. Built as a corpus replay program for ctest
 * and, with ARMORGATE_FUZZ, as a libFuzzer binary. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "denial_cgroup.h"
#include "denial_obs.h"
#include "denial_pods.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	denial_cgroup_id id;
	denial_pods t;
	denial_obs o;
	char *s = malloc(size + 1);

	if (!s)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';
	(void)denial_cgroup_parse(s, size, &id);

	cJSON *pod = cJSON_ParseWithLength(s, size);
	cJSON *slim = denial_pods_slim(pod);
	denial_pods_init(&t);
	(void)denial_pods_upsert(&t, slim);
	(void)denial_pods_upsert(&t, pod);
	for (size_t i = 0; i < t.n; i++)
		(void)denial_pods_container(denial_pods_find(&t, t.items[i].uid), id.container_id);
	denial_pods_delete(&t, pod);
	denial_pods_cleanup(&t);
	cJSON_Delete(slim);
	cJSON_Delete(pod);

	denial_obs_init(&o, 2048);
	denial_obs_load(&o, s, "b");
	free(denial_obs_render(&o, "b", "T"));
	denial_obs_cleanup(&o);
	free(s);
	return 0;
}
