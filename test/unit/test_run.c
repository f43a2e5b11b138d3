/* Unit tests of common/run.c against real small programs (sh, cat, sleep,
 * head): exit codes, signals, timeouts that kill the whole process group,
 * output ceilings, stdin, exec failures, no fd or process leaks, threads. */
#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "run.h"

static int count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *de;
	int n = 0;

	cr_assert(d);
	while ((de = readdir(d)))
		if (de->d_name[0] != '.')
			n++;
	closedir(d);
	return n - 1; /* the DIR's own fd */
}

static void run_ok(const char *const argv[], const char *in, size_t in_len, long tmo, run_result *res)
{
	ag_err err;

	err_clear(&err);
	cr_assert_eq(run_program(argv, NULL, in, in_len, tmo, res, &err), 0, "run %s: %s", argv[0], err.msg);
}

Test(run, exit_zero_and_stdout)
{
	const char *argv[] = {"sh", "-c", "echo hello; echo oops >&2", NULL};
	run_result res;

	run_ok(argv, NULL, 0, 5000, &res);
	cr_assert_eq(res.exited, 1);
	cr_assert_eq(res.status, 0);
	cr_assert_eq(res.timed_out, 0);
	cr_assert_str_eq(buf_cstr(&res.out), "hello\n");
	cr_assert_str_eq(buf_cstr(&res.errout), "oops\n");
	cr_assert(res.seconds >= 0 && res.seconds < 5);
	run_result_cleanup(&res);
}

Test(run, exit_codes)
{
	static const int codes[] = {1, 2, 42, 127, 255};

	for (size_t i = 0; i < sizeof(codes) / sizeof(codes[0]); i++) {
		char script[32];
		const char *argv[] = {"sh", "-c", script, NULL};
		run_result res;

		snprintf(script, sizeof(script), "exit %d", codes[i]);
		run_ok(argv, NULL, 0, 5000, &res);
		cr_expect_eq(res.exited, 1);
		cr_expect_eq(res.status, codes[i]);
		run_result_cleanup(&res);
	}
}

Test(run, killed_by_signal)
{
	const char *argv[] = {"sh", "-c", "kill -SEGV $$", NULL};
	run_result res;

	run_ok(argv, NULL, 0, 5000, &res);
	cr_assert_eq(res.exited, 0);
	cr_assert_eq(res.status, SIGSEGV);
	cr_assert_eq(res.timed_out, 0);
	run_result_cleanup(&res);
}

Test(run, absolute_path_and_argv_passthrough)
{
	const char *argv[] = {"/bin/sh", "-c", "printf '%s|' \"$@\"", "sh", "a b", "$HOME", "*", "", ";rm -rf /", NULL};
	run_result res;

	run_ok(argv, NULL, 0, 5000, &res);
	cr_assert_str_eq(buf_cstr(&res.out), "a b|$HOME|*||;rm -rf /|");
	run_result_cleanup(&res);
}

Test(run, minimal_environment)
{
	const char *argv[] = {"sh", "-c", "env | grep -v '^PWD=' | grep -v '^SHLVL=' | grep -v '^_=' | sort", NULL};
	run_result res;

	setenv("ARMORGATE_SECRET_TEST", "must-not-leak", 1);
	run_ok(argv, NULL, 0, 5000, &res);
	cr_assert_str_eq(buf_cstr(&res.out), "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\n");
	run_result_cleanup(&res);
}

Test(run, explicit_environment)
{
	const char *argv[] = {"/bin/sh", "-c", "echo \"$FOO\"", NULL};
	const char *envp[] = {"FOO=bar", NULL};
	run_result res;
	ag_err err;

	err_clear(&err);
	cr_assert_eq(run_program(argv, envp, NULL, 0, 5000, &res, &err), 0, "%s", err.msg);
	cr_assert_str_eq(buf_cstr(&res.out), "bar\n");
	run_result_cleanup(&res);
}

