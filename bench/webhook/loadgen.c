/* loadgen: an HTTPS/1.1 keep-alive load generator for the webhook benchmark
 * (a program, not a test). N connections over OpenSSL, non-blocking, one
 * epoll loop per thread; requests are POSTs cycling through the given
 * (path, body) pairs. Closed loop by default (each connection sends the next
 * request when the answer arrives: peak rate); with --rate an open loop on a
 * fixed schedule, latency counted from the scheduled send time so a slow
 * server cannot hide queueing (no coordinated omission).
 * In the open loop a thread that only sleeps on a 1 ms grid measures how late
 * this machine wakes a thread (hypervisor steal, scheduling): stall_p99_ms is
 * that lateness per slot, counted like the requests' (a slot missed during a
 * stall is late too), so a server's p99 below it says nothing about the server.
 * Prints one line of key=value figures. Talks to loopback only in practice;
 * certificate checks are off (it measures, it does not trust). */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

enum {
	LG_MAX_REQS = 16,
	LG_HIST_US = 200000, /* 1 us buckets up to 200 ms; slower ones go to the last bucket */
	LG_RECV_MAX = 1 << 20,
};

typedef struct lg_req {
	char *data;
	size_t len;
} lg_req;

typedef struct lg_conn {
	int fd;
	SSL *ssl;
	bool busy;
	size_t req_idx;
	size_t sent;
	uint64_t t_sched; /* ns: when the request was due (open loop) or sent */
	uint64_t t_sent;  /* ns: when it was actually written */
	uint64_t next_due;
	char *rbuf;
	size_t rlen;
} lg_conn;

typedef struct lg_thread {
	pthread_t th;
	int id;
	size_t nconn;
	lg_conn *conns;
	uint64_t *hist;      /* latency from the scheduled time */
	uint64_t *hist_sent; /* latency from the actual send */
	uint64_t done;
	uint64_t errors;
	uint64_t non200;
	uint64_t max_ns;
	size_t rr;
} lg_thread;

static const char *lg_host = "127.0.0.1";
static int lg_port;
static size_t lg_nconn = 8;
static int lg_nthreads = 1;
static double lg_duration = 10;
static double lg_warmup = 1;
static double lg_rate; /* requests/s total, 0 = closed loop */
static lg_req lg_reqs[LG_MAX_REQS];
static size_t lg_nreqs;
static SSL_CTX *lg_ctx;
static uint64_t lg_t_start;
static uint64_t lg_t_measure;
static uint64_t lg_t_end;
static uint64_t *lg_stall_hist; /* per 1 ms slot of the measured window: lateness in us */
static uint64_t lg_stall_slots;
static uint64_t lg_stall_max_ns;

static uint64_t lg_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

__attribute__((noreturn)) static void lg_die(const char *what);
static void lg_die(const char *what)
{
	fprintf(stderr, "loadgen: %s: %s\n", what, errno ? strerror(errno) : "failed");
	ERR_print_errors_fp(stderr);
	exit(2);
}

static char *lg_read_file(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *p;
	long n;

	if (!f)
		lg_die(path);
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	fseek(f, 0, SEEK_SET);
	p = malloc((size_t)n + 1);
	if (!p || fread(p, 1, (size_t)n, f) != (size_t)n)
		lg_die(path);
	fclose(f);
	p[n] = '\0';
	*len = (size_t)n;
	return p;
}

