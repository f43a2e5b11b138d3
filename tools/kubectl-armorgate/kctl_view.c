/* kctl_view: status and why, rendered from API objects (see kctl_view.h). */
#include "kctl_view.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "contract.h"

#define KCTL_ANN_PREFIX "container.apparmor.security.beta.kubernetes.io/"
#define KCTL_LOCALHOST "localhost/"

enum { KCTL_NAMES_MAX = 512 };

/* A set of names, borrowed from the JSON trees it was filled from. */
typedef struct kctl_names {
	const char *v[KCTL_NAMES_MAX];
	size_t n;
} kctl_names;

static void kctl_names_add(kctl_names *s, const char *name)
{
	if (!name || !*name)
		return;
	for (size_t i = 0; i < s->n; i++)
		if (strcmp(s->v[i], name) == 0)
			return;
	if (s->n < KCTL_NAMES_MAX)
		s->v[s->n++] = name;
}

static int kctl_cmp(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static const cJSON *kctl_get(const cJSON *o, const char *path)
{
	char key[128];

	while (o && *path) {
		size_t n = strcspn(path, ".");

		if (n >= sizeof(key))
			return NULL;
		memcpy(key, path, n);
		key[n] = '\0';
		o = cJSON_GetObjectItemCaseSensitive(o, key);
		path += n + (path[n] == '.');
	}
	return o;
}

static const char *kctl_str(const cJSON *o, const char *path)
{
	const cJSON *v = kctl_get(o, path);

	return cJSON_IsString(v) ? v->valuestring : NULL;
}

static const char *kctl_label(const cJSON *node, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(kctl_get(node, "metadata.labels"), key);

	return cJSON_IsString(v) ? v->valuestring : NULL;
}

static bool kctl_profile_loaded(const cJSON *node, const char *profile)
{
	char key[sizeof(CONTRACT_LABEL_PROFILE_PREFIX) + CONTRACT_PROFILE_NAME_MAX];
	const char *v;

	snprintf(key, sizeof(key), "%s%s", CONTRACT_LABEL_PROFILE_PREFIX, profile);
	v = kctl_label(node, key);
	return v && strcmp(v, CONTRACT_PROFILE_LOADED) == 0;
}

/* The node's status annotation, parsed (caller deletes); NULL when absent or not JSON. */
static cJSON *kctl_status_of(const cJSON *node)
{
	const cJSON *a =
		cJSON_GetObjectItemCaseSensitive(kctl_get(node, "metadata.annotations"), CONTRACT_ANNOTATION_STATUS);

	return cJSON_IsString(a) ? cJSON_Parse(a->valuestring) : NULL;
}

/* A status written before the node's current boot describes a kernel that is gone. */
static bool kctl_stale(const cJSON *node, const cJSON *st)
{
	const char *was = kctl_str(st, "bootID");
	const char *now = kctl_str(node, "status.nodeInfo.bootID");

	return was && now && *was && *now && strcmp(was, now) != 0;
}

static const char *kctl_or(const char *s, const char *dflt)
{
	return s && *s ? s : dflt;
}

static const cJSON *kctl_items(const cJSON *list)
{
	const cJSON *items = cJSON_GetObjectItemCaseSensitive(list, "items");

	return cJSON_IsArray(items) ? items : NULL;
}

static size_t kctl_width(const char *s, size_t w)
{
	size_t n = strlen(s);

	return n > w ? n : w;
}

/* Ends a table row: no trailing blanks from padding the last columns. */
static int kctl_endline(buf *out)
{
	while (out->len > 0 && out->data[out->len - 1] == ' ')
		out->data[--out->len] = '\0';
	return buf_appends(out, "\n");
}

/* ---- status ---- */

static int kctl_status_nodes(const cJSON *items, cJSON **st, buf *out)
{
	size_t w = 4;
	size_t i = 0;
	const cJSON *node;
	int rc = 0;

	cJSON_ArrayForEach (node, items) {
		w = kctl_width(kctl_or(kctl_str(node, "metadata.name"), "?"), w);
	}
	rc |= buf_appendf(out, "%-*s  %-11s  %-8s  %-20s  %s\n", (int)w, "NODE", "APPARMOR", "AGENT", "OBSERVED",
			  "NOTE");
	cJSON_ArrayForEach (node, items) {
		const cJSON *s = st[i++];
		const char *note = !s ? "no status from an armorgate agent"
			: kctl_stale(node, s)
			? "status from before the node's last boot: the agent has not reported since"
			: "";

		rc |= buf_appendf(
			out, "%-*s  %-11s  %-8s  %-20s  %s", (int)w, kctl_or(kctl_str(node, "metadata.name"), "?"),
			kctl_or(kctl_label(node, CONTRACT_LABEL_APPARMOR), "-"),
			kctl_or(kctl_str(s, "agentVersion"), "-"), kctl_or(kctl_str(s, "observedAt"), "-"), note);
		rc |= kctl_endline(out);
	}
	return rc;
}

/* The state of profile p on a node: the agent's own word, else the label. */
static const char *kctl_state(const cJSON *node, const cJSON *st, const char *p)
{
	const char *s = kctl_str(cJSON_GetObjectItemCaseSensitive(kctl_get(st, "profiles"), p), "state");

	if (s)
		return s;
	return kctl_profile_loaded(node, p) ? "labelled" : "-";
}

static int kctl_status_matrix(const cJSON *items, cJSON **st, buf *out)
{
	kctl_names profiles = { .n = 0 };
	const cJSON *node;
	const cJSON *pr;
	size_t w = 7;
	size_t i = 0;
	int rc = 0;

	cJSON_ArrayForEach (node, items) {
		cJSON_ArrayForEach (pr, kctl_get(st[i], "profiles")) {
			kctl_names_add(&profiles, pr->string);
		}
		cJSON_ArrayForEach (pr, kctl_get(node, "metadata.labels")) {
			if (pr->string &&
			    strncmp(pr->string, CONTRACT_LABEL_PROFILE_PREFIX,
				    sizeof(CONTRACT_LABEL_PROFILE_PREFIX) - 1) == 0)
				kctl_names_add(&profiles, pr->string + sizeof(CONTRACT_LABEL_PROFILE_PREFIX) - 1);
		}
		i++;
	}
	if (profiles.n == 0)
		return buf_appends(out, "\nNo custom.* profile is reported by any node.\n");
	qsort(profiles.v, profiles.n, sizeof(profiles.v[0]), kctl_cmp);
	for (size_t p = 0; p < profiles.n; p++)
		w = kctl_width(profiles.v[p], w);
	rc |= buf_appendf(out, "\n%-*s", (int)w, "PROFILE");
	cJSON_ArrayForEach (node, items) {
		const char *nm = kctl_or(kctl_str(node, "metadata.name"), "?");

		rc |= buf_appendf(out, "  %-*s", (int)kctl_width(nm, 16), nm);
	}
	rc |= kctl_endline(out);
	for (size_t p = 0; p < profiles.n; p++) {
		rc |= buf_appendf(out, "%-*s", (int)w, profiles.v[p]);
		i = 0;
		cJSON_ArrayForEach (node, items) {
			const char *nm = kctl_or(kctl_str(node, "metadata.name"), "?");

			rc |= buf_appendf(out, "  %-*s", (int)kctl_width(nm, 16),
					  kctl_state(node, st[i++], profiles.v[p]));
		}
		rc |= kctl_endline(out);
	}
	return rc;
}

static int kctl_status_problems(const cJSON *items, cJSON **st, buf *out)
{
	const cJSON *node;
	const cJSON *pr;
	size_t i = 0;
	bool any = false;
	int rc = 0;

	cJSON_ArrayForEach (node, items) {
		cJSON_ArrayForEach (pr, kctl_get(st[i], "profiles")) {
			const char *state = kctl_str(pr, "state");

			if (!state || strcmp(state, "loaded") == 0)
				continue;
			if (!any)
				rc |= buf_appends(out, "\n");
			any = true;
			rc |= buf_appendf(out, "%s on %s: %s: %s\n", pr->string,
					  kctl_or(kctl_str(node, "metadata.name"), "?"), state,
					  kctl_or(kctl_str(pr, "message"), "(no message)"));
		}
		i++;
	}
	return rc;
}

int kctl_view_status(const cJSON *nodes, buf *out)
{
	const cJSON *items = kctl_items(nodes);
	size_t n = (size_t)cJSON_GetArraySize(items);
	cJSON **st = calloc(n ? n : 1, sizeof(cJSON *));
	const cJSON *node;
	size_t i = 0;
	int rc = -1;

	if (!st) {
		errno = ENOMEM;
		return -1;
	}
	if (n == 0) {
		rc = buf_appends(out, "No nodes.\n");
		goto out;
	}
	cJSON_ArrayForEach (node, items) {
		st[i++] = kctl_status_of(node);
	}
	rc = kctl_status_nodes(items, st, out) | kctl_status_matrix(items, st, out) |
		kctl_status_problems(items, st, out);
out:
	for (i = 0; i < n; i++)
		cJSON_Delete(st[i]);
	free(st);
	return rc ? -1 : 0;
}

/* ---- why ---- */

static void kctl_profile_of(const cJSON *sc, kctl_names *used)
{
	const char *type = kctl_str(sc, "appArmorProfile.type");
	const char *p = kctl_str(sc, "appArmorProfile.localhostProfile");

	if (type && strcmp(type, "Localhost") == 0 && p &&
	    strncmp(p, CONTRACT_PROFILE_PREFIX, sizeof(CONTRACT_PROFILE_PREFIX) - 1) == 0)
		kctl_names_add(used, p);
}

/* Every custom.* profile the pod names: security contexts, the deprecated
 * annotations (a pod created before armorgate), the injected nodeSelector. */
static void kctl_pod_profiles(const cJSON *pod, kctl_names *used)
{
	static const char *const lists[] = { "spec.containers", "spec.initContainers", "spec.ephemeralContainers" };
	const cJSON *it;

	kctl_profile_of(kctl_get(pod, "spec.securityContext"), used);
	for (size_t l = 0; l < sizeof(lists) / sizeof(lists[0]); l++) {
		cJSON_ArrayForEach (it, kctl_get(pod, lists[l])) {
			kctl_profile_of(cJSON_GetObjectItemCaseSensitive(it, "securityContext"), used);
		}
	}
	cJSON_ArrayForEach (it, kctl_get(pod, "metadata.annotations")) {
		if (it->string && strncmp(it->string, KCTL_ANN_PREFIX, sizeof(KCTL_ANN_PREFIX) - 1) == 0 &&
		    cJSON_IsString(it) &&
		    strncmp(it->valuestring, KCTL_LOCALHOST CONTRACT_PROFILE_PREFIX,
			    sizeof(KCTL_LOCALHOST CONTRACT_PROFILE_PREFIX) - 1) == 0)
			kctl_names_add(used, it->valuestring + sizeof(KCTL_LOCALHOST) - 1);
	}
	cJSON_ArrayForEach (it, kctl_get(pod, "spec.nodeSelector")) {
		if (it->string &&
		    strncmp(it->string, CONTRACT_LABEL_PROFILE_PREFIX, sizeof(CONTRACT_LABEL_PROFILE_PREFIX) - 1) == 0)
			kctl_names_add(used, it->string + sizeof(CONTRACT_LABEL_PROFILE_PREFIX) - 1);
	}
}

static int kctl_why_head(const cJSON *pod, const kctl_names *used, buf *out)
{
	const cJSON *c;
	int rc = buf_appendf(out, "Pod %s/%s: %s", kctl_or(kctl_str(pod, "metadata.namespace"), "?"),
			     kctl_or(kctl_str(pod, "metadata.name"), "?"), kctl_or(kctl_str(pod, "status.phase"), "?"));

	if (kctl_str(pod, "spec.nodeName"))
		rc |= buf_appendf(out, " on %s", kctl_str(pod, "spec.nodeName"));
	cJSON_ArrayForEach (c, kctl_get(pod, "status.conditions")) {
		const char *type = kctl_str(c, "type");
		const char *status = kctl_str(c, "status");

		if (type && status && strcmp(type, "PodScheduled") == 0 && strcmp(status, "False") == 0)
			rc |= buf_appendf(out, "; not scheduled: %s", kctl_or(kctl_str(c, "message"), "(no message)"));
	}
	rc |= buf_appends(out, "\n");
	if (used->n == 0)
		return rc |
			buf_appends(out,
				    "It uses no custom.* AppArmor profile: armorgate neither steers nor checks it.\n");
	rc |= buf_appends(out, "AppArmor profiles it needs on its node:");
	for (size_t i = 0; i < used->n; i++)
		rc |= buf_appendf(out, " %s", used->v[i]);
	return rc | buf_appends(out, "\n");
}

/* Why node cannot run the pod, or "" when it can; into why. */
static void kctl_why_node(const cJSON *node, const kctl_names *used, char *why, size_t cap)
{
	const char *aa = kctl_label(node, CONTRACT_LABEL_APPARMOR);
	cJSON *st = kctl_status_of(node);
	size_t n = 0;

	why[0] = '\0';
	if (!aa || strcmp(aa, CONTRACT_APPARMOR_ENABLED) != 0) {
		snprintf(why, cap, "%s",
			 aa ? "AppArmor is not usable on this node (label armorgate.io/apparmor=unsupported)"
			    : "no armorgate agent has reported on this node");
		goto out;
	}
	for (size_t i = 0; i < used->n && n + 1 < cap; i++) {
		const cJSON *ps = cJSON_GetObjectItemCaseSensitive(kctl_get(st, "profiles"), used->v[i]);
		int w;

		if (kctl_profile_loaded(node, used->v[i]))
			continue;
		if (kctl_str(ps, "state"))
			w = snprintf(why + n, cap - n, "%s%s: %s: %s", n ? "; " : "", used->v[i], kctl_str(ps, "state"),
				     kctl_or(kctl_str(ps, "message"), "(no message)"));
		else
			w = snprintf(why + n, cap - n, "%s%s: not in the ConfigMap, or not yet loaded", n ? "; " : "",
				     used->v[i]);
		if (w < 0)
			break;
		n += (size_t)w < cap - n ? (size_t)w : cap - n - 1;
	}
	if (!why[0] && st && kctl_stale(node, st))
		snprintf(
			why, cap,
			"rebooted since its agent last reported; the profiles come back when the agent has reloaded them");
out:
	cJSON_Delete(st);
}

int kctl_view_why(const cJSON *pod, const cJSON *nodes, buf *out)
{
	kctl_names used = { .n = 0 };
	const char *on = kctl_str(pod, "spec.nodeName");
	const cJSON *node;
	char why[2048];
	size_t w = 4;
	size_t fits = 0;
	int rc;

	kctl_pod_profiles(pod, &used);
	rc = kctl_why_head(pod, &used, out);
	if (used.n == 0)
		return rc ? -1 : 0;
	cJSON_ArrayForEach (node, kctl_items(nodes)) {
		w = kctl_width(kctl_or(kctl_str(node, "metadata.name"), "?"), w);
	}
	rc |= buf_appendf(out, "\n%-*s  %-4s  %s\n", (int)w, "NODE", "FITS", "WHY NOT");
	cJSON_ArrayForEach (node, kctl_items(nodes)) {
		const char *nm = kctl_or(kctl_str(node, "metadata.name"), "?");

		if (on && strcmp(on, nm) != 0)
			continue;
		kctl_why_node(node, &used, why, sizeof(why));
		fits += why[0] == '\0';
		rc |= buf_appendf(out, "%-*s  %-4s  %s", (int)w, nm, why[0] ? "no" : "yes", why);
		rc |= kctl_endline(out);
	}
	if (fits == 0)
		rc |= buf_appendf(
			out,
			"\nNo node has every profile loaded. Check the profiles ConfigMap (kubectl armorgate status "
			"shows each node's state and the parser's messages); the pod is scheduled as soon as a "
			"node reports them (kubectl get nodes -L %s%s).\n",
			CONTRACT_LABEL_PROFILE_PREFIX, used.v[0]);
	return rc ? -1 : 0;
}
