/* Unit tests of common/metrics: families, label sets, histogram rendering. */
#include <criterion/criterion.h>
#include <pthread.h>
#include <string.h>

#include "metrics.h"

static const char *render(metrics *m, buf *b)
{
	buf_init(b, 1 << 20);
	cr_assert_eq(metrics_render(m, b), 0);
	return buf_cstr(b);
}

Test(metrics, counter_gauge_and_labels)
{
	metrics *m = metrics_new();
	buf b;
	const char *t;

	cr_assert_not_null(m);
	cr_assert_eq(metrics_define(m, "ag_requests_total", METRICS_COUNTER, "Reviews.\nby endpoint", NULL, 0), 0);
	cr_assert_eq(metrics_define(m, "ag_nodes", METRICS_GAUGE, "Nodes", NULL, 0), 0);
	cr_assert_eq(metrics_define(m, "ag_nodes", METRICS_GAUGE, "again", NULL, 0), -1);
	cr_assert_eq(metrics_define(m, "9bad", METRICS_GAUGE, "x", NULL, 0), -1);
	metrics_add(m, "ag_requests_total", "endpoint=\"mutate\",verdict=\"allow\"", 1);
	metrics_add(m, "ag_requests_total", "endpoint=\"mutate\",verdict=\"allow\"", 2);
	metrics_add(m, "ag_requests_total", "endpoint=\"validate\",verdict=\"deny\"", 1);
	metrics_add(m, "ag_requests_total", "", -5); /* counters never go down */
	metrics_set(m, "ag_nodes", "", 5000);
	metrics_set(m, "ag_nodes", "", 42);
	metrics_add(m, "unknown_family", "", 1);
	t = render(m, &b);
	cr_assert(strstr(t, "# HELP ag_requests_total Reviews.\\nby endpoint\n# TYPE ag_requests_total counter\n"), "%s", t);
	cr_assert(strstr(t, "ag_requests_total{endpoint=\"mutate\",verdict=\"allow\"} 3\n"), "%s", t);
	cr_assert(strstr(t, "ag_requests_total{endpoint=\"validate\",verdict=\"deny\"} 1\n"), "%s", t);
	cr_assert(strstr(t, "ag_requests_total 0\n"), "%s", t);
	cr_assert(strstr(t, "# TYPE ag_nodes gauge\nag_nodes 42\n"), "%s", t);
	cr_assert_null(strstr(t, "unknown_family"));
	buf_cleanup(&b);
	metrics_reset_family(m, "ag_requests_total");
	t = render(m, &b);
	cr_assert_null(strstr(t, "ag_requests_total{"), "%s", t);
	cr_assert(strstr(t, "# TYPE ag_requests_total counter\n"));
	buf_cleanup(&b);
	metrics_free(m);
}

Test(metrics, histogram)
{
	static const double bounds[] = { 0.001, 0.01, 0.1 };
	static const double bad[] = { 0.1, 0.01 };
	metrics *m = metrics_new();
	buf b;
	const char *t;

	cr_assert_eq(metrics_define(m, "lat_seconds", METRICS_HISTOGRAM, "Latency", bounds, 3), 0);
	cr_assert_eq(metrics_define(m, "bad_seconds", METRICS_HISTOGRAM, "x", bad, 2), -1);
	metrics_observe(m, "lat_seconds", "endpoint=\"mutate\"", 0.0005);
	metrics_observe(m, "lat_seconds", "endpoint=\"mutate\"", 0.001);
	metrics_observe(m, "lat_seconds", "endpoint=\"mutate\"", 0.05);
	metrics_observe(m, "lat_seconds", "endpoint=\"mutate\"", 3);
	metrics_observe(m, "lat_seconds", "", 0.5);
	metrics_add(m, "lat_seconds", "", 1); /* wrong op for the kind: ignored */
	t = render(m, &b);
	cr_assert(strstr(t, "lat_seconds_bucket{endpoint=\"mutate\",le=\"0.001\"} 2\n"), "%s", t);
	cr_assert(strstr(t, "lat_seconds_bucket{endpoint=\"mutate\",le=\"0.01\"} 2\n"), "%s", t);
	cr_assert(strstr(t, "lat_seconds_bucket{endpoint=\"mutate\",le=\"0.1\"} 3\n"), "%s", t);
	cr_assert(strstr(t, "lat_seconds_bucket{endpoint=\"mutate\",le=\"+Inf\"} 4\n"), "%s", t);
	cr_assert(strstr(t, "lat_seconds_sum{endpoint=\"mutate\"} 3.0515\n"), "%s", t);
	cr_assert(strstr(t, "lat_seconds_count{endpoint=\"mutate\"} 4\n"), "%s", t);
	cr_assert(strstr(t, "lat_seconds_bucket{le=\"+Inf\"} 1\nlat_seconds_sum 0.5\nlat_seconds_count 1\n"), "%s", t);
	buf_cleanup(&b);
	metrics_free(m);
}

struct adder {
	metrics *m;
	int n;
};

static void *add_many(void *arg)
{
	struct adder *a = arg;

	for (int i = 0; i < a->n; i++) {
		metrics_add(a->m, "c_total", i % 2 ? "verdict=\"allow\"" : "verdict=\"deny\"", 1);
		metrics_observe(a->m, "h_seconds", "", 0.0001 * (i % 100));
	}
	return NULL;
}

Test(metrics, concurrent_updates)
{
	static const double b[] = { 0.001, 0.01 };
	metrics *m = metrics_new();
	struct adder a = { m, 20000 };
	pthread_t th[4];
	buf out;
	const char *t;

	cr_assert_eq(metrics_define(m, "c_total", METRICS_COUNTER, "c", NULL, 0), 0);
	cr_assert_eq(metrics_define(m, "h_seconds", METRICS_HISTOGRAM, "h", b, 2), 0);
	for (int i = 0; i < 4; i++)
		cr_assert_eq(pthread_create(&th[i], NULL, add_many, &a), 0);
	for (int i = 0; i < 4; i++)
		pthread_join(th[i], NULL);
	t = render(m, &out);
	cr_assert(strstr(t, "c_total{verdict=\"allow\"} 40000\n"), "%s", t);
	cr_assert(strstr(t, "c_total{verdict=\"deny\"} 40000\n"), "%s", t);
	cr_assert(strstr(t, "h_seconds_count 80000\n"), "%s", t);
	buf_cleanup(&out);
	metrics_free(m);
}
