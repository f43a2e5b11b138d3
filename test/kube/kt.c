/* kt: integration-test helpers (see kt.h). Programs run via run_program
 * (fork/execve with an argv array), never a shell. */
#include "kt.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "run.h"

static char kt_dir[4096];
static char kt_path[8192];

const char *kt_kubeconfig(void)
{
	const char *k = getenv("ARMORGATE_TEST_KUBECONFIG");

	if (!k || !k[0]) {
		fprintf(stderr, "ARMORGATE_TEST_KUBECONFIG is not set\n");
		abort();
	}
	return k;
}

const char *kt_cluster_dir(void)
{
	const char *k = kt_kubeconfig();
	const char *slash = strrchr(k, '/');
	size_t n = slash ? (size_t)(slash - k) : 1;

	if (!slash)
		k = ".";
	if (n >= sizeof(kt_dir))
		abort();
	memcpy(kt_dir, k, n);
	kt_dir[n] = '\0';
	return kt_dir;
}

kube_client *kt_admin_client(void)
{
	kube_config cfg;
	ag_err err;
	kube_client *c;

	if (kube_config_from_kubeconfig(kt_kubeconfig(), NULL, &cfg, &err) < 0) {
		fprintf(stderr, "kubeconfig: %s\n", err.msg);
		abort();
	}
	c = kube_client_new(&cfg, &err);
	kube_config_cleanup(&cfg);
	if (!c) {
		fprintf(stderr, "client: %s\n", err.msg);
		abort();
	}
	return c;
}

/* PATH = the peers' bin dir from DIR/env ("export PATH=X:$PATH") + ours. */
static const char *kt_env_path(void)
{
	char envf[4200];
	char *text = NULL;
	FILE *f;
	const char *own = getenv("PATH");
	char line[8192];

	if (kt_path[0])
		return kt_path;
	snprintf(envf, sizeof(envf), "%s/env", kt_cluster_dir());
	snprintf(kt_path, sizeof(kt_path), "PATH=%s", own ? own : "/usr/bin:/bin");
	f = fopen(envf, "r");
	if (!f)
		return kt_path;
	while (fgets(line, sizeof(line), f)) {
		if (strncmp(line, "export PATH=", 12) == 0) {
			char *end = strstr(line, ":$PATH");

			if (end)
				*end = '\0';
			line[strcspn(line, "\n")] = '\0';
			buf b;

			buf_init(&b, sizeof(kt_path) - 1);
			if (buf_appendf(&b, "PATH=%s:", line + 12) == 0 &&
			    buf_appends(&b, own ? own : "/usr/bin:/bin") == 0)
				memcpy(kt_path, b.data, b.len + 1);
			buf_cleanup(&b);
		}
	}
	fclose(f);
	free(text);
	return kt_path;
}

extern char **environ;

int kt_run_env(char **out, const char *const argv[], const char *const extra_env[], long timeout_ms)
{
	const char *envp[256];
	size_t n = 0;
	run_result res;
	ag_err err;
	int rc;
	char *save = NULL;

	/* The caller's environment (HOME, XDG_CACHE_HOME find the peer binaries)
	 * with PATH extended by the peers' bin dir, plus extra_env. */
	envp[n++] = kt_env_path();
	for (char **e = environ; *e && n < 200; e++)
		if (strncmp(*e, "PATH=", 5) != 0)
			envp[n++] = *e;
	for (size_t i = 0; extra_env && extra_env[i] && n < 254; i++)
		envp[n++] = extra_env[i];
	envp[n] = NULL;
	/* run_program looks argv[0] up in the caller's PATH: use the peers' one. */
	save = getenv("PATH") ? strdup(getenv("PATH")) : NULL;
	setenv("PATH", kt_env_path() + 5, 1);
	rc = run_program(argv, envp, NULL, 0, timeout_ms, &res, &err);
	if (save) {
		setenv("PATH", save, 1);
		free(save);
	}
	if (out)
		*out = NULL;
	if (rc < 0) {
		fprintf(stderr, "run %s: %s\n", argv[0], err.msg);
		run_result_cleanup(&res);
		return -1;
	}
	if (!res.exited || res.status != 0)
		fprintf(stderr, "run %s: exit %d: %s\n", argv[0], res.status, buf_cstr(&res.errout));
	rc = res.exited ? res.status : -1;
	if (out)
		*out = strdup(buf_cstr(&res.out));
	run_result_cleanup(&res);
	return rc;
}

int kt_run(char **out, const char *const argv[], long timeout_ms)
{
	return kt_run_env(out, argv, NULL, timeout_ms);
}

int kt_kubectl(char **out, const char *const args[])
{
	const char *argv[64];
	size_t n = 0;

	argv[n++] = "kubectl";
	argv[n++] = "--kubeconfig";
	argv[n++] = kt_kubeconfig();
	for (size_t i = 0; args[i] && n < 62; i++)
		argv[n++] = args[i];
	argv[n] = NULL;
	return kt_run(out, argv, 60000);
}

void kt_write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	if (!f || fputs(text, f) < 0 || fclose(f) != 0) {
		fprintf(stderr, "write %s: %s\n", path, strerror(errno));
		abort();
	}
}

char *kt_tempdir(const char *tag)
{
	const char *t = getenv("TMPDIR");
	char *p = malloc(4096);

	if (!p)
		abort();
	snprintf(p, 4096, "%s/armorgate-%s-XXXXXX", t && t[0] ? t : "/tmp", tag);
	if (!mkdtemp(p))
		abort();
	return p;
}

void kt_rm_rf(const char *dir)
{
	const char *argv[] = { "rm", "-rf", "--", dir, NULL };

	if (dir && dir[0] == '/')
		(void)kt_run(NULL, argv, 60000);
}

double kt_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void kt_sleep_ms(long ms)
{
	struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

int kt_cluster(const char *verb, const char *dir, const char *const extra_env[])
{
	const char *src = getenv("ARMORGATE_SOURCE_DIR");
	char script[4096];
	const char *argv[] = { script, dir, NULL };

	snprintf(script, sizeof(script), "%s/test/cluster/%s", src && src[0] ? src : ".", verb);
	return kt_run_env(NULL, argv, extra_env, 300000);
}
