/* agent_source: ConfigMap directory reader + inotify, and the API informer. */
#include "agent_source.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent_host.h"
#include "buf.h"
#include "buf_file.h"
#include "log.h"

enum { AGENT_SRC_PATH_MAX = 4096 };

struct agent_cmdata {
	atomic_uint refs;
	cJSON *data; /* a ConfigMap's .data object */
};

static agent_cmdata *agent_cmdata_new(cJSON *data)
{
	agent_cmdata *d = malloc(sizeof(*d));

	if (!d)
		return NULL;
	atomic_init(&d->refs, 1);
	d->data = data;
	return d;
}

static void agent_cmdata_release(agent_cmdata *d)
{
	if (d && atomic_fetch_sub(&d->refs, 1) == 1) {
		cJSON_Delete(d->data);
		free(d);
	}
}

void agent_snapshot_free(agent_snapshot *s)
{
	if (!s)
		return;
	for (size_t i = 0; i < s->n; i++) {
		if (!s->shared) {
			free(s->items[i].key);
			free(s->items[i].text);
		}
		free(s->items[i].refusal);
	}
	free(s->items);
	agent_cmdata_release(s->shared);
	memset(s, 0, sizeof(*s));
}

/* Appends an entry. On success the snapshot owns refusal, and key/text
 * unless it is shared; on failure (-1, ENOMEM) the caller still does. */
static int agent_snapshot_add(agent_snapshot *s, size_t *cap, char *key, char *text, size_t len, char *refusal)
{
	if (buf_grow_items(&s->items, cap, s->n + 1, sizeof(*s->items), 16) != 0)
		return -1;
	s->items[s->n].key = key;
	s->items[s->n].text = text;
	s->items[s->n].len = len;
	s->items[s->n].refusal = refusal;
	s->n++;
	return 0;
}

static char *agent_source_toobig(const char *key, size_t len, size_t max)
{
	char m[256];
	snprintf(m, sizeof(m), "%s: profile is %zu bytes, over the limit of %zu bytes (--max-profile-bytes)", key, len,
		 max);
	return strdup(m);
}

/* A file refused while reading: its text "", the reason refusal (heap,
 * NULL on ENOMEM). Takes key and refusal; -1 on ENOMEM. */
static int agent_source_add_refused(agent_snapshot *s, size_t *cap, char *key, size_t len, char *refusal)
{
	char *text = strdup("");

	if (!refusal || !text || agent_snapshot_add(s, cap, key, text, len, refusal) != 0) {
		free(key);
		free(text);
		free(refusal);
		return -1;
	}
	return 0;
}

int agent_source_dir_read(const char *dir, size_t max_bytes, size_t max_count, bool confirm_empty, agent_snapshot *out,
			  agent_dir_state *state, ag_err *err)
{
	char data[AGENT_SRC_PATH_MAX], real[PATH_MAX];
	const char *from = dir;
	bool kubelet = false;
	size_t cap = 0;
	struct stat st;
	DIR *d;
	struct dirent *de;

	memset(out, 0, sizeof(*out));
	*state = AGENT_DIR_OK;
	if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
		*state = AGENT_DIR_MISSING;
		return 0;
	}
	snprintf(data, sizeof(data), "%s/..data", dir);
	if (lstat(data, &st) == 0 && S_ISLNK(st.st_mode)) {
		/* Read the resolved, immutable timestamped dir kubelet swapped in. */
		if (!realpath(data, real)) {
			*state = AGENT_DIR_EMPTY; /* mid-swap: look again shortly */
			return 0;
		}
		from = real;
		kubelet = true;
	}
	d = opendir(from);
	if (!d) {
		*state = errno == ENOENT ? AGENT_DIR_EMPTY : AGENT_DIR_MISSING;
		if (*state == AGENT_DIR_MISSING)
			return err_set(err, errno, "cannot list %s: %s", from, strerror(errno));
		return 0;
	}
	while ((de = readdir(d)) != NULL) {
		char path[AGENT_SRC_PATH_MAX];
		if (de->d_name[0] == '.')
			continue; /* ..data, ..2024_..., dotfiles */
		if ((size_t)snprintf(path, sizeof(path), "%s/%s", from, de->d_name) >= sizeof(path))
			continue;
		if (stat(path, &st) != 0 || !S_ISREG(st.st_mode))
			continue;
		if (out->n >= max_count) {
			out->over_count = true;
			break;
		}
		char *key = strdup(de->d_name), *text = NULL;
		size_t len = 0;
		int rc;
		ag_err e;

		if (!key)
			goto nomem;
		if ((size_t)st.st_size > max_bytes) {
			rc = agent_source_add_refused(out, &cap, key, (size_t)st.st_size,
						      agent_source_toobig(key, (size_t)st.st_size, max_bytes));
		} else if (buf_read_file_dup(path, max_bytes, &text, &len, &e) == 0) {
			rc = agent_snapshot_add(out, &cap, key, text, len, NULL);
			if (rc != 0) {
				free(key);
				free(text);
			}
		} else if (e.code == ENOENT) { /* swapped away under us */
			free(key);
			continue;
		} else {
			char m[AG_ERR_MSG_MAX + 64];

			snprintf(m, sizeof(m), "%s: cannot be read: %s", key, e.msg);
			rc = agent_source_add_refused(out, &cap, key, 0, strdup(m));
		}
		if (rc != 0)
			goto nomem;
	}
	closedir(d);
	if (out->n == 0 && !out->over_count && !kubelet && !confirm_empty)
		*state = AGENT_DIR_EMPTY;
	return 0;