Test(run, stdin_passthrough)
{
	const char *argv[] = {"cat", NULL};
	run_result res;
	size_t n = 3u << 20; /* larger than any pipe/socket buffer */
	char *in = malloc(n);

	cr_assert(in);
	for (size_t i = 0; i < n; i++)
		in[i] = (char)('a' + i % 26);
	run_ok(argv, "hello\n", 6, 5000, &res);
	cr_assert_str_eq(buf_cstr(&res.out), "hello\n");
	run_result_cleanup(&res);

	/* 3 MiB in, capped at 1 MiB out: the writer and the reader interleave */
	run_ok(argv, in, n, 10000, &res);
	cr_assert_eq(res.exited, 1);
	cr_assert_eq(res.status, 0);
	cr_assert_eq(res.out.len, (size_t)RUN_OUTPUT_MAX);
	cr_assert_eq(res.out_truncated, 1);
	cr_assert_eq(memcmp(res.out.data, in, RUN_OUTPUT_MAX), 0);
	run_result_cleanup(&res);
	free(in);
}

Test(run, stdin_is_dev_null_by_default)
{
	const char *argv[] = {"sh", "-c", "cat; echo end", NULL};
	run_result res;

	run_ok(argv, NULL, 0, 5000, &res);
	cr_assert_str_eq(buf_cstr(&res.out), "end\n");
	run_result_cleanup(&res);
}

Test(run, child_ignores_stdin)
{
	/* The child exits without reading: no SIGPIPE in the caller, no hang. */
	const char *argv[] = {"true", NULL};
	size_t n = 4u << 20;
	char *in = calloc(1, n);
	run_result res;

	cr_assert(in);
	run_ok(argv, in, n, 5000, &res);
	cr_assert_eq(res.exited, 1);
	cr_assert_eq(res.status, 0);
	run_result_cleanup(&res);
	free(in);
}

Test(run, large_output_truncated_at_ceiling)
{
	const char *argv[] = {"head", "-c", "5000000", "/dev/zero", NULL};
	const char *argv2[] = {"sh", "-c", "head -c 3000000 /dev/zero >&2; echo done", NULL};
	run_result res;

	run_ok(argv, NULL, 0, 10000, &res);
	cr_assert_eq(res.exited, 1);
	cr_assert_eq(res.status, 0, "the child must not be killed by a full pipe");
	cr_assert_eq(res.out.len, (size_t)RUN_OUTPUT_MAX);
	cr_assert_eq(res.out_truncated, 1);
	cr_assert_eq(res.err_truncated, 0);
	run_result_cleanup(&res);

	run_ok(argv2, NULL, 0, 10000, &res);
	cr_assert_eq(res.errout.len, (size_t)RUN_OUTPUT_MAX);
	cr_assert_eq(res.err_truncated, 1);
	cr_assert_str_eq(buf_cstr(&res.out), "done\n");
	run_result_cleanup(&res);
}

Test(run, exactly_at_ceiling_is_not_truncated)
{
	char script[64];
	const char *argv[] = {"sh", "-c", script, NULL};
	run_result res;

	snprintf(script, sizeof(script), "head -c %u /dev/zero", (unsigned)RUN_OUTPUT_MAX);
	run_ok(argv, NULL, 0, 10000, &res);
	cr_assert_eq(res.out.len, (size_t)RUN_OUTPUT_MAX);
	cr_assert_eq(res.out_truncated, 0);
	run_result_cleanup(&res);
}

/* Gone means not even a zombie: /proc/<pid> disappears only once reaped. */
static int pid_gone(pid_t pid)
{
	char path[64];

	snprintf(path, sizeof(path), "/proc/%d", (int)pid);
	return access(path, F_OK) != 0;
}

Test(run, timeout_kills_promptly_and_reaps)
{
	const char *argv[] = {"sh", "-c", "echo $$; exec sleep 30", NULL};
	run_result res;
	pid_t pid;

	run_ok(argv, NULL, 0, 300, &res);
	cr_assert_eq(res.timed_out, 1);
	cr_assert_eq(res.exited, 0);
	cr_assert_eq(res.status, SIGTERM);
	cr_assert(res.seconds < 5.0, "took %.2f s", res.seconds);
	pid = (pid_t)strtol(buf_cstr(&res.out), NULL, 10);
	cr_assert(pid > 0);
	/* reaped: not even a zombie is left */
	cr_assert(pid_gone(pid), "pid %d still exists", (int)pid);
	cr_assert_eq(waitpid(-1, NULL, WNOHANG), -1);
	cr_assert_eq(errno, ECHILD);
	run_result_cleanup(&res);
}

