/* agvm-chan: the node VM's PID 1 after /init's setup, and the guest end of
 * the command channel (test tooling, not shipped). It reads requests from a
 * serial port the host drives through a qemu unix socket, runs them by
 * fork/execvp with an argv array, streams stdout/stderr back and reports the
 * exit status. As PID 1 it also reaps every orphan, so a confined process
 * that exits disappears from /proc at once (the agent's in-use check reads
 * /proc/<pid>/attr/current).
 *
 * Protocol: text lines, so garbage left by an aborted client is skipped.
 *   host -> guest  "AGR <id> x <timeout_s> <hex arg0> [<hex arg>...]\n"  run
 *                  "AGR <id> p\n"                                       power off
 *   guest -> host  "AGF <id> o <hex>\n" stdout chunk, "AGF <id> e <hex>\n" stderr
 *                  chunk, "AGF <id> x <status>\n" end (status: exit code,
 *                  128+signal, 124 timeout, 127 exec failure).
 * An empty argument is sent as "-". <id> is [0-9a-z]{1,32}; the host ignores frames of other ids. Lines longer
 * than CHAN_LINE_MAX are dropped.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/reboot.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#define CHAN_LINE_MAX (1024 * 1024)
#define CHAN_CHUNK 768
#define CHAN_ARGS_MAX 4096
#define CHAN_DRAIN_MS 300

static int tty = -1;

static long long now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void write_all(const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(tty, p, n);
		if (w < 0) {
			if (errno == EINTR || errno == EAGAIN) {
				struct pollfd pf = {.fd = tty, .events = POLLOUT};
				(void)poll(&pf, 1, 100);
				continue;
			}
			return;
		}
		p += w;
		n -= (size_t)w;
	}
}

static void send_frame(const char *id, char kind, const unsigned char *data, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	char line[64 + 2 * CHAN_CHUNK];
	int off = snprintf(line, 64, "AGF %s %c ", id, kind);
	for (size_t i = 0; i < n; i++) {
		line[off++] = hex[data[i] >> 4];
		line[off++] = hex[data[i] & 15];
	}
	line[off++] = '\n';
	write_all(line, (size_t)off);
}

static void send_status(const char *id, int status)
{
	char line[96];
	int n = snprintf(line, sizeof line, "AGF %s x %d\n", id, status);
	write_all(line, (size_t)n);
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* Decodes hex in place into a NUL-terminated string; -1 on bad input. */
static int unhex(char *s)
{
	size_t n = strlen(s);
	if (n % 2)
		return -1;
	for (size_t i = 0; i < n / 2; i++) {
		int hi = hexval(s[2 * i]), lo = hexval(s[2 * i + 1]);
		if (hi < 0 || lo < 0 || (hi == 0 && lo == 0))
			return -1;
		s[i] = (char)(hi * 16 + lo);
	}
	s[n / 2] = '\0';
	return 0;
}

static int valid_id(const char *id)
{
	size_t n = strlen(id);
	if (n == 0 || n > 32)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!((id[i] >= '0' && id[i] <= '9') || (id[i] >= 'a' && id[i] <= 'z')))
			return 0;
	return 1;
}

/* Reaps every exited child; returns the status of `want` when it was reaped. */
static int reap(pid_t want, int *want_status)
{
	int found = 0, st;
	pid_t p;
	while ((p = waitpid(-1, &st, WNOHANG)) > 0) {
		if (p == want) {
			*want_status = st;
			found = 1;
		}
	}
	return found;
}

