/* run: fork/execve with an argv array (never a shell), stdin from a buffer,
 * stdout/stderr captured up to RUN_OUTPUT_MAX, a timeout that kills the
 * child's whole process group. Trust boundary: the child's output is
 * untrusted bytes and is bounded; nothing of the caller's leaks into the
 * child except argv, envp and the three standard fds.
 * Thread-safe: no globals; between fork and execve the child only calls
 * async-signal-safe functions. */
#include "run.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "mono.h"

#define RUN_DEFAULT_PATH "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
/* After SIGTERM the group gets this long before SIGKILL. */
enum { RUN_TERM_GRACE_MS = 1000, RUN_PATH_MAX = 4096, RUN_READ_CHUNK = 65536 };

static const char *const run_default_env[] = { "PATH=" RUN_DEFAULT_PATH, NULL };

static int run_ms_until(double t, double now)
{
	double ms = (t - now) * 1000.0 + 1.0;

	if (ms < 0)
		return 0;
	if (ms > 3600000.0)
		return 3600000;
	return (int)ms;
}

static void run_close(int *fd)
{
	if (*fd >= 0) {
		/* close() is never retried on EINTR: on Linux the fd is gone anyway. */
		(void)close(*fd);
		*fd = -1;
	}
}

/* Keeps our descriptors away from 0..2 so the child's dup2() calls never
 * collide (a daemon started with a closed stdin gets fd 0 from pipe()). */
static int run_fd_high(int *fd)
{
	int nfd;

	if (*fd > 2)
		return 0;
	nfd = fcntl(*fd, F_DUPFD_CLOEXEC, 3);
	if (nfd < 0)
		return -1;
	(void)close(*fd);
	*fd = nfd;
	return 0;
}

static int run_pipe(int fds[2])
{
	if (pipe2(fds, O_CLOEXEC) != 0)
		return -1;
	if (run_fd_high(&fds[0]) != 0 || run_fd_high(&fds[1]) != 0) {
		run_close(&fds[0]);
		run_close(&fds[1]);
		return -1;
	}
	return 0;
}

static int run_nonblock(int fd)
{
	int fl = fcntl(fd, F_GETFL);

	if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) != 0)
		return -1;
	return 0;
}

/* PATH lookup happens in the parent: the child may only call
 * async-signal-safe functions. Uses the caller's PATH, else a default. */
static int run_resolve(const char *name, char *out, size_t outsz, ag_err *err)
{
	const char *path;
	const char *p;
	int saw_eacces = 0;

	if (name[0] == '\0')
		return err_set(err, ENOENT, "cannot run an empty program name");
	if (strchr(name, '/')) {
		if (strlen(name) >= outsz)
			return err_set(err, ENAMETOOLONG, "cannot run %.200s: path too long", name);
		memcpy(out, name, strlen(name) + 1);
		return 0;
	}
	path = getenv("PATH");
	if (!path || !*path)
		path = RUN_DEFAULT_PATH;
	p = path;
	for (;;) {
		const char *end = strchr(p, ':');
		size_t dlen = end ? (size_t)(end - p) : strlen(p);
		const char *dir = dlen ? p : ".";
		struct stat st;
		int n;

		if (dlen == 0)
			dlen = 1;
		n = snprintf(out, outsz, "%.*s/%s", (int)dlen, dir, name);
		if (n > 0 && (size_t)n < outsz && stat(out, &st) == 0 && S_ISREG(st.st_mode)) {
			if (access(out, X_OK) == 0)
				return 0;
			saw_eacces = 1;
		}
		if (!end)
			break;
		p = end + 1;
	}
	if (saw_eacces)
		return err_set(err, EACCES, "cannot run %.200s: found in PATH but not executable", name);
	return err_set(err, ENOENT, "cannot run %.200s: not found in PATH", name);
}

/* One resource limit, never above the hard limit the child inherited (that
 * would fail with EPERM): soft = want, hard = want + extra. */
static int run_child_rlimit(int resource, rlim_t want, rlim_t extra)
{
	struct rlimit cur;
	struct rlimit rl;

	if (getrlimit(resource, &cur) != 0)
		return -1;
	rl.rlim_cur = want;
	rl.rlim_max = want + extra;
	if (cur.rlim_max != RLIM_INFINITY && rl.rlim_max > cur.rlim_max)
		rl.rlim_max = cur.rlim_max;
	if (rl.rlim_cur > rl.rlim_max)
		rl.rlim_cur = rl.rlim_max;
	return setrlimit(resource, &rl);
}

