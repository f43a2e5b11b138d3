/* denial_telemetry: source -> parse -> attribute -> aggregate on a reader
 * thread; Events, log lines and the observed annotation on a writer thread
 * (see denial_telemetry.h). */
#include "denial_telemetry.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "agent_events.h"
#include "denial_agg.h"
#include "denial_attr.h"
#include "denial_obs.h"
#include "denial_record.h"
#include "denial_source.h"
#include "log.h"
#include "mono.h"

enum {
	DENIAL_TEL_READ_MAX = 256,      /* records per wake: bounded work between stop checks */
	DENIAL_TEL_WRITES_TICK = 64,    /* due entries handled per writer tick */
	DENIAL_TEL_FEED_LINE = 8192,    /* testing feed: longest line */
	DENIAL_TEL_ANNOTATION_GAP = 60, /* seconds between annotation patches */
	DENIAL_TEL_REOPEN_S = 30,       /* a failed source is reopened after this */
};

#define DENIAL_TEL_M_EVENTS "armorgate_apparmor_events_total"
#define DENIAL_TEL_M_DROPPED "armorgate_apparmor_events_dropped_total"

struct denial_telemetry {
	denial_telemetry_opts o;
	atomic_bool stop;
	pthread_t reader, writer;
	bool reader_started, writer_started;
	denial_attr *attr;
	/* The reader's own. */
	denial_source src;
	denial_source_kind kind;
	int feed_fd; /* testing "file:" source, else -1 */
	char feed[DENIAL_TEL_FEED_LINE];
	size_t feed_len;
	/* Shared, guarded by mu. */
	pthread_mutex_t mu;
	denial_agg agg;
	denial_obs obs;
	unsigned long long src_overruns;
	/* The writer's own. */
	agent_events where; /* the node's name for Events (no table) */
	unsigned long seen_keys, seen_writes, seen_obs, seen_overruns;
	double annotated_at; /* mono seconds of the last patch, 0 = never */
	bool loaded;         /* the previous annotation of this boot was read */
	int load_tries;
	double backoff_until; /* writes paused after an API failure */
	double backoff_s;
};

static int denial_tel_define_metrics(metrics *m)
{
	static const struct {
		const char *name;
		metrics_kind kind;
		const char *help;
	} defs[] = {
		{ DENIAL_TEL_M_EVENTS, METRICS_COUNTER,
		  "AppArmor audit records of custom.* profiles (mode enforce: denied; complain: would be denied)." },
		{ DENIAL_TEL_M_DROPPED, METRICS_COUNTER,
		  "Denial records or writes left out by a bound (reason keys: aggregation table full; rate: an Event "
		  "write deferred by the per-minute budget; observations: the 32 KiB annotation bound; kernel: records "
		  "the kernel dropped before the agent read them)." },
		{ "armorgate_agent_denial_source", METRICS_GAUGE, "1 for the denial source in use (kind label)." },
		{ "armorgate_agent_denial_keys", METRICS_GAUGE, "Aggregation keys held (bounded by --denial-keys)." },
		{ "armorgate_agent_denial_event_writes_total", METRICS_COUNTER,
		  "Denial Event creates and patches sent." },
		{ "armorgate_agent_denial_event_write_failures_total", METRICS_COUNTER,
		  "Denial Event writes that failed." },
		{ "armorgate_agent_denial_annotation_patches_total", METRICS_COUNTER,
		  "Node patches of the armorgate.io/observed annotation." },
		{ "armorgate_agent_denial_annotation_bytes", METRICS_GAUGE,
		  "Size of the last armorgate.io/observed value written." },
	};
	static const char *const reasons[] = { "reason=\"keys\"", "reason=\"rate\"", "reason=\"observations\"",
					       "reason=\"kernel\"" };

	for (size_t i = 0; i < sizeof(defs) / sizeof(defs[0]); i++)
		if (metrics_define(m, defs[i].name, defs[i].kind, defs[i].help, NULL, 0) != 0)
			return -1;
	for (size_t i = 0; i < sizeof(reasons) / sizeof(reasons[0]); i++)
		metrics_add(m, DENIAL_TEL_M_DROPPED, reasons[i], 0);
	metrics_add(m, "armorgate_agent_denial_event_writes_total", "", 0);
	metrics_add(m, "armorgate_agent_denial_event_write_failures_total", "", 0);
	metrics_add(m, "armorgate_agent_denial_annotation_patches_total", "", 0);
	return 0;
}

