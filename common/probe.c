/* probe: plain-HTTP liveness/readiness/metrics port (libmicrohttpd, one
 * internal polling thread). Trust boundary: anyone who can reach the port;
 * only GET/HEAD on three fixed paths, no request body is ever read, and
 * connections are limited and time out. */
#include "probe.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <microhttpd.h>

#include "log.h"

enum {
	PROBE_CONN_LIMIT = 64,
	PROBE_CONN_TIMEOUT_S = 10,
	PROBE_METRICS_MAX = 4u << 20, /* rendered /metrics page ceiling */
	PROBE_HOST_MAX = 256,
};

struct probe_server {
	struct MHD_Daemon *p_daemon;
	metrics *p_metrics;
	probe_ready_fn p_ready;
	void *p_ud;
	int p_port;
};

static enum MHD_Result probe_send(struct MHD_Connection *conn, unsigned int status, const char *ctype,
				  const char *body, size_t len, enum MHD_ResponseMemoryMode mode)
{
	struct MHD_Response *r;
	enum MHD_Result ret;

	r = MHD_create_response_from_buffer(len, (void *)(uintptr_t)body, mode);
	if (!r)
		return MHD_NO;
	(void)MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, ctype);
	(void)MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
	ret = MHD_queue_response(conn, status, r);
	MHD_destroy_response(r);
	return ret;
}

static enum MHD_Result probe_send_text(struct MHD_Connection *conn, unsigned int status, const char *text)
{
	return probe_send(conn, status, "text/plain; charset=utf-8", text, strlen(text), MHD_RESPMEM_MUST_COPY);
}

static enum MHD_Result probe_handler(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
				     const char *version, const char *upload_data, size_t *upload_data_size,
				     void **con_cls)
{
	probe_server *p = cls;

	(void)version;
	(void)upload_data;
	(void)con_cls;
	/* Never read a body: any upload is discarded by answering right away. */
	if (upload_data_size)
		*upload_data_size = 0;
	if (strcmp(method, MHD_HTTP_METHOD_GET) != 0 && strcmp(method, MHD_HTTP_METHOD_HEAD) != 0) {
		struct MHD_Response *r = MHD_create_response_from_buffer(
			strlen("method not allowed\n"), (void *)(uintptr_t) "method not allowed\n", MHD_RESPMEM_PERSISTENT);
		enum MHD_Result ret;

		if (!r)
			return MHD_NO;
		(void)MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, "GET, HEAD");
		ret = MHD_queue_response(conn, MHD_HTTP_METHOD_NOT_ALLOWED, r);
		MHD_destroy_response(r);
		return ret;
	}
	if (strcmp(url, "/healthz") == 0 || strcmp(url, "/livez") == 0)
		return probe_send_text(conn, MHD_HTTP_OK, "ok\n");
	if (strcmp(url, "/readyz") == 0) {
		char why[256] = "";
		char body[300];

		if (!p->p_ready || p->p_ready(p->p_ud, why, sizeof(why)))
			return probe_send_text(conn, MHD_HTTP_OK, "ok\n");
		why[sizeof(why) - 1] = '\0';
		snprintf(body, sizeof(body), "not ready: %s\n", why[0] ? why : "starting");
		return probe_send_text(conn, MHD_HTTP_SERVICE_UNAVAILABLE, body);
	}
	if (strcmp(url, "/metrics") == 0) {
		buf out;
		enum MHD_Result ret;
		size_t len;
		char *data;

		buf_init(&out, PROBE_METRICS_MAX);
		if (!p->p_metrics || metrics_render(p->p_metrics, &out) != 0) {
			buf_cleanup(&out);
			return probe_send_text(conn, MHD_HTTP_INTERNAL_SERVER_ERROR, "metrics unavailable\n");
		}
		len = out.len;
		data = buf_steal(&out);
		if (!data) /* an empty registry */
			return probe_send(conn, MHD_HTTP_OK, "text/plain; version=0.0.4; charset=utf-8", "", 0,
					  MHD_RESPMEM_PERSISTENT);
		ret = probe_send(conn, MHD_HTTP_OK, "text/plain; version=0.0.4; charset=utf-8", data, len,
				 MHD_RESPMEM_MUST_FREE);
		return ret;
	}
	return probe_send_text(conn, MHD_HTTP_NOT_FOUND, "not found\n");
}

