/* Unit tests of the HTTP layer and the informer against a scripted fake API
 * server on 127.0.0.1 (plain HTTP): the exact request sequence of list ->
 * watch -> 410 -> relist -> resume, garbage and over-long watch lines,
 * error bodies, metadata-only Accept headers and a prompt stop. */
#include <criterion/criterion.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "kube.h"

enum { FK_MAX = 16 };

typedef struct fk_resp {
	int status;          /* 0 = end of script */
	const char *body;    /* sent with Content-Length unless stream */
	bool stream;         /* no Content-Length: body until close */
	size_t junk;         /* stream: this many 'x' bytes after body, no newline */
	bool hang;           /* stream: send headers, then wait for the client to close */
} fk_resp;

typedef struct fake {
	int lfd;
	int port;
	pthread_t th;
	const fk_resp *script;
	char req[FK_MAX][1024];   /* request lines */
	char accept[FK_MAX][256];
	int nreq;
	pthread_mutex_t mu;
} fake;

static void fk_write_all(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = send(fd, p, n, MSG_NOSIGNAL);

		if (w <= 0)
			return;
		p += w;
		n -= (size_t)w;
	}
}

/* Reads the request head (and discards any body: our script has none for GET). */
static int fk_read_head(int fd, char *head, size_t cap)
{
	size_t n = 0;

	while (n + 1 < cap) {
		ssize_t r = recv(fd, head + n, cap - 1 - n, 0);

		if (r <= 0)
			return -1;
		n += (size_t)r;
		head[n] = '\0';
		if (strstr(head, "\r\n\r\n"))
			return 0;
	}
	return -1;
}

static void *fk_main(void *arg)
{
	fake *f = arg;
	static char head[16384];

	for (int i = 0; f->script[i].status; i++) {
		const fk_resp *r = &f->script[i];
		int fd = accept(f->lfd, NULL, NULL);
		char hdr[512];
		char *eol;
		char *acc;

		if (fd < 0)
			return NULL;
		if (fk_read_head(fd, head, sizeof(head)) < 0) {
			close(fd);
			return NULL;
		}
		pthread_mutex_lock(&f->mu);
		eol = strstr(head, "\r\n");
		snprintf(f->req[f->nreq], sizeof(f->req[0]), "%.*s", (int)(eol - head), head);
		acc = strstr(head, "Accept: ");
		if (acc)
			snprintf(f->accept[f->nreq], sizeof(f->accept[0]), "%.*s", (int)strcspn(acc + 8, "\r\n"), acc + 8);
		f->nreq++;
		pthread_mutex_unlock(&f->mu);
		if (r->stream)
			snprintf(hdr, sizeof(hdr),
				 "HTTP/1.1 %d X\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n", r->status);
		else
			snprintf(hdr, sizeof(hdr),
				 "HTTP/1.1 %d X\r\nContent-Type: application/json\r\nConnection: close\r\n"
				 "Content-Length: %zu\r\n\r\n",
				 r->status, strlen(r->body));
		fk_write_all(fd, hdr, strlen(hdr));
		fk_write_all(fd, r->body, strlen(r->body));
		if (r->junk) {
			char *j = malloc(r->junk);

			memset(j, 'x', r->junk);
			fk_write_all(fd, j, r->junk);
			free(j);
		}
		if (r->hang) {
			char b[64];

			while (recv(fd, b, sizeof(b), 0) > 0)
				;
		}
		close(fd);
	}
	return NULL;
}

static void fk_start(fake *f, const fk_resp *script)
{
	struct sockaddr_in a;
	socklen_t al = sizeof(a);

	memset(f, 0, sizeof(*f));
	pthread_mutex_init(&f->mu, NULL);
	f->script = script;
	f->lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	cr_assert_geq(f->lfd, 0);
	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	cr_assert_eq(bind(f->lfd, (struct sockaddr *)&a, sizeof(a)), 0);
	cr_assert_eq(listen(f->lfd, 8), 0);
	cr_assert_eq(getsockname(f->lfd, (struct sockaddr *)&a, &al), 0);
	f->port = ntohs(a.sin_port);
	cr_assert_eq(pthread_create(&f->th, NULL, fk_main, f), 0);
}

static void fk_stop(fake *f)
{
	shutdown(f->lfd, SHUT_RDWR);
	close(f->lfd);
	pthread_join(f->th, NULL);
}

