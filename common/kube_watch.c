/* kube_watch: the watch stream (line splitter + event parser, both pure and
 * fuzzed) and the informer (LIST, then WATCH resumed from the last
 * resourceVersion, relist on 410 Gone, reconnect with backoff + jitter).
 * Trust boundary: every watch byte is untrusted; one line is at most
 * KUBE_WATCH_LINE_MAX bytes, a longer one ends the stream with E2BIG. */
#include "kube_internal.h"
#include "mono.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

/* ---- line splitter ---- */

struct kube_line_splitter {
	buf line;
};

kube_line_splitter *kube_line_splitter_new(size_t max_line)
{
	kube_line_splitter *s = calloc(1, sizeof(*s));

	if (!s)
		return NULL;
	buf_init(&s->line, max_line);
	return s;
}

void kube_line_splitter_free(kube_line_splitter *s)
{
	if (!s)
		return;
	buf_cleanup(&s->line);
	free(s);
}

/* Hands the assembled line to fn without a trailing '\r'; empty lines are
 * skipped (they carry no event). The line is NUL-terminated. */
static int kube_line_emit(kube_line_splitter *s, int (*fn)(void *, const char *, size_t), void *ud)
{
	size_t len = s->line.len;
	int rc = 0;

	if (len > 0 && s->line.data[len - 1] == '\r')
		s->line.data[--len] = '\0';
	if (len > 0)
		rc = fn(ud, s->line.data, len);
	buf_reset(&s->line);
	return rc;
}

int kube_line_splitter_feed(kube_line_splitter *s, const char *data, size_t len,
			    int (*fn)(void *ud, const char *line, size_t len), void *ud)
{
	while (len > 0) {
		const char *nl = memchr(data, '\n', len);
		size_t take = nl ? (size_t)(nl - data) : len;
		int rc;

		if (buf_append(&s->line, data, take) < 0) {
			/* Drop the partial line: the caller ends the stream anyway. */
			buf_reset(&s->line);
			errno = E2BIG;
			return -1;
		}
		if (!nl)
			return 0;
		data += take + 1;
		len -= take + 1;
		rc = kube_line_emit(s, fn, ud);
		if (rc != 0)
			return rc;
	}
	return 0;
}

/* ---- event parser ---- */

void kube_event_cleanup(kube_event *ev)
{
	if (!ev)
		return;
	cJSON_Delete(ev->object);
	memset(ev, 0, sizeof(*ev));
}

int kube_event_parse(const char *line, size_t len, kube_event *ev, ag_err *err)
{
	static const struct {
		const char *name;
		kube_event_type type;
	} types[] = {
		{ "ADDED", KUBE_EVENT_ADDED },     { "MODIFIED", KUBE_EVENT_MODIFIED },
		{ "DELETED", KUBE_EVENT_DELETED }, { "BOOKMARK", KUBE_EVENT_BOOKMARK },
		{ "ERROR", KUBE_EVENT_ERROR },
	};
	cJSON *root = NULL;
	const char *end = NULL;
	const cJSON *t;
	const cJSON *meta;
	const cJSON *v;
	cJSON *obj;
	bool known = false;
	int rc = -1;

	memset(ev, 0, sizeof(*ev));
	if (!line || len == 0) {
		err_set(err, EBADMSG, "watch event: empty line");
		goto out;
	}
	if (len > KUBE_WATCH_LINE_MAX) {
		err_set(err, E2BIG, "watch event: line of %zu bytes is over the %u byte limit", len,
			(unsigned)KUBE_WATCH_LINE_MAX);
		goto out;
	}
	root = cJSON_ParseWithLengthOpts(line, len, &end, 0);
	if (!cJSON_IsObject(root)) {
		err_set(err, EBADMSG, "watch event: not a JSON object");
		goto out;
	}
	/* One event per line: anything but whitespace after the object is garbage. */
	for (; end && end < line + len; end++) {
		if (*end != ' ' && *end != '\t' && *end != '\r' && *end != '\n') {
			err_set(err, EBADMSG, "watch event: trailing bytes after the JSON object");
			goto out;
		}
	}
	t = cJSON_GetObjectItemCaseSensitive(root, "type");
	if (!cJSON_IsString(t) || !t->valuestring) {
		err_set(err, EBADMSG, "watch event: no type");
		goto out;
	}
	for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
		if (strcmp(t->valuestring, types[i].name) == 0) {
			ev->type = types[i].type;
			known = true;
			break;
		}
	}
	if (!known) {
		char shown[40];
		size_t n = 0;

		for (const char *p = t->valuestring; *p && n < sizeof(shown) - 1; p++)
			shown[n++] = (*p >= 0x20 && *p < 0x7f) ? *p : '?';
		shown[n] = '\0';
		err_set(err, EBADMSG, "watch event: unknown type \"%s\"", shown);
		goto out;
	}
	obj = cJSON_DetachItemFromObjectCaseSensitive(root, "object");
	if (!cJSON_IsObject(obj)) {
		cJSON_Delete(obj);
		err_set(err, EBADMSG, "watch event %s: no object", t->valuestring);
		goto out;
	}
	ev->object = obj;
	meta = cJSON_GetObjectItemCaseSensitive(obj, "metadata");
	v = cJSON_GetObjectItemCaseSensitive(meta, "resourceVersion");
	if (cJSON_IsString(v) && v->valuestring)
		ev->resource_version = v->valuestring;
	if (ev->type == KUBE_EVENT_ERROR) {
		v = cJSON_GetObjectItemCaseSensitive(obj, "code");
		if (cJSON_IsNumber(v) && v->valuedouble >= 0 && v->valuedouble < 1000)
			ev->error_code = (long)v->valuedouble;
	} else if (ev->type == KUBE_EVENT_BOOKMARK && !ev->resource_version) {
		err_set(err, EBADMSG, "watch event BOOKMARK: no resourceVersion");
		goto out;
	}
	rc = 0;
