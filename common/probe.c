/* probe: plain-HTTP liveness/readiness/metrics port. A deliberately tiny
 * HTTP/1.1 server (one thread, poll(), Connection: close) instead of a
 * library: the agent must stay small, and a general HTTP stack would map
 * a TLS library into it for a port that never speaks TLS.
 * Trust boundary: anyone who can reach the port. Only GET/HEAD on fixed
 * paths; the request head is bounded (PROBE_HEAD_MAX, else 431), a body is
 * never read (discarded while closing), connections are limited
 * (PROBE_CONN_LIMIT, PROBE_CONNS_PER_PEER from one address) and time out
 * (PROBE_CONN_TIMEOUT_S from accept to close). A new connection over either
 * limit replaces the oldest one still waiting for its request (of its own
 * address when that one holds its share), so idle connections cannot keep
 * the kubelet's probe out: it sends its request at once. */
#include "probe.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "config.h"
#include "log.h"
#include "mono.h"

enum {
	PROBE_CONN_LIMIT = 64,
	PROBE_CONNS_PER_PEER = 8,
	PROBE_CONN_TIMEOUT_S = 10,
	PROBE_LINGER_MS = 1000,       /* after answering: drain the peer's unread bytes this long at most */
	PROBE_HEAD_MAX = 8192,        /* request line + headers ceiling */
	PROBE_METRICS_MAX = 4u << 20, /* rendered /metrics page ceiling */
	PROBE_BACKLOG = 64,
};

typedef enum { PC_FREE, PC_READ, PC_WRITE, PC_LINGER } probe_conn_state;

typedef struct probe_conn {
	int fd;
	probe_conn_state state;
	unsigned char peer[16]; /* client address (IPv4-mapped for IPv4) */
	long long deadline_ms;  /* monotonic */
	size_t in_len;
	char in[PROBE_HEAD_MAX + 1];
	char *out; /* malloc'd response (head + body) */
	size_t out_len;
	size_t out_off;
} probe_conn;

struct probe_server {
	int p_listen;
	int p_wake[2]; /* self-pipe: probe_server_stop wakes the thread */
	pthread_t p_thread;
	metrics *p_metrics;
	probe_ready_fn p_ready;
	void *p_ud;
	int p_port;
	probe_conn p_conns[PROBE_CONN_LIMIT];
};

static const char *probe_reason(int status)
{
	switch (status) {
	case 200: return "OK";
	case 400: return "Bad Request";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 408: return "Request Timeout";
	case 431: return "Request Header Fields Too Large";
	case 500: return "Internal Server Error";
	case 503: return "Service Unavailable";
	case 505: return "HTTP Version Not Supported";
	default: return "Error";
	}
}

/* Builds the whole response in c->out; the body is left out for HEAD.
 * Returns -1 only when out of memory (the connection is then dropped). */
static int probe_respond(probe_conn *c, int status, const char *ctype, const char *body, size_t len, bool head_only)
{
	char head[512];
	int hn;

	hn = snprintf(head, sizeof(head),
		      "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nCache-Control: no-store\r\n%sContent-Length: %zu\r\n"
		      "Connection: close\r\n\r\n",
		      status, probe_reason(status), ctype, status == 405 ? "Allow: GET, HEAD\r\n" : "", len);
	if (hn < 0 || (size_t)hn >= sizeof(head))
		return -1;
	if (head_only)
		len = 0;
	c->out = malloc((size_t)hn + len + 1);
	if (!c->out)
		return -1;
	memcpy(c->out, head, (size_t)hn);
	if (len)
		memcpy(c->out + hn, body, len);
	c->out_len = (size_t)hn + len;
	c->out_off = 0;
	c->state = PC_WRITE;
	return 0;
}

static int probe_respond_text(probe_conn *c, int status, const char *text, bool head_only)
{
	return probe_respond(c, status, "text/plain; charset=utf-8", text, strlen(text), head_only);
}

/* Finds the end of the request head (CRLF CRLF, or bare LF LF as many
 * servers accept); returns the offset just past it or 0. */
static size_t probe_head_end(const char *p, size_t n)
{
	for (size_t i = 0; i + 1 < n; i++) {
		if (p[i] != '\n')
			continue;
		if (p[i + 1] == '\n')
			return i + 2;
		if (i + 2 < n && p[i + 1] == '\r' && p[i + 2] == '\n')
			return i + 3;
	}
	return 0;
}