Test(run, timeout_sigkill_when_sigterm_ignored)
{
	const char *argv[] = {"sh", "-c", "trap '' TERM; exec sleep 30", NULL};
	run_result res;

	run_ok(argv, NULL, 0, 200, &res);
	cr_assert_eq(res.timed_out, 1);
	cr_assert_eq(res.exited, 0);
	cr_assert_eq(res.status, SIGKILL);
	cr_assert(res.seconds < 5.0, "took %.2f s", res.seconds);
	run_result_cleanup(&res);
}

/* The whole process group dies, also a grandchild that holds the pipes. */
Test(run, timeout_kills_grandchildren)
{
	const char *argv[] = {"sh", "-c", "sleep 30 & echo $!; wait", NULL};
	run_result res;
	pid_t gpid;
	int st = 0;
	pid_t r = 0;

	/* Orphans come to us, so the test can reap and check the grandchild. */
	cr_assert_eq(prctl(PR_SET_CHILD_SUBREAPER, 1), 0);
	run_ok(argv, NULL, 0, 300, &res);
	cr_assert_eq(res.timed_out, 1);
	cr_assert(res.seconds < 5.0, "took %.2f s", res.seconds);
	gpid = (pid_t)strtol(buf_cstr(&res.out), NULL, 10);
	cr_assert(gpid > 0);
	for (int i = 0; i < 500; i++) {
		r = waitpid(gpid, &st, WNOHANG);
		if (r == gpid)
			break;
		usleep(10000);
	}
	cr_assert_eq(r, gpid, "grandchild %d not killed", (int)gpid);
	cr_assert(WIFSIGNALED(st));
	run_result_cleanup(&res);
}

/* Closing stdout/stderr early does not escape the deadline. */
Test(run, timeout_after_outputs_closed)
{
	const char *argv[] = {"sh", "-c", "exec >&- 2>&-; exec sleep 30", NULL};
	run_result res;

	run_ok(argv, NULL, 0, 300, &res);
	cr_assert_eq(res.timed_out, 1);
	cr_assert_eq(res.exited, 0);
	cr_assert_eq(res.status, SIGTERM);
	cr_assert(res.seconds < 5.0, "took %.2f s", res.seconds);
	run_result_cleanup(&res);
}

Test(run, no_timeout_when_zero)
{
	const char *argv[] = {"sh", "-c", "sleep 0.2; echo ok", NULL};
	run_result res;

	run_ok(argv, NULL, 0, 0, &res);
	cr_assert_eq(res.timed_out, 0);
	cr_assert_str_eq(buf_cstr(&res.out), "ok\n");
	run_result_cleanup(&res);
}

Test(run, enoent_missing_program)
{
	const char *argv1[] = {"armorgate-no-such-program", NULL};
	const char *argv2[] = {"/nonexistent/armorgate-no-such-program", NULL};
	run_result res;
	ag_err err;

	err_clear(&err);
	cr_assert_eq(run_program(argv1, NULL, NULL, 0, 1000, &res, &err), -1);
	cr_assert_eq(err.code, ENOENT);
	cr_assert(strstr(err.msg, "armorgate-no-such-program"), "%s", err.msg);
	cr_assert_eq(res.exited, 0);
	run_result_cleanup(&res);

	err_clear(&err);
	cr_assert_eq(run_program(argv2, NULL, NULL, 0, 1000, &res, &err), -1);
	cr_assert_eq(err.code, ENOENT, "%d %s", err.code, err.msg);
	cr_assert(strstr(err.msg, "No such file or directory"), "%s", err.msg);
	cr_assert_eq(waitpid(-1, NULL, WNOHANG), -1, "exec failure left a child");
	run_result_cleanup(&res);
}

Test(run, eacces_not_executable)
{
	char file[] = "/tmp/armorgate-run-test-XXXXXX";
	int fd = mkstemp(file);
	const char *argv[] = {file, NULL};
	const char *argv2[] = {"/tmp", NULL};
	run_result res;
	ag_err err;

	cr_assert(fd >= 0);
	close(fd);

	err_clear(&err);
	cr_assert_eq(run_program(argv, NULL, NULL, 0, 1000, &res, &err), -1);
	cr_assert_eq(err.code, EACCES, "%d %s", err.code, err.msg);
	run_result_cleanup(&res);
	unlink(file);
	err_clear(&err);
	cr_assert_eq(run_program(argv2, NULL, NULL, 0, 1000, &res, &err), -1);
	cr_assert_eq(err.code, EACCES, "%d %s", err.code, err.msg);
	run_result_cleanup(&res);
}

