/* connguard: the deadline from accept to a connection's first request head
 * (TLS handshake included). libmicrohttpd 0.9.75 never times out a TLS
 * connection that has not finished its handshake (measured: an idle socket
 * held for 70 s and more), so idle or slow clients could fill its
 * connection table. A guard thread shuts down (shutdown(2), not close: the
 * fd stays libmicrohttpd's) each connection past the deadline; the library
 * then sees EOF and closes it as usual.
 * Threads: add/done from any thread; entries are the caller's memory and
 * must stay valid until connguard_done returns. */
#ifndef ARMORGATE_WEBHOOK_CONNGUARD_H
#define ARMORGATE_WEBHOOK_CONNGUARD_H

#include <stdbool.h>
#include <stdint.h>

#include "err.h"

typedef struct connguard_entry {
	struct connguard_entry *cg_prev, *cg_next;
	int64_t cg_start_ms;
	int cg_fd;
	bool cg_linked;
} connguard_entry;

typedef struct connguard connguard;

/* Starts the guard thread; deadline_s >= 1. NULL with err. */
connguard *connguard_start(unsigned int deadline_s, ag_err *err);
/* Watches e (socket fd) from now on. */
void connguard_add(connguard *g, connguard_entry *e, int fd);
/* The first request head arrived, or the connection is closing: stop
 * watching e. Idempotent. */
void connguard_done(connguard *g, connguard_entry *e);
/* Connections shut down so far. */
unsigned long connguard_fired(connguard *g);
/* Joins the thread (entries still added are simply forgotten). */
void connguard_stop(connguard *g);

#endif
