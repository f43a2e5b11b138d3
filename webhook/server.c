/* server: libmicrohttpd TLS daemon in front of the admission core (see
 * server.h). One small request context per review; the body buffer has a
 * ceiling and the Content-Length is checked before any byte is buffered.
 *
 * Answers leave in one TLS record and one send: libmicrohttpd 0.9.75 hands
 * GnuTLS the header and the body separately (two records, two sendmsg).
 * So the review path corks the GnuTLS session before queueing its answer
 * and server_flush uncorks it once libmicrohttpd is done with the answer
 * (the completion callback, which 0.9.75 runs right after the last send).
 * The socket itself is never TCP-corked (server_send). Only small answers
 * are corked, and a flush that cannot complete (a client that does not read)
 * closes that connection after a short wait, so nothing is held back
 * indefinitely. */
#include "server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gnutls/gnutls.h>
#include <microhttpd.h>

#include "budget.h"
#include "config.h"
#include "connguard.h"
#include "log.h"
#include "mono.h"
#include "reviewlog.h"
#include "tlsread.h"

enum {
	SERVER_DISCARD_MAX = 16u << 20, /* body bytes read and dropped after 413 before closing */
	/* libmicrohttpd zeroes the whole per-connection pool after every request
	 * (0.9.75 MHD_pool_reset); its 32 KiB default is twice what a review's
	 * headers plus one read need. Bodies stream through in pieces anyway. */
	SERVER_CONN_POOL = 16u << 10,
	SERVER_CORK_MAX = 8u << 10,    /* larger answers take libmicrohttpd's own two-record path */
	SERVER_BODY_BLOCK = 64u << 10, /* largest piece of an answer handed to libmicrohttpd at once */
	SERVER_FLUSH_WAIT_MS = 100,    /* a client that does not read its answer gets this long */
	SERVER_SMALL_BODY = 64u << 10, /* bodies up to this may use the last third of the body budget */
};

#define SERVER_BUSY_TEXT "busy: the review bodies being received use the request-byte budget; retry\n"

struct server {
	struct MHD_Daemon *s_daemon;
	const admission_env *s_env;
	metrics *s_metrics;
	atomic_ulong s_in_flight;
	atomic_bool s_closing;  /* after quiesce: answers carry Connection: close */
	connguard *s_guard;     /* the handshake deadline */
	budget *s_bodies;       /* buffered request bytes, or NULL */
	compilepool *s_compile; /* or NULL */
	int s_port;
	bool s_quiesced;
};

typedef struct server_req {
	admission_op sr_op;
	admission_enforcement sr_mode; /* /validate/<mode>, else the env's default */
	buf sr_body;
	int64_t sr_start_ns; /* mono_ns() when the request began */
	size_t sr_discarded;
	size_t sr_held; /* taken from s_bodies */
	bool sr_too_big;
	bool sr_busy; /* the body budget ran out: answered 503 once the body ends */
	bool sr_answered;
	void *sr_tls;               /* gnutls_session_t corked for this answer, or NULL */
	compilepool_req sr_compile; /* a profiles-ConfigMap review's compiles */
} server_req;

/* Per connection (libmicrohttpd's socket context). */
typedef struct server_conn {
	bool sc_read_tried; /* read-ahead attached, or found impossible */
	bool sc_guarded;    /* sc_guard was added to the server's connguard */
	tlsread *sc_read;   /* NULL: GnuTLS's own reads */
	server *sc_server;
	connguard_entry sc_guard;
} server_conn;

/* First request of a connection: its handshake is done, reads go through
 * tlsread from now on. */
static void server_attach_read(struct MHD_Connection *conn)
{
	const union MHD_ConnectionInfo *sci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
	server_conn *sc = sci ? sci->socket_context : NULL;
	const union MHD_ConnectionInfo *ti;
	const union MHD_ConnectionInfo *fi;

	if (!sc || sc->sc_read_tried)
		return;
	sc->sc_read_tried = true;
	/* Its first request head: past the handshake deadline. */
	if (sc->sc_guarded)
		connguard_done(sc->sc_server->s_guard, &sc->sc_guard);
	ti = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_GNUTLS_SESSION);
	fi = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
	if (ti && ti->tls_session && fi)
		sc->sc_read = tlsread_attach(ti->tls_session, fi->connect_fd);
}

/* An answer body handed to libmicrohttpd's content reader. */
typedef struct server_body {
	char *sb_data;
	size_t sb_len;
	bool sb_free; /* sb_data is ours to free() */
} server_body;