Test(run, bad_arguments)
{
	const char *argv[] = {NULL};
	const char *argv2[] = {"", NULL};
	run_result res;
	ag_err err;

	err_clear(&err);
	cr_assert_eq(run_program(argv, NULL, NULL, 0, 1000, &res, &err), -1);
	run_result_cleanup(&res);
	err_clear(&err);
	cr_assert_eq(run_program(argv2, NULL, NULL, 0, 1000, &res, &err), -1);
	run_result_cleanup(&res);
}

Test(run, no_fd_leak_into_child_or_parent)
{
	/* The child sees exactly 0, 1, 2 (+ the fd ls itself opens). */
	const char *argv[] = {"sh", "-c", "ls /proc/self/fd | sort -n | tr '\\n' ' '", NULL};
	const char *argv_fail[] = {"/nonexistent/x", NULL};
	const char *argv_tmo[] = {"sleep", "30", NULL};
	run_result res;
	ag_err err;
	int before;

	/* a careless library's descriptor without O_CLOEXEC */
	int stray = open("/dev/null", O_RDONLY);

	cr_assert(stray >= 0);
	run_ok(argv, NULL, 0, 5000, &res); /* warm up lazily opened fds */
	run_result_cleanup(&res);
	before = count_fds();
	for (int i = 0; i < 20; i++) {
		run_ok(argv, "x", 1, 5000, &res);
		cr_assert_str_eq(buf_cstr(&res.out), "0 1 2 3 ", "child fds: %s", buf_cstr(&res.out));
		run_result_cleanup(&res);
		err_clear(&err);
		cr_assert_eq(run_program(argv_fail, NULL, NULL, 0, 5000, &res, &err), -1);
		run_result_cleanup(&res);
	}
	run_ok(argv_tmo, NULL, 0, 100, &res);
	run_result_cleanup(&res);
	cr_assert_eq(count_fds(), before);
	close(stray);
}

Test(run, ignored_sigpipe_is_reset_in_child)
{
	/* The daemons ignore SIGPIPE; the child must get the default back. */
	const char *argv[] = {"sh", "-c", "yes | head -c 1 >/dev/null; echo ok", NULL};
	run_result res;

	signal(SIGPIPE, SIG_IGN);
	run_ok(argv, NULL, 0, 5000, &res);
	cr_assert_str_eq(buf_cstr(&res.out), "ok\n");
	run_result_cleanup(&res);
}

struct thread_arg {
	int idx;
	int failures;
};

static void *thread_main(void *p)
{
	struct thread_arg *a = p;

	for (int i = 0; i < 25; i++) {
		char script[64];
		char want[64];
		const char *argv[] = {"sh", "-c", script, NULL};
		run_result res;
		ag_err err;

		snprintf(script, sizeof(script), "echo t%d-%d; exit %d", a->idx, i, i % 7);
		snprintf(want, sizeof(want), "t%d-%d\n", a->idx, i);
		err_clear(&err);
		if (run_program(argv, NULL, want, strlen(want), 5000, &res, &err) != 0 || !res.exited ||
		    res.status != i % 7 || strcmp(buf_cstr(&res.out), want) != 0)
			a->failures++;
		run_result_cleanup(&res);
	}
	return NULL;
}

Test(run, thread_safe)
{
	pthread_t th[4];
	struct thread_arg args[4];
	int before = count_fds();

	for (int i = 0; i < 4; i++) {
		args[i].idx = i;
		args[i].failures = 0;
		cr_assert_eq(pthread_create(&th[i], NULL, thread_main, &args[i]), 0);
	}
	for (int i = 0; i < 4; i++) {
		pthread_join(th[i], NULL);
		cr_expect_eq(args[i].failures, 0, "thread %d: %d failures", i, args[i].failures);
	}
	cr_assert_eq(count_fds(), before);
	cr_assert_eq(waitpid(-1, NULL, WNOHANG), -1);
}
