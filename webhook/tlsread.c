/* tlsread: read-ahead under libmicrohttpd's GnuTLS sessions (see tlsread.h).
 * Trust boundary: the bytes are the peer's raw TLS records, handed to GnuTLS
 * unchanged; only their batching into recv calls differs. */
#include "tlsread.h"

#include <errno.h>
#include <poll.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

struct tlsread {
	int tr_fd;
	size_t tr_off; /* unread bytes are tr_buf[tr_off..tr_len) */
	size_t tr_len;
	unsigned char tr_buf[TLSREAD_BUF];
};

/* Slot fd: the buffer of the connection on that socket (so a found buffer's
 * tr_fd is always fd). Written by that connection's thread; atomics since
 * the socket number, once closed, may come back on another thread. */
static _Atomic(tlsread *) *tlsread_by_fd;
static unsigned tlsread_users; /* servers started and not stopped (main thread only) */

int tlsread_init(ag_err *err)
{
	if (!tlsread_by_fd) {
		/* Pages are touched only for the socket numbers in use. */
		tlsread_by_fd = calloc(TLSREAD_FDS_MAX, sizeof(*tlsread_by_fd));
		if (!tlsread_by_fd)
			return err_set(err, ENOMEM, "tlsread: out of memory");
	}
	tlsread_users++;
	return 0;
}

void tlsread_cleanup(void)
{
	if (tlsread_users && --tlsread_users)
		return;
	free(tlsread_by_fd);
	tlsread_by_fd = NULL;
}

static tlsread *tlsread_of(gnutls_transport_ptr_t ptr)
{
	intptr_t fd = (intptr_t)ptr;

	if (!tlsread_by_fd || fd < 0 || fd >= TLSREAD_FDS_MAX)
		return NULL;
	return atomic_load_explicit(&tlsread_by_fd[fd], memory_order_relaxed);
}

/* GnuTLS's pull: from the buffer, refilled by one recv when empty; EAGAIN
 * only when both are empty (errno is GnuTLS's error channel here). */
static ssize_t tlsread_pull(gnutls_transport_ptr_t ptr, void *data, size_t len)
{
	tlsread *r = tlsread_of(ptr);
	size_t n;

	if (!r)
		return recv((int)(intptr_t)ptr, data, len, 0);
	if (r->tr_off == r->tr_len) {
		ssize_t got;

		/* Nothing to gain from a copy for a large read. */
		if (len >= sizeof(r->tr_buf))
			return recv(r->tr_fd, data, len, 0);
		got = recv(r->tr_fd, r->tr_buf, sizeof(r->tr_buf), 0);
		if (got <= 0)
			return got;
		r->tr_off = 0;
		r->tr_len = (size_t)got;
	}
	n = r->tr_len - r->tr_off;
	if (n > len)
		n = len;
	memcpy(data, r->tr_buf + r->tr_off, n);
	r->tr_off += n;
	return (ssize_t)n;
}

/* GnuTLS waits through this only with a timeout set (DTLS, timed receives):
 * bytes in the buffer count as readable. */
static int tlsread_pull_timeout(gnutls_transport_ptr_t ptr, unsigned int ms)
{
	tlsread *r = tlsread_of(ptr);
	struct pollfd pfd = { .fd = (int)(intptr_t)ptr, .events = POLLIN };

	if (r && r->tr_off < r->tr_len)
		return 1;
	return poll(&pfd, 1, ms == GNUTLS_INDEFINITE_TIMEOUT ? -1 : (int)ms);
}

tlsread *tlsread_attach(gnutls_session_t session, int fd)
{
	tlsread *r;

	if (!tlsread_by_fd || !session || fd < 0 || fd >= TLSREAD_FDS_MAX)
		return NULL;
	r = malloc(sizeof(*r));
	if (!r)
		return NULL;
	r->tr_fd = fd;
	r->tr_off = 0;
	r->tr_len = 0;
	atomic_store_explicit(&tlsread_by_fd[fd], r, memory_order_relaxed);
	/* GnuTLS holds no partial read of ours: its own pull read exactly
	 * what it asked for, so switching now loses no byte. */
	gnutls_transport_set_pull_timeout_function(session, tlsread_pull_timeout);
	gnutls_transport_set_pull_function(session, tlsread_pull);
	return r;
}

void tlsread_detach(tlsread *r)
{
	tlsread *mine;

	if (!r)
		return;
	mine = r;
	/* Only our own slot (libmicrohttpd detaches before it closes the
	 * socket, so the number cannot serve another connection yet). */
	(void)atomic_compare_exchange_strong(&tlsread_by_fd[r->tr_fd], &mine, NULL);
	free(r);
}
