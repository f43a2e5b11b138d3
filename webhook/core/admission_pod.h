/* admission_pod: the parts of a Pod the admission rules reason about, read
 * from its cJSON tree into one struct: the pod-level and per-container
 * AppArmor settings, the AppArmor annotations and which container each one
 * names, spec.nodeName and spec.nodeSelector. Pure: no I/O, no globals.
 * Every pointer in the struct is borrowed from the tree, which must outlive
 * it; the arrays are the struct's own (admission_pod_cleanup). */
#ifndef ARMORGATE_ADMISSION_POD_H
#define ARMORGATE_ADMISSION_POD_H

#include <stdbool.h>
#include <stddef.h>

#include <cjson/cJSON.h>

#include "admission_aa.h"
#include "err.h"

enum {
	ADMISSION_POD_CONTAINERS_MAX = 4096,  /* more than any real pod; beyond it we refuse to reason */
	ADMISSION_POD_ANNOTATIONS_MAX = 4096, /* AppArmor annotations looked at per pod */
};

typedef enum {
	ADMISSION_POD_CONTAINERS,
	ADMISSION_POD_INIT_CONTAINERS,
	ADMISSION_POD_EPHEMERAL_CONTAINERS,
} admission_pod_list;

typedef struct admission_pod_ctr {
	admission_pod_list kind;
	const char *list; /* its list in the spec: "containers", "initContainers", "ephemeralContainers" */
	const char *what; /* for messages: "container", "init container", "ephemeral container" */
	size_t index;     /* in its list */
	const char *name;
	const cJSON *sc;     /* securityContext when an object, else NULL */
	admission_aa own;    /* securityContext.appArmorProfile */
	const cJSON *ann;    /* its AppArmor annotation item, or NULL */
	size_t ann_idx;      /* index of ann in admission_pod.anns */
	admission_aa annref; /* the annotation parsed (NONE when empty) */
	bool is_new;         /* ephemeral container not in oldObject */
} admission_pod_ctr;

typedef struct admission_pod {
	const cJSON *spec;
	const cJSON *annotations; /* object or NULL */
	const cJSON *node_selector;
	const char *node_name; /* spec.nodeName or NULL */
	admission_aa pod;      /* spec.securityContext.appArmorProfile */
	admission_pod_ctr *ctrs;
	size_t n;
	const cJSON **anns; /* AppArmor annotations (items of annotations) */
	bool *ann_used;     /* anns[i] names a container */
	size_t nanns;
} admission_pod;

/* Reads obj (a Pod). old (oldObject, may be NULL) marks which ephemeral
 * containers are new. 0, or -1 with err->code EINVAL (not a Pod we can
 * read), E2BIG (over ADMISSION_POD_*_MAX) or ENOMEM, and a message. Call
 * admission_pod_cleanup(p) in every case. */
int admission_pod_load(const cJSON *obj, const cJSON *old, admission_pod *p, ag_err *err) AG_WARN_UNUSED;
void admission_pod_cleanup(admission_pod *p);

/* The setting that applies to c: its own, else the pod's. */
admission_aa admission_pod_effective(const admission_pod *p, const admission_pod_ctr *c);

#endif