static ssize_t server_body_read(void *cls, uint64_t pos, char *out, size_t max)
{
	const server_body *b = cls;
	size_t n;

	if (pos >= b->sb_len)
		return MHD_CONTENT_READER_END_OF_STREAM;
	n = b->sb_len - (size_t)pos;
	if (n > max)
		n = max;
	memcpy(out, b->sb_data + pos, n);
	return (ssize_t)n;
}

static void server_body_free(void *cls)
{
	server_body *b = cls;

	if (b->sb_free)
		free(b->sb_data);
	free(b);
}

/* Answers are content-reader responses of known size: libmicrohttpd 0.9.75
 * then pushes the header instead of corking the socket for it, so after the
 * first answer its socket state reads "not corked, TCP_NODELAY on" and no
 * answer costs a setsockopt. A buffer response under 1,400 bytes gets
 * TCP_CORK for its header and a TCP_NODELAY push after its body on every
 * answer (mhd_send.c, pre_send_setopt / post_send_setopt); an iovec response
 * of one element is turned into a buffer one, of two corks between them.
 * body is freed with free() when must_free, also on failure. */
static enum MHD_Result server_send(server *s, struct MHD_Connection *conn, unsigned int status, const char *ctype,
				   char *body, size_t len, bool must_free, const char *allow)
{
	server_body *b = malloc(sizeof(*b));
	struct MHD_Response *r = NULL;
	enum MHD_Result ret;

	if (b) {
		*b = (server_body){ body, len, must_free };
		r = MHD_create_response_from_callback(len,
						      len < SERVER_BODY_BLOCK ? (len ? len : 1) : SERVER_BODY_BLOCK,
						      server_body_read, b, server_body_free);
	}
	if (!r) {
		free(b);
		if (must_free)
			free(body);
		return MHD_NO;
	}
	(void)MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, ctype);
	if (allow)
		(void)MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, allow);
	/* Stopping: tell keep-alive clients (the API server) to reconnect elsewhere. */
	if (atomic_load(&s->s_closing))
		(void)MHD_add_response_header(r, MHD_HTTP_HEADER_CONNECTION, "close");
	ret = MHD_queue_response(conn, status, r);
	MHD_destroy_response(r);
	return ret;
}

/* Rejections before the admission core: a fixed one-line text body. */
static enum MHD_Result server_reject(server *s, server_req *rq, struct MHD_Connection *conn, const char *endpoint,
				     unsigned int status, const char *text, const char *allow)
{
	char code[32];
	char labels[96];

	rq->sr_answered = true;
	snprintf(code, sizeof(code), "code=\"%u\"", status);
	metrics_add(s->s_metrics, SERVER_M_REJECTED, code, 1);
	snprintf(labels, sizeof(labels), "endpoint=\"%s\",verdict=\"rejected\"", endpoint);
	metrics_add(s->s_metrics, SERVER_M_REQUESTS, labels, 1);
	log_kv(LOG_LVL_DEBUG, "request rejected", "endpoint", endpoint, "reason", text, (char *)NULL);
	return server_send(s, conn, status, "text/plain; charset=utf-8", (char *)(uintptr_t)text, strlen(text), false,
			   allow);
}

/* application/json, any case, optional parameters (charset=utf-8). */
static bool server_json_type(const char *ct)
{
	static const char want[] = "application/json";
	size_t n = sizeof(want) - 1;

	if (!ct)
		return false;
	while (*ct == ' ' || *ct == '\t')
		ct++;
	if (strncasecmp(ct, want, n) != 0)
		return false;
	ct += n;
	while (*ct == ' ' || *ct == '\t')
		ct++;
	return *ct == '\0' || *ct == ';';
}

/* Content-Length over the ceiling (or unparseable) -> true. */
static bool server_length_too_big(const char *cl)
{
	unsigned long long v = 0;

	if (!cl)
		return false;
	for (; *cl; cl++) {
		if (*cl < '0' || *cl > '9')
			return *cl != ' ' && *cl != '\t';
		v = v * 10 + (unsigned long long)(*cl - '0');
		if (v > SERVER_BODY_MAX)
			return true;
	}
	return false;
}

/* Takes body bytes up to total from the server's budget: true when held.
 * Large bodies may use two thirds of it; the rest stays for small ones (a
 * pod review is a few KiB), so large bodies cannot crowd out the API
 * server's ordinary reviews. */