/* The limits, in the child before execve: plain system calls, no locks
 * (getrlimit, setrlimit, nice are not on the POSIX async-signal-safe list but
 * take no lock in glibc). A limit that cannot be set fails the run: the
 * caller asked for a bound. Niceness is best effort. */
static int run_child_limits(const run_limits *lim)
{
	if (!lim)
		return 0;
	if (lim->rl_as_bytes && run_child_rlimit(RLIMIT_AS, (rlim_t)lim->rl_as_bytes, 0) != 0)
		return -1;
	if (lim->rl_cpu_s && run_child_rlimit(RLIMIT_CPU, (rlim_t)lim->rl_cpu_s, 1) != 0)
		return -1;
	if (lim->rl_nice > 0) {
		int r = nice(lim->rl_nice);

		(void)r;
	}
	return 0;
}

/* The child side: only async-signal-safe calls until execve (and the
 * limits, see run_child_limits). On failure the errno goes up the CLOEXEC
 * pipe so the parent can tell ENOENT from exit 127. */
static void run_child(const char *path, const char *const argv[], const char *const envp[], const int fds[3],
		      const run_limits *lim, int report_fd)
{
	struct sigaction sa;
	sigset_t none;
	int e;
	ssize_t w;

	/* Handlers of the parent must not run here, and ignored signals (SIGPIPE)
	 * would survive execve: reset every disposition, then unblock. */
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = SIG_DFL;
	sigemptyset(&sa.sa_mask);
	for (int s = 1; s < NSIG; s++)
		(void)sigaction(s, &sa, NULL);
	sigemptyset(&none);
	(void)sigprocmask(SIG_SETMASK, &none, NULL);

	/* Own process group so a timeout can kill everything it started. */
	(void)setpgid(0, 0);

	if (dup2(fds[0], 0) < 0 || dup2(fds[1], 1) < 0 || dup2(fds[2], 2) < 0 || run_child_limits(lim) != 0)
		goto fail;
		/* Anything a careless library opened without O_CLOEXEC stays out. */
#ifdef CLOSE_RANGE_CLOEXEC
	(void)close_range(3, ~0U, CLOSE_RANGE_CLOEXEC);
#endif
	execve(path, (char *const *)(uintptr_t)argv, (char *const *)(uintptr_t)envp);
fail:
	e = errno;
	do {
		w = write(report_fd, &e, sizeof(e));
	} while (w < 0 && errno == EINTR);
	_exit(127);
}

static void run_append(buf *b, const char *data, size_t n, int *truncated)
{
	size_t room = b->max - b->len;

	if (n > room) {
		*truncated = 1;
		n = room;
	}
	if (n && buf_append(b, data, n) != 0)
		*truncated = 1; /* ENOMEM: keep draining so the child never blocks */
}

static int run_wait(pid_t pid, int *status)
{
	pid_t r;

	do {
		r = waitpid(pid, status, 0);
	} while (r < 0 && errno == EINTR);
	return r == pid ? 0 : -1;
}

/* Has the child exited? Peeks with WNOWAIT: the zombie keeps its pid (and
 * so the process group id) reserved until we reap it at the very end, so
 * kill(-pid) can never hit a recycled group. */
static int run_exited(pid_t pid)
{
	siginfo_t si;
	int r;

	memset(&si, 0, sizeof(si));
	do {
		r = waitid(P_PID, (id_t)pid, &si, WEXITED | WNOHANG | WNOWAIT);
	} while (r < 0 && errno == EINTR);
	return r == 0 && si.si_pid == pid;
}

void run_result_cleanup(run_result *res)
{
	if (!res)
		return;
	buf_cleanup(&res->out);
	buf_cleanup(&res->errout);
}

/* The timeout's escalation: SIGTERM to the child's group at the deadline,
 * SIGKILL RUN_TERM_GRACE_MS later — or as soon as the leader is gone when
 * kill_when_leader_gone, since its group members may linger. */
typedef struct run_timer {
	double deadline; /* 0 = none */
	double kill_at;
	int term_sent;
	int kill_sent;
} run_timer;