/* "PATH=FILE" -> one prebuilt request. */
static void lg_add_req(const char *spec)
{
	const char *eq = strchr(spec, '=');
	size_t blen;
	char *body;
	size_t cap;
	lg_req *r;

	if (!eq || lg_nreqs == LG_MAX_REQS) {
		fprintf(stderr, "loadgen: --req PATH=FILE (at most %d)\n", LG_MAX_REQS);
		exit(2);
	}
	body = lg_read_file(eq + 1, &blen);
	cap = blen + 512;
	r = &lg_reqs[lg_nreqs++];
	r->data = malloc(cap);
	if (!r->data)
		lg_die("malloc");
	r->len = (size_t)snprintf(r->data, cap,
				  "POST %.*s HTTP/1.1\r\nHost: %s:%d\r\nContent-Type: application/json\r\n"
				  "Accept: application/json\r\nContent-Length: %zu\r\n\r\n",
				  (int)(eq - spec), spec, lg_host, lg_port, blen);
	memcpy(r->data + r->len, body, blen);
	r->len += blen;
	free(body);
}

static void lg_connect(lg_conn *c)
{
	struct sockaddr_in sa;
	int one = 1;

	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_port = htons((uint16_t)lg_port);
	if (inet_pton(AF_INET, lg_host, &sa.sin_addr) != 1)
		lg_die("--host must be an IPv4 address");
	c->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (c->fd < 0 || connect(c->fd, (struct sockaddr *)&sa, sizeof(sa)) != 0)
		lg_die("connect");
	setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	c->ssl = SSL_new(lg_ctx);
	if (!c->ssl || SSL_set_fd(c->ssl, c->fd) != 1 || SSL_connect(c->ssl) != 1)
		lg_die("TLS handshake");
	fcntl(c->fd, F_SETFL, fcntl(c->fd, F_GETFL) | O_NONBLOCK);
	c->rbuf = malloc(LG_RECV_MAX);
	if (!c->rbuf)
		lg_die("malloc");
}

/* Returns 1 when a full response is buffered (status in *status), 0 when more is needed. */
static int lg_parse(lg_conn *c, int *status, size_t *total)
{
	char *end;
	char *p;
	size_t hdr;
	size_t cl = 0;

	if (c->rlen < 12)
		return 0;
	c->rbuf[c->rlen] = '\0';
	end = strstr(c->rbuf, "\r\n\r\n");
	if (!end)
		return 0;
	hdr = (size_t)(end - c->rbuf) + 4;
	*status = (int)strtol(c->rbuf + 9, NULL, 10); /* "HTTP/1.1 200" */
	for (p = c->rbuf; p && p < end; p = strstr(p, "\r\n")) {
		p += 2;
		if (strncasecmp(p, "Content-Length:", 15) == 0) {
			cl = strtoul(p + 15, NULL, 10);
			break;
		}
	}
	if (c->rlen < hdr + cl)
		return 0;
	*total = hdr + cl;
	return 1;
}

static void lg_send(lg_thread *t, lg_conn *c, int ep, uint64_t sched)
{
	lg_req *r;
	struct epoll_event ev;

	c->req_idx = t->rr++ % lg_nreqs;
	c->sent = 0;
	c->busy = true;
	c->t_sched = sched;
	c->t_sent = lg_now();
	r = &lg_reqs[c->req_idx];
	while (c->sent < r->len) {
		int n = SSL_write(c->ssl, r->data + c->sent, (int)(r->len - c->sent));

		if (n > 0) {
			c->sent += (size_t)n;
			continue;
		}
		if (SSL_get_error(c->ssl, n) == SSL_ERROR_WANT_WRITE) {
			ev.events = EPOLLIN | EPOLLOUT;
			ev.data.ptr = c;
			epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
			return;
		}
		lg_die("SSL_write");
	}
}

static void lg_record(lg_thread *t, uint64_t lat, uint64_t lat_sent)
{
	uint64_t us = lat / 1000;
	uint64_t us_sent = lat_sent / 1000;

	t->hist[us < LG_HIST_US ? us : LG_HIST_US - 1]++;
	t->hist_sent[us_sent < LG_HIST_US ? us_sent : LG_HIST_US - 1]++;
	if (lat > t->max_ns)
		t->max_ns = lat;
	t->done++;
}