out:
	cJSON_Delete(root);
	if (rc < 0)
		kube_event_cleanup(ev);
	return rc;
}

/* ---- informer ---- */

enum {
	KUBE_BACKOFF_MIN_MS = 500,
	KUBE_BACKOFF_MAX_MS = 30000,
	KUBE_WATCH_DEFAULT_TIMEOUT_S = 300,
	KUBE_WATCH_IDLE_SLACK_S = 60, /* past the server timeout before a silent stream counts as dead */
	KUBE_RV_MAX = 128,
};

typedef struct kube_inf {
	kube_client *c;
	const kube_informer_opts *o;
	kube_informer_stats *st;
	kube_line_splitter *sp;
	char rv[KUBE_RV_MAX];
	bool connected;
	bool need_relist;
	bool got_bytes;    /* the current watch delivered something */
	ag_err stream_err; /* why the stream was ended from inside (parse error, ERROR event) */
	bool have_stream_err;
	uint64_t rng;
} kube_inf;

static void kinf_state(kube_inf *f, bool connected, const char *why)
{
	if (f->connected == connected && connected)
		return;
	f->connected = connected;
	if (f->o->on_state)
		f->o->on_state(f->o->ud, connected, why);
}

static void kinf_set_rv(kube_inf *f, const char *rv)
{
	if (rv && rv[0] && strlen(rv) < sizeof(f->rv))
		memcpy(f->rv, rv, strlen(rv) + 1);
}

static uint64_t kinf_rand(kube_inf *f)
{
	/* xorshift64: jitter only, nothing secret. */
	f->rng ^= f->rng << 13;
	f->rng ^= f->rng >> 7;
	f->rng ^= f->rng << 17;
	return f->rng;
}

/* Sleeps about delay_ms (half fixed, half random) in short slices so the stop
 * flag is honoured promptly. */
/* Doubles a retry delay up to KUBE_BACKOFF_MAX_MS. */
static long kinf_backoff_next(long ms)
{
	return ms > KUBE_BACKOFF_MAX_MS / 2 ? KUBE_BACKOFF_MAX_MS : ms * 2;
}

static void kinf_sleep(kube_inf *f, long delay_ms)
{
	long half = delay_ms / 2;
	long total = half + (long)(kinf_rand(f) % (uint64_t)(half + 1));

	while (total > 0 && !kube_http_stopping(f->c)) {
		long slice = total < 100 ? total : 100;
		struct timespec ts = { .tv_sec = 0, .tv_nsec = slice * 1000000L };

		nanosleep(&ts, NULL);
		total -= slice;
	}
}