static bool server_hold(server *s, server_req *rq, size_t total)
{
	size_t max;

	if (!s->s_bodies || total <= rq->sr_held)
		return true;
	max = s->s_bodies->b_max;
	if (!budget_take(s->s_bodies, total - rq->sr_held, total > SERVER_SMALL_BODY ? max - max / 3 : max))
		return false;
	rq->sr_held = total;
	return true;
}

static void server_release(server *s, server_req *rq)
{
	if (s->s_bodies && rq->sr_held)
		budget_give(s->s_bodies, rq->sr_held);
	rq->sr_held = 0;
}

/* The next piece of a body: buffered, or dropped (413 or 503 follows). */
static enum MHD_Result server_body_piece(server *s, server_req *rq, const char *data, size_t n)
{
	if (!rq->sr_too_big && !rq->sr_busy) {
		size_t want = rq->sr_body.len + n;

		/* Without a Content-Length the budget is taken 64 KiB at a time. */
		if (want > rq->sr_held &&
		    !server_hold(s, rq, (want + SERVER_SMALL_BODY - 1) & ~(size_t)(SERVER_SMALL_BODY - 1)))
			rq->sr_busy = true;
		else if (buf_append(&rq->sr_body, data, n) != 0)
			/* A body without Content-Length past the ceiling: stop buffering,
			 * free what we have, answer 413 once it ends. */
			rq->sr_too_big = true;
		if (rq->sr_too_big || rq->sr_busy) {
			buf_cleanup(&rq->sr_body);
			server_release(s, rq);
		}
		return MHD_YES;
	}
	/* Discarded, not stored; a sender that goes on and on is cut off. */
	rq->sr_discarded += n;
	return rq->sr_discarded > SERVER_DISCARD_MAX ? MHD_NO : MHD_YES;
}

/* A declared Content-Length is held before any byte is buffered, and the
 * buffer sized once (no doubling past it). */
static enum MHD_Result server_hold_declared(server *s, server_req *rq, struct MHD_Connection *conn, const char *ep)
{
	const char *cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
	size_t n = cl ? (size_t)strtoull(cl, NULL, 10) : 0;

	if (n == 0)
		return MHD_YES;
	if (!server_hold(s, rq, n))
		return server_reject(s, rq, conn, ep, MHD_HTTP_SERVICE_UNAVAILABLE, SERVER_BUSY_TEXT, NULL);
	if (buf_reserve(&rq->sr_body, n) != 0)
		return server_reject(s, rq, conn, ep, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory\n", NULL);
	return MHD_YES;
}

/* The endpoint of url: /mutate, /validate (pods under the default
 * enforcement, --enforcement-default) or /validate/<mode> (deny, warn, off:
 * what the registration of that namespace's mode names; a query string is
 * not allowed in a webhook's clientConfig). NULL: unknown path. */
static const char *server_endpoint(const server *s, const char *url, admission_op *op, admission_enforcement *mode)
{
	static const char validate[] = "/validate";

	*mode = s->s_env->enforcement;
	if (strcmp(url, "/mutate") == 0) {
		*op = ADMISSION_MUTATE;
		return "mutate";
	}
	if (strncmp(url, validate, sizeof(validate) - 1) != 0)
		return NULL;
	url += sizeof(validate) - 1;
	if (*url && (*url != '/' || admission_enforcement_parse(url + 1, mode) != 0))
		return NULL;
	*op = ADMISSION_VALIDATE;
	return "validate";
}

static void server_cork(server_req *rq, struct MHD_Connection *conn)
{
	const union MHD_ConnectionInfo *ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_GNUTLS_SESSION);

	if (!ci || !ci->tls_session)
		return;
	gnutls_record_cork(ci->tls_session);
	rq->sr_tls = ci->tls_session;
}

/* Sends what server_cork held back: header and body as one record. */
static void server_flush(server *s, struct MHD_Connection *conn, server_req *rq)
{
	gnutls_session_t tls = rq->sr_tls;
	const union MHD_ConnectionInfo *ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
	int fd = ci ? ci->connect_fd : -1;
	int waited = 0;
	int r;

	rq->sr_tls = NULL;
	for (;;) {
		struct pollfd pfd = { .fd = fd, .events = POLLOUT };

		r = gnutls_record_uncork(tls, 0);
		if (r >= 0 || (r != GNUTLS_E_AGAIN && r != GNUTLS_E_INTERRUPTED) || fd < 0 ||
		    waited >= SERVER_FLUSH_WAIT_MS)
			break;
		(void)poll(&pfd, 1, 10);
		waited += 10;
	}
	if (fd < 0 || (r < 0 && r != GNUTLS_E_AGAIN && r != GNUTLS_E_INTERRUPTED))
		return; /* the connection is broken; libmicrohttpd sees that on its next step */
	if (r < 0) {
		/* Still held: this answer cannot be delivered, nor any later one on
		 * this connection. The peer sees the connection end. */
		log_kv(LOG_LVL_WARN, "answer not delivered: the client is not reading; connection closed",
		       (char *)NULL);
		metrics_add(s->s_metrics, SERVER_M_CUT, "", 1);
		(void)shutdown(fd, SHUT_RDWR);
		return;
	}
}