static void run(const char *id, long timeout_s, char **argv)
{
	int out[2], err[2];
	if (pipe2(out, O_CLOEXEC) < 0 || pipe2(err, O_CLOEXEC) < 0) {
		send_status(id, 127);
		return;
	}
	pid_t pid = fork();
	if (pid < 0) {
		send_status(id, 127);
		return;
	}
	if (pid == 0) {
		sigset_t none;
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		setsid();
		int devnull = open("/dev/null", O_RDONLY);
		dup2(devnull, 0);
		dup2(out[1], 1);
		dup2(err[1], 2);
		execvp(argv[0], argv);
		dprintf(2, "agvm-chan: %s: %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	close(out[1]);
	close(err[1]);
	int fds[2] = {out[0], err[0]};
	const char kinds[2] = {'o', 'e'};
	int open_n = 2, done = 0, st = 0, timed_out = 0;
	long long deadline = now_ms() + timeout_s * 1000, drain_until = 0;
	while (open_n > 0 || !done) {
		if (!done && reap(pid, &st)) {
			done = 1;
			drain_until = now_ms() + CHAN_DRAIN_MS;
		}
		long long t = now_ms();
		if (done && t >= drain_until)
			break; /* background children may hold the pipes open */
		if (!done && timeout_s > 0 && t >= deadline && !timed_out) {
			kill(-pid, SIGKILL);
			kill(pid, SIGKILL);
			timed_out = 1;
		}
		struct pollfd pf[2];
		int np = 0;
		for (int i = 0; i < 2; i++)
			if (fds[i] >= 0)
				pf[np++] = (struct pollfd){.fd = fds[i], .events = POLLIN};
		int r = poll(pf, (nfds_t)np, 50);
		if (r <= 0)
			continue;
		for (int k = 0; k < np; k++) {
			if (!(pf[k].revents & (POLLIN | POLLHUP | POLLERR)))
				continue;
			int i = pf[k].fd == fds[0] ? 0 : 1;
			unsigned char buf[CHAN_CHUNK];
			ssize_t n = read(fds[i], buf, sizeof buf);
			if (n > 0) {
				send_frame(id, kinds[i], buf, (size_t)n);
				if (done) /* idle, not total, drain time: the tty is slow */
					drain_until = now_ms() + CHAN_DRAIN_MS;
			} else if (n == 0 || errno != EINTR) {
				close(fds[i]);
				fds[i] = -1;
				open_n--;
			}
		}
	}
	for (int i = 0; i < 2; i++)
		if (fds[i] >= 0)
			close(fds[i]);
	int code;
	if (timed_out)
		code = 124;
	else if (WIFEXITED(st))
		code = WEXITSTATUS(st);
	else if (WIFSIGNALED(st))
		code = 128 + WTERMSIG(st);
	else
		code = 1;
	send_status(id, code);
}

static void power_off(const char *id)
{
	send_status(id, 0);
	tcdrain(tty);
	kill(-1, SIGTERM);
	for (int i = 0; i < 20; i++) {
		int st;
		while (waitpid(-1, &st, WNOHANG) > 0)
			;
		usleep(50000);
	}
	kill(-1, SIGKILL);
	sync();
	reboot(RB_POWER_OFF);
	_exit(0);
}

static void handle(char *line)
{
	char *argv[CHAN_ARGS_MAX + 1];
	char *save = NULL;
	char *tok = strtok_r(line, " ", &save);
	if (!tok || strcmp(tok, "AGR") != 0)
		return;
	char *id = strtok_r(NULL, " ", &save);
	char *cmd = strtok_r(NULL, " ", &save);
	if (!id || !cmd || !valid_id(id))
		return;
	if (strcmp(cmd, "p") == 0) {
		power_off(id);
		return;
	}
	if (strcmp(cmd, "x") != 0)
		return;
	char *ts = strtok_r(NULL, " ", &save);
	if (!ts)
		return;
	char *end = NULL;
	long timeout_s = strtol(ts, &end, 10);
	if (*end || timeout_s < 0 || timeout_s > 86400)
		return;
	int argc = 0;
	while ((tok = strtok_r(NULL, " ", &save)) != NULL) {
		if (argc >= CHAN_ARGS_MAX) {
			send_status(id, 127);
			return;
		}
		if (strcmp(tok, "-") == 0)
			tok[0] = '\0'; /* the empty argument */
		else if (unhex(tok) < 0) {
			send_status(id, 127);
			return;
		}
		argv[argc++] = tok;
	}
	argv[argc] = NULL;
	if (argc == 0) {
		send_status(id, 127);
		return;
	}
	run(id, timeout_s, argv);
}

int main(int argc, char **argv)
{
	const char *dev = argc > 1 ? argv[1] : "/dev/ttyS1";
	tty = open(dev, O_RDWR | O_NOCTTY);
	if (tty < 0) {
		dprintf(2, "agvm-chan: open %s: %s\n", dev, strerror(errno));
		for (;;)
			pause();
	}
	struct termios tio;
	if (tcgetattr(tty, &tio) == 0) {
		cfmakeraw(&tio);
		tio.c_cflag |= CLOCAL | CREAD;
		cfsetspeed(&tio, B115200);
		tcsetattr(tty, TCSANOW, &tio);
	}
	signal(SIGPIPE, SIG_IGN);
	if (getpid() != 1)
		prctl(PR_SET_CHILD_SUBREAPER, 1);
	setenv("PATH", "/bin:/sbin:/usr/bin:/usr/sbin", 1);
	/* A ready marker: the host's `start` waits for it on the channel. */
	write_all("\nAGF 0 r ready\n", 15);
	char *line = malloc(CHAN_LINE_MAX + 1);
	if (!line)
		return 1;
	size_t len = 0;
	int skipping = 0;
	for (;;) {
		int st;
		reap(-2, &st);
		struct pollfd pf = {.fd = tty, .events = POLLIN};
		if (poll(&pf, 1, 500) <= 0)
			continue;
		char buf[4096];
		ssize_t n = read(tty, buf, sizeof buf);
		if (n <= 0)
			continue;
		for (ssize_t i = 0; i < n; i++) {
			char c = buf[i];
			if (c == '\n' || c == '\r') {
				if (!skipping && len > 0) {
					line[len] = '\0';
					handle(line);
				}
				len = 0;
				skipping = 0;
			} else if (!skipping) {
				if (len >= CHAN_LINE_MAX) {
					skipping = 1;
					len = 0;
				} else {
					line[len++] = c;
				}
			}
		}
	}
}
