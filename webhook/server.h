/* server: the HTTPS side of armorgate-webhook (libmicrohttpd + GnuTLS).
 * Trust boundary: every byte from the network. The shell checks method,
 * path, content type and size (413 before buffering more than
 * SERVER_BODY_MAX), then hands the body to the pure admission core.
 * TLS 1.2+ with AEAD ciphers only; the certificate comes from certs.h per
 * handshake, so rotation needs no restart. */
#ifndef ARMORGATE_WEBHOOK_SERVER_H
#define ARMORGATE_WEBHOOK_SERVER_H

#include <stdbool.h>

#include "admission.h"
#include "budget.h"
#include "certs.h"
#include "compilepool.h"
#include "err.h"
#include "metrics.h"

enum {
	SERVER_BODY_MAX = 3u << 20, /* AdmissionReview request ceiling (the API server's own is 3 MiB) */
	SERVER_CONN_LIMIT = 1024,
	SERVER_CONN_TIMEOUT_S = 60,      /* idle limit once a connection has sent a request */
	SERVER_HANDSHAKE_TIMEOUT_S = 10, /* default: idle limit from accept to the first request head */
	SERVER_CONNS_PER_PEER = 128,     /* default: connections one client address may hold */
};

/* GnuTLS priority string: TLS 1.3 and 1.2, forward-secret AEAD suites only. */
#define SERVER_TLS_PRIORITIES                                                                                          \
	"SECURE128:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2:-CIPHER-ALL:+AES-256-GCM:+AES-128-GCM:"                         \
	"+CHACHA20-POLY1305:-MAC-ALL:+AEAD:-KX-ALL:+ECDHE-ECDSA:+ECDHE-RSA:%SERVER_PRECEDENCE"

/* Metric family names the server writes (main defines them). */
#define SERVER_M_REQUESTS "armorgate_webhook_requests_total"
#define SERVER_M_LATENCY "armorgate_webhook_request_duration_seconds"
#define SERVER_M_REJECTED "armorgate_webhook_http_rejections_total"
#define SERVER_M_PROFILE_CHECKS "armorgate_webhook_profile_checks_total"
#define SERVER_M_IN_FLIGHT "armorgate_webhook_requests_in_flight"
#define SERVER_M_CUT "armorgate_webhook_connections_cut_total"
#define SERVER_M_WARNINGS "armorgate_webhook_warnings_total"

typedef struct server_opts {
	const char *listen;       /* "ADDR:PORT" / ":PORT"; port 0 = ephemeral */
	unsigned int threads;     /* worker threads, >= 1 */
	const admission_env *env; /* borrowed, must outlive the server */
	metrics *metrics;         /* borrowed, may be NULL */
	/* Until a connection's first request head is complete (TLS handshake
	 * included) it may be idle this long, then SERVER_CONN_TIMEOUT_S.
	 * 0 = SERVER_HANDSHAKE_TIMEOUT_S. */
	unsigned int handshake_timeout_s;
	unsigned int conns_per_peer; /* 0 = SERVER_CONNS_PER_PEER */
	budget *bodies;              /* buffered request bytes (borrowed), NULL = no limit but SERVER_BODY_MAX each */
	/* Compile checks of profiles-ConfigMap reviews (borrowed): the
	 * connection is suspended while they run, so no HTTPS thread waits.
	 * It replaces env->compile. compilepool_stop it before server_stop
	 * (libmicrohttpd must not be stopped with a connection suspended).
	 * NULL: env->compile runs on the HTTPS thread. */
	compilepool *compile;
} server_opts;

typedef struct server server;

/* The certificate must have been installed with certs_install first. */
server *server_start(const server_opts *opts, ag_err *err);
int server_port(const server *s);
/* Reviews currently being received or answered. */
unsigned long server_in_flight(server *s);
/* Stops accepting new connections (the listening socket is closed). */
void server_quiesce(server *s);
/* Waits until no review is in flight or timeout_ms passes; true when drained. */
bool server_drain(server *s, long timeout_ms);
/* Closes all connections and frees. */
void server_stop(server *s);

#endif
