/* Unit tests of common/probe (shared by the webhook and the agent): the real
 * probe server on an ephemeral loopback port, spoken to on raw sockets so
 * that what a hostile or sloppy peer can send — HEAD, other methods with a
 * body, an oversized head, garbage, a silent connection — is tested too. */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "metrics.h"
#include "probe.h"

static int dial(int port)
{
	struct sockaddr_in sa;
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	cr_assert_geq(fd, 0);
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_port = htons((uint16_t)port);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	cr_assert_eq(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	return fd;
}

/* Sends req (len bytes) and reads the whole answer until the server closes. */
static void exchange(int port, const char *req, size_t len, char *out, size_t cap)
{
	int fd = dial(port);
	size_t got = 0;

	cr_assert_eq(send(fd, req, len, MSG_NOSIGNAL), (ssize_t)len);
	for (;;) {
		struct pollfd p = { fd, POLLIN, 0 };
		ssize_t r;

		cr_assert_eq(poll(&p, 1, 5000), 1, "the server did not answer within 5 s");
		r = recv(fd, out + got, cap - 1 - got, 0);
		if (r <= 0)
			break;
		got += (size_t)r;
		cr_assert_lt(got, cap - 1);
	}
	out[got] = '\0';
	close(fd);
}

/* exchange, asserting that the answer's status line starts with "HTTP/1.1 <status>". */
static void expect_status(int port, const char *req, size_t len, const char *status, char *out, size_t cap)
{
	char want[64];

	exchange(port, req, len, out, cap);
	snprintf(want, sizeof(want), "HTTP/1.1 %s", status);
	cr_assert(strncmp(out, want, strlen(want)) == 0, "want %s: %s", want, out);
}

static probe_server *srv;
static int port;

static bool never_ready(void *ud, char *why, size_t cap)
{
	(void)ud;
	snprintf(why, cap, "first reconcile pending");
	return false;
}

static void setup(void)
{
	ag_err err;

	srv = probe_server_start("127.0.0.1:0", NULL, never_ready, NULL, &err);
	cr_assert_not_null(srv, "%s", err.msg);
	port = probe_server_port(srv);
}

static void teardown(void)
{
	probe_server_stop(srv);
}

TestSuite(probe_raw, .init = setup, .fini = teardown);

Test(probe_raw, get_and_head)
{
	char out[4096];
	static const char get[] = "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n";
	static const char head[] = "HEAD /healthz HTTP/1.1\r\nHost: x\r\n\r\n";

	expect_status(port, get, sizeof(get) - 1, "200 OK\r\n", out, sizeof(out));
	cr_assert(strstr(out, "Content-Length: 3\r\n"), "%s", out);
	cr_assert(strstr(out, "Connection: close\r\n"), "%s", out);
	cr_assert(strstr(out, "\r\n\r\nok\n"), "%s", out);
	expect_status(port, head, sizeof(head) - 1, "200 OK\r\n", out, sizeof(out));
	cr_assert(strstr(out, "Content-Length: 3\r\n"), "%s", out);
	cr_assert(strstr(out, "\r\n\r\n")[4] == '\0', "HEAD must have no body: %s", out);
}

Test(probe_raw, readyz_query_and_bare_lf)
{
	char out[4096];
	static const char req[] = "GET /readyz?verbose=1 HTTP/1.0\n\n";

	expect_status(port, req, sizeof(req) - 1, "503 ", out, sizeof(out));
	cr_assert(strstr(out, "not ready: first reconcile pending\n"), "%s", out);
}

Test(probe_raw, post_with_body_is_405)
{
	char out[4096];
	char req[70000];
	int n = snprintf(req, sizeof(req), "POST /healthz HTTP/1.1\r\nContent-Length: 65000\r\n\r\n");

	memset(req + n, 'x', 65000);
	expect_status(port, req, (size_t)n + 65000, "405 ", out, sizeof(out));
	cr_assert(strstr(out, "Allow: GET, HEAD\r\n"), "%s", out);
}

Test(probe_raw, oversized_head_is_431)
{
	char out[4096];
	char req[20000];
	int n = snprintf(req, sizeof(req), "GET /healthz HTTP/1.1\r\nX-Pad: ");

	memset(req + n, 'a', sizeof(req) - (size_t)n);
	expect_status(port, req, sizeof(req), "431 ", out, sizeof(out));
}

Test(probe_raw, garbage)
{
	char out[4096];
	static const char junk[] = "\x16\x03\x01 hello\r\n\r\n";
	static const char v2[] = "GET /healthz HTTP/2.0\r\n\r\n";
	static const char nul[] = "GET /hea\0lthz HTTP/1.1\r\n\r\n";
	static const char lower[] = "get /healthz HTTP/1.1\r\n\r\n";

	expect_status(port, junk, sizeof(junk) - 1, "400 ", out, sizeof(out));
	expect_status(port, v2, sizeof(v2) - 1, "505 ", out, sizeof(out));
	expect_status(port, nul, sizeof(nul) - 1, "400 ", out, sizeof(out));
	expect_status(port, lower, sizeof(lower) - 1, "405 ", out, sizeof(out));
}

Test(probe_raw, silent_peers_do_not_block_others)
{
	char out[4096];
	int idle[8];
	static const char get[] = "GET /livez HTTP/1.1\r\n\r\n";
	static const char part[] = "GET /healthz HTTP/1.1\r\nHost:";

	for (int i = 0; i < 8; i++)
		idle[i] = dial(port);
	cr_assert_eq(send(idle[0], part, sizeof(part) - 1, MSG_NOSIGNAL), (ssize_t)(sizeof(part) - 1));
	expect_status(port, get, sizeof(get) - 1, "200 OK\r\n", out, sizeof(out));
	for (int i = 0; i < 8; i++)
		close(idle[i]);
}

Test(probe_raw, not_found_and_metrics_without_registry)
{
	char out[4096];
	static const char nf[] = "GET /../etc/passwd HTTP/1.1\r\n\r\n";
	static const char m[] = "GET /metrics HTTP/1.1\r\n\r\n";

	expect_status(port, nf, sizeof(nf) - 1, "404 ", out, sizeof(out));
	expect_status(port, m, sizeof(m) - 1, "500 ", out, sizeof(out));
}

static bool ready_flag;

static bool flag_ready(void *ud, char *why, size_t cap)
{
	(void)ud;
	if (!ready_flag)
		snprintf(why, cap, "node cache not synced");
	return ready_flag;
}

/* The readiness callback is asked per request, and /metrics renders the registry. */
Test(probe, ready_transition_and_metrics)
{
	char out[4096];
	static const char rz[] = "GET /readyz HTTP/1.1\r\n\r\n";
	static const char mx[] = "GET /metrics HTTP/1.1\r\n\r\n";
	ag_err err;
	metrics *m = metrics_new();
	probe_server *p;
	int pp;

	cr_assert_eq(metrics_define(m, "x_total", METRICS_COUNTER, "x", NULL, 0), 0);
	metrics_add(m, "x_total", "", 7);
	p = probe_server_start("127.0.0.1:0", m, flag_ready, NULL, &err);
	cr_assert_not_null(p, "%s", err.msg);
	pp = probe_server_port(p);
	cr_assert_gt(pp, 0);
	expect_status(pp, rz, sizeof(rz) - 1, "503 ", out, sizeof(out));
	cr_assert(strstr(out, "node cache not synced"), "%s", out);
	ready_flag = true;
	expect_status(pp, rz, sizeof(rz) - 1, "200 OK\r\n", out, sizeof(out));
	expect_status(pp, mx, sizeof(mx) - 1, "200 OK\r\n", out, sizeof(out));
	cr_assert(strstr(out, "x_total 7\n"), "%s", out);
	probe_server_stop(p);
	metrics_free(m);
}

Test(probe, bad_listen)
{
	ag_err err;

	cr_assert_null(probe_server_start("nonsense", NULL, NULL, NULL, &err));
	cr_assert_null(probe_server_start("127.0.0.1:99999", NULL, NULL, NULL, &err));
}
