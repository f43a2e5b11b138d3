/* sig: self-pipe signal handling; the handler only stores and writes. */
#include "sig.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

static volatile sig_atomic_t sig_stop;
static volatile sig_atomic_t sig_hup;
static int sig_pipe[2] = { -1, -1 };

static void sig_handler(int signo)
{
	int saved = errno;
	char c = 1;
	ssize_t w;

	if (signo == SIGHUP)
		sig_hup = 1;
	else
		sig_stop = 1;
	w = write(sig_pipe[1], &c, 1);
	(void)w; /* a full pipe already wakes the loop */
	errno = saved;
}

int sig_init(ag_err *err)
{
	struct sigaction sa;

	if (sig_pipe[0] >= 0)
		return 0;
	if (pipe2(sig_pipe, O_CLOEXEC | O_NONBLOCK) != 0)
		return err_set(err, errno, "pipe2: %s", strerror(errno));
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = sig_handler;
	sigemptyset(&sa.sa_mask);
	sa.sa_flags = SA_RESTART;
	if (sigaction(SIGTERM, &sa, NULL) != 0 || sigaction(SIGINT, &sa, NULL) != 0 ||
	    sigaction(SIGHUP, &sa, NULL) != 0)
		return err_set(err, errno, "sigaction: %s", strerror(errno));
	sa.sa_handler = SIG_IGN;
	if (sigaction(SIGPIPE, &sa, NULL) != 0)
		return err_set(err, errno, "sigaction: %s", strerror(errno));
	return 0;
}

int sig_fd(void)
{
	return sig_pipe[0];
}

void sig_drain(void)
{
	char tmp[64];

	if (sig_pipe[0] < 0)
		return;
	while (read(sig_pipe[0], tmp, sizeof(tmp)) > 0)
		;
}

bool sig_stop_requested(void)
{
	return sig_stop != 0;
}

volatile sig_atomic_t *sig_stop_flag(void)
{
	return &sig_stop;
}

bool sig_take_hup(void)
{
	bool h = sig_hup != 0;

	sig_hup = 0;
	return h;
}

void sig_request_stop(void)
{
	sig_handler(SIGTERM);
}

bool sig_sleep_ms(long ms)
{
	struct pollfd p = { .fd = sig_pipe[0], .events = POLLIN };

	if (sig_stop)
		return true;
	if (sig_pipe[0] < 0) {
		usleep((useconds_t)ms * 1000);
		return sig_stop != 0;
	}
	/* The pipe stays readable until drained, so every sleeper wakes. */
	(void)poll(&p, 1, (int)ms);
	return sig_stop != 0;
}
