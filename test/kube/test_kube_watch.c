/* Unit tests: watch-event parsing and the line splitter (pure). */
#include <criterion/criterion.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kube.h"

static int ev_parse(const char *s, kube_event *ev, ag_err *e)
{
	return kube_event_parse(s, strlen(s), ev, e);
}

Test(event, added_modified_deleted)
{
	static const struct {
		const char *type;
		kube_event_type want;
	} cases[] = { { "ADDED", KUBE_EVENT_ADDED }, { "MODIFIED", KUBE_EVENT_MODIFIED }, { "DELETED", KUBE_EVENT_DELETED } };
	char line[256];
	kube_event ev;
	ag_err e;

	for (size_t i = 0; i < 3; i++) {
		snprintf(line, sizeof(line),
			 "{\"type\":\"%s\",\"object\":{\"kind\":\"Node\",\"metadata\":{\"name\":\"n\",\"resourceVersion\":\"1%zu\"}}}",
			 cases[i].type, i);
		cr_assert_eq(ev_parse(line, &ev, &e), 0, "%s", e.msg);
		cr_assert_eq(ev.type, cases[i].want);
		cr_assert_str_eq(cJSON_GetObjectItem(ev.object, "kind")->valuestring, "Node");
		cr_assert_not_null(ev.resource_version);
		cr_assert_eq(ev.resource_version[0], '1');
		kube_event_cleanup(&ev);
		cr_assert_null(ev.object);
	}
}

Test(event, bookmark)
{
	kube_event ev;
	ag_err e;

	cr_assert_eq(ev_parse("{\"type\":\"BOOKMARK\",\"object\":{\"kind\":\"Node\",\"metadata\":{\"resourceVersion\":\"777\","
			      "\"annotations\":{\"k8s.io/initial-events-end\":\"true\"}}}}",
			      &ev, &e),
		     0, "%s", e.msg);
	cr_assert_eq(ev.type, KUBE_EVENT_BOOKMARK);
	cr_assert_str_eq(ev.resource_version, "777");
	kube_event_cleanup(&ev);
	cr_assert_eq(ev_parse("{\"type\":\"BOOKMARK\",\"object\":{\"metadata\":{}}}", &ev, &e), -1);
	cr_assert(strstr(e.msg, "no resourceVersion"), "%s", e.msg);
}

Test(event, error_410)
{
	kube_event ev;
	ag_err e;

	cr_assert_eq(ev_parse("{\"type\":\"ERROR\",\"object\":{\"kind\":\"Status\",\"apiVersion\":\"v1\",\"metadata\":{},"
			      "\"status\":\"Failure\",\"message\":\"too old resource version: 1 (5)\",\"reason\":\"Expired\","
			      "\"code\":410}}",
			      &ev, &e),
		     0, "%s", e.msg);
	cr_assert_eq(ev.type, KUBE_EVENT_ERROR);
	cr_assert_eq(ev.error_code, 410);
	cr_assert_null(ev.resource_version);
	kube_event_cleanup(&ev);
	/* Code absent or absurd: 0. */
	cr_assert_eq(ev_parse("{\"type\":\"ERROR\",\"object\":{\"code\":1e300}}", &ev, &e), 0);
	cr_assert_eq(ev.error_code, 0);
	kube_event_cleanup(&ev);
}

Test(event, garbage)
{
	static const char *const bad[] = {
		"", "x", "[]", "null", "{}", "{\"type\":1,\"object\":{}}", "{\"type\":\"ADDED\"}",
		"{\"type\":\"ADDED\",\"object\":[]}", "{\"type\":\"ADDED\",\"object\":\"s\"}",
		"{\"type\":\"WAT\",\"object\":{}}", "{\"type\":\"ADDED\",\"object\":{}", "{\"type\":\"ADDED\",\"object\":{}}x",
	};
	kube_event ev;
	ag_err e;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		cr_assert_eq(ev_parse(bad[i], &ev, &e), -1, "accepted: %s", bad[i]);
		cr_assert_null(ev.object);
		cr_assert(e.msg[0]);
	}
	cr_assert_eq(ev_parse("{\"type\":\"WAT\",\"object\":{}}", &ev, &e), -1);
	cr_assert(strstr(e.msg, "unknown type \"WAT\""), "%s", e.msg);
	/* Resource version of the wrong type is ignored, not trusted. */
	cr_assert_eq(ev_parse("{\"type\":\"ADDED\",\"object\":{\"metadata\":{\"resourceVersion\":5}}}", &ev, &e), 0);
	cr_assert_null(ev.resource_version);
	kube_event_cleanup(&ev);
}