static void lg_arm(int tfd, uint64_t due)
{
	struct itimerspec its;

	memset(&its, 0, sizeof(its));
	if (due == 0)
		due = 1;
	its.it_value.tv_sec = (time_t)(due / 1000000000u);
	its.it_value.tv_nsec = (long)(due % 1000000000u);
	timerfd_settime(tfd, TFD_TIMER_ABSTIME, &its, NULL);
}

static void *lg_run(void *arg)
{
	lg_thread *t = arg;
	int ep = epoll_create1(EPOLL_CLOEXEC);
	int tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	struct epoll_event ev;
	struct epoll_event evs[64];
	uint64_t interval = 0;

	if (ep < 0 || tfd < 0)
		lg_die("epoll/timerfd");
	ev.events = EPOLLIN;
	ev.data.ptr = NULL;
	epoll_ctl(ep, EPOLL_CTL_ADD, tfd, &ev);
	if (lg_rate > 0)
		interval = (uint64_t)((double)lg_nconn * 1e9 / lg_rate);
	for (size_t i = 0; i < t->nconn; i++) {
		lg_conn *c = &t->conns[i];
		size_t global = (size_t)t->id + i * (size_t)lg_nthreads;

		ev.events = EPOLLIN;
		ev.data.ptr = c;
		epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev);
		if (interval) {
			c->next_due = lg_t_start + interval * global / lg_nconn;
		} else {
			lg_send(t, c, ep, lg_now());
		}
	}
	for (;;) {
		uint64_t now = lg_now();
		uint64_t min_due = UINT64_MAX;
		int n;

		if (now >= lg_t_end)
			break;
		if (interval) {
			for (size_t i = 0; i < t->nconn; i++) {
				lg_conn *c = &t->conns[i];

				if (!c->busy && c->next_due <= now) {
					uint64_t due = c->next_due;

					c->next_due += interval;
					lg_send(t, c, ep, due);
				}
				if (!c->busy && c->next_due < min_due)
					min_due = c->next_due;
			}
			if (min_due != UINT64_MAX)
				lg_arm(tfd, min_due);
		}
		n = epoll_wait(ep, evs, 64, 100);
		for (int i = 0; i < n; i++) {
			lg_conn *c = evs[i].data.ptr;

			if (!c) {
				uint64_t x;

				if (read(tfd, &x, sizeof(x)) < 0 && errno != EAGAIN)
					lg_die("timerfd");
				continue;
			}
			if ((evs[i].events & EPOLLOUT) && c->busy && c->sent < lg_reqs[c->req_idx].len) {
				lg_req *r = &lg_reqs[c->req_idx];
				int w = SSL_write(c->ssl, r->data + c->sent, (int)(r->len - c->sent));

				if (w > 0)
					c->sent += (size_t)w;
				else if (SSL_get_error(c->ssl, w) != SSL_ERROR_WANT_WRITE)
					lg_die("SSL_write");
				if (c->sent == r->len) {
					ev.events = EPOLLIN;
					ev.data.ptr = c;
					epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
				}
			}
			for (;;) {
				int r = SSL_read(c->ssl, c->rbuf + c->rlen, (int)(LG_RECV_MAX - 1 - c->rlen));
				int status = 0;
				size_t total = 0;

				if (r <= 0) {
					int e = SSL_get_error(c->ssl, r);

					if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
						break;
					fprintf(stderr, "loadgen: connection closed by the server (ssl error %d)\n", e);
					t->errors++;
					goto out;
				}
				c->rlen += (size_t)r;
				if (!lg_parse(c, &status, &total))
					continue;
				now = lg_now();
				if (c->t_sched >= lg_t_measure)
					lg_record(t, now - c->t_sched, now - c->t_sent);
				if (status != 200)
					t->non200++;
				memmove(c->rbuf, c->rbuf + total, c->rlen - total);
				c->rlen -= total;
				c->busy = false;
				if (!interval)
					lg_send(t, c, ep, now);
			}
		}
	}
out:
	close(tfd);
	close(ep);
	return NULL;
}