/* "ADDR:PORT", "[V6]:PORT" or ":PORT" -> sockaddr; empty ADDR = any. */
static int probe_resolve(const char *listen, struct sockaddr_storage *ss, socklen_t *sslen, bool *any, int *port,
			 ag_err *err)
{
	char host[PROBE_HOST_MAX];
	const char *colon;
	size_t hlen;
	char *end;
	long pv;
	struct addrinfo hints;
	struct addrinfo *res = NULL;
	int gai;

	colon = listen ? strrchr(listen, ':') : NULL;
	if (!colon)
		return err_set(err, EINVAL, "listen address \"%s\" is not ADDR:PORT", listen ? listen : "");
	errno = 0;
	pv = strtol(colon + 1, &end, 10);
	if (colon[1] == '\0' || *end != '\0' || errno != 0 || pv < 0 || pv > 65535)
		return err_set(err, EINVAL, "listen address \"%s\": port must be 0..65535", listen);
	hlen = (size_t)(colon - listen);
	if (hlen >= 2 && listen[0] == '[' && listen[hlen - 1] == ']') {
		listen++;
		hlen -= 2;
	}
	if (hlen >= sizeof(host))
		return err_set(err, EINVAL, "listen address \"%s\": address too long", listen);
	memcpy(host, listen, hlen);
	host[hlen] = '\0';
	*port = (int)pv;
	*any = hlen == 0 || strcmp(host, "*") == 0;
	memset(ss, 0, sizeof(*ss));
	if (*any) {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;

		s6->sin6_family = AF_INET6;
		s6->sin6_addr = in6addr_any;
		s6->sin6_port = htons((uint16_t)pv);
		*sslen = sizeof(*s6);
		return 0;
	}
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE;
	gai = getaddrinfo(host, NULL, &hints, &res);
	if (gai != 0 || !res)
		return err_set(err, EINVAL, "listen address \"%s\": %s", host, gai_strerror(gai));
	memcpy(ss, res->ai_addr, res->ai_addrlen);
	ss->ss_family = (sa_family_t)res->ai_family;
	*sslen = res->ai_addrlen;
	if (ss->ss_family == AF_INET)
		((struct sockaddr_in *)ss)->sin_port = htons((uint16_t)pv);
	else
		((struct sockaddr_in6 *)ss)->sin6_port = htons((uint16_t)pv);
	freeaddrinfo(res);
	return 0;
}

/* libmicrohttpd's own diagnostics go through our JSON log. */
static void probe_mhd_log(void *cls, const char *fmt, va_list ap)
{
	char line[512];
	size_t n;

	(void)cls;
	vsnprintf(line, sizeof(line), fmt, ap);
	n = strlen(line);
	while (n > 0 && line[n - 1] == '\n')
		line[--n] = '\0';
	log_kv(LOG_LVL_WARN, "probe server", "detail", line, (char *)NULL);
}

static struct MHD_Daemon *probe_start_daemon(probe_server *p, unsigned int flags, const struct sockaddr *sa)
{
	return MHD_start_daemon(flags, 0, NULL, NULL, probe_handler, p, MHD_OPTION_EXTERNAL_LOGGER, probe_mhd_log, NULL,
				MHD_OPTION_SOCK_ADDR, sa,
				MHD_OPTION_CONNECTION_LIMIT, (unsigned int)PROBE_CONN_LIMIT,
				MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)PROBE_CONN_TIMEOUT_S,
				MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)(32u << 10), MHD_OPTION_END);
}

probe_server *probe_server_start(const char *listen, metrics *m, probe_ready_fn ready, void *ud, ag_err *err)
{
	probe_server *p;
	struct sockaddr_storage ss;
	socklen_t sslen = 0;
	bool any = false;
	int port = 0;
	unsigned int base = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_AUTO | MHD_USE_ERROR_LOG;
	const union MHD_DaemonInfo *info;

	memset(&ss, 0, sizeof(ss));
	if (probe_resolve(listen, &ss, &sslen, &any, &port, err) != 0)
		return NULL;
	p = calloc(1, sizeof(*p));
	if (!p) {
		err_set(err, ENOMEM, "probe server: out of memory");
		return NULL;
	}
	p->p_metrics = m;
	p->p_ready = ready;
	p->p_ud = ud;
	if (any) {
		/* Both families when the host has IPv6; plain IPv4 otherwise. */
		p->p_daemon = probe_start_daemon(p, base | MHD_USE_DUAL_STACK, (const struct sockaddr *)&ss);
		if (!p->p_daemon) {
			struct sockaddr_in s4;

			memset(&s4, 0, sizeof(s4));
			s4.sin_family = AF_INET;
			s4.sin_addr.s_addr = htonl(INADDR_ANY);
			s4.sin_port = htons((uint16_t)port);
			p->p_daemon = probe_start_daemon(p, base, (const struct sockaddr *)&s4);
		}
	} else {
		p->p_daemon = probe_start_daemon(p, base | (ss.ss_family == AF_INET6 ? MHD_USE_IPv6 : 0),
						 (const struct sockaddr *)&ss);
	}
	if (!p->p_daemon) {
		err_set(err, EADDRINUSE, "probe server: cannot listen on %s (address in use or not local?)", listen);
		free(p);
		return NULL;
	}
	info = MHD_get_daemon_info(p->p_daemon, MHD_DAEMON_INFO_BIND_PORT);
	p->p_port = info ? (int)info->port : port;
	return p;
}

int probe_server_port(const probe_server *p)
{
	return p ? p->p_port : -1;
}

void probe_server_stop(probe_server *p)
{
	if (!p)
		return;
	if (p->p_daemon)
		MHD_stop_daemon(p->p_daemon);
	free(p);
}
