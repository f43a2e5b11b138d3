/* Unit tests of common/probe: the real probe server on an ephemeral loopback port. */
#include <criterion/criterion.h>
#include <curl/curl.h>
#include <stdio.h>
#include <string.h>

#include "buf.h"
#include "probe.h"

static size_t collect(char *p, size_t sz, size_t n, void *ud)
{
	return buf_append(ud, p, sz * n) == 0 ? sz * n : 0;
}

static long fetch(int port, const char *method, const char *path, buf *body)
{
	CURL *c = curl_easy_init();
	char url[128];
	long code = 0;

	snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", port, path);
	buf_reset(body);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, collect);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, body);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, 10L);
	cr_assert_eq(curl_easy_perform(c), CURLE_OK);
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
	curl_easy_cleanup(c);
	return code;
}

static bool ready_flag;

static bool ready(void *ud, char *why, size_t cap)
{
	(void)ud;
	if (!ready_flag)
		snprintf(why, cap, "node cache not synced");
	return ready_flag;
}

Test(probe, endpoints)
{
	ag_err err;
	metrics *m = metrics_new();
	probe_server *p;
	buf b;
	int port;

	cr_assert_eq(metrics_define(m, "x_total", METRICS_COUNTER, "x", NULL, 0), 0);
	metrics_add(m, "x_total", "", 7);
	p = probe_server_start("127.0.0.1:0", m, ready, NULL, &err);
	cr_assert_not_null(p, "%s", err.msg);
	port = probe_server_port(p);
	cr_assert_gt(port, 0);
	buf_init(&b, 1 << 20);
	cr_assert_eq(fetch(port, "GET", "/healthz", &b), 200);
	cr_assert_eq(fetch(port, "GET", "/readyz", &b), 503);
	cr_assert(strstr(buf_cstr(&b), "node cache not synced"));
	ready_flag = true;
	cr_assert_eq(fetch(port, "GET", "/readyz", &b), 200);
	cr_assert_eq(fetch(port, "GET", "/metrics", &b), 200);
	cr_assert(strstr(buf_cstr(&b), "x_total 7\n"), "%s", buf_cstr(&b));
	cr_assert_eq(fetch(port, "GET", "/nope", &b), 404);
	cr_assert_eq(fetch(port, "POST", "/healthz", &b), 405);
	buf_cleanup(&b);
	probe_server_stop(p);
	metrics_free(m);
}

Test(probe, bad_listen)
{
	ag_err err;

	cr_assert_null(probe_server_start("nonsense", NULL, NULL, NULL, &err));
	cr_assert_null(probe_server_start("127.0.0.1:99999", NULL, NULL, NULL, &err));
}