/* One complete request head in c->in: route it. */
static int probe_route(probe_server *p, probe_conn *c)
{
	char *line = c->in;
	char *eol = strpbrk(line, "\r\n");
	char *sp1, *sp2, *target, *q;
	bool head_only;

	if (!eol)
		return probe_respond_text(c, 400, "bad request\n", false);
	*eol = '\0';
	sp1 = strchr(line, ' ');
	sp2 = sp1 ? strchr(sp1 + 1, ' ') : NULL;
	if (!sp1 || !sp2 || sp1 == line || sp2 == sp1 + 1 || strchr(sp2 + 1, ' '))
		return probe_respond_text(c, 400, "bad request\n", false);
	*sp1 = '\0';
	*sp2 = '\0';
	target = sp1 + 1;
	if (strncmp(sp2 + 1, "HTTP/1.", 7) != 0 || (sp2[8] != '0' && sp2[8] != '1') || sp2[9] != '\0')
		return probe_respond_text(c, strncmp(sp2 + 1, "HTTP/", 5) == 0 ? 505 : 400,
					  "only HTTP/1.0 and HTTP/1.1\n", false);
	head_only = strcmp(line, "HEAD") == 0;
	if (!head_only && strcmp(line, "GET") != 0)
		return probe_respond_text(c, 405, "method not allowed\n", false);
	q = strchr(target, '?'); /* a query string selects nothing here */
	if (q)
		*q = '\0';
	if (strcmp(target, "/healthz") == 0 || strcmp(target, "/livez") == 0)
		return probe_respond_text(c, 200, "ok\n", head_only);
	if (strcmp(target, "/readyz") == 0) {
		char why[256] = "";
		char body[300];

		if (!p->p_ready || p->p_ready(p->p_ud, why, sizeof(why)))
			return probe_respond_text(c, 200, "ok\n", head_only);
		why[sizeof(why) - 1] = '\0';
		snprintf(body, sizeof(body), "not ready: %s\n", why[0] ? why : "starting");
		return probe_respond_text(c, 503, body, head_only);
	}
	if (strcmp(target, "/metrics") == 0) {
		buf out;
		int rc;

		buf_init(&out, PROBE_METRICS_MAX);
		if (!p->p_metrics || metrics_render(p->p_metrics, &out) != 0) {
			buf_cleanup(&out);
			return probe_respond_text(c, 500, "metrics unavailable\n", head_only);
		}
		rc = probe_respond(c, 200, "text/plain; version=0.0.4; charset=utf-8", out.len ? buf_cstr(&out) : "",
				   out.len, head_only);
		buf_cleanup(&out);
		return rc;
	}
	return probe_respond_text(c, 404, "not found\n", head_only);
}

static void probe_conn_close(probe_conn *c)
{
	if (c->fd >= 0)
		(void)close(c->fd);
	free(c->out);
	c->fd = -1;
	c->out = NULL;
	c->out_len = c->out_off = 0;
	c->in_len = 0;
	c->state = PC_FREE;
}

/* The response is out: stop sending and discard whatever the peer still
 * sends (closing with unread bytes would reset the connection and could
 * destroy the response before the peer reads it). */
static void probe_conn_linger(probe_conn *c)
{
	long long until = mono_ms() + PROBE_LINGER_MS;

	(void)shutdown(c->fd, SHUT_WR);
	c->state = PC_LINGER;
	free(c->out);
	c->out = NULL;
	if (until < c->deadline_ms)
		c->deadline_ms = until;
}

static void probe_conn_readable(probe_server *p, probe_conn *c)
{
	for (;;) {
		char scratch[4096];
		char *dst = c->state == PC_READ ? c->in + c->in_len : scratch;
		size_t room = c->state == PC_READ ? PROBE_HEAD_MAX - c->in_len : sizeof(scratch);
		ssize_t r;

		if (c->state == PC_READ && room == 0) {
			if (probe_respond_text(c, 431, "request head over 8 KiB\n", false) != 0)
				probe_conn_close(c);
			return;
		}
		r = recv(c->fd, dst, room, 0);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0 && errno == EAGAIN)
			return;
		if (r <= 0) { /* peer closed or error: nothing more to do */
			probe_conn_close(c);
			return;
		}
		if (c->state != PC_READ)
			continue; /* lingering: discard */
		c->in_len += (size_t)r;
		c->in[c->in_len] = '\0';
		if (memchr(c->in, '\0', c->in_len)) {
			if (probe_respond_text(c, 400, "bad request\n", false) != 0)
				probe_conn_close(c);
			return;
		}
		if (probe_head_end(c->in, c->in_len)) {
			if (probe_route(p, c) != 0)
				probe_conn_close(c);
			return;
		}
	}
}