/* compilepool's done, on a worker thread: libmicrohttpd's resume is
 * thread-safe (it wakes the connection's thread through its ITC pipe). */
static void server_resume(void *conn)
{
	MHD_resume_connection(conn);
}

static enum MHD_Result server_answer(server *s, server_req *rq, struct MHD_Connection *conn)
{
	admission_env env;
	admission_result res;
	const char *ep = admission_op_name(rq->sr_op);
	size_t len;
	char *body;

	rq->sr_answered = true;
	if (rq->sr_too_big)
		return server_reject(s, rq, conn, ep, MHD_HTTP_CONTENT_TOO_LARGE, "request body over 3 MiB\n", NULL);
	if (rq->sr_busy)
		return server_reject(s, rq, conn, ep, MHD_HTTP_SERVICE_UNAVAILABLE, SERVER_BUSY_TEXT, NULL);
	env = *s->s_env;
	env.enforcement = rq->sr_mode;
	if (s->s_compile) {
		rq->sr_compile.cr_pool = s->s_compile;
		env.compile = compilepool_compile;
		env.compile_ctx = &rq->sr_compile;
	}
	admission_handle(rq->sr_op, rq->sr_body.data ? rq->sr_body.data : "", rq->sr_body.len, &env, &res);
	if (compilepool_pending(&rq->sr_compile)) {
		/* Profiles to compile: this answer is dropped; the connection
		 * waits off this thread and comes back here once they are done. */
		buf_cleanup(&res.body);
		rq->sr_answered = false;
		MHD_suspend_connection(conn);
		compilepool_submit(&rq->sr_compile, server_resume, conn);
		return MHD_YES;
	}
	metrics_add(s->s_metrics, SERVER_M_REQUESTS, reviewlog_labels(rq->sr_op, res.verdict), 1);
	if (res.warned)
		metrics_add(s->s_metrics, SERVER_M_WARNINGS, "", 1);
	reviewlog_line(ep, &res);
	if (res.profile_check)
		metrics_add(s->s_metrics, SERVER_M_PROFILE_CHECKS,
			    res.verdict == ADMISSION_VERDICT_DENY ? "verdict=\"deny\"" : "verdict=\"allow\"", 1);
	len = res.body.len;
	body = buf_steal(&res.body);
	buf_cleanup(&res.body);
	metrics_observe(s->s_metrics, SERVER_M_LATENCY,
			rq->sr_op == ADMISSION_MUTATE ? "endpoint=\"mutate\"" : "endpoint=\"validate\"",
			(double)(mono_ns() - rq->sr_start_ns) / 1e9);
	if (len <= SERVER_CORK_MAX)
		server_cork(rq, conn);
	if (!body)
		return server_send(s, conn, (unsigned int)res.http_status, "text/plain; charset=utf-8",
				   (char *)(uintptr_t) "", 0, false, NULL);
	return server_send(s, conn, (unsigned int)res.http_status,
			   res.content_type ? res.content_type : "application/json", body, len, true, NULL);
}