nomem:
	closedir(d);
	agent_snapshot_free(out);
	return err_set(err, ENOMEM, "out of memory reading %s", dir);
}

int agent_source_dir_watch(const char *dir)
{
	int fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	if (fd < 0)
		return -1;
	if (inotify_add_watch(fd, dir,
			      IN_CREATE | IN_DELETE | IN_MOVED_TO | IN_MOVED_FROM | IN_CLOSE_WRITE | IN_ATTRIB |
				      IN_DELETE_SELF | IN_MOVE_SELF) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

bool agent_source_dir_drain(int fd)
{
	char b[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
	bool any = false;

	for (;;) {
		ssize_t r = read(fd, b, sizeof(b));
		if (r <= 0)
			return any;
		any = true;
	}
}

/* Fills out from data: strings copied (copy) or borrowed (out->shared set). */
static int agent_snapshot_fill_json(const cJSON *data, size_t max_bytes, size_t max_count, bool copy,
				    agent_snapshot *out, ag_err *err)
{
	size_t cap = 0;
	const cJSON *it;

	cJSON_ArrayForEach (it, data) {
		if (!it->string || !cJSON_IsString(it) || !it->valuestring)
			continue;
		if (out->n >= max_count) {
			out->over_count = true;
			break;
		}
		size_t len = strlen(it->valuestring);
		char *key = it->string;
		/* Too big: refused, its text "" (the value's own terminator). */
		char *text = len > max_bytes ? it->valuestring + len : it->valuestring;
		char *refusal = len > max_bytes ? agent_source_toobig(key, len, max_bytes) : NULL;

		if (len > max_bytes && !refusal)
			goto nomem;
		if (copy) {
			key = strdup(key);
			text = strdup(text);
		}
		if (!key || !text || agent_snapshot_add(out, &cap, key, text, len, refusal) != 0) {
			if (copy) {
				free(key);
				free(text);
			}
			free(refusal);
			goto nomem;
		}
	}
	return 0;
nomem:
	agent_snapshot_free(out);
	return err_set(err, ENOMEM, "out of memory copying the ConfigMap");
}

int agent_snapshot_from_json(const cJSON *data, size_t max_bytes, size_t max_count, agent_snapshot *out, ag_err *err)
{
	memset(out, 0, sizeof(*out));
	return agent_snapshot_fill_json(data, max_bytes, max_count, true, out, err);
}

/* ---- API source ---- */

static void agent_cmsource_set(agent_cmsource *s, const cJSON *obj, bool present)
{
	agent_cmdata *now = NULL;
	agent_cmdata *old;

	if (present) {
		/* The one copy of the texts: the informer owns obj. */
		const cJSON *d = cJSON_GetObjectItemCaseSensitive(obj, "data");
		cJSON *copy = cJSON_IsObject(d) ? cJSON_Duplicate(d, true) : cJSON_CreateObject();

		now = copy ? agent_cmdata_new(copy) : NULL;
		if (!now) {
			cJSON_Delete(copy);
			log_error("out of memory copying the profiles ConfigMap; keeping the previous copy");
			return;
		}
	}
	const cJSON *uid = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(obj, "metadata"), "uid");
	pthread_mutex_lock(&s->mu);
	old = s->data;
	s->data = now;
	snprintf(s->uid, sizeof(s->uid), "%s", present && cJSON_IsString(uid) ? uid->valuestring : "");
	s->synced = true;
	s->gen++;
	pthread_mutex_unlock(&s->mu);
	agent_cmdata_release(old);
	ssize_t w = write(s->wake[1], "x", 1);
	(void)w;
}

static void agent_cmsource_on_replace(void *ud, const cJSON *items, const char *rv)
{
	agent_cmsource *s = ud;
	const cJSON *first = cJSON_GetArrayItem(items, 0);
	agent_cmsource_set(s, first, first != NULL);
}

static void agent_cmsource_on_event(void *ud, kube_event_type type, const cJSON *obj)
{
	agent_cmsource *s = ud;
	if (type == KUBE_EVENT_ADDED || type == KUBE_EVENT_MODIFIED)
		agent_cmsource_set(s, obj, true);
	else if (type == KUBE_EVENT_DELETED)
		agent_cmsource_set(s, NULL, false);
}

static void agent_cmsource_on_state(void *ud, bool connected, const char *why)
{
	agent_cmsource *s = ud;
	pthread_mutex_lock(&s->mu);
	bool was = s->connected;
	s->connected = connected;
	pthread_mutex_unlock(&s->mu);
	if (was && !connected)
		log_kv(LOG_LVL_WARN, "lost the ConfigMap watch; retrying with backoff", "reason", why ? why : "",
		       (char *)NULL);
	else if (!was && connected)
		log_kv(LOG_LVL_INFO, "watching the profiles ConfigMap", "configmap", s->name, (char *)NULL);
	if (connected && s->on_connected)
		s->on_connected(s->on_connected_ud);
}

static void *agent_cmsource_main(void *arg)
{
	agent_cmsource *s = arg;
	char path[600], sel[400];
	ag_err e;

	snprintf(path, sizeof(path), "/api/v1/namespaces/%s/configmaps", s->ns);
	snprintf(sel, sizeof(sel), "metadata.name=%s", s->name);
	kube_informer_opts o;
	memset(&o, 0, sizeof(o));
	o.collection_path = path;
	o.list.field_selector = sel;
	o.on_replace = agent_cmsource_on_replace;
	o.on_event = agent_cmsource_on_event;
	o.on_state = agent_cmsource_on_state;
	o.ud = s;
	if (kube_informer_run(s->client, &o, NULL, &e) != 0)
		log_kv(LOG_LVL_ERROR, "ConfigMap informer stopped", "error", e.msg, (char *)NULL);
	return NULL;
}

int agent_cmsource_start(agent_cmsource *s, kube_client *c, const char *ns, const char *name, size_t max_bytes,
			 size_t max_count, void (*on_connected)(void *ud), void *ud, ag_err *err)
{
	memset(s, 0, sizeof(*s));
	s->on_connected = on_connected;
	s->on_connected_ud = ud;
	s->client = c;
	snprintf(s->ns, sizeof(s->ns), "%s", ns);
	snprintf(s->name, sizeof(s->name), "%s", name);
	s->max_bytes = max_bytes;
	s->max_count = max_count;
	if (pipe2(s->wake, O_CLOEXEC | O_NONBLOCK) != 0)
		return err_set(err, errno, "pipe: %s", strerror(errno));
	pthread_mutex_init(&s->mu, NULL);
	if (pthread_create(&s->thread, NULL, agent_cmsource_main, s) != 0) {
		close(s->wake[0]);
		close(s->wake[1]);
		pthread_mutex_destroy(&s->mu);
		return err_set(err, EAGAIN, "cannot start the ConfigMap informer thread");
	}
	s->started = true;
	return 0;
}

void agent_cmsource_stop(agent_cmsource *s)
{
	if (!s->started)
		return;
	pthread_join(s->thread, NULL);
	agent_cmdata_release(s->data);
	s->data = NULL;
	close(s->wake[0]);
	close(s->wake[1]);
	pthread_mutex_destroy(&s->mu);
	s->started = false;
}

int agent_cmsource_snapshot(agent_cmsource *s, agent_snapshot *out, unsigned long *gen, ag_err *err)
{
	agent_cmdata *d = NULL;
	bool synced;

	memset(out, 0, sizeof(*out));
	pthread_mutex_lock(&s->mu);
	synced = s->synced;
	if (synced) {
		*gen = s->gen;
		d = s->data;
		if (d)
			atomic_fetch_add(&d->refs, 1);
		snprintf(out->uid, sizeof(out->uid), "%s", s->uid);
	}
	pthread_mutex_unlock(&s->mu);
	if (!synced)
		return 0;
	if (!d) {
		out->missing = true; /* absent, which is not empty: the caller keeps everything */
		return 1;
	}
	/* The data is immutable once published: read it without the lock. */
	out->shared = d;
	if (agent_snapshot_fill_json(d->data, s->max_bytes, s->max_count, false, out, err) != 0)
		return -1;
	return 1;
}

void agent_cmsource_drain(agent_cmsource *s)
{
	char b[64];
	while (read(s->wake[0], b, sizeof(b)) > 0) {
	}
}