static void probe_conn_writable(probe_conn *c)
{
	while (c->out_off < c->out_len) {
		ssize_t w = send(c->fd, c->out + c->out_off, c->out_len - c->out_off, MSG_NOSIGNAL);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && errno == EAGAIN)
			return;
		if (w <= 0) {
			probe_conn_close(c);
			return;
		}
		c->out_off += (size_t)w;
	}
	probe_conn_linger(c);
}

/* The peer's address as 16 bytes (IPv4 as ::ffff:a.b.c.d). */
static void probe_peer_key(const struct sockaddr_storage *ss, unsigned char out[16])
{
	memset(out, 0, 16);
	if (ss->ss_family == AF_INET6) {
		memcpy(out, &((const struct sockaddr_in6 *)ss)->sin6_addr, 16);
	} else if (ss->ss_family == AF_INET) {
		out[10] = out[11] = 0xff;
		memcpy(out + 12, &((const struct sockaddr_in *)ss)->sin_addr, 4);
	}
}

/* A slot for a new connection from peer: a free one, else the oldest
 * connection still reading its request (closed: a request the kubelet sends
 * at once is never the oldest). Past PROBE_CONNS_PER_PEER only that peer's
 * own connections are candidates. NULL: none (all answering). */
static probe_conn *probe_slot(probe_server *p, const unsigned char peer[16])
{
	probe_conn *free_slot = NULL;
	probe_conn *oldest = NULL;
	probe_conn *oldest_own = NULL;
	size_t own = 0;

	for (size_t i = 0; i < PROBE_CONN_LIMIT; i++) {
		probe_conn *c = &p->p_conns[i];
		bool mine = c->state != PC_FREE && memcmp(c->peer, peer, 16) == 0;

		own += mine;
		if (c->state == PC_FREE && !free_slot)
			free_slot = c;
		if (c->state != PC_READ)
			continue;
		if (!oldest || c->deadline_ms < oldest->deadline_ms)
			oldest = c;
		if (mine && (!oldest_own || c->deadline_ms < oldest_own->deadline_ms))
			oldest_own = c;
	}
	if (own >= PROBE_CONNS_PER_PEER)
		oldest = oldest_own;
	else if (free_slot)
		return free_slot;
	if (oldest)
		probe_conn_close(oldest);
	return oldest;
}

static void probe_accept(probe_server *p)
{
	for (;;) {
		struct sockaddr_storage ss;
		socklen_t sl = sizeof(ss);
		unsigned char peer[16];
		probe_conn *slot;
		int fd;

		memset(&ss, 0, sizeof(ss));
		fd = accept4(p->p_listen, (struct sockaddr *)&ss, &sl, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0)
			return; /* EAGAIN, or a transient error (EMFILE, ECONNABORTED): poll again */
		probe_peer_key(&ss, peer);
		slot = probe_slot(p, peer);
		if (!slot) {
			(void)close(fd); /* every candidate slot is answering */
			continue;
		}
		memcpy(slot->peer, peer, 16);
		slot->fd = fd;
		slot->state = PC_READ;
		slot->in_len = 0;
		slot->in[0] = '\0';
		slot->deadline_ms = mono_ms() + PROBE_CONN_TIMEOUT_S * 1000LL;
	}
}

static void *probe_thread(void *arg)
{
	probe_server *p = arg;
	struct pollfd pfd[PROBE_CONN_LIMIT + 2];
	probe_conn *owner[PROBE_CONN_LIMIT + 2];

	for (;;) {
		size_t n = 0;
		long long now = mono_ms();
		long long next = -1;
		int timeout;
		int pr;

		pfd[n].fd = p->p_wake[0];
		pfd[n].events = POLLIN;
		owner[n++] = NULL;
		for (size_t i = 0; i < PROBE_CONN_LIMIT; i++) {
			probe_conn *c = &p->p_conns[i];

			if (c->state == PC_FREE)
				continue;
			if (now >= c->deadline_ms) {
				probe_conn_close(c); /* slow or silent peer: no answer owed */
				continue;
			}
			if (next < 0 || c->deadline_ms < next)
				next = c->deadline_ms;
			pfd[n].fd = c->fd;
			pfd[n].events = c->state == PC_WRITE ? POLLOUT : POLLIN;
			owner[n++] = c;
		}
		/* Always accepting: a full table makes room (probe_slot). */
		pfd[n].fd = p->p_listen;
		pfd[n].events = POLLIN;
		owner[n++] = NULL;
		timeout = next < 0 ? -1 : (int)(next - now);
		pr = poll(pfd, n, timeout);
		if (pr < 0) {
			if (errno == EINTR)
				continue;
			log_kv(LOG_LVL_ERROR, "probe server poll failed", "error", strerror(errno), (char *)NULL);
			return NULL;
		}
		if (pfd[0].revents)
			return NULL; /* probe_server_stop */
		for (size_t i = 1; i < n; i++) {
			probe_conn *c = owner[i];

			if (!pfd[i].revents || (c && c->state == PC_FREE))
				continue;
			if (!c) {
				probe_accept(p);
				continue;
			}
			if (c->state == PC_WRITE)
				probe_conn_writable(c);
			else
				probe_conn_readable(p, c);
			/* A request answered right away: try to send without another poll round. */
			if (c->state == PC_WRITE)
				probe_conn_writable(c);
		}
	}
}