static enum MHD_Result server_handler(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
				      const char *version, const char *upload_data, size_t *upload_data_size,
				      void **con_cls)
{
	server *s = cls;
	server_req *rq = *con_cls;
	const char *ep;

	(void)version;
	if (!rq) {
		admission_op op = ADMISSION_MUTATE;

		rq = calloc(1, sizeof(*rq));
		if (!rq)
			return MHD_NO;
		server_attach_read(conn);
		rq->sr_start_ns = mono_ns();
		buf_init(&rq->sr_body, SERVER_BODY_MAX);
		*con_cls = rq;
		atomic_fetch_add(&s->s_in_flight, 1);
		metrics_add(s->s_metrics, SERVER_M_IN_FLIGHT, "", 1);
		ep = server_endpoint(s, url, &op, &rq->sr_mode);
		rq->sr_op = op;
		if (!ep)
			return server_reject(s, rq, conn, "other", MHD_HTTP_NOT_FOUND,
					     "not found: use /mutate, /validate or /validate/{deny,warn,off}\n", NULL);
		if (strcmp(method, MHD_HTTP_METHOD_POST) != 0)
			return server_reject(s, rq, conn, ep, MHD_HTTP_METHOD_NOT_ALLOWED,
					     "method not allowed: use POST\n", "POST");
		if (!server_json_type(MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_TYPE)))
			return server_reject(s, rq, conn, ep, MHD_HTTP_UNSUPPORTED_MEDIA_TYPE,
					     "unsupported content type: send application/json\n", NULL);
		if (server_length_too_big(
			    MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH)))
			return server_reject(s, rq, conn, ep, MHD_HTTP_CONTENT_TOO_LARGE, "request body over 3 MiB\n",
					     NULL);
		return server_hold_declared(s, rq, conn, ep);
	}
	if (rq->sr_answered) {
		/* A rejection is queued; drop whatever body still arrives. */
		*upload_data_size = 0;
		return MHD_YES;
	}
	if (*upload_data_size > 0) {
		size_t n = *upload_data_size;

		*upload_data_size = 0;
		return server_body_piece(s, rq, upload_data, n);
	}
	return server_answer(s, rq, conn);
}

static void server_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
			     enum MHD_RequestTerminationCode toe)
{
	server *s = cls;
	server_req *rq = *con_cls;

	(void)toe;
	if (!rq)
		return;
	if (rq->sr_tls)
		server_flush(s, conn, rq);
	buf_cleanup(&rq->sr_body);
	server_release(s, rq);
	compilepool_req_cleanup(&rq->sr_compile);
	free(rq);
	*con_cls = NULL;
	atomic_fetch_sub(&s->s_in_flight, 1);
	metrics_add(s->s_metrics, SERVER_M_IN_FLIGHT, "", -1);
}

static void server_conn_notify(void *cls, struct MHD_Connection *conn, void **socket_context,
			       enum MHD_ConnectionNotificationCode code)
{
	server *s = cls;
	server_conn *sc = *socket_context;

	if (code == MHD_CONNECTION_NOTIFY_STARTED) {
		const union MHD_ConnectionInfo *fi = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);

		/* NULL on OOM: the connection then keeps libmicrohttpd's cork. */
		sc = calloc(1, sizeof(server_conn));
		if (sc && fi) {
			sc->sc_server = s;
			connguard_add(s->s_guard, &sc->sc_guard, fi->connect_fd);
			sc->sc_guarded = true;
		}
		*socket_context = sc;
		return;
	}
	/* CLOSED: libmicrohttpd has ended the TLS session, the socket is still open. */
	if (sc) {
		if (sc->sc_guarded)
			connguard_done(s->s_guard, &sc->sc_guard);
		tlsread_detach(sc->sc_read);
	}
	free(sc);
	*socket_context = NULL;
}

/* printf-like (libmicrohttpd's messages), so clang's -Wformat-nonliteral accepts it. */
__attribute__((format(printf, 2, 0))) static void server_mhd_log(void *cls, const char *fmt, va_list ap)
{
	char line[512];
	size_t n;

	(void)cls;
	vsnprintf(line, sizeof(line), fmt, ap);
	n = strlen(line);
	while (n > 0 && line[n - 1] == '\n')
		line[--n] = '\0';
	/* Handshake failures from scanners and old clients are routine. */
	log_kv(LOG_LVL_DEBUG, "https server", "detail", line, (char *)NULL);
}

static struct MHD_Daemon *server_start_daemon(server *s, unsigned int flags, const server_opts *o,
					      const struct sockaddr *sa)
{
	unsigned int threads = o->threads;
	unsigned int peer = o->conns_per_peer ? o->conns_per_peer : SERVER_CONNS_PER_PEER;

	/* A pool of 1 is not allowed: a single internal thread then. */
	unsigned int pool = threads > 1 ? threads : 0;

	return MHD_start_daemon(flags, 0, NULL, NULL, server_handler, s, MHD_OPTION_EXTERNAL_LOGGER, server_mhd_log,
				NULL, MHD_OPTION_SOCK_ADDR, sa, MHD_OPTION_THREAD_POOL_SIZE, pool,
				MHD_OPTION_CONNECTION_LIMIT, (unsigned int)SERVER_CONN_LIMIT,
				MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)SERVER_CONN_POOL,
				MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)SERVER_CONN_TIMEOUT_S,
				MHD_OPTION_PER_IP_CONNECTION_LIMIT, peer, MHD_OPTION_NOTIFY_COMPLETED, server_completed,
				s, MHD_OPTION_NOTIFY_CONNECTION, server_conn_notify, s, MHD_OPTION_HTTPS_PRIORITIES,
				SERVER_TLS_PRIORITIES, MHD_OPTION_HTTPS_CERT_CALLBACK, certs_retrieve, MHD_OPTION_END);
}