/* ---- reader ---- */

/* One record text: parse, attribute (outside the lock: it may read /proc),
 * count, aggregate, observe. */
static void denial_tel_record(void *ctx, const char *text, size_t len)
{
	denial_telemetry *t = ctx;
	denial_record r;
	denial_who who;
	char labels[160];
	bool changed = false;

	if (denial_record_parse(text, len, &r) != DENIAL_PARSE_OK)
		return;
	denial_attr_lookup(t->attr, r.pid, &who);
	snprintf(labels, sizeof(labels), "profile=\"%s\",mode=\"%s\",operation=\"%s\"", r.profile,
		 denial_agg_mode(r.mode), denial_agg_op_label(r.operation));
	metrics_add(t->o.m, DENIAL_TEL_M_EVENTS, labels, 1);
	pthread_mutex_lock(&t->mu);
	/* A key seen before has been observed: a flood of one record costs a
	 * hash lookup here, not a walk of the observations (masks of a known
	 * key can still grow: open r, then open w). */
	if (!denial_agg_add(&t->agg, &r, &who, mono_sec(), (long long)time(NULL), &changed) || changed)
		denial_obs_add(&t->obs, &r);
	pthread_mutex_unlock(&t->mu);
}

/* "file:" testing source: complete lines from the FIFO, each from its
 * "audit(" (or the whole line). */
static int denial_tel_feed_read(denial_telemetry *t)
{
	ssize_t n = read(t->feed_fd, t->feed + t->feed_len, sizeof(t->feed) - t->feed_len);
	size_t start = 0;

	if (n < 0)
		return errno == EAGAIN || errno == EINTR ? 0 : -1;
	t->feed_len += (size_t)n;
	for (size_t i = 0; i < t->feed_len; i++) {
		if (t->feed[i] != '\n')
			continue;
		const char *line = t->feed + start;
		size_t len = i - start;
		const char *a = memmem(line, len, "audit(", 6);
		const char *text;
		size_t tlen;

		if (!a || !denial_source_avc_text(a, len - (size_t)(a - line), &text, &tlen)) {
			text = line;
			tlen = len;
		}
		denial_tel_record(t, text, tlen);
		start = i + 1;
	}
	if (start == 0 && t->feed_len == sizeof(t->feed))
		t->feed_len = 0; /* a line past the bound: dropped */
	memmove(t->feed, t->feed + start, t->feed_len - start);
	t->feed_len -= start;
	return 0;
}

static int denial_tel_fd(const denial_telemetry *t)
{
	return t->feed_fd >= 0 ? t->feed_fd : denial_source_fd(&t->src);
}

static void denial_tel_open(denial_telemetry *t)
{
	ag_err e;

	err_clear(&e);
	if (denial_source_open(&t->src, t->kind, &e) != 0) {
		log_kv(LOG_LVL_WARN,
		       "no AppArmor denial source: denials are not counted on this node (the agent needs CAP_AUDIT_READ "
		       "and the host network namespace for audit netlink, or /dev/kmsg)",
		       "source", denial_source_kind_name(t->kind), "error", e.msg, (char *)NULL);
		return;
	}
	log_kv(LOG_LVL_INFO, "reading AppArmor denials", "source", denial_source_kind_name(t->src.kind), (char *)NULL);
}

static void denial_tel_source_gauge(denial_telemetry *t, const char *kind)
{
	char l[64];

	metrics_reset_family(t->o.m, "armorgate_agent_denial_source");
	snprintf(l, sizeof(l), "kind=\"%s\"", kind);
	metrics_set(t->o.m, "armorgate_agent_denial_source", l, 1);
}

