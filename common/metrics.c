/* metrics: a small thread-safe Prometheus registry. Families are declared by
 * the daemon at start; series are created on first use from pre-formatted
 * label text supplied by our own code (never by remote peers), capped per
 * family so a bug cannot grow memory without bound. */
#include "metrics.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"

enum {
	METRICS_SERIES_MAX = 1000, /* per family: beyond this new series are dropped */
	METRICS_BUCKETS_MAX = 64,
	METRICS_NAME_MAX = 200,
	METRICS_LABELS_MAX = 1024,
};

typedef struct metrics_series {
	char *ms_labels;
	double ms_value; /* counter/gauge */
	double ms_sum;   /* histogram */
	unsigned long long ms_count;
	unsigned long long *ms_buckets; /* histogram: per-bucket (non-cumulative) counts */
} metrics_series;

typedef struct metrics_family {
	char *mf_name;
	char *mf_help;
	metrics_kind mf_kind;
	double *mf_bounds;
	size_t mf_nbounds;
	metrics_series *mf_series;
	size_t mf_nseries;
	size_t mf_capseries;
} metrics_family;

struct metrics {
	pthread_mutex_t m_lock;
	metrics_family *m_fams;
	size_t m_nfams;
	size_t m_capfams;
};

metrics *metrics_new(void)
{
	metrics *m = calloc(1, sizeof(*m));

	if (!m)
		return NULL;
	if (pthread_mutex_init(&m->m_lock, NULL) != 0) {
		free(m);
		return NULL;
	}
	return m;
}

static void metrics_family_clear_series(metrics_family *f)
{
	for (size_t i = 0; i < f->mf_nseries; i++) {
		free(f->mf_series[i].ms_labels);
		free(f->mf_series[i].ms_buckets);
	}
	f->mf_nseries = 0;
}

void metrics_free(metrics *m)
{
	if (!m)
		return;
	for (size_t i = 0; i < m->m_nfams; i++) {
		metrics_family *f = &m->m_fams[i];

		metrics_family_clear_series(f);
		free(f->mf_series);
		free(f->mf_name);
		free(f->mf_help);
		free(f->mf_bounds);
	}
	free(m->m_fams);
	pthread_mutex_destroy(&m->m_lock);
	free(m);
}

static int metrics_name_valid(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > METRICS_NAME_MAX)
		return 0;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':' ||
			(i > 0 && c >= '0' && c <= '9');

		if (!ok)
			return 0;
	}
	return 1;
}

static metrics_family *metrics_find(metrics *m, const char *name)
{
	for (size_t i = 0; i < m->m_nfams; i++)
		if (strcmp(m->m_fams[i].mf_name, name) == 0)
			return &m->m_fams[i];
	return NULL;
}

int metrics_define(metrics *m, const char *name, metrics_kind kind, const char *help, const double *buckets,
		   size_t nbuckets)
{
	metrics_family *f;
	int rc = -1;

	if (!m || !name || !metrics_name_valid(name)) {
		errno = EINVAL;
		return -1;
	}
	if (kind == METRICS_HISTOGRAM) {
		if (!buckets || nbuckets == 0 || nbuckets > METRICS_BUCKETS_MAX) {
			errno = EINVAL;
			return -1;
		}
		for (size_t i = 1; i < nbuckets; i++) {
			if (!(buckets[i] > buckets[i - 1])) {
				errno = EINVAL;
				return -1;
			}
		}
	}
	pthread_mutex_lock(&m->m_lock);
	if (metrics_find(m, name)) {
		errno = EEXIST;
		goto out;
	}
	if (buf_grow_items(&m->m_fams, &m->m_capfams, m->m_nfams + 1, sizeof(*m->m_fams), 16) != 0)
		goto out;
	f = &m->m_fams[m->m_nfams];
	memset(f, 0, sizeof(*f));
	f->mf_kind = kind;
	f->mf_name = strdup(name);
	f->mf_help = strdup(help ? help : "");
	if (kind == METRICS_HISTOGRAM) {
		f->mf_bounds = malloc(nbuckets * sizeof(double));
		if (f->mf_bounds)
			memcpy(f->mf_bounds, buckets, nbuckets * sizeof(double));
		f->mf_nbounds = nbuckets;
	}
	if (!f->mf_name || !f->mf_help || (kind == METRICS_HISTOGRAM && !f->mf_bounds)) {
		free(f->mf_name);
		free(f->mf_help);
		free(f->mf_bounds);
		errno = ENOMEM;
		goto out;
	}
	m->m_nfams++;
	rc = 0;
out:
	pthread_mutex_unlock(&m->m_lock);
	return rc;
}

/* Finds or creates the series; NULL when the family is full or memory is short
 * (the sample is then dropped: metrics never fail a request). Lock held. */
static metrics_series *metrics_series_get(metrics_family *f, const char *labels)
{
	metrics_series *s;

	if (!labels)
		labels = "";
	for (size_t i = 0; i < f->mf_nseries; i++)
		if (strcmp(f->mf_series[i].ms_labels, labels) == 0)
			return &f->mf_series[i];
	if (f->mf_nseries >= METRICS_SERIES_MAX || strlen(labels) > METRICS_LABELS_MAX)
		return NULL;
	if (buf_grow_items(&f->mf_series, &f->mf_capseries, f->mf_nseries + 1, sizeof(*f->mf_series), 4) != 0)
		return NULL;
	s = &f->mf_series[f->mf_nseries];
	memset(s, 0, sizeof(*s));
	s->ms_labels = strdup(labels);
	if (!s->ms_labels)
		return NULL;
	if (f->mf_kind == METRICS_HISTOGRAM) {
		s->ms_buckets = calloc(f->mf_nbounds + 1, sizeof(*s->ms_buckets));
		if (!s->ms_buckets) {
			free(s->ms_labels);
			return NULL;
		}
	}
	f->mf_nseries++;
	return s;
}

