/* kctl_get: running kubectl (see kctl_get.h). */
#include "kctl_get.h"

#include <errno.h>
#include <string.h>

#include "buf.h"
#include "run.h"

extern char **environ;

enum { KCTL_ARGS_MAX = 64, KCTL_TIMEOUT_MS = 60000 };

/* kubectl with the target's options and args; its stdout in res (caller cleans up). */
static int kctl_exec(const kctl_target *t, const char *const *args, int namespaced, run_result *res, ag_err *err)
{
	const char *argv[KCTL_ARGS_MAX];
	size_t a = 0;
	ag_err rerr;

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
	for (size_t i = 0; args[i]; i++) {
		if (a + 1 >= KCTL_ARGS_MAX)
			return err_set(err, E2BIG, "too many kubectl arguments");
		argv[a++] = args[i];
	}
	argv[a] = NULL;
	err_clear(&rerr);
	if (run_program(argv, (const char *const *)environ, NULL, 0, KCTL_TIMEOUT_MS, res, &rerr) != 0)
		return err_set(err, rerr.code, "cannot run %s: %s (set KUBECTL to its path)", argv[0], rerr.msg);
	if (res->timed_out) {
		run_result_cleanup(res);
		return err_set(err, ETIMEDOUT, "kubectl %s did not finish within %d s", args[0],
			       KCTL_TIMEOUT_MS / 1000);
	}
	if (!res->exited || res->status != 0) {
		const char *e = buf_cstr(&res->errout);

		err_set(err, EIO, "%.*s", (int)strcspn(e, "\n"), *e ? e : "kubectl failed without a message");
		run_result_cleanup(res);
		return -1;
	}
	return 0;
}

int kctl_run(const kctl_target *t, const char *const *args, int namespaced, ag_err *err)
{
	run_result res;

	if (kctl_exec(t, args, namespaced, &res, err) != 0)
		return -1;
	run_result_cleanup(&res);
	return 0;
}

int kctl_get(const kctl_target *t, const char *const *what, int namespaced, cJSON **out, ag_err *err)
{
	const char *args[KCTL_ARGS_MAX];
	size_t a = 0;
	run_result res;

	*out = NULL;
	args[a++] = "get";
	for (size_t i = 0; what[i] && a + 3 < KCTL_ARGS_MAX; i++)
		args[a++] = what[i];
	args[a++] = "-o";
	args[a++] = "json";
	args[a] = NULL;
	if (kctl_exec(t, args, namespaced, &res, err) != 0)
		return -1;
	*out = cJSON_ParseWithLength(res.out.data ? res.out.data : "", res.out.len);
	run_result_cleanup(&res);
	if (!*out)
		return err_set(err, EPROTO, "kubectl get %s: output is not JSON", what[0]);
	return 0;
}
