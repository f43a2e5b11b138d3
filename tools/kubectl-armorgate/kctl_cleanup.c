/* kctl_cleanup: remove what an uninstall leaves (see kctl_cleanup.h). */
#include "kctl_cleanup.h"

#include <errno.h>
#include <string.h>
#include <time.h>

#include "contract.h"
#include "mono.h"

#define KCTL_PART_OF "app.kubernetes.io/part-of=armorgate"
#define KCTL_TLS_SECRET "app.kubernetes.io/part-of=armorgate,app.kubernetes.io/component=webhook"

enum { KCTL_KEYS_PER_CALL = 48, KCTL_POLICY_LINGER_MS = 20000, KCTL_RETRY_MS = 250 };

/* Is anything of armorgate still running or enforcing? */
static int kctl_cleanup_installed(const kctl_target *t, ag_err *err)
{
	static const char *const kinds[] = { "daemonsets", "validatingadmissionpolicies" };

	for (size_t k = 0; k < sizeof(kinds) / sizeof(kinds[0]); k++) {
		const char *what[] = { kinds[k], "--all-namespaces", "-l", KCTL_PART_OF, NULL };
		cJSON *list = NULL;
		const cJSON *item;

		if (kctl_get(t, what, 0, &list, err) != 0)
			return -1;
		item = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(list, "items"), 0);
		if (item) {
			const cJSON *md = cJSON_GetObjectItemCaseSensitive(item, "metadata");
			const cJSON *name = cJSON_GetObjectItemCaseSensitive(md, "name");

			err_set(err, EBUSY,
				"armorgate is still installed (%s %s): uninstall it first (helm uninstall, or kubectl delete -f "
				"deploy/), then run cleanup",
				kinds[k], cJSON_IsString(name) ? name->valuestring : "?");
			cJSON_Delete(list);
			return -1;
		}
		cJSON_Delete(list);
	}
	return 0;
}

/*
 * kubectl once the install is gone. The apiserver keeps enforcing a deleted
 * ValidatingAdmissionPolicy from its cache for a moment after helm uninstall
 * returns (seen in CI: the label policy refused a cleanup right after
 * uninstall), so a refusal by an admission policy is retried for a while; we
 * checked before that none of ours still exists, and a foreign policy still
 * refuses after the deadline.
 */
static int kctl_cleanup_run(const kctl_target *t, const char *const *args, ag_err *err)
{
	const int64_t deadline = mono_ms() + KCTL_POLICY_LINGER_MS;

	for (;;) {
		const struct timespec pause = { 0, (long)KCTL_RETRY_MS * 1000000L };

		if (kctl_run(t, args, 0, err) == 0)
			return 0;
		if (!strstr(err->msg, "ValidatingAdmissionPolicy") || mono_ms() >= deadline)
			return -1;
		nanosleep(&pause, NULL);
	}
}

static bool kctl_cleanup_label_ours(const char *key)
{
	return strcmp(key, CONTRACT_LABEL_APPARMOR) == 0 ||
		strncmp(key, CONTRACT_LABEL_PROFILE_PREFIX, sizeof(CONTRACT_LABEL_PROFILE_PREFIX) - 1) == 0;
}

/* The agent's annotations: status, observed, and any later armorgate.io one. */
static bool kctl_cleanup_annotation_ours(const char *key)
{
	return strncmp(key, "armorgate.io/", sizeof("armorgate.io/") - 1) == 0;
}

/* `kubectl label|annotate node NAME key- ...` for armorgate's keys of
 * `keys` (the Node's labels or annotations), a few dozen a call. */
static int kctl_cleanup_keys(const kctl_target *t, const char *verb, bool (*ours)(const char *), const char *node,
			     const cJSON *keys_obj, size_t *removed, ag_err *err)
{
	char keys[KCTL_KEYS_PER_CALL][sizeof(CONTRACT_LABEL_PROFILE_PREFIX) + CONTRACT_PROFILE_NAME_MAX + 2];
	const char *args[KCTL_KEYS_PER_CALL + 4];
	const cJSON *l = keys_obj ? keys_obj->child : NULL;

	while (l) {
		size_t n = 0;

		args[0] = verb;
		args[1] = "node";
		args[2] = node;
		for (; l && n < KCTL_KEYS_PER_CALL; l = l->next) {
			if (!l->string || !ours(l->string) || strlen(l->string) + 2 > sizeof(keys[0]))
				continue;
			snprintf(keys[n], sizeof(keys[n]), "%s-", l->string);
			args[3 + n] = keys[n];
			n++;
		}
		if (n == 0)
			break;
		args[3 + n] = NULL;
		if (kctl_cleanup_run(t, args, err) != 0)
			return err_wrap(err, "node %s", node);
		*removed += n;
	}
	return 0;
}

int kctl_cleanup(const kctl_target *t, FILE *out, ag_err *err)
{
	static const char *const nodes_q[] = { "nodes", NULL };
	static const char *const secrets[] = { "delete", "secrets", "--all-namespaces", "-l", KCTL_TLS_SECRET, NULL };
	cJSON *nodes = NULL;
	const cJSON *node;
	size_t labels = 0;
	size_t annotated = 0;
	int rc = -1;

	if (kctl_cleanup_installed(t, err) != 0 || kctl_get(t, nodes_q, 0, &nodes, err) != 0)
		goto out;
	cJSON_ArrayForEach (node, cJSON_GetObjectItemCaseSensitive(nodes, "items")) {
		const cJSON *md = cJSON_GetObjectItemCaseSensitive(node, "metadata");
		const cJSON *name = cJSON_GetObjectItemCaseSensitive(md, "name");

		if (!cJSON_IsString(name))
			continue;
		if (kctl_cleanup_keys(t, "label", kctl_cleanup_label_ours, name->valuestring,
				      cJSON_GetObjectItemCaseSensitive(md, "labels"), &labels, err) != 0 ||
		    kctl_cleanup_keys(t, "annotate", kctl_cleanup_annotation_ours, name->valuestring,
				      cJSON_GetObjectItemCaseSensitive(md, "annotations"), &annotated, err) != 0)
			goto out;
	}
	fprintf(out, "removed %zu armorgate label(s) and %zu annotation(s) from %d node(s)\n", labels, annotated,
		cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(nodes, "items")));
	if (kctl_run(t, secrets, 0, err) != 0)
		goto out;
	fprintf(out,
		"removed the webhook's kept TLS Secret (if any)\n"
		"left on the nodes: profiles that running pods use stay loaded until those pods end or the node "
		"reboots; the files under the agent's host directories (default /etc/apparmor.d/armorgate and "
		"/var/lib/armorgate/apparmor-cache) can be deleted\n");
	rc = 0;
out:
	cJSON_Delete(nodes);
	return rc;
}