/* Returns 1 when it sent SIGTERM just now (the run timed out). */
static int run_enforce(run_timer *t, pid_t pid, double now, bool kill_when_leader_gone)
{
	int termed = 0;

	if (t->deadline > 0 && !t->term_sent && now >= t->deadline) {
		(void)kill(-pid, SIGTERM);
		(void)kill(pid, SIGTERM);
		t->term_sent = 1;
		t->kill_at = now + RUN_TERM_GRACE_MS / 1000.0;
		termed = 1;
	}
	if (t->term_sent && !t->kill_sent && (now >= t->kill_at || (kill_when_leader_gone && run_exited(pid)))) {
		/* The leader may be gone; its group members still get this. */
		(void)kill(-pid, SIGKILL);
		(void)kill(pid, SIGKILL);
		t->kill_sent = 1;
		/* A member that left the group may hold the pipes: give up on
		 * them a little later rather than wait forever. */
		t->kill_at = now + RUN_TERM_GRACE_MS / 1000.0;
	}
	return termed;
}

/* One child while it runs: its pipes, its pid, its timer. */
typedef struct run_proc {
	const char *name; /* argv[0], for messages */
	const char *stdin_data;
	size_t stdin_len, in_off;
	int in_pair[2], out_pipe[2], err_pipe[2], rep_pipe[2];
	int child_in, parent_in;
	pid_t pid;
	int status;
	int reaped;
	run_timer t;
	char *chunk;              /* read buffer */
	const run_limits *limits; /* borrowed, may be NULL */
} run_proc;

/* The child's stdin: a socket fed from stdin_data, or /dev/null. */
static int run_proc_stdin(run_proc *rp, ag_err *err)
{
	if (!rp->stdin_data || rp->stdin_len == 0) {
		rp->child_in = open("/dev/null", O_RDONLY | O_CLOEXEC);
		if (rp->child_in < 0 || run_fd_high(&rp->child_in) != 0)
			return err_set(err, errno, "run %.200s: /dev/null: %s", rp->name, strerror(errno));
		return 0;
	}
	/* A socket, not a pipe: send(MSG_NOSIGNAL) cannot raise SIGPIPE in the
	 * caller when the child stops reading. */
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, rp->in_pair) != 0 || run_fd_high(&rp->in_pair[0]) != 0 ||
	    run_fd_high(&rp->in_pair[1]) != 0)
		return err_set(err, errno, "run %.200s: socketpair: %s", rp->name, strerror(errno));
	(void)shutdown(rp->in_pair[0], SHUT_RD);
	(void)shutdown(rp->in_pair[1], SHUT_WR);
	rp->parent_in = rp->in_pair[0];
	rp->child_in = rp->in_pair[1];
	rp->in_pair[0] = rp->in_pair[1] = -1;
	if (run_nonblock(rp->parent_in) != 0)
		return err_set(err, errno, "run %.200s: fcntl: %s", rp->name, strerror(errno));
	return 0;
}

/* Pipes, fork, execve; 0 once execve succeeded in the child. */
static int run_proc_spawn(run_proc *rp, const char *path, const char *const argv[], const char *const envp[],
			  ag_err *err)
{
	sigset_t all;
	sigset_t old;
	int exec_errno = 0;
	ssize_t r;

	if (run_pipe(rp->out_pipe) != 0 || run_pipe(rp->err_pipe) != 0 || run_pipe(rp->rep_pipe) != 0 ||
	    run_nonblock(rp->out_pipe[0]) != 0 || run_nonblock(rp->err_pipe[0]) != 0)
		return err_set(err, errno, "run %.200s: pipe: %s", rp->name, strerror(errno));
	/* Block everything across fork so no parent handler runs in the child
	 * before it resets dispositions. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	rp->pid = fork();
	if (rp->pid == 0) {
		const int fds[3] = { rp->child_in, rp->out_pipe[1], rp->err_pipe[1] };

		run_child(path, argv, envp, fds, rp->limits, rp->rep_pipe[1]);
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rp->pid < 0)
		return err_set(err, errno, "run %.200s: fork: %s", rp->name, strerror(errno));
	/* Also here, so kill(-pid) is valid even if the child has not run yet. */
	(void)setpgid(rp->pid, rp->pid);
	run_close(&rp->child_in);
	run_close(&rp->out_pipe[1]);
	run_close(&rp->err_pipe[1]);
	run_close(&rp->rep_pipe[1]);

	/* EOF = execve succeeded (the pipe was CLOEXEC); 4 bytes = its errno. */
	do {
		r = read(rp->rep_pipe[0], &exec_errno, sizeof(exec_errno));
	} while (r < 0 && errno == EINTR);
	run_close(&rp->rep_pipe[0]);
	if (r == (ssize_t)sizeof(exec_errno)) {
		(void)run_wait(rp->pid, &rp->status);
		rp->reaped = 1;
		return err_set(err, exec_errno, "cannot run %.200s: %s", path, strerror(exec_errno));
	}
	return 0;
}

