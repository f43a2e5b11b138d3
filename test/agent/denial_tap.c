/* denial_tap: test tool for the node VM (test/agent/denial_vm.sh). Opens a
 * denial_source and prints every record denial_record_parse accepts, one
 * line each, until COUNT records or TIMEOUT seconds:
 *   denial_tap [--kind auto|netlink|kmsg] [--count N] [--timeout S] [--raw]
 * stderr: "tap: source <kind>" once open (the caller waits for it), the
 * open error, and the counters at the end (also after SIGTERM). --raw also prints each accepted
 * payload text ("raw <text>") and each ignored one ("ignored <text>"). */
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "denial_record.h"
#include "denial_source.h"

typedef struct tap_state {
	bool raw;
	long parsed;
	long ignored;
} tap_state;

static void tap_record(void *ctx, const char *text, size_t len)
{
	tap_state *t = ctx;
	denial_record r;

	if (denial_record_parse(text, len, &r) != DENIAL_PARSE_OK) {
		t->ignored++;
		if (t->raw)
			printf("ignored %.*s\n", (int)len, text);
		fflush(stdout);
		return;
	}
	t->parsed++;
	if (t->raw)
		printf("raw %.*s\n", (int)len, text);
	printf("record mode=%s op=%s profile=%s child=%d name=%s trunc=%d req=%s den=%s pid=%d comm=%s cap=%d "
	       "capname=%s family=%s sock_type=%s\n",
	       r.mode == DENIAL_ENFORCE ? "enforce" : "complain", r.operation, r.profile, r.child, r.name,
	       r.name_truncated, r.requested, r.denied, r.pid, r.comm, r.capability, r.capname, r.family, r.sock_type);
	fflush(stdout);
}

static volatile sig_atomic_t tap_stop;

static void tap_on_term(int sig)
{
	(void)sig;
	tap_stop = 1;
}

static double tap_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	static denial_source src; /* 9 KiB buffer: not on the stack */
	denial_source_kind kind = DENIAL_SOURCE_AUTO;
	tap_state t = { false, 0, 0 };
	long count = 1;
	double timeout = 30, end;
	struct sigaction sa;
	ag_err err;

	/* SIGTERM ends the loop, so the counters are still printed. */
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = tap_on_term;
	sigaction(SIGTERM, &sa, NULL);
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--kind") == 0 && i + 1 < argc) {
			const char *k = argv[++i];
			kind = strcmp(k, "netlink") == 0 ? DENIAL_SOURCE_NETLINK
				: strcmp(k, "kmsg") == 0 ? DENIAL_SOURCE_KMSG
							 : DENIAL_SOURCE_AUTO;
		} else if (strcmp(argv[i], "--count") == 0 && i + 1 < argc) {
			count = strtol(argv[++i], NULL, 10);
		} else if (strcmp(argv[i], "--timeout") == 0 && i + 1 < argc) {
			timeout = strtod(argv[++i], NULL);
		} else if (strcmp(argv[i], "--raw") == 0) {
			t.raw = true;
		} else {
			fprintf(stderr,
				"usage: denial_tap [--kind auto|netlink|kmsg] [--count N] [--timeout S] [--raw]\n");
			return 2;
		}
	}
	err_clear(&err);
	if (denial_source_open(&src, kind, &err) != 0) {
		fprintf(stderr, "tap: %s\n", err.msg);
		return 1;
	}
	fprintf(stderr, "tap: source %s\n", denial_source_kind_name(src.kind));
	end = tap_now() + timeout;
	while (!tap_stop && t.parsed < count && tap_now() < end) {
		struct pollfd p = { denial_source_fd(&src), POLLIN, 0 };
		if (poll(&p, 1, 100) < 0)
			continue; /* EINTR: tap_stop says whether to go on */
		if (denial_source_read(&src, tap_record, &t, 64) < 0) {
			perror("tap: read");
			break;
		}
	}
	fprintf(stderr, "tap: parsed %ld ignored-by-parser %ld records %llu ignored %llu overruns %llu\n", t.parsed,
		t.ignored, src.records, src.ignored, src.overruns);
	denial_source_close(&src);
	return t.parsed >= count ? 0 : 3;
}