enum { LG_STALL_SLOT_NS = 1000000 };

/* The stall meter (open loop only): sleeps to each 1 ms slot of the measured
 * window and records how late it woke, for every slot it passed. */
static void *lg_stall_run(void *arg)
{
	uint64_t due = lg_t_measure;

	(void)arg;
	while (due < lg_t_end) {
		struct timespec ts = { .tv_sec = (time_t)(due / 1000000000u), .tv_nsec = (long)(due % 1000000000u) };
		uint64_t now;

		clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL);
		now = lg_now();
		for (; due <= now && due < lg_t_end; due += LG_STALL_SLOT_NS) {
			uint64_t late = now - due;
			uint64_t us = late / 1000;

			lg_stall_hist[us < LG_HIST_US ? us : LG_HIST_US - 1]++;
			lg_stall_slots++;
			if (late > lg_stall_max_ns)
				lg_stall_max_ns = late;
		}
	}
	return NULL;
}

static double lg_pct(const uint64_t *hist, uint64_t total, double p)
{
	uint64_t want = (uint64_t)((double)total * p);
	uint64_t acc = 0;

	if (want >= total)
		want = total - 1;
	for (size_t i = 0; i < LG_HIST_US; i++) {
		acc += hist[i];
		if (acc > want)
			return (double)i / 1000.0 + 0.0005; /* bucket middle, ms */
	}
	return (double)LG_HIST_US / 1000.0;
}

__attribute__((noreturn)) static void lg_usage(void);
static void lg_usage(void)
{
	fprintf(stderr, "usage: loadgen --port N [--host IPv4] [--connections N] [--threads N] [--duration S]\n"
			"               [--warmup S] [--rate RPS] --req PATH=FILE [--req PATH=FILE ...]\n");
	exit(2);
}