typedef struct kinf_items {
	cJSON *arr;
	const kube_informer_opts *o;
} kinf_items;

static int kinf_collect(void *ud, const cJSON *item)
{
	kinf_items *k = ud;
	cJSON *arr = k->arr;
	cJSON *dup = k->o->keep ? k->o->keep(k->o->ud, item) : cJSON_Duplicate(item, 1);

	if (!dup || !cJSON_AddItemToArray(arr, dup)) {
		cJSON_Delete(dup);
		return -2;
	}
	return 0;
}

static int kinf_list(kube_inf *f, ag_err *err)
{
	cJSON *items = cJSON_CreateArray();
	kinf_items k = { items, f->o };
	char *rv = NULL;
	int rc;

	if (!items)
		return err_set(err, ENOMEM, "out of memory");
	rc = kube_list(f->c, f->o->collection_path, &f->o->list, kinf_collect, &k, &rv, err);
	if (rc == -2)
		err_set(err, ENOMEM, "out of memory while listing %s", f->o->collection_path);
	if (rc == 0) {
		f->rv[0] = '\0';
		kinf_set_rv(f, rv);
		f->need_relist = false;
		kinf_state(f, true, "listed");
		f->o->on_replace(f->o->ud, items, f->rv);
	}
	free(rv);
	cJSON_Delete(items);
	return rc == 0 ? 0 : -1;
}

static int kinf_line(void *ud, const char *line, size_t len)
{
	kube_inf *f = ud;
	kube_event ev;

	if (kube_event_parse(line, len, &ev, &f->stream_err) < 0) {
		f->have_stream_err = true;
		return 1;
	}
	switch (ev.type) {
	case KUBE_EVENT_ADDED:
	case KUBE_EVENT_MODIFIED:
	case KUBE_EVENT_DELETED:
		f->st->events++;
		f->o->on_event(f->o->ud, ev.type, ev.object);
		kinf_set_rv(f, ev.resource_version);
		break;
	case KUBE_EVENT_BOOKMARK: kinf_set_rv(f, ev.resource_version); break;
	case KUBE_EVENT_ERROR: {
		const cJSON *m = cJSON_GetObjectItemCaseSensitive(ev.object, "message");

		if (ev.error_code == 410) {
			f->need_relist = true;
		} else {
			err_set(&f->stream_err, EIO, "watch ERROR event %ld: %s", ev.error_code,
				cJSON_IsString(m) && m->valuestring ? m->valuestring : "no message");
			f->have_stream_err = true;
		}
		kube_event_cleanup(&ev);
		return 1;
	}
	}
	kube_event_cleanup(&ev);
	return 0;
}

static void kinf_connected(void *ud)
{
	kinf_state(ud, true, "watching");
}

static bool kinf_write(void *ud, const char *data, size_t len)
{
	kube_inf *f = ud;
	int rc;

	f->got_bytes = true;
	rc = kube_line_splitter_feed(f->sp, data, len, kinf_line, f);
	if (rc == -1 && !f->have_stream_err && !f->need_relist) {
		err_set(&f->stream_err, E2BIG, "watch %s: event line over the %u byte limit", f->o->collection_path,
			(unsigned)KUBE_WATCH_LINE_MAX);
		f->have_stream_err = true;
	}
	return rc == 0;
}

static int kinf_watch_path(kube_inf *f, buf *p)
{
	const kube_list_opts *l = &f->o->list;
	char num[32];

	snprintf(num, sizeof(num), "%ld",
		 f->o->watch_timeout_s > 0 ? f->o->watch_timeout_s : (long)KUBE_WATCH_DEFAULT_TIMEOUT_S);
	if (buf_appends(p, f->o->collection_path) < 0)
		return -1;
	if (l->label_selector && l->label_selector[0] && kube_path_add_query(p, "labelSelector", l->label_selector) < 0)
		return -1;
	if (l->field_selector && l->field_selector[0] && kube_path_add_query(p, "fieldSelector", l->field_selector) < 0)
		return -1;
	if (kube_path_add_query(p, "watch", "true") < 0 || kube_path_add_query(p, "allowWatchBookmarks", "true") < 0 ||
	    kube_path_add_query(p, "timeoutSeconds", num) < 0)
		return -1;
	if (f->rv[0] && kube_path_add_query(p, "resourceVersion", f->rv) < 0)
		return -1;
	return 0;
}

