/* admission_pod: reading a Pod into admission_pod (see admission_pod.h).
 * Trust boundary: the Pod comes from the request; lists that are not arrays
 * make it unreadable, oversized ones are refused before any allocation. */
#include "admission_pod.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "admission.h"
#include "jsonget.h"

static const struct {
	const char *list, *what;
} admission_pod_lists[] = {
	[ADMISSION_POD_CONTAINERS] = { "containers", "container" },
	[ADMISSION_POD_INIT_CONTAINERS] = { "initContainers", "init container" },
	[ADMISSION_POD_EPHEMERAL_CONTAINERS] = { "ephemeralContainers", "ephemeral container" },
};

enum { ADMISSION_POD_NLISTS = sizeof(admission_pod_lists) / sizeof(admission_pod_lists[0]) };

void admission_pod_cleanup(admission_pod *p)
{
	free(p->ctrs);
	free(p->anns);
	free(p->ann_used);
	memset(p, 0, sizeof(*p));
}

static bool admission_pod_is_aa_annotation(const cJSON *a)
{
	return a->string && strncmp(a->string, ADMISSION_ANNOTATION_PREFIX, strlen(ADMISSION_ANNOTATION_PREFIX)) == 0;
}

/* Checks the container lists and sizes p->ctrs for all of them. */
static int admission_pod_alloc_ctrs(admission_pod *p, ag_err *err)
{
	size_t total = 0;

	for (size_t l = 0; l < ADMISSION_POD_NLISTS; l++) {
		const cJSON *arr = jsonget_item(p->spec, admission_pod_lists[l].list);

		if (arr && !cJSON_IsArray(arr) && !cJSON_IsNull(arr))
			return err_set(err, EINVAL, "a container list of the Pod is not an array");
		total += (size_t)cJSON_GetArraySize(arr);
	}
	if (total > ADMISSION_POD_CONTAINERS_MAX)
		return err_set(err, E2BIG, "the Pod has more containers than armorgate checks (4096)");
	p->ctrs = calloc(total ? total : 1, sizeof(*p->ctrs));
	if (!p->ctrs)
		return err_set(err, ENOMEM, "out of memory");
	return 0;
}

/* Collects the AppArmor annotations of metadata.annotations into p->anns. */
static int admission_pod_annotations(admission_pod *p, const cJSON *meta, ag_err *err)
{
	const cJSON *it;
	size_t i = 0;

	p->annotations = jsonget_item(meta, "annotations");
	if (!cJSON_IsObject(p->annotations))
		p->annotations = NULL;
	cJSON_ArrayForEach (it, p->annotations) {
		if (admission_pod_is_aa_annotation(it))
			p->nanns++;
	}
	if (p->nanns > ADMISSION_POD_ANNOTATIONS_MAX)
		return err_set(err, E2BIG, "the Pod has more AppArmor annotations than armorgate checks (4096)");
	if (!p->nanns)
		return 0;
	p->anns = calloc(p->nanns, sizeof(const cJSON *));
	p->ann_used = calloc(p->nanns, sizeof(*p->ann_used));
	if (!p->anns || !p->ann_used)
		return err_set(err, ENOMEM, "out of memory");
	cJSON_ArrayForEach (it, p->annotations) {
		if (admission_pod_is_aa_annotation(it))
			p->anns[i++] = it;
	}
	return 0;
}

/* Links c to the annotation that names it, if any. */
static void admission_pod_match_annotation(admission_pod *p, admission_pod_ctr *c)
{
	const size_t plen = strlen(ADMISSION_ANNOTATION_PREFIX);

	c->annref.type = ADMISSION_AA_NONE;
	for (size_t a = 0; a < p->nanns; a++) {
		const cJSON *ann = p->anns[a];

		if (ann && strcmp(ann->string + plen, c->name) == 0) {
			c->ann = ann;
			c->ann_idx = a;
			c->annref = admission_aa_from_annotation(c->ann);
			p->ann_used[a] = true;
			return;
		}
	}
}

static bool admission_pod_in_list(const cJSON *olds, const char *name)
{
	const cJSON *o;

	cJSON_ArrayForEach (o, olds) {
		const char *on = jsonget_str(o, "name");

		if (on && strcmp(on, name) == 0)
			return true;
	}
	return false;
}

/* Appends the named containers of list l to p->ctrs. */
static void admission_pod_containers(admission_pod *p, admission_pod_list l, const cJSON *old)
{
	const cJSON *arr = jsonget_item(p->spec, admission_pod_lists[l].list);
	const cJSON *olds = jsonget_item(jsonget_item(old, "spec"), admission_pod_lists[l].list);
	const cJSON *it;
	size_t idx = 0;

	cJSON_ArrayForEach (it, arr) {
		admission_pod_ctr *c = &p->ctrs[p->n];
		const char *name = jsonget_str(it, "name");

		idx++;
		/* Unnamed containers are refused by the API server itself. */
		if (!name)
			continue;
		c->kind = l;
		c->list = admission_pod_lists[l].list;
		c->what = admission_pod_lists[l].what;
		c->index = idx - 1;
		c->name = name;
		c->sc = jsonget_item(it, "securityContext");
		if (!cJSON_IsObject(c->sc))
			c->sc = NULL;
		c->own = admission_aa_from_field(jsonget_item(c->sc, "appArmorProfile"));
		admission_pod_match_annotation(p, c);
		c->is_new = !(l == ADMISSION_POD_EPHEMERAL_CONTAINERS && old && admission_pod_in_list(olds, name));
		p->n++;
	}
}

int admission_pod_load(const cJSON *obj, const cJSON *old, admission_pod *p, ag_err *err)
{
	const cJSON *sc;

	memset(p, 0, sizeof(*p));
	p->spec = jsonget_item(obj, "spec");
	if (!cJSON_IsObject(p->spec))
		return err_set(err, EINVAL, "the Pod has no spec object");
	if (admission_pod_alloc_ctrs(p, err) != 0)
		return -1;
	sc = jsonget_item(p->spec, "securityContext");
	p->pod = admission_aa_from_field(jsonget_item(sc, "appArmorProfile"));
	p->node_name = jsonget_str(p->spec, "nodeName");
	if (p->node_name && !p->node_name[0])
		p->node_name = NULL;
	p->node_selector = jsonget_item(p->spec, "nodeSelector");
	if (admission_pod_annotations(p, jsonget_item(obj, "metadata"), err) != 0)
		return -1;
	for (size_t l = 0; l < ADMISSION_POD_NLISTS; l++)
		admission_pod_containers(p, (admission_pod_list)l, old);
	return 0;
}

admission_aa admission_pod_effective(const admission_pod *p, const admission_pod_ctr *c)
{
	return c->own.type != ADMISSION_AA_NONE ? c->own : p->pod;
}