server *server_start(const server_opts *opts, ag_err *err)
{
	server *s;
	struct sockaddr_storage ss;
	socklen_t sslen = 0;
	bool any = false;
	int port = 0;
	unsigned int base = MHD_USE_TLS | MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_ITC |
		MHD_USE_ERROR_LOG | MHD_USE_TURBO | (opts->compile ? MHD_ALLOW_SUSPEND_RESUME : 0);
	const union MHD_DaemonInfo *info;

	if (!opts->env)
		return err_set(err, EINVAL, "server: no admission environment"), NULL;
	memset(&ss, 0, sizeof(ss));
	if (config_resolve_listen(opts->listen, &ss, &sslen, &any, &port, err) != 0)
		return NULL;
	s = calloc(1, sizeof(*s));
	if (!s) {
		err_set(err, ENOMEM, "server: out of memory");
		return NULL;
	}
	s->s_guard = connguard_start(opts->handshake_timeout_s ? opts->handshake_timeout_s : SERVER_HANDSHAKE_TIMEOUT_S,
				     err);
	if (!s->s_guard) {
		free(s);
		return NULL;
	}
	if (tlsread_init(err) != 0) {
		connguard_stop(s->s_guard);
		free(s);
		return NULL;
	}
	s->s_env = opts->env;
	s->s_metrics = opts->metrics;
	s->s_bodies = opts->bodies;
	s->s_compile = opts->compile;
	atomic_init(&s->s_in_flight, 0);
	atomic_init(&s->s_closing, false);
	if (any) {
		s->s_daemon = server_start_daemon(s, base | MHD_USE_DUAL_STACK, opts, (const struct sockaddr *)&ss);
		if (!s->s_daemon) {
			struct sockaddr_in s4;

			memset(&s4, 0, sizeof(s4));
			s4.sin_family = AF_INET;
			s4.sin_addr.s_addr = htonl(INADDR_ANY);
			s4.sin_port = htons((uint16_t)port);
			s->s_daemon = server_start_daemon(s, base, opts, (const struct sockaddr *)&s4);
		}
	} else {
		s->s_daemon = server_start_daemon(s, base | (ss.ss_family == AF_INET6 ? MHD_USE_IPv6 : 0), opts,
						  (const struct sockaddr *)&ss);
	}
	if (!s->s_daemon) {
		err_set(err, EADDRINUSE, "cannot serve HTTPS on %s (address in use or not local?)", opts->listen);
		tlsread_cleanup();
		connguard_stop(s->s_guard);
		free(s);
		return NULL;
	}
	info = MHD_get_daemon_info(s->s_daemon, MHD_DAEMON_INFO_BIND_PORT);
	s->s_port = info ? (int)info->port : port;
	return s;
}

int server_port(const server *s)
{
	return s ? s->s_port : -1;
}

unsigned long server_in_flight(server *s)
{
	return atomic_load(&s->s_in_flight);
}

void server_quiesce(server *s)
{
	MHD_socket fd;

	if (!s || s->s_quiesced)
		return;
	s->s_quiesced = true;
	atomic_store(&s->s_closing, true);
	fd = MHD_quiesce_daemon(s->s_daemon);
	if (fd != MHD_INVALID_SOCKET)
		close(fd);
}

bool server_drain(server *s, long timeout_ms)
{
	int64_t t0 = mono_ms();
	int idle_ticks = 0;

	/* Idle for 200 ms in a row: a kept-alive client that sent one more
	 * review just before seeing Connection: close is answered too. */
	while (idle_ticks < 20) {
		if (mono_ms() - t0 >= timeout_ms)
			return false;
		idle_ticks = atomic_load(&s->s_in_flight) > 0 ? 0 : idle_ticks + 1;
		usleep(10 * 1000);
	}
	return true;
}

void server_stop(server *s)
{
	if (!s)
		return;
	if (s->s_daemon)
		MHD_stop_daemon(s->s_daemon);
	tlsread_cleanup();
	connguard_stop(s->s_guard);
	free(s);
}