static void metrics_update(metrics *m, const char *name, const char *labels, double v, int op)
{
	metrics_family *f;
	metrics_series *s;

	if (!m || !name)
		return;
	pthread_mutex_lock(&m->m_lock);
	f = metrics_find(m, name);
	if (!f)
		goto out;
	/* Only the operation that fits the kind applies; a mismatch is a bug we ignore. */
	if ((op == 2) != (f->mf_kind == METRICS_HISTOGRAM))
		goto out;
	if (op == 1 && f->mf_kind != METRICS_GAUGE)
		goto out;
	s = metrics_series_get(f, labels);
	if (!s)
		goto out;
	switch (op) {
	case 0:
		/* Counters only go up. */
		if (f->mf_kind == METRICS_COUNTER && !(v >= 0))
			break;
		s->ms_value += v;
		break;
	case 1: s->ms_value = v; break;
	default: {
		size_t i = 0;

		while (i < f->mf_nbounds && v > f->mf_bounds[i])
			i++;
		s->ms_buckets[i]++;
		s->ms_count++;
		s->ms_sum += v;
		break;
	}
	}
out:
	pthread_mutex_unlock(&m->m_lock);
}

void metrics_add(metrics *m, const char *name, const char *labels, double v)
{
	metrics_update(m, name, labels, v, 0);
}

void metrics_set(metrics *m, const char *name, const char *labels, double v)
{
	metrics_update(m, name, labels, v, 1);
}

void metrics_observe(metrics *m, const char *name, const char *labels, double v)
{
	metrics_update(m, name, labels, v, 2);
}

void metrics_reset_family(metrics *m, const char *name)
{
	metrics_family *f;

	if (!m || !name)
		return;
	pthread_mutex_lock(&m->m_lock);
	f = metrics_find(m, name);
	if (f)
		metrics_family_clear_series(f);
	pthread_mutex_unlock(&m->m_lock);
}

/* Shortest of %.15g / %.17g that reads back exactly; Prometheus spellings for
 * the non-finite values. */
static void metrics_fmt_double(char *out, size_t cap, double v)
{
	if (isnan(v)) {
		snprintf(out, cap, "NaN");
		return;
	}
	if (isinf(v)) {
		snprintf(out, cap, v > 0 ? "+Inf" : "-Inf");
		return;
	}
	snprintf(out, cap, "%.15g", v);
	if (strtod(out, NULL) != v)
		snprintf(out, cap, "%.17g", v);
}

static const char *metrics_kind_name(metrics_kind k)
{
	switch (k) {
	case METRICS_COUNTER: return "counter";
	case METRICS_GAUGE: return "gauge";
	default: return "histogram";
	}
}

/* HELP text escapes backslash and newline. */
static int metrics_append_help(buf *out, const char *s)
{
	for (; *s; s++) {
		int rc;

		if (*s == '\\')
			rc = buf_appends(out, "\\\\");
		else if (*s == '\n')
			rc = buf_appends(out, "\\n");
		else
			rc = buf_append(out, s, 1);
		if (rc != 0)
			return -1;
	}
	return 0;
}

static int metrics_render_family(const metrics_family *f, buf *out)
{
	char num[64];

	if (buf_appendf(out, "# HELP %s ", f->mf_name) != 0 || metrics_append_help(out, f->mf_help) != 0 ||
	    buf_appendf(out, "\n# TYPE %s %s\n", f->mf_name, metrics_kind_name(f->mf_kind)) != 0)
		return -1;
	for (size_t i = 0; i < f->mf_nseries; i++) {
		const metrics_series *s = &f->mf_series[i];
		const char *l = s->ms_labels;
		const char *sep = l[0] ? "," : "";
		unsigned long long cum = 0;

		if (f->mf_kind != METRICS_HISTOGRAM) {
			metrics_fmt_double(num, sizeof(num), s->ms_value);
			if (l[0] ? buf_appendf(out, "%s{%s} %s\n", f->mf_name, l, num)
				 : buf_appendf(out, "%s %s\n", f->mf_name, num))
				return -1;
			continue;
		}
		for (size_t b = 0; b <= f->mf_nbounds; b++) {
			cum += s->ms_buckets[b];
			if (b < f->mf_nbounds)
				metrics_fmt_double(num, sizeof(num), f->mf_bounds[b]);
			else
				snprintf(num, sizeof(num), "+Inf");
			if (buf_appendf(out, "%s_bucket{%s%sle=\"%s\"} %llu\n", f->mf_name, l, sep, num, cum) != 0)
				return -1;
		}
		metrics_fmt_double(num, sizeof(num), s->ms_sum);
		if ((l[0] ? buf_appendf(out, "%s_sum{%s} %s\n%s_count{%s} %llu\n", f->mf_name, l, num, f->mf_name, l,
					s->ms_count)
			  : buf_appendf(out, "%s_sum %s\n%s_count %llu\n", f->mf_name, num, f->mf_name, s->ms_count)) !=
		    0)
			return -1;
	}
	return 0;
}

int metrics_render(metrics *m, buf *out)
{
	int rc = 0;

	if (!m || !out) {
		errno = EINVAL;
		return -1;
	}
	pthread_mutex_lock(&m->m_lock);
	for (size_t i = 0; i < m->m_nfams && rc == 0; i++)
		rc = metrics_render_family(&m->m_fams[i], out);
	pthread_mutex_unlock(&m->m_lock);
	return rc;
}