static void *denial_tel_reader(void *arg)
{
	denial_telemetry *t = arg;
	double retry_at = 0;

	while (!atomic_load(&t->stop)) {
		int fd = denial_tel_fd(t);

		if (fd < 0) {
			if (t->feed_fd < 0 && t->kind != DENIAL_SOURCE_NONE && mono_sec() >= retry_at && retry_at > 0) {
				denial_tel_open(t);
				denial_tel_source_gauge(t, denial_source_kind_name(t->src.kind));
			}
			usleep(retry_at > 0 ? 200 * 1000 : 1000 * 1000); /* no source at all: only the stop flag */
			continue;
		}
		struct pollfd p = { .fd = fd, .events = POLLIN };
		if (poll(&p, 1, 200) <= 0)
			continue;
		int rc = t->feed_fd >= 0 ? denial_tel_feed_read(t)
					 : denial_source_read(&t->src, denial_tel_record, t, DENIAL_TEL_READ_MAX);
		pthread_mutex_lock(&t->mu);
		t->src_overruns = t->src.overruns;
		pthread_mutex_unlock(&t->mu);
		if (rc < 0 && t->feed_fd < 0) {
			log_kv(LOG_LVL_WARN, "the AppArmor denial source failed; reopening it later", "error",
			       strerror(errno), (char *)NULL);
			denial_source_close(&t->src);
			denial_tel_source_gauge(t, "none");
			retry_at = mono_sec() + DENIAL_TEL_REOPEN_S;
		}
	}
	return NULL;
}

/* ---- writer ---- */

/* A copy of a due entry, written without the lock. */
typedef struct denial_tel_due {
	size_t i;
	denial_agg_entry e;
} denial_tel_due;

