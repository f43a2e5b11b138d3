/* run: execute a program with fork/execve and an argv array — never a shell —
 * with a timeout, stdin from a buffer or /dev/null, and stdout/stderr
 * captured up to a ceiling. Used for apparmor_parser by both daemons. */
#ifndef ARMORGATE_RUN_H
#define ARMORGATE_RUN_H

#include <stddef.h>

#include "buf.h"
#include "err.h"

enum { RUN_OUTPUT_MAX = 1u << 20 };

typedef struct run_result {
	int exited;        /* 1 if it exited normally */
	int status;        /* exit status, or the signal number when killed */
	int timed_out;     /* 1 if we killed it for the timeout */
	buf out;           /* stdout (caller: buf_cleanup), ceiling RUN_OUTPUT_MAX */
	buf errout;        /* stderr, same */
	double seconds;    /* wall time */
	int out_truncated; /* 1 if stdout went past RUN_OUTPUT_MAX (rest drained, dropped) */
	int err_truncated; /* same for stderr */
} run_result;

/* argv[0] is the path (absolute, or found in PATH); envp NULL = a minimal
 * environment (PATH only). stdin_data may be NULL. Returns 0 when the program
 * ran (check exited/status), -1 with err when it could not be started.
 * Always initialises res; caller calls run_result_cleanup.
 * timeout_ms <= 0 = no timeout. On timeout the child's process group gets
 * SIGTERM, then SIGKILL after 1 s; the child is always reaped. PATH lookup
 * uses the caller's PATH (else a default). Exec failures (ENOENT, EACCES)
 * return -1 with err->code = that errno. Thread-safe. */
int run_program(const char *const argv[], const char *const envp[], const char *stdin_data, size_t stdin_len,
		long timeout_ms, run_result *res, ag_err *err) AG_WARN_UNUSED;
void run_result_cleanup(run_result *res);

/* Limits set in the child between fork and execve (inherited by whatever it
 * starts). Zero fields leave the inherited value: a zeroed struct changes
 * nothing. */
typedef struct run_limits {
	unsigned long long rl_as_bytes; /* RLIMIT_AS: allocations past it fail (the program then exits or dies) */
	unsigned long rl_cpu_s;         /* RLIMIT_CPU soft limit (SIGXCPU), the hard one a second later (SIGKILL) */
	int rl_nice;                    /* added niceness, 1..19: the program yields the CPU to the caller */
} run_limits;

/* run_program with limits (NULL = none, exactly run_program). */
int run_program_limited(const char *const argv[], const char *const envp[], const char *stdin_data, size_t stdin_len,
			long timeout_ms, const run_limits *limits, run_result *res, ag_err *err) AG_WARN_UNUSED;

#endif
