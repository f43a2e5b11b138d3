/* kctl_get: kubectl get -o json (see kctl_get.h). */
#include "kctl_get.h"

#include <errno.h>
#include <string.h>

#include "buf.h"
#include "run.h"

extern char **environ;

enum { KCTL_ARGS_MAX = 24, KCTL_TIMEOUT_MS = 60000 };

int kctl_get(const kctl_target *t, const char *const *what, int namespaced, cJSON **out, ag_err *err)
{
	const char *argv[KCTL_ARGS_MAX];
	size_t a = 0;
	run_result res;
	ag_err rerr;
	int rc = -1;

	*out = NULL;
	argv[a++] = t->kubectl ? t->kubectl : "kubectl";
	if (t->kubeconfig) {
		argv[a++] = "--kubeconfig";
		argv[a++] = t->kubeconfig;
	}
	if (t->context) {
		argv[a++] = "--context";
		argv[a++] = t->context;
	}
	if (namespaced && t->namespace_) {
		argv[a++] = "--namespace";
		argv[a++] = t->namespace_;
	}
	argv[a++] = "get";
	for (size_t i = 0; what[i] && a + 3 < KCTL_ARGS_MAX; i++)
		argv[a++] = what[i];
	argv[a++] = "-o";
	argv[a++] = "json";
	argv[a] = NULL;
	err_clear(&rerr);
	if (run_program(argv, (const char *const *)environ, NULL, 0, KCTL_TIMEOUT_MS, &res, &rerr) != 0)
		return err_set(err, rerr.code, "cannot run %s: %s (set KUBECTL to its path)", argv[0], rerr.msg);
	if (res.timed_out) {
		err_set(err, ETIMEDOUT, "%s get %s did not answer within %d s", argv[0], what[0], KCTL_TIMEOUT_MS / 1000);
		goto out;
	}
	if (!res.exited || res.status != 0) {
		const char *e = buf_cstr(&res.errout);

		err_set(err, EIO, "%.*s", (int)strcspn(e, "\n"), *e ? e : "kubectl failed without a message");
		goto out;
	}
	*out = cJSON_ParseWithLength(res.out.data ? res.out.data : "", res.out.len);
	if (!*out) {
		err_set(err, EPROTO, "%s get %s: output is not JSON", argv[0], what[0]);
		goto out;
	}
	rc = 0;
out:
	run_result_cleanup(&res);
	return rc;
}
