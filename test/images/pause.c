/* pause: the pod sandbox process of armorgate.test/pause:dev (test/images).
 * PID 1 of a pod's shared namespaces: it blocks in pause(), exits 0 on
 * SIGINT or SIGTERM, and reaps the children re-parented to it (SIGCHLD).
 * As PID 1 the kernel drops signals it has no handler for, hence the handlers.
 * Built static: cc -static -Os -s -o pause pause.c */
#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static void on_term(int sig)
{
	(void)sig;
	_exit(0);
}

static void on_chld(int sig)
{
	int saved = errno;

	(void)sig;
	while (waitpid(-1, NULL, WNOHANG) > 0)
		;
	errno = saved;
}

int main(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sigemptyset(&sa.sa_mask);
	sa.sa_handler = on_term;
	if (sigaction(SIGINT, &sa, NULL) != 0 || sigaction(SIGTERM, &sa, NULL) != 0)
		return 1;
	sa.sa_handler = on_chld;
	sa.sa_flags = SA_NOCLDSTOP | SA_RESTART;
	if (sigaction(SIGCHLD, &sa, NULL) != 0)
		return 1;
	for (;;)
		pause();
}