static kube_client *fk_client(fake *f)
{
	kube_config cfg;
	char url[64];
	ag_err e;
	kube_client *c;

	memset(&cfg, 0, sizeof(cfg));
	snprintf(url, sizeof(url), "http://127.0.0.1:%d", f->port);
	cfg.server = url;
	c = kube_client_new(&cfg, &e);
	cr_assert_not_null(c, "%s", e.msg);
	return c;
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

Test(fake_http, error_bodies)
{
	static const fk_resp script[] = {
		{ 500, "oops\nsecond line", false, 0, false },
		{ 404, "{\"kind\":\"Status\",\"message\":\"nodes \\\"x\\\" not found\",\"code\":404}", false, 0, false },
		{ 200, "not json", false, 0, false },
		{ 0, NULL, false, 0, false },
	};
	fake f;
	kube_client *c;
	cJSON *o = NULL;
	ag_err e;

	fk_start(&f, script);
	c = fk_client(&f);
	cr_assert_eq(kube_get(c, "/api/v1/a", &o, &e), -1);
	cr_assert_eq(e.http_status, 500);
	cr_assert_str_eq(e.msg, "500 Internal Server Error: oops second line");
	cr_assert_eq(kube_get(c, "/api/v1/nodes/x", &o, &e), -1);
	cr_assert_eq(e.http_status, 404);
	cr_assert_eq(e.code, ENOENT);
	cr_assert_str_eq(e.msg, "404 Not Found: nodes \"x\" not found");
	cr_assert_eq(kube_get(c, "/api/v1/b", &o, &e), -1);
	cr_assert(strstr(e.msg, "not JSON"), "%s", e.msg);
	cr_assert_eq(kube_get(c, "no-slash", &o, &e), -1);
	kube_client_free(c);
	fk_stop(&f);
	cr_assert_eq(f.nreq, 3);
	cr_assert_str_eq(f.req[0], "GET /api/v1/a HTTP/1.1");
	cr_assert_str_eq(f.accept[0], "application/json");
}

typedef struct inf {
	int replaces;
	int added;
	int connected;
	char last_item[64];
	char reasons[512];
	volatile sig_atomic_t stop;
	kube_client *c;
	kube_informer_opts o;
	kube_informer_stats st;
	pthread_mutex_t mu;
} inf;

static void i_replace(void *ud, const cJSON *items, const char *rv)
{
	inf *s = ud;

	pthread_mutex_lock(&s->mu);
	s->replaces++;
	snprintf(s->last_item, sizeof(s->last_item), "%d@%s", cJSON_GetArraySize(items), rv ? rv : "");
	pthread_mutex_unlock(&s->mu);
}

static void i_event(void *ud, kube_event_type t, const cJSON *obj)
{
	inf *s = ud;

	pthread_mutex_lock(&s->mu);
	if (t == KUBE_EVENT_ADDED)
		s->added++;
	pthread_mutex_unlock(&s->mu);
}

static void i_state(void *ud, bool connected, const char *why)
{
	inf *s = ud;
	size_t l;

	pthread_mutex_lock(&s->mu);
	s->connected = connected;
	l = strlen(s->reasons);
	snprintf(s->reasons + l, sizeof(s->reasons) - l, "%s;", connected ? "up" : why);
	pthread_mutex_unlock(&s->mu);
}

static void *i_run(void *ud)
{
	inf *s = ud;
	ag_err e;

	cr_assert_eq(kube_informer_run(s->c, &s->o, &s->st, &e), 0, "%s", e.msg);
	return NULL;
}

Test(fake_http, informer_410_relist_resume_and_stop, .timeout = 60)
{
	static fk_resp script[] = {
		{ 200, "{\"metadata\":{\"resourceVersion\":\"10\"},\"items\":[{\"metadata\":{\"name\":\"a\"}}]}", false, 0, false },
		{ 410, "{\"kind\":\"Status\",\"code\":410,\"message\":\"too old resource version\"}", false, 0, false },
		{ 200, "{\"metadata\":{\"resourceVersion\":\"20\"},\"items\":[{\"metadata\":{\"name\":\"a\"}},{\"metadata\":{\"name\":\"b\"}}]}",
		  false, 0, false },
		{ 200,
		  "{\"type\":\"ADDED\",\"object\":{\"metadata\":{\"name\":\"c\",\"resourceVersion\":\"21\"}}}\n"
		  "{\"type\":\"BOOKMARK\",\"object\":{\"metadata\":{\"resourceVersion\":\"25\"}}}\n"
		  "garbage\n",
		  true, 0, false },
		{ 200, "", true, (size_t)KUBE_WATCH_LINE_MAX + 10, false },
		{ 200,
		  "{\"type\":\"ERROR\",\"object\":{\"kind\":\"Status\",\"code\":410,\"reason\":\"Expired\",\"message\":\"too old\"}}\n",
		  true, 0, false },
		{ 200, "{\"metadata\":{\"resourceVersion\":\"30\"},\"items\":[]}", false, 0, false },
		{ 200, "", true, 0, true },
		{ 0, NULL, false, 0, false },
	};
	fake f;
	inf s;
	pthread_t th;
	double t0;
	double stop_t;

	fk_start(&f, script);
	memset(&s, 0, sizeof(s));
	pthread_mutex_init(&s.mu, NULL);
	s.c = fk_client(&f);
	kube_client_set_stop_flag(s.c, &s.stop);
	s.o = (kube_informer_opts){ .collection_path = "/api/v1/nodes",
				    .list = { .metadata_only = true, .label_selector = "a=b" },
				    .on_replace = i_replace,
				    .on_event = i_event,
				    .on_state = i_state,
				    .ud = &s,
				    .watch_timeout_s = 5 };
	cr_assert_eq(pthread_create(&th, NULL, i_run, &s), 0);
	t0 = now_s();
	for (;;) {
		int n;

		pthread_mutex_lock(&f.mu);
		n = f.nreq;
		pthread_mutex_unlock(&f.mu);
		if (n == 8)
			break;
		cr_assert_lt(now_s() - t0, 30, "stuck after %d requests", n);
		usleep(10000);
	}
	usleep(200000);
	stop_t = now_s();
	s.stop = 1;
	pthread_join(th, NULL);
	cr_assert_lt(now_s() - stop_t, 2.0, "stop took %.2fs", now_s() - stop_t);
	kube_client_free(s.c);
	fk_stop(&f);

	for (int i = 0; i < 8; i++)
		fprintf(stderr, "req %d: %s\n", i, f.req[i]);
	cr_assert_str_eq(f.req[0], "GET /api/v1/nodes?labelSelector=a%3Db HTTP/1.1");
	cr_assert_str_eq(f.accept[0], "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1,application/json");
	cr_assert_str_eq(f.req[1],
			 "GET /api/v1/nodes?labelSelector=a%3Db&watch=true&allowWatchBookmarks=true&timeoutSeconds=5"
			 "&resourceVersion=10 HTTP/1.1");
	cr_assert_str_eq(f.accept[1], "application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1,application/json");
	cr_assert(strstr(f.req[2], "watch") == NULL, "HTTP 410 not followed by a relist: %s", f.req[2]);
	cr_assert(strstr(f.req[3], "&resourceVersion=20 "), "%s", f.req[3]);
	cr_assert(strstr(f.req[4], "&resourceVersion=25 "), "garbage line: not resumed from the bookmark: %s", f.req[4]);
	cr_assert(strstr(f.req[5], "&resourceVersion=25 "), "over-long line: %s", f.req[5]);
	cr_assert(strstr(f.req[6], "watch") == NULL, "ERROR 410 not followed by a relist: %s", f.req[6]);
	cr_assert(strstr(f.req[7], "&resourceVersion=30 "), "%s", f.req[7]);
	cr_assert_eq(s.replaces, 3);
	cr_assert_str_eq(s.last_item, "0@30");
	cr_assert_eq(s.added, 1);
	cr_assert_eq(s.st.relists, 2);
	cr_assert_eq(s.st.events, 1);
	cr_assert(strstr(s.reasons, "not a JSON object"), "%s", s.reasons);
	cr_assert(strstr(s.reasons, "event line over the 16777216 byte limit"), "%s", s.reasons);
}

Test(fake_http, stopped_client_returns_at_once)
{
	kube_config cfg;
	kube_client *c;
	volatile sig_atomic_t stop = 1;
	cJSON *o = NULL;
	ag_err e;

	memset(&cfg, 0, sizeof(cfg));
	cfg.server = (char *)(uintptr_t) "http://127.0.0.1:1";
	c = kube_client_new(&cfg, &e);
	kube_client_set_stop_flag(c, &stop);
	cr_assert_eq(kube_get(c, "/api", &o, &e), -1);
	cr_assert_eq(e.code, ECANCELED);
	kube_client_free(c);
}

Test(fake_http, response_ceiling, .timeout = 60)
{
	static const fk_resp script[] = {
		{ 200, "[", true, (size_t)KUBE_RESPONSE_MAX + 1, false },
		{ 200, "{\"ok\":true}", false, 0, false },
		{ 0, NULL, false, 0, false },
	};
	fake f;
	kube_client *c;
	cJSON *o = NULL;
	ag_err e;

	fk_start(&f, script);
	c = fk_client(&f);
	cr_assert_eq(kube_get(c, "/big", &o, &e), -1);
	cr_assert_eq(e.code, E2BIG);
	cr_assert(strstr(e.msg, "response larger than the 67108864 byte limit"), "%s", e.msg);
	/* The client is still usable afterwards. */
	cr_assert_eq(kube_get(c, "/small", &o, &e), 0, "%s", e.msg);
	cJSON_Delete(o);
	kube_client_free(c);
	fk_stop(&f);
}