/* The JSON log line of one aggregated event. */
static void denial_tel_log(const denial_telemetry *t, const denial_agg_entry *e, const char *msg)
{
	char count[32], first[32], last[32];
	struct tm tm;
	time_t w;

	snprintf(count, sizeof(count), "%lu", e->count);
	w = (time_t)e->first_wall;
	strftime(first, sizeof(first), "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&w, &tm));
	w = (time_t)e->last_wall;
	strftime(last, sizeof(last), "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&w, &tm));
	log_kv(LOG_LVL_INFO, msg, "event", denial_agg_reason(e->mode), "node", t->o.node, "profile", e->profile, "mode",
	       denial_agg_mode(e->mode), "operation", e->op, "name", e->name, "mask", e->mask, "comm", e->comm,
	       "namespace", e->who.ns, "pod", e->who.pod, "podUID", e->who.uid, "container", e->who.container, "count",
	       count, "first", first, "last", last, (char *)NULL);
}

/* Creates or patches the entry's Event; on success its name is in e. */
static int denial_tel_event(denial_telemetry *t, denial_agg_entry *e, const char *msg, ag_err *err)
{
	agent_event ev;
	struct tm tm;
	time_t w = (time_t)e->first_wall;
	int rc;

	memset(&ev, 0, sizeof(ev));
	ev.target = AGENT_EVENT_POD;
	snprintf(ev.type, sizeof(ev.type), "%s", e->mode == DENIAL_ENFORCE ? "Warning" : "Normal");
	snprintf(ev.reason, sizeof(ev.reason), "%s", denial_agg_reason(e->mode));
	snprintf(ev.message, sizeof(ev.message), "%s", msg);
	snprintf(ev.name, sizeof(ev.name), "%s", e->event_name);
	ev.created = e->created;
	ev.count = e->count;
	strftime(ev.first, sizeof(ev.first), "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&w, &tm));
	snprintf(ev.obj_ns, sizeof(ev.obj_ns), "%s", e->who.ns);
	snprintf(ev.obj_name, sizeof(ev.obj_name), "%s", e->who.pod);
	snprintf(ev.obj_uid, sizeof(ev.obj_uid), "%s", e->who.uid);
	rc = agent_events_write(t->o.client, &t->where, &ev, err);
	if (rc == 0) {
		snprintf(e->event_name, sizeof(e->event_name), "%s", ev.name);
		e->created = ev.created;
	}
	return rc;
}

/* Handles one due entry (lock not held); 0, or -1 when the API failed. */
static int denial_tel_emit(denial_telemetry *t, denial_agg_entry *e)
{
	char msg[DENIAL_AGG_MSG_MAX];
	ag_err err;

	denial_agg_message(e, msg, sizeof(msg));
	denial_tel_log(t, e, "apparmor denial");
	if (!t->o.client || t->o.events_per_minute <= 0 || !e->who.ns[0])
		return 0; /* no pod to put it on, or Events are off */
	err_clear(&err);
	metrics_add(t->o.m, "armorgate_agent_denial_event_writes_total", "", 1);
	if (denial_tel_event(t, e, msg, &err) == 0)
		return 0;
	metrics_add(t->o.m, "armorgate_agent_denial_event_write_failures_total", "", 1);
	if (err.http_status >= 400 && err.http_status < 500 && err.http_status != 429) {
		/* Refused for good (a namespace being deleted, RBAC): retrying
		 * would pin the key in the table forever. */
		log_kv(LOG_LVL_WARN, "denial Event refused; not retried", "namespace", e->who.ns, "pod", e->who.pod,
		       "error", err.msg, (char *)NULL);
		return 0;
	}
	log_kv(LOG_LVL_WARN, "cannot record a denial Event; its count goes into the next write", "namespace", e->who.ns,
	       "pod", e->who.pod, "error", err.msg, (char *)NULL);
	return -1;
}

static void denial_tel_write_events(denial_telemetry *t, double now)
{
	denial_tel_due *due = NULL;
	size_t idx[DENIAL_TEL_WRITES_TICK], n;
	bool failed = false;

	if (now < t->backoff_until)
		return;
	pthread_mutex_lock(&t->mu);
	n = denial_agg_due(&t->agg, now, idx, DENIAL_TEL_WRITES_TICK);
	if (n > 0 && (due = calloc(n, sizeof(*due))) == NULL) {
		for (size_t k = 0; k < n; k++)
			denial_agg_failed(&t->agg, idx[k], t->agg.items[idx[k]].gen);
		n = 0;
	}
	for (size_t k = 0; k < n; k++) {
		due[k].i = idx[k];
		due[k].e = t->agg.items[idx[k]];
	}
	pthread_mutex_unlock(&t->mu);
	for (size_t k = 0; k < n; k++) {
		/* After a failure the API is likely down: the rest waits. */
		int rc = failed ? -1 : denial_tel_emit(t, &due[k].e);

		pthread_mutex_lock(&t->mu);
		denial_agg_entry *e = &t->agg.items[due[k].i];
		if (rc != 0)
			denial_agg_failed(&t->agg, due[k].i, due[k].e.gen);
		else if (e->gen == due[k].e.gen) {
			memcpy(e->event_name, due[k].e.event_name, sizeof(e->event_name));
			e->created = due[k].e.created;
		}
		pthread_mutex_unlock(&t->mu);
		failed |= rc != 0;
	}
	free(due);
	if (failed) {
		t->backoff_s = t->backoff_s > 0 ? t->backoff_s * 2 : 1;
		if (t->backoff_s > 60)
			t->backoff_s = 60;
		t->backoff_until = now + t->backoff_s;
	} else if (n > 0) {
		t->backoff_s = 0;
	}
}

/* What the previous run of this boot observed (a restart keeps it). */
static void denial_tel_load(denial_telemetry *t)
{
	char path[400];
	cJSON *node = NULL;
	ag_err e;

	snprintf(path, sizeof(path), "/api/v1/nodes/%s", t->o.node);
	err_clear(&e);
	if (kube_get(t->o.client, path, &node, &e) != 0) {
		if (++t->load_tries >= 3)
			t->loaded = true; /* write what this run saw rather than nothing */
		log_kv(LOG_LVL_WARN, "cannot read the Node's observed annotation", "error", e.msg, (char *)NULL);
		return;
	}
	const cJSON *ann =
		cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(node, "metadata"), "annotations");
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(ann, DENIAL_OBS_ANNOTATION);
	pthread_mutex_lock(&t->mu);
	if (cJSON_IsString(v))
		denial_obs_load(&t->obs, v->valuestring, t->o.boot_id);
	pthread_mutex_unlock(&t->mu);
	cJSON_Delete(node);
	t->loaded = true;
}

/* The merge patch of our one annotation key: nothing else on the Node is
 * touched, so agent_publish's patches (labels and armorgate.io/status,
 * with a resourceVersion precondition) and this one never clobber each
 * other (theirs sees a 409 at worst, and reads again). */
static void denial_tel_annotate(denial_telemetry *t, double now)
{
	char path[400], at[32];
	char *value, *body = NULL;
	cJSON *patch = NULL, *ann;
	ag_err e;

	if (!t->o.client || (t->annotated_at > 0 && now < t->annotated_at + DENIAL_TEL_ANNOTATION_GAP))
		return;
	if (!t->loaded)
		denial_tel_load(t);
	pthread_mutex_lock(&t->mu);
	if (!t->loaded || !t->obs.changed) {
		pthread_mutex_unlock(&t->mu);
		return;
	}
	agent_events_now(at, sizeof(at));
	value = denial_obs_render(&t->obs, t->o.boot_id, at);
	pthread_mutex_unlock(&t->mu);
	patch = cJSON_CreateObject();
	ann = patch ? cJSON_AddObjectToObject(cJSON_AddObjectToObject(patch, "metadata"), "annotations") : NULL;
	if (value && ann && cJSON_AddStringToObject(ann, DENIAL_OBS_ANNOTATION, value))
		body = cJSON_PrintUnformatted(patch);
	cJSON_Delete(patch);
	snprintf(path, sizeof(path), "/api/v1/nodes/%s", t->o.node);
	err_clear(&e);
	t->annotated_at = now;
	metrics_add(t->o.m, "armorgate_agent_denial_annotation_patches_total", "", 1);
	if (!body || kube_patch(t->o.client, path, KUBE_PATCH_MERGE, body, NULL, &e) != 0) {
		pthread_mutex_lock(&t->mu);
		t->obs.changed = true; /* again next minute */
		pthread_mutex_unlock(&t->mu);
		log_kv(LOG_LVL_WARN, "cannot write the Node's observed annotation; retried in a minute", "error",
		       body ? e.msg : "out of memory", (char *)NULL);
	} else {
		metrics_set(t->o.m, "armorgate_agent_denial_annotation_bytes", "", (double)strlen(value));
		log_kv(LOG_LVL_DEBUG, "observed annotation written", "node", t->o.node, (char *)NULL);
	}
	free(value);
	free(body);
}

static void denial_tel_count(metrics *m, const char *reason, unsigned long long now, unsigned long *seen)
{
	if (now > *seen)
		metrics_add(m, DENIAL_TEL_M_DROPPED, reason, (double)(now - *seen));
	*seen = (unsigned long)now;
}

static void denial_tel_gauges(denial_telemetry *t)
{
	pthread_mutex_lock(&t->mu);
	metrics_set(t->o.m, "armorgate_agent_denial_keys", "", (double)t->agg.n);
	denial_tel_count(t->o.m, "reason=\"keys\"", t->agg.dropped_keys, &t->seen_keys);
	denial_tel_count(t->o.m, "reason=\"rate\"", t->agg.dropped_writes, &t->seen_writes);
	denial_tel_count(t->o.m, "reason=\"observations\"", t->obs.dropped, &t->seen_obs);
	denial_tel_count(t->o.m, "reason=\"kernel\"", t->src_overruns, &t->seen_overruns);
	pthread_mutex_unlock(&t->mu);
}

static void *denial_tel_writer(void *arg)
{
	denial_telemetry *t = arg;

	while (!atomic_load(&t->stop)) {
		double now = mono_sec();

		denial_tel_write_events(t, now);
		denial_tel_annotate(t, now);
		denial_tel_gauges(t);
		for (int i = 0; i < 10 && !atomic_load(&t->stop); i++)
			usleep(100 * 1000);
	}
	return NULL;
}

/* ---- start / stop ---- */

static int denial_tel_kind(denial_telemetry *t, ag_err *err)
{
	const char *s = t->o.source;

	t->feed_fd = -1;
	if (strncmp(s, "file:", 5) == 0) {
		struct stat st;

		/* O_RDWR: the FIFO never reports a hang-up between writers. */
		t->feed_fd = open(s + 5, O_RDWR | O_NONBLOCK | O_CLOEXEC);
		if (t->feed_fd < 0)
			return err_set(err, errno, "--denial-source %s: %s", s, strerror(errno));
		if (fstat(t->feed_fd, &st) != 0 || !S_ISFIFO(st.st_mode))
			return err_set(err, EINVAL, "--denial-source %s: not a FIFO (mkfifo)", s);
		t->kind = DENIAL_SOURCE_NONE;
		return 0;
	}
	if (strcmp(s, "auto") == 0)
		t->kind = DENIAL_SOURCE_AUTO;
	else if (strcmp(s, "netlink") == 0)
		t->kind = DENIAL_SOURCE_NETLINK;
	else if (strcmp(s, "kmsg") == 0)
		t->kind = DENIAL_SOURCE_KMSG;
	else if (strcmp(s, "off") == 0)
		t->kind = DENIAL_SOURCE_NONE;
	else
		return err_set(err, EINVAL, "--denial-source: \"%s\" is not auto, netlink, kmsg or off", s);
	return 0;
}

denial_telemetry *denial_telemetry_start(const denial_telemetry_opts *o, ag_err *err)
{
	denial_telemetry *t = calloc(1, sizeof(*t));
	bool active;

	if (!t) {
		err_set(err, ENOMEM, "out of memory starting the denial telemetry");
		return NULL;
	}
	t->o = *o;
	t->src.fd = -1; /* closed until denial_source_open */
	pthread_mutex_init(&t->mu, NULL);
	denial_agg_init(&t->agg, (size_t)o->max_keys, o->events_per_minute);
	denial_obs_init(&t->obs, DENIAL_OBS_MAX_BYTES);
	agent_events_init(&t->where, o->node);
	if (denial_tel_kind(t, err) != 0)
		goto fail;
	if (denial_tel_define_metrics(o->m) != 0) {
		err_set(err, errno, "cannot define the denial metrics");
		goto fail;
	}
	if (t->feed_fd < 0 && t->kind != DENIAL_SOURCE_NONE)
		denial_tel_open(t);
	denial_tel_source_gauge(t, t->feed_fd >= 0 ? "file" : denial_source_kind_name(t->src.kind));
	/* Off (or no AppArmor): no records, so no pod watch and no threads. */
	active = t->feed_fd >= 0 || t->kind != DENIAL_SOURCE_NONE;
	t->attr = denial_attr_start(active ? o->client : NULL, o->node, o->proc_root, o->m, err);
	if (!t->attr)
		goto fail;
	if (!active)
		return t;
	if (pthread_create(&t->reader, NULL, denial_tel_reader, t) != 0) {
		err_set(err, EAGAIN, "cannot start the denial reader thread");
		goto fail;
	}
	t->reader_started = true;
	if (pthread_create(&t->writer, NULL, denial_tel_writer, t) != 0) {
		err_set(err, EAGAIN, "cannot start the denial writer thread");
		goto fail;
	}
	t->writer_started = true;
	return t;
fail:
	denial_telemetry_stop(t);
	return NULL;
}

void denial_telemetry_stop(denial_telemetry *t)
{
	if (!t)
		return;
	atomic_store(&t->stop, true);
	if (t->reader_started)
		pthread_join(t->reader, NULL);
	if (t->writer_started)
		pthread_join(t->writer, NULL);
	denial_attr_stop(t->attr);
	denial_source_close(&t->src);
	if (t->feed_fd >= 0)
		close(t->feed_fd);
	denial_agg_cleanup(&t->agg);
	denial_obs_cleanup(&t->obs);
	agent_events_cleanup(&t->where);
	pthread_mutex_destroy(&t->mu);
	free(t);
}