Test(event, huge_line_refused)
{
	size_t n = (size_t)KUBE_WATCH_LINE_MAX + 1;
	char *big = malloc(n);
	kube_event ev;
	ag_err e;

	cr_assert_not_null(big);
	memset(big, ' ', n);
	cr_assert_eq(kube_event_parse(big, n, &ev, &e), -1);
	cr_assert_eq(e.code, E2BIG);
	free(big);
}

typedef struct lines {
	char got[64][64];
	size_t n;
	int stop_at;
} lines;

static int collect(void *ud, const char *line, size_t len)
{
	lines *l = ud;

	cr_assert_lt(l->n, 64);
	cr_assert_lt(len, 64);
	cr_assert_eq(line[len], '\0');
	memcpy(l->got[l->n], line, len);
	l->got[l->n][len] = '\0';
	l->n++;
	return l->stop_at && (int)l->n == l->stop_at ? 7 : 0;
}

Test(splitter, every_chunk_size)
{
	const char stream[] = "one\ntwo\r\n\nthree-is-longer\n{\"a\":1}\nlast-no-newline";
	const char *const want[] = { "one", "two", "three-is-longer", "{\"a\":1}" };
	size_t sl = strlen(stream);

	for (size_t chunk = 1; chunk <= sl; chunk++) {
		kube_line_splitter *s = kube_line_splitter_new(64);
		lines l;

		memset(&l, 0, sizeof(l));
		for (size_t off = 0; off < sl; off += chunk) {
			size_t len = sl - off < chunk ? sl - off : chunk;

			cr_assert_eq(kube_line_splitter_feed(s, stream + off, len, collect, &l), 0);
		}
		cr_assert_eq(l.n, 4, "chunk %zu: %zu lines", chunk, l.n);
		for (size_t i = 0; i < 4; i++)
			cr_assert_str_eq(l.got[i], want[i], "chunk %zu", chunk);
		/* The tail completes with its newline. */
		cr_assert_eq(kube_line_splitter_feed(s, "\n", 1, collect, &l), 0);
		cr_assert_str_eq(l.got[4], "last-no-newline");
		kube_line_splitter_free(s);
	}
}

Test(splitter, ceiling)
{
	kube_line_splitter *s = kube_line_splitter_new(8);
	lines l;

	memset(&l, 0, sizeof(l));
	cr_assert_eq(kube_line_splitter_feed(s, "12345678\n", 9, collect, &l), 0); /* exactly the ceiling */
	cr_assert_eq(l.n, 1);
	cr_assert_eq(kube_line_splitter_feed(s, "12345", 5, collect, &l), 0);
	errno = 0;
	cr_assert_eq(kube_line_splitter_feed(s, "6789\n", 5, collect, &l), -1);
	cr_assert_eq(errno, E2BIG);
	cr_assert_eq(l.n, 1);
	kube_line_splitter_free(s);
}

Test(splitter, callback_stops)
{
	kube_line_splitter *s = kube_line_splitter_new(64);
	lines l;

	memset(&l, 0, sizeof(l));
	l.stop_at = 2;
	cr_assert_eq(kube_line_splitter_feed(s, "a\nb\nc\n", 6, collect, &l), 7);
	cr_assert_eq(l.n, 2);
	kube_line_splitter_free(s);
	kube_line_splitter_free(NULL);
}
