/* kubectl-armorgate: the kubectl plugin (DESIGN.md "Operator tools").
 *   kubectl armorgate status          profile x node matrix from the agents' reports
 *   kubectl armorgate why POD [-n NS] why a pod runs, waits or fails where it does
 *   kubectl armorgate cleanup         what an uninstall leaves in the cluster
 *   kubectl armorgate suggest PROFILE rules that would have allowed what the agents observed
 * Install: copy this one executable onto PATH. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "contract.h"
#include "kctl_cleanup.h"
#include "kctl_get.h"
#include "kctl_suggest.h"
#include "kctl_view.h"

static const char kctl_usage[] =
	"Usage: kubectl armorgate COMMAND [--kubeconfig FILE] [--context NAME] [-n NAMESPACE]\n"
	"\n"
	"  status            every node's AppArmor state and every custom.* profile's state on it,\n"
	"                    with the agents' messages for profiles that failed to load\n"
	"  why POD           why POD runs, waits (Pending) or cannot start where it is: the profiles\n"
	"                    it needs and, per node, whether it has them and if not why\n"
	"  cleanup           after uninstalling armorgate: remove its Node labels and annotations\n"
	"                    and the kept TLS Secret (refused while armorgate is still installed)\n"
	"  suggest PROFILE   the AppArmor rules that would have allowed what the agents observed of\n"
	"                    PROFILE (complain-mode \"ALLOWED\" and enforce-mode \"DENIED\" audit records,\n"
	"                    from every node's armorgate.io/observed annotation), ready to paste into\n"
	"                    the profile in the ConfigMap; then how to switch it to enforce\n"
	"\n"
	"kubectl is run as $KUBECTL (default: kubectl from PATH) with your kubeconfig.\n";

static int kctl_print(int rc, buf *b, const ag_err *err)
{
	if (rc != 0) {
		fprintf(stderr, "kubectl-armorgate: %s\n", err->msg[0] ? err->msg : "out of memory");
		return 1;
	}
	fputs(buf_cstr(b), stdout);
	return 0;
}

/* status (pod_name NULL) or why pod_name: fetch, render, print. */
static int kctl_show(const kctl_target *t, const char *pod_name)
{
	static const char *const nodes[] = { "nodes", NULL };
	const char *pod_q[] = { "pod", pod_name, NULL };
	cJSON *pod = NULL;
	cJSON *list = NULL;
	buf b;
	ag_err err;
	int rc = 0;

	err_clear(&err);
	buf_init(&b, 16u << 20);
	if (pod_name)
		rc = kctl_get(t, pod_q, 1, &pod, &err);
	if (rc == 0)
		rc = kctl_get(t, nodes, 0, &list, &err);
	if (rc == 0)
		rc = pod_name ? kctl_view_why(pod, list, &b) : kctl_view_status(list, &b);
	rc = kctl_print(rc, &b, &err);
	cJSON_Delete(pod);
	cJSON_Delete(list);
	buf_cleanup(&b);
	return rc;
}

/* suggest PROFILE: every Node's observations merged into rules on stdout.
 * No observation is not an error (exit 0, with what to do). */
static int kctl_suggest_cmd(const kctl_target *t, const char *profile)
{
	static const char *const nodes[] = { "nodes", NULL };
	cJSON *list = NULL;
	bool found = false;
	buf b;
	ag_err err;
	int rc;

	if (!contract_profile_name_valid(profile)) {
		fprintf(stderr, "kubectl-armorgate: %s is not an armorgate profile name (custom.<name>)\n", profile);
		return 2;
	}
	err_clear(&err);
	buf_init(&b, 16u << 20);
	rc = kctl_get(t, nodes, 0, &list, &err);
	if (rc == 0 && kctl_suggest(list, profile, &b, &found) != 0)
		rc = err_set(&err, errno, "suggest %s: %s", profile,
			     errno == E2BIG ? "more output than 16 MiB" : "out of memory");
	rc = kctl_print(rc, &b, &err);
	cJSON_Delete(list);
	buf_cleanup(&b);
	return rc;
}

int main(int argc, char **argv)
{
	kctl_target t = { getenv("KUBECTL"), NULL, NULL, NULL };
	const char *args[3] = { NULL, NULL, NULL };
	size_t nargs = 0;

	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];

		if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
			fputs(kctl_usage, stdout);
			return 0;
		}
		if (strcmp(a, "--version") == 0) {
			printf("kubectl-armorgate %s\n", ARMORGATE_VERSION);
			return 0;
		}
		if (i + 1 < argc && (strcmp(a, "-n") == 0 || strcmp(a, "--namespace") == 0))
			t.namespace_ = argv[++i];
		else if (strncmp(a, "--namespace=", 12) == 0)
			t.namespace_ = a + 12;
		else if (i + 1 < argc && strcmp(a, "--kubeconfig") == 0)
			t.kubeconfig = argv[++i];
		else if (i + 1 < argc && strcmp(a, "--context") == 0)
			t.context = argv[++i];
		else if (a[0] == '-' || nargs == 2) {
			fprintf(stderr, "kubectl-armorgate: unexpected argument %s\n\n%s", a, kctl_usage);
			return 2;
		} else
			args[nargs++] = a;
	}
	if (args[0] && strcmp(args[0], "status") == 0 && nargs == 1)
		return kctl_show(&t, NULL);
	if (args[0] && strcmp(args[0], "why") == 0 && nargs == 2)
		return kctl_show(&t, args[1]);
	if (args[0] && strcmp(args[0], "cleanup") == 0 && nargs == 1) {
		ag_err err;

		err_clear(&err);
		if (kctl_cleanup(&t, stdout, &err) != 0) {
			fprintf(stderr, "kubectl-armorgate: %s\n", err.msg);
			return 1;
		}
		return 0;
	}
	if (args[0] && strcmp(args[0], "suggest") == 0 && nargs == 2)
		return kctl_suggest_cmd(&t, args[1]);
	fputs(kctl_usage, stderr);
	return 2;
}