static int probe_listen_on(const struct sockaddr *sa, socklen_t len, bool dual, ag_err *err)
{
	int one = 1;
	int zero = 0;
	int fd = socket(sa->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return err_set(err, errno, "probe server: socket: %s", strerror(errno));
	(void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (sa->sa_family == AF_INET6)
		(void)setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, dual ? &zero : &one, sizeof(int));
	if (bind(fd, sa, len) != 0 || listen(fd, PROBE_BACKLOG) != 0) {
		int e = errno;

		(void)close(fd);
		return err_set(err, e, "probe server: %s", strerror(e));
	}
	return fd;
}

probe_server *probe_server_start(const char *listen, metrics *m, probe_ready_fn ready, void *ud, ag_err *err)
{
	probe_server *p;
	struct sockaddr_storage ss;
	socklen_t sslen = 0;
	bool any = false;
	int port = 0;
	ag_err lerr;

	memset(&ss, 0, sizeof(ss));
	if (config_resolve_listen(listen, &ss, &sslen, &any, &port, err) != 0)
		return NULL;
	p = calloc(1, sizeof(*p));
	if (!p) {
		err_set(err, ENOMEM, "probe server: out of memory");
		return NULL;
	}
	p->p_metrics = m;
	p->p_ready = ready;
	p->p_ud = ud;
	p->p_wake[0] = p->p_wake[1] = -1;
	for (size_t i = 0; i < PROBE_CONN_LIMIT; i++)
		p->p_conns[i].fd = -1;
	err_clear(&lerr);
	p->p_listen = probe_listen_on((const struct sockaddr *)&ss, sslen, any, &lerr);
	if (p->p_listen < 0 && any) {
		/* Both families when the host has IPv6; plain IPv4 otherwise. */
		struct sockaddr_in s4;

		memset(&s4, 0, sizeof(s4));
		s4.sin_family = AF_INET;
		s4.sin_addr.s_addr = htonl(INADDR_ANY);
		s4.sin_port = htons((uint16_t)port);
		p->p_listen = probe_listen_on((const struct sockaddr *)&s4, sizeof(s4), false, &lerr);
	}
	if (p->p_listen < 0) {
		err_set(err, lerr.code ? lerr.code : EADDRINUSE, "probe server: cannot listen on %s: %s", listen,
			lerr.msg);
		goto fail;
	}
	{
		struct sockaddr_storage bound;
		socklen_t blen = sizeof(bound);

		if (getsockname(p->p_listen, (struct sockaddr *)&bound, &blen) == 0)
			p->p_port = bound.ss_family == AF_INET ? ntohs(((struct sockaddr_in *)&bound)->sin_port)
							       : ntohs(((struct sockaddr_in6 *)&bound)->sin6_port);
		else
			p->p_port = port;
	}
	if (pipe2(p->p_wake, O_CLOEXEC | O_NONBLOCK) != 0) {
		err_set(err, errno, "probe server: pipe: %s", strerror(errno));
		goto fail;
	}
	if (pthread_create(&p->p_thread, NULL, probe_thread, p) != 0) {
		err_set(err, EAGAIN, "probe server: cannot start its thread");
		goto fail;
	}
	return p;
fail:
	if (p->p_listen >= 0)
		(void)close(p->p_listen);
	if (p->p_wake[0] >= 0)
		(void)close(p->p_wake[0]);
	if (p->p_wake[1] >= 0)
		(void)close(p->p_wake[1]);
	free(p);
	return NULL;
}

int probe_server_port(const probe_server *p)
{
	return p ? p->p_port : -1;
}

void probe_server_stop(probe_server *p)
{
	char one = 1;

	if (!p)
		return;
	while (write(p->p_wake[1], &one, 1) < 0 && errno == EINTR)
		;
	pthread_join(p->p_thread, NULL);
	for (size_t i = 0; i < PROBE_CONN_LIMIT; i++)
		if (p->p_conns[i].state != PC_FREE)
			probe_conn_close(&p->p_conns[i]);
	(void)close(p->p_listen);
	(void)close(p->p_wake[0]);
	(void)close(p->p_wake[1]);
	free(p);
}