/* The poll set of the open fds and the poll timeout from the timer. */
static int run_proc_poll_set(const run_proc *rp, double now, struct pollfd pfd[3], int *tmo)
{
	const int fds[3] = { rp->parent_in, rp->out_pipe[0], rp->err_pipe[0] };
	int nfds = 0;

	*tmo = -1;
	if (rp->t.term_sent)
		*tmo = run_ms_until(rp->t.kill_at, now);
	else if (rp->t.deadline > 0)
		*tmo = run_ms_until(rp->t.deadline, now);
	if (rp->t.term_sent && !rp->t.kill_sent && *tmo > 50)
		*tmo = 50; /* notice the leader's exit soon to SIGKILL stragglers */
	for (int i = 0; i < 3; i++) {
		if (fds[i] < 0)
			continue;
		pfd[nfds].fd = fds[i];
		pfd[nfds].events = i == 0 ? POLLOUT : POLLIN;
		pfd[nfds++].revents = 0;
	}
	return nfds;
}

/* Feeds stdin as far as the socket takes it. */
static void run_proc_feed(run_proc *rp, short ev)
{
	ssize_t r;

	if (ev & (POLLERR | POLLHUP | POLLNVAL)) {
		run_close(&rp->parent_in);
		return;
	}
	r = send(rp->parent_in, rp->stdin_data + rp->in_off, rp->stdin_len - rp->in_off, MSG_NOSIGNAL | MSG_DONTWAIT);
	if (r > 0) {
		rp->in_off += (size_t)r;
		if (rp->in_off >= rp->stdin_len)
			run_close(&rp->parent_in);
	} else if (r < 0 && errno != EINTR && errno != EAGAIN && errno != EWOULDBLOCK) {
		run_close(&rp->parent_in); /* EPIPE: the child stopped reading */
	}
}

/* Reads what one of stdout/stderr has. */
static void run_proc_drain(run_proc *rp, int fd, run_result *res)
{
	int *fdp = fd == rp->out_pipe[0] ? &rp->out_pipe[0] : &rp->err_pipe[0];
	buf *b = fdp == &rp->out_pipe[0] ? &res->out : &res->errout;
	int *tr = fdp == &rp->out_pipe[0] ? &res->out_truncated : &res->err_truncated;
	ssize_t r = read(*fdp, rp->chunk, RUN_READ_CHUNK);

	if (r > 0)
		run_append(b, rp->chunk, (size_t)r, tr);
	else if (r == 0 || (errno != EINTR && errno != EAGAIN && errno != EWOULDBLOCK))
		run_close(fdp);
}

/* Feeds stdin and captures the outputs until they close (or the timer gives up). */
static int run_proc_pump(run_proc *rp, run_result *res, ag_err *err)
{
	while (rp->out_pipe[0] >= 0 || rp->err_pipe[0] >= 0 || rp->parent_in >= 0) {
		struct pollfd pfd[3];
		double now = mono_sec();
		int tmo;
		int nfds;
		int pr;

		if (run_enforce(&rp->t, rp->pid, now, true)) {
			res->timed_out = 1;
			run_close(&rp->parent_in);
		}
		if (rp->t.kill_sent && now >= rp->t.kill_at)
			break;
		nfds = run_proc_poll_set(rp, now, pfd, &tmo);
		pr = poll(pfd, (nfds_t)nfds, tmo);
		if (pr < 0) {
			if (errno == EINTR)
				continue;
			err_set(err, errno, "run %.200s: poll: %s", rp->name, strerror(errno));
			(void)kill(-rp->pid, SIGKILL);
			(void)kill(rp->pid, SIGKILL);
			return -1;
		}
		for (int i = 0; i < nfds; i++) {
			if (!pfd[i].revents)
				continue;
			if (pfd[i].fd == rp->parent_in)
				run_proc_feed(rp, pfd[i].revents);
			else
				run_proc_drain(rp, pfd[i].fd, res);
		}
	}
	run_close(&rp->parent_in);
	run_close(&rp->out_pipe[0]);
	run_close(&rp->err_pipe[0]);
	return 0;
}

