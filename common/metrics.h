/* metrics: a small Prometheus registry (counters, gauges, histograms) with
 * pre-formatted label sets. Thread-safe (one mutex; the hot path is a lookup
 * and an add). Rendered in the Prometheus text format 0.0.4. */
#ifndef ARMORGATE_METRICS_H
#define ARMORGATE_METRICS_H

#include <stddef.h>

#include "buf.h"
#include "err.h"

typedef struct metrics metrics;

typedef enum metrics_kind { METRICS_COUNTER, METRICS_GAUGE, METRICS_HISTOGRAM } metrics_kind;

metrics *metrics_new(void);
void metrics_free(metrics *m);
/* Declares a family; buckets (ascending, copied) only for histograms.
 * Must be called before the family is used. name/help are copied. */
int metrics_define(metrics *m, const char *name, metrics_kind kind, const char *help, const double *buckets,
		   size_t nbuckets) AG_WARN_UNUSED;
/* labels: "" or Prometheus label text without braces: endpoint="mutate",verdict="allow".
 * Unknown family names are ignored (metrics never fail a request). */
void metrics_add(metrics *m, const char *name, const char *labels, double v);
void metrics_set(metrics *m, const char *name, const char *labels, double v);
void metrics_observe(metrics *m, const char *name, const char *labels, double v);
/* Removes every series of a family (gauges describing a changing set). */
void metrics_reset_family(metrics *m, const char *name);
int metrics_render(metrics *m, buf *out) AG_WARN_UNUSED;

#endif
