/* tlsread: read-ahead under libmicrohttpd's GnuTLS sessions. GnuTLS reads a
 * record in two recv calls (its 5-byte header, then the rest); a review is
 * one record, so one recv of up to TLSREAD_BUF bytes saves a system call per
 * review (nginx's OpenSSL reads so too).
 *
 * Why it cannot hide bytes from libmicrohttpd 0.9.75's edge-triggered epoll
 * loop: for TLS it forgets "read-ready" only when gnutls_record_recv returns
 * GNUTLS_E_AGAIN, which this pull gives only with its buffer empty; and it
 * is attached only after the handshake (the first request), so no handshake
 * step reads ahead while "read-ready" is unset. */
#ifndef ARMORGATE_WEBHOOK_TLSREAD_H
#define ARMORGATE_WEBHOOK_TLSREAD_H

#include <gnutls/gnutls.h>

#include "err.h"

enum {
	TLSREAD_BUF = 8u << 10,  /* a review's record in one read; bigger ones take several */
	TLSREAD_FDS_MAX = 65536, /* sockets numbered higher keep GnuTLS's own reads */
};

typedef struct tlsread tlsread;

/* The fd -> buffer table the pull function needs (GnuTLS hands it only the
 * socket): once per server, before its first attach; 0, or -1 with err.
 * Main thread only. */
int tlsread_init(ag_err *err) AG_WARN_UNUSED;
/* Once per successful init, after that server's connections are gone. */
void tlsread_cleanup(void);

/* Reads of session (whose transport is socket fd) go through a buffer from
 * now on. Call from the connection's own thread once its handshake is done.
 * Returns the buffer (freed by tlsread_detach), or NULL when fd is beyond the
 * table or memory is short: the session then keeps GnuTLS's reads. */
tlsread *tlsread_attach(gnutls_session_t session, int fd);
/* Before the socket closes: GnuTLS reads that still come use the socket directly. */
void tlsread_detach(tlsread *r);

#endif