/* Waits for the child (still enforcing the deadline) and reaps it. */
static int run_proc_finish(run_proc *rp, run_result *res, ag_err *err)
{
	/* The outputs are closed, but the leader may still run (it closed them
	 * early, or takes its time over SIGTERM): keep enforcing the deadline.
	 * The naps start tiny since usually the exit is a moment away. */
	for (long nap_us = 200; !run_exited(rp->pid);) {
		double now = mono_sec();
		struct timespec ts;

		if (run_enforce(&rp->t, rp->pid, now, false))
			res->timed_out = 1;
		if (rp->t.deadline <= 0 || rp->t.kill_sent)
			break; /* nothing more to enforce: block in waitpid */
		ts.tv_sec = 0;
		ts.tv_nsec = nap_us * 1000;
		(void)nanosleep(&ts, NULL);
		if (nap_us < 50000)
			nap_us *= 2;
	}
	if (rp->t.term_sent && !rp->t.kill_sent) {
		/* Stragglers of a group whose leader obeyed SIGTERM; the unreaped
		 * leader still reserves the group id. */
		(void)kill(-rp->pid, SIGKILL);
	}
	if (run_wait(rp->pid, &rp->status) != 0) {
		err_set(err, errno, "run %.200s: waitpid: %s", rp->name, strerror(errno));
		rp->pid = -1;
		return -1;
	}
	rp->reaped = 1;
	if (WIFEXITED(rp->status)) {
		res->exited = 1;
		res->status = WEXITSTATUS(rp->status);
	} else if (WIFSIGNALED(rp->status)) {
		res->exited = 0;
		res->status = WTERMSIG(rp->status);
	}
	return 0;
}

static void run_proc_cleanup(run_proc *rp)
{
	if (rp->pid > 0 && !rp->reaped) {
		(void)kill(-rp->pid, SIGKILL);
		(void)kill(rp->pid, SIGKILL);
		(void)run_wait(rp->pid, &rp->status);
	}
	run_close(&rp->in_pair[0]);
	run_close(&rp->in_pair[1]);
	run_close(&rp->child_in);
	run_close(&rp->parent_in);
	run_close(&rp->out_pipe[0]);
	run_close(&rp->out_pipe[1]);
	run_close(&rp->err_pipe[0]);
	run_close(&rp->err_pipe[1]);
	run_close(&rp->rep_pipe[0]);
	run_close(&rp->rep_pipe[1]);
	free(rp->chunk);
}

int run_program(const char *const argv[], const char *const envp[], const char *stdin_data, size_t stdin_len,
		long timeout_ms, run_result *res, ag_err *err)
{
	return run_program_limited(argv, envp, stdin_data, stdin_len, timeout_ms, NULL, res, err);
}

int run_program_limited(const char *const argv[], const char *const envp[], const char *stdin_data, size_t stdin_len,
			long timeout_ms, const run_limits *limits, run_result *res, ag_err *err)
{
	char path[RUN_PATH_MAX];
	run_proc rp = {
		.stdin_data = stdin_data,
		.stdin_len = stdin_len,
		.in_pair = { -1, -1 },
		.out_pipe = { -1, -1 },
		.err_pipe = { -1, -1 },
		.rep_pipe = { -1, -1 },
		.child_in = -1,
		.parent_in = -1,
		.pid = -1,
		.limits = limits,
	};
	double start;
	int rc = -1;

	memset(res, 0, sizeof(*res));
	buf_init(&res->out, RUN_OUTPUT_MAX);
	buf_init(&res->errout, RUN_OUTPUT_MAX);
	start = mono_sec();
	rp.t.deadline = timeout_ms > 0 ? start + (double)timeout_ms / 1000.0 : 0;

	if (!argv || !argv[0])
		return err_set(err, EINVAL, "run_program: empty argv");
	if (run_resolve(argv[0], path, sizeof(path), err) != 0)
		return -1;
	if (!envp)
		envp = run_default_env;
	rp.name = argv[0];
	rp.chunk = malloc(RUN_READ_CHUNK);
	if (!rp.chunk) {
		err_set(err, ENOMEM, "run %.200s: out of memory", argv[0]);
		goto cleanup;
	}
	if (run_proc_stdin(&rp, err) != 0 || run_proc_spawn(&rp, path, argv, envp, err) != 0 ||
	    run_proc_pump(&rp, res, err) != 0 || run_proc_finish(&rp, res, err) != 0)
		goto cleanup;
	rc = 0;
cleanup:
	run_proc_cleanup(&rp);
	res->seconds = mono_sec() - start;
	if (rc != 0) {
		res->exited = 0;
		res->status = 0;
	}
	return rc;
}
