/* connguard: handshake deadline for libmicrohttpd's connections (see
 * connguard.h). Entries are kept in accept order, so each pass looks only at
 * the expired head of the list. */
#include "connguard.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "mono.h"

enum { CONNGUARD_TICK_MS = 200 };

struct connguard {
	pthread_mutex_t g_lock;
	pthread_cond_t g_cond;
	pthread_t g_thread;
	connguard_entry *g_head, *g_tail;
	int64_t g_deadline_ms;
	atomic_ulong g_fired;
	bool g_stop;
};

static void connguard_unlink(connguard *g, connguard_entry *e)
{
	if (e->cg_prev)
		e->cg_prev->cg_next = e->cg_next;
	else
		g->g_head = e->cg_next;
	if (e->cg_next)
		e->cg_next->cg_prev = e->cg_prev;
	else
		g->g_tail = e->cg_prev;
	e->cg_prev = e->cg_next = NULL;
	e->cg_linked = false;
}

static void *connguard_main(void *arg)
{
	connguard *g = arg;

	pthread_mutex_lock(&g->g_lock);
	while (!g->g_stop) {
		struct timespec ts;
		int64_t now = mono_ms();

		while (g->g_head && now - g->g_head->cg_start_ms >= g->g_deadline_ms) {
			connguard_entry *e = g->g_head;

			/* Under the lock: the fd cannot be closed and reused meanwhile,
			 * libmicrohttpd calls connguard_done before it closes. */
			(void)shutdown(e->cg_fd, SHUT_RDWR);
			connguard_unlink(g, e);
			atomic_fetch_add(&g->g_fired, 1);
		}
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += CONNGUARD_TICK_MS * 1000000L;
		if (ts.tv_nsec >= 1000000000L) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000L;
		}
		(void)pthread_cond_timedwait(&g->g_cond, &g->g_lock, &ts);
	}
	pthread_mutex_unlock(&g->g_lock);
	return NULL;
}

connguard *connguard_start(unsigned int deadline_s, ag_err *err)
{
	connguard *g = calloc(1, sizeof(*g));
	int rc;

	if (!g)
		return err_set(err, ENOMEM, "connection guard: out of memory"), NULL;
	g->g_deadline_ms = (int64_t)(deadline_s ? deadline_s : 1) * 1000;
	atomic_init(&g->g_fired, 0);
	pthread_mutex_init(&g->g_lock, NULL);
	pthread_cond_init(&g->g_cond, NULL);
	rc = pthread_create(&g->g_thread, NULL, connguard_main, g);
	if (rc != 0) {
		pthread_cond_destroy(&g->g_cond);
		pthread_mutex_destroy(&g->g_lock);
		free(g);
		return err_set(err, rc, "connection guard: cannot start its thread: %s", strerror(rc)), NULL;
	}
	return g;
}

void connguard_add(connguard *g, connguard_entry *e, int fd)
{
	memset(e, 0, sizeof(*e));
	e->cg_fd = fd;
	e->cg_start_ms = mono_ms();
	pthread_mutex_lock(&g->g_lock);
	e->cg_prev = g->g_tail;
	if (g->g_tail)
		g->g_tail->cg_next = e;
	else
		g->g_head = e;
	g->g_tail = e;
	e->cg_linked = true;
	pthread_mutex_unlock(&g->g_lock);
}

void connguard_done(connguard *g, connguard_entry *e)
{
	pthread_mutex_lock(&g->g_lock);
	if (e->cg_linked)
		connguard_unlink(g, e);
	pthread_mutex_unlock(&g->g_lock);
}

unsigned long connguard_fired(connguard *g)
{
	return atomic_load(&g->g_fired);
}

void connguard_stop(connguard *g)
{
	if (!g)
		return;
	pthread_mutex_lock(&g->g_lock);
	g->g_stop = true;
	pthread_cond_signal(&g->g_cond);
	pthread_mutex_unlock(&g->g_lock);
	pthread_join(g->g_thread, NULL);
	pthread_cond_destroy(&g->g_cond);
	pthread_mutex_destroy(&g->g_lock);
	free(g);
}