/* One watch stream. 0 = ended cleanly (server timeout or relist needed),
 * -1 = failed (err). */
static int kinf_watch(kube_inf *f, ag_err *err)
{
	kube_req r = { .method = "GET" };
	buf path;
	bool aborted = false;
	long t = f->o->watch_timeout_s > 0 ? f->o->watch_timeout_s : (long)KUBE_WATCH_DEFAULT_TIMEOUT_S;
	int rc = -1;

	buf_init(&path, KUBE_PATH_MAX);
	if (kinf_watch_path(f, &path) < 0) {
		buf_cleanup(&path);
		return err_set(err, E2BIG, "watch %s: path too long", f->o->collection_path);
	}
	kube_line_splitter_free(f->sp);
	f->sp = kube_line_splitter_new(KUBE_WATCH_LINE_MAX);
	if (!f->sp) {
		buf_cleanup(&path);
		return err_set(err, ENOMEM, "out of memory");
	}
	f->got_bytes = false;
	f->have_stream_err = false;
	err_clear(&f->stream_err);
	r.path = buf_cstr(&path);
	r.accept = f->o->list.metadata_only ? KUBE_ACCEPT_META_WATCH : NULL;
	r.write_fn = kinf_write;
	r.write_ud = f;
	r.on_connected = kinf_connected;
	r.idle_timeout_s = t + KUBE_WATCH_IDLE_SLACK_S;
	rc = kube_http_perform(f->c, &r, &aborted, err);
	if (rc < 0 && aborted && !kube_http_stopping(f->c)) {
		if (f->need_relist) {
			rc = 0;
		} else if (f->have_stream_err) {
			memcpy(err, &f->stream_err, sizeof(*err));
		}
	} else if (rc < 0 && err && err->http_status == 410) {
		f->need_relist = true;
		rc = 0;
	}
	buf_cleanup(&path);
	return rc;
}

int kube_informer_run(kube_client *c, const kube_informer_opts *opts, kube_informer_stats *stats, ag_err *err)
{
	kube_informer_stats dummy = { 0 };
	kube_inf f;
	ag_err e;
	long backoff = KUBE_BACKOFF_MIN_MS;
	bool first = true;

	if (!c || !opts || !opts->collection_path || opts->collection_path[0] != '/' ||
	    strchr(opts->collection_path, '?') || !opts->on_replace || !opts->on_event)
		return err_set(err, EINVAL, "informer: need a collection path (no query) and on_replace/on_event");
	memset(&f, 0, sizeof(f));
	f.c = c;
	f.o = opts;
	f.st = stats ? stats : &dummy;
	f.need_relist = true;
	if (getrandom(&f.rng, sizeof(f.rng), GRND_NONBLOCK) != (ssize_t)sizeof(f.rng) || f.rng == 0)
		f.rng = (uint64_t)time(NULL) * 2654435761u + 1;

	while (!kube_http_stopping(c)) {
		int64_t t0;
		int64_t t1;
		int rc;

		err_clear(&e);
		if (f.need_relist) {
			if (!first)
				f.st->relists++;
			if (kinf_list(&f, &e) < 0) {
				if (kube_http_stopping(c))
					break;
				kinf_state(&f, false, e.msg);
				kinf_sleep(&f, backoff);
				backoff = kinf_backoff_next(backoff);
				continue;
			}
			first = false;
			backoff = KUBE_BACKOFF_MIN_MS;
		}
		t0 = mono_ms();
		rc = kinf_watch(&f, &e);
		t1 = mono_ms();
		if (kube_http_stopping(c))
			break;
		f.st->watch_restarts++;
		if (rc == 0) {
			/* A stream that ended at once with nothing in it must not spin. */
			if (!f.got_bytes && !f.need_relist && t1 - t0 < 1000) {
				kinf_sleep(&f, backoff);
				backoff = kinf_backoff_next(backoff);
			} else {
				backoff = KUBE_BACKOFF_MIN_MS;
			}
			continue;
		}
		kinf_state(&f, false, e.msg);
		if (f.got_bytes)
			backoff = KUBE_BACKOFF_MIN_MS;
		kinf_sleep(&f, backoff);
		backoff = kinf_backoff_next(backoff);
	}
	kube_line_splitter_free(f.sp);
	return 0;
}