int main(int argc, char **argv)
{
	pthread_t stall_th;
	lg_thread *ts;
	uint64_t *hist;
	uint64_t *hist_sent;
	uint64_t done = 0;
	uint64_t errors = 0;
	uint64_t non200 = 0;
	uint64_t max_ns = 0;
	double secs;
	const char **specs = calloc((size_t)argc, sizeof(char *));
	size_t nspecs = 0;

	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		const char *v = i + 1 < argc ? argv[i + 1] : NULL;

		if (!v)
			lg_usage();
		i++;
		if (!strcmp(a, "--host"))
			lg_host = v;
		else if (!strcmp(a, "--port"))
			lg_port = (int)strtol(v, NULL, 10);
		else if (!strcmp(a, "--connections"))
			lg_nconn = strtoul(v, NULL, 10);
		else if (!strcmp(a, "--threads"))
			lg_nthreads = (int)strtol(v, NULL, 10);
		else if (!strcmp(a, "--duration"))
			lg_duration = strtod(v, NULL);
		else if (!strcmp(a, "--warmup"))
			lg_warmup = strtod(v, NULL);
		else if (!strcmp(a, "--rate"))
			lg_rate = strtod(v, NULL);
		else if (!strcmp(a, "--req"))
			specs[nspecs++] = v;
		else
			lg_usage();
	}
	if (lg_port <= 0 || nspecs == 0 || lg_nconn == 0 || lg_nthreads < 1 || (size_t)lg_nthreads > lg_nconn)
		lg_usage();
	for (size_t i = 0; i < nspecs; i++)
		lg_add_req(specs[i]);
	free(specs);
	lg_ctx = SSL_CTX_new(TLS_client_method());
	if (!lg_ctx)
		lg_die("SSL_CTX_new");
	SSL_CTX_set_verify(lg_ctx, SSL_VERIFY_NONE, NULL);
	SSL_CTX_set_mode(lg_ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
	ts = calloc((size_t)lg_nthreads, sizeof(*ts));
	hist = calloc(LG_HIST_US, sizeof(*hist));
	hist_sent = calloc(LG_HIST_US, sizeof(*hist_sent));
	if (!ts || !hist || !hist_sent)
		lg_die("calloc");
	for (int i = 0; i < lg_nthreads; i++) {
		ts[i].id = i;
		ts[i].hist = calloc(LG_HIST_US, sizeof(uint64_t));
		ts[i].hist_sent = calloc(LG_HIST_US, sizeof(uint64_t));
		ts[i].conns = calloc(lg_nconn, sizeof(lg_conn));
		if (!ts[i].hist || !ts[i].hist_sent || !ts[i].conns)
			lg_die("calloc");
	}
	for (size_t i = 0; i < lg_nconn; i++) {
		lg_thread *t = &ts[i % (size_t)lg_nthreads];

		if (!t->conns)
			lg_die("no connection table");
		lg_connect(&t->conns[t->nconn++]);
	}
	lg_t_start = lg_now();
	lg_t_measure = lg_t_start + (uint64_t)(lg_warmup * 1e9);
	lg_t_end = lg_t_measure + (uint64_t)(lg_duration * 1e9);
	if (lg_rate > 0) {
		lg_stall_hist = calloc(LG_HIST_US, sizeof(uint64_t));
		if (!lg_stall_hist || pthread_create(&stall_th, NULL, lg_stall_run, NULL) != 0)
			lg_die("stall meter");
	}
	for (int i = 0; i < lg_nthreads; i++)
		pthread_create(&ts[i].th, NULL, lg_run, &ts[i]);
	for (int i = 0; i < lg_nthreads; i++) {
		pthread_join(ts[i].th, NULL);
		for (size_t b = 0; b < LG_HIST_US; b++) {
			hist[b] += ts[i].hist[b];
			hist_sent[b] += ts[i].hist_sent[b];
		}
		done += ts[i].done;
		errors += ts[i].errors;
		non200 += ts[i].non200;
		if (ts[i].max_ns > max_ns)
			max_ns = ts[i].max_ns;
	}
	if (lg_stall_hist)
		pthread_join(stall_th, NULL);
	secs = lg_duration;
	for (int i = 0; i < lg_nthreads; i++) {
		free(ts[i].hist);
		free(ts[i].hist_sent);
		free(ts[i].conns); /* connections end with the process */
	}
	free(ts);
	if (done == 0) {
		printf("requests=0 errors=%llu\n", (unsigned long long)errors);
		free(hist);
		free(hist_sent);
		free(lg_stall_hist);
		return 1;
	}
	/* p*_ms count from the scheduled time (open loop) or the send (closed
	 * loop); sent_p*_ms always from the actual send, which leaves out the
	 * generator's own lateness (a busy machine delays its timer). */
	printf("requests=%llu rps=%.0f p50_ms=%.3f p90_ms=%.3f p99_ms=%.3f max_ms=%.3f sent_p50_ms=%.3f "
	       "sent_p99_ms=%.3f non200=%llu errors=%llu",
	       (unsigned long long)done, (double)done / secs, lg_pct(hist, done, 0.50), lg_pct(hist, done, 0.90),
	       lg_pct(hist, done, 0.99), (double)max_ns / 1e6, lg_pct(hist_sent, done, 0.50),
	       lg_pct(hist_sent, done, 0.99), (unsigned long long)non200, (unsigned long long)errors);
	if (lg_stall_slots) {
		uint64_t over2 = 0;

		for (size_t b = 2000; b < LG_HIST_US; b++)
			over2 += lg_stall_hist[b];
		printf(" stall_p99_ms=%.3f stall_max_ms=%.3f stall_over_2ms_pct=%.2f",
		       lg_pct(lg_stall_hist, lg_stall_slots, 0.99), (double)lg_stall_max_ns / 1e6,
		       100.0 * (double)over2 / (double)lg_stall_slots);
	}
	putchar('\n');
	free(lg_stall_hist);
	free(hist);
	free(hist_sent);
	return errors ? 1 : 0;
}
