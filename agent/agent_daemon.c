/* agent_daemon: source -> validate -> plan -> load -> confirm -> publish. */
#include "agent_daemon.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "aaparser.h"
#include "agent_host.h"
#include "agent_kernel.h"
#include "agent_loader.h"
#include "agent_node.h"
#include "agent_plan.h"
#include "agent_publish.h"
#include "agent_source.h"
#include "config.h"
#include "kube.h"
#include "log.h"
#include "metrics.h"
#include "probe.h"
#include "sig.h"

/* What we remember about a key between cycles: the validation verdict for
 * its content (so unchanged content is never re-compiled), and whether
 * that content already failed to load (so it is not retried every poll). */
typedef struct agent_memo {
	char name[256];
	char sha256[AGENT_SHA256_HEX];
	bool ok;
	bool load_failed;
	bool reported; /* Event posted for this (content, failure) */
	char message[AGENT_MSG_CAP];
	bool seen;
} agent_memo;

typedef struct agent_daemon {
	const agent_opts *o;
	agent_host host;
	agent_loader loader;
	char staging[4200], cache[4200];
	bool apparmor;
	char boot_id[64];
	metrics *m;
	kube_client *kc;
	agent_publisher *pub;
	agent_cmsource cm;
	bool use_cm;
	int inotify_fd;
	atomic_bool ready;
	agent_memo *memo;
	size_t nmemo, capmemo;
	bool have_desired;        /* a source snapshot has been applied once */
	bool empty_pending;       /* dir read empty, waiting to confirm */
	unsigned long cm_gen_seen;
	char last_source_error[AG_ERR_MSG_MAX];
} agent_daemon;

static volatile sig_atomic_t agent_stop_flag;

static double agent_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static bool agent_ready(void *ud, char *why, size_t cap)
{
	agent_daemon *d = ud;
	if (atomic_load(&d->ready))
		return true;
	snprintf(why, cap, "first reconcile not finished");
	return false;
}

static agent_memo *agent_memo_get(agent_daemon *d, const char *name)
{
	for (size_t i = 0; i < d->nmemo; i++)
		if (strcmp(d->memo[i].name, name) == 0)
			return &d->memo[i];
	if (d->nmemo == d->capmemo) {
		size_t ncap = d->capmemo ? d->capmemo * 2 : 32;
		agent_memo *nm = realloc(d->memo, ncap * sizeof(*nm));
		if (!nm)
			return NULL;
		d->memo = nm;
		d->capmemo = ncap;
	}
	agent_memo *m = &d->memo[d->nmemo++];
	memset(m, 0, sizeof(*m));
	snprintf(m->name, sizeof(m->name), "%s", name);
	return m;
}

static void agent_memo_sweep(agent_daemon *d)
{
	size_t w = 0;
	for (size_t i = 0; i < d->nmemo; i++) {
		if (d->memo[i].seen) {
			d->memo[i].seen = false;
			d->memo[w++] = d->memo[i];
		}
	}
	d->nmemo = w;
}

static void agent_report_refusal(agent_daemon *d, agent_memo *m, const char *reason)
{
	if (m->reported)
		return;
	m->reported = true;
	log_kv(LOG_LVL_ERROR, "profile refused; the last good version (if any) stays loaded", "profile", m->name,
	       "reason", m->message, (char *)NULL);
	char msg[AGENT_MSG_CAP + 300];
	snprintf(msg, sizeof(msg), "AppArmor profile %s refused on this node: %s", m->name, m->message);
	agent_publisher_event(d->pub, "Warning", reason, msg);
}

/* Validation with the webhook's rules (common/profile), memoised by content
 * hash so only new or changed texts are checked (and compiled). Fills
 * desired[] (borrowing snapshot strings). Returns the count. */
static size_t agent_validate(agent_daemon *d, const agent_snapshot *s, agent_desired *desired)
{
	profile_entry *todo = calloc(s->n ? s->n : 1, sizeof(*todo));
	size_t *todo_idx = calloc(s->n ? s->n : 1, sizeof(*todo_idx));
	size_t ntodo = 0;

	for (size_t i = 0; i < s->n; i++) {
		agent_desired *x = &desired[i];
		memset(x, 0, sizeof(*x));
		x->name = s->keys[i];
		x->text = s->texts[i];
		x->len = s->lens[i];
		agent_plan_sha256(s->texts[i], s->refusals[i] ? 0 : s->lens[i], x->sha256);
		agent_memo *m = agent_memo_get(d, s->keys[i]);
		if (!m)
			continue;
		m->seen = true;
		if (strcmp(m->sha256, x->sha256) != 0 || (s->refusals[i] && strcmp(m->message, s->refusals[i]) != 0)) {
			snprintf(m->sha256, sizeof(m->sha256), "%s", x->sha256);
			m->ok = false;
			m->load_failed = false;
			m->reported = false;
			m->message[0] = '\0';
			if (s->refusals[i]) {
				snprintf(m->message, sizeof(m->message), "%s", s->refusals[i]);
			} else if (todo && todo_idx) {
				todo[ntodo].key = s->keys[i];
				todo[ntodo].text = s->texts[i];
				todo[ntodo].len = s->lens[i];
				todo_idx[ntodo++] = i;
				snprintf(m->message, sizeof(m->message), "pending");
			}
		}
	}
	if (ntodo > 0) {
		profile_limits lim;
		ag_err ce;
		memset(&lim, 0, sizeof(lim));
		err_clear(&ce);
		lim.max_bytes = (size_t)d->o->max_profile_bytes;
		/* The count limit was applied to the whole source already. */
		lim.max_count = s->n;
		/* Where profiles are loaded, the compile half of the check runs with
		 * the load, batched, against this kernel's features
		 * (agent_loader_load_checked): compiling here too would compile every
		 * profile twice. Where nothing is loaded, it runs here. */
		double t0 = agent_now();
		(void)profile_check_entries(todo, ntodo, &lim, &ce);
		if (d->o->compile_check && !d->apparmor) {
			aaparser_opts po;

			memset(&po, 0, sizeof(po));
			po.parser_path = d->loader.parser;
			po.timeout_ms = d->o->parser_timeout_s * 1000;
			(void)aaparser_compile_entries(todo, ntodo, &po);
		}
		metrics_observe(d->m, "armorgate_agent_validate_duration_seconds", "", agent_now() - t0);
		for (size_t j = 0; j < ntodo; j++) {
			agent_memo *m = agent_memo_get(d, s->keys[todo_idx[j]]);
			if (!m)
				continue;
			m->ok = todo[j].ok;
			snprintf(m->message, sizeof(m->message), "%s", todo[j].ok ? "" : todo[j].message);
		}
	}
	for (size_t i = 0; i < s->n; i++) {
		agent_memo *m = agent_memo_get(d, s->keys[i]);
		if (!m)
			continue;
		desired[i].ok = m->ok && !m->load_failed;
		desired[i].message = m->message;
		if (!m->ok)
			agent_report_refusal(d, m, "ProfileRefused");
	}
	agent_memo_sweep(d);
	free(todo);
	free(todo_idx);
	return s->n;
}

static void agent_set_state_metrics(agent_daemon *d, const agent_pstatus *ps, size_t n)
{
	double loaded = 0, error = 0, deferred = 0;
	for (size_t i = 0; i < n; i++) {
		if (strcmp(ps[i].state, "loaded") == 0)
			loaded++;
		else if (strcmp(ps[i].state, "removal-deferred") == 0)
			deferred++;
		else
			error++;
	}
	metrics_set(d->m, "armorgate_agent_profiles", "state=\"loaded\"", loaded);
	metrics_set(d->m, "armorgate_agent_profiles", "state=\"error\"", error);
	metrics_set(d->m, "armorgate_agent_profiles", "state=\"removal-deferred\"", deferred);
}

static void agent_publish(agent_daemon *d, const agent_klist *k, const agent_pstatus *ps, size_t n)
{
	cJSON *labels = agent_node_wanted_labels(d->apparmor, k);
	agent_status st = { d->apparmor, ARMORGATE_VERSION, d->boot_id, ps, n };
	if (!labels) {
		log_error("out of memory computing node labels");
		return;
	}
	agent_publisher_submit(d->pub, labels, &st);
	cJSON_Delete(labels);
	agent_set_state_metrics(d, ps, n);
}

static void agent_pstatus_fill(agent_pstatus *p, const char *name, const char *sha, const agent_klist *k,
			       const char *state, const char *msg)
{
	memset(p, 0, sizeof(*p));
	snprintf(p->name, sizeof(p->name), "%s", name);
	snprintf(p->sha256, sizeof(p->sha256), "%s", sha ? sha : "");
	const agent_kprofile *kp = agent_kernel_find(k, name);
	snprintf(p->mode, sizeof(p->mode), "%s", kp ? kp->mode : "");
	p->state = state;
	snprintf(p->message, sizeof(p->message), "%s", msg ? msg : "");
}

/* At start: labels that match the kernel as it is (a rebooted node lost its
 * profiles), before anything is loaded. */
static void agent_publish_kernel_state(agent_daemon *d, bool wait)
{
	agent_klist k = { NULL, 0 };
	agent_ondisk *disk = NULL;
	size_t ndisk = 0, n = 0;
	agent_pstatus *ps = NULL;
	ag_err e;

	if (d->apparmor) {
		if (agent_host_kernel_list(&d->host, &k, &e) != 0)
			log_kv(LOG_LVL_WARN, "cannot read the kernel profile list", "error", e.msg, (char *)NULL);
		if (agent_host_disk_list(&d->host, &disk, &ndisk, &e) != 0)
			ndisk = 0;
		ps = calloc(k.n ? k.n : 1, sizeof(*ps));
		for (size_t i = 0; ps && i < k.n; i++) {
			if (!agent_plan_managed_name(k.items[i].name))
				continue;
			const char *sha = "";
			for (size_t j = 0; j < ndisk; j++)
				if (strcmp(disk[j].name, k.items[i].name) == 0)
					sha = disk[j].sha256;
			agent_pstatus_fill(&ps[n++], k.items[i].name, sha, &k, "loaded", "");
		}
	}
	agent_publish(d, &k, ps, ps ? n : 0);
	if (wait && !agent_publisher_wait(d->pub, 5000))
		log_warn("node labels not yet published (API unreachable or Node missing?); loading anyway, publishing keeps retrying");
	free(ps);
	agent_host_disk_free(disk, ndisk);
	agent_kernel_list_cleanup(&k);
}

static int agent_pstatus_cmp(const void *a, const void *b)
{
	return strcmp(((const agent_pstatus *)a)->name, ((const agent_pstatus *)b)->name);
}

/* Unsupported node: validate for the status (refusals are still worth
 * seeing), load nothing, label unsupported. */
static void agent_cycle_unsupported(agent_daemon *d, const agent_snapshot *s, agent_desired *desired, size_t nd)
{
	agent_pstatus *ps = calloc(nd ? nd : 1, sizeof(*ps));
	size_t n = 0;
	agent_klist none = { NULL, 0 };

	for (size_t i = 0; ps && i < nd; i++)
		if (!desired[i].ok)
			agent_pstatus_fill(&ps[n++], desired[i].name, desired[i].sha256, &none, "error",
					   desired[i].message);
	if (ps && n > 1)
		qsort(ps, n, sizeof(*ps), agent_pstatus_cmp);
	agent_publish(d, &none, ps, ps ? n : 0);
	free(ps);
	(void)s;
}

/* Before anything is unloaded the Node stops claiming it: publishes the
 * labels and status of the kernel as it is, minus the profiles about to be
 * removed, and waits until the Node has them. A label may claim less than the
 * kernel holds, never more: when this cannot be published (API down, or the
 * agent's RBAC already deleted during an uninstall) nothing is unloaded this
 * cycle. Returns true when the removals may go ahead. */
static bool agent_withdraw_labels(agent_daemon *d, const agent_plan *p)
{
	agent_klist k = { NULL, 0 }, keep = { NULL, 0 };
	agent_pstatus *ps = NULL;
	size_t n = 0;
	bool any = false, ok = false;
	ag_err e;

	for (size_t i = 0; i < p->n; i++)
		if (p->items[i].action == AGENT_ACT_REMOVE && p->items[i].in_kernel)
			any = true;
	if (!any)
		return true;
	if (agent_host_kernel_list(&d->host, &k, &e) != 0) {
		log_kv(LOG_LVL_ERROR, "cannot read the kernel profile list", "error", e.msg, (char *)NULL);
		return false;
	}
	keep.items = calloc(k.n ? k.n : 1, sizeof(*keep.items));
	ps = calloc(k.n ? k.n : 1, sizeof(*ps));
	if (!keep.items || !ps) {
		log_error("out of memory withdrawing node labels");
		goto out;
	}
	for (size_t i = 0; i < k.n; i++) {
		const agent_plan_item *it = NULL;
		for (size_t j = 0; j < p->n; j++)
			if (strcmp(p->items[j].name, k.items[i].name) == 0)
				it = &p->items[j];
		if (it && it->action == AGENT_ACT_REMOVE)
			continue;
		/* Borrowed names: keep is freed as an array only. */
		keep.items[keep.n++] = k.items[i];
		if (agent_plan_managed_name(k.items[i].name))
			agent_pstatus_fill(&ps[n++], k.items[i].name, it ? it->sha256 : "", &k, "loaded", "");
	}
	agent_publish(d, &keep, ps, n);
	ok = agent_publisher_wait(d->pub, 5000);
	if (!ok)
		log_warn("cannot withdraw the node labels of the profiles to remove; keeping them loaded, retrying next cycle");
out:
	free(ps);
	free(keep.items);
	agent_kernel_list_cleanup(&k);
	return ok;
}

/* Executes a plan; returns the per-profile status array (heap, *nout). */
static agent_pstatus *agent_execute(agent_daemon *d, const agent_plan *p, const agent_desired *desired,
				    agent_klist *k, size_t *nout)
{
	const char **files = calloc(p->n ? p->n : 1, sizeof(*files));
	const char **keys = calloc(p->n ? p->n : 1, sizeof(*keys));
	const char **texts = calloc(p->n ? p->n : 1, sizeof(*texts));
	size_t *lens = calloc(p->n ? p->n : 1, sizeof(*lens));
	char **paths = calloc(p->n ? p->n : 1, sizeof(*paths));
	size_t *which = calloc(p->n ? p->n : 1, sizeof(*which));
	agent_load_result *res = calloc(p->n ? p->n : 1, sizeof(*res));
	char (*rmerr)[AGENT_MSG_CAP] = calloc(p->n ? p->n : 1, sizeof(*rmerr));
	bool *removed = calloc(p->n ? p->n : 1, sizeof(*removed));
	agent_pstatus *ps = calloc(p->n ? p->n : 1, sizeof(*ps));
	size_t nf = 0, n = 0;
	bool unlabelled = false;
	ag_err e;

	*nout = 0;
	if (!files || !keys || !texts || !lens || !paths || !which || !res || !rmerr || !removed || !ps) {
		log_error("out of memory executing the reconcile plan");
		free(ps);
		ps = NULL;
		goto out;
	}
	/* 1. Stage new/changed texts; unchanged-on-disk ones load from their file. */
	for (size_t i = 0; i < p->n; i++) {
		const agent_plan_item *it = &p->items[i];
		if (it->action != AGENT_ACT_LOAD)
			continue;
		const agent_desired *x = &desired[it->desired];
		char path[4300];
		if (it->write) {
			if (agent_host_write_atomic(d->staging, it->name, x->text, x->len, &e) != 0) {
				snprintf(res[i].message, sizeof(res[i].message), "%s", e.msg);
				continue;
			}
			snprintf(path, sizeof(path), "%s/%s", d->staging, it->name);
		} else {
			snprintf(path, sizeof(path), "%s/%s", d->o->host_dir, it->name);
		}
		paths[nf] = strdup(path);
		if (!paths[nf])
			continue;
		files[nf] = paths[nf];
		keys[nf] = it->name;
		texts[nf] = x->text;
		lens[nf] = x->len;
		which[nf++] = i;
	}
	/* 2. One batched parser run (per-profile fallback inside). */
	if (nf > 0) {
		agent_load_result *lr = calloc(nf, sizeof(*lr));
		agent_load_stats ls = { 0, false, 0 };
		aaparser_opts po;
		memset(&po, 0, sizeof(po));
		po.parser_path = d->loader.parser;
		po.timeout_ms = d->o->parser_timeout_s * 1000;
		if (lr) {
			if (agent_loader_load_checked(&d->loader, files, keys, texts, lens, nf,
						      d->o->compile_check ? &po : NULL, lr, &ls, &e) != 0)
				log_kv(LOG_LVL_ERROR, "cannot run apparmor_parser", "error", e.msg, (char *)NULL);
			for (size_t j = 0; j < nf; j++)
				res[which[j]] = lr[j];
			free(lr);
		}
		metrics_add(d->m, "armorgate_agent_parser_runs_total", "", ls.parser_runs);
		metrics_observe(d->m, "armorgate_agent_load_duration_seconds", "", ls.seconds);
		log_kv(LOG_LVL_DEBUG, "parser batch done", "batched", ls.batch_ok ? "ok" : "fallback", (char *)NULL);
	}
	/* 3. Loaded ones move into place; failed ones are forgotten from staging
	 *    so the disk keeps the last good version. */
	for (size_t i = 0; i < p->n; i++) {
		const agent_plan_item *it = &p->items[i];
		if (it->action != AGENT_ACT_LOAD)
			continue;
		if (res[i].ok) {
			metrics_add(d->m, "armorgate_agent_loads_total", "", 1);
			if (it->write && agent_host_move(d->staging, d->o->host_dir, it->name, &e) != 0)
				log_kv(LOG_LVL_ERROR, "loaded but cannot store the profile file", "profile", it->name,
				       "error", e.msg, (char *)NULL);
		} else {
			if (!res[i].refused)
				metrics_add(d->m, "armorgate_agent_load_failures_total", "", 1);
			if (it->write && agent_host_remove_file(d->staging, it->name, &e) != 0)
				log_kv(LOG_LVL_WARN, "cannot clean staging", "error", e.msg, (char *)NULL);
			agent_memo *m = agent_memo_get(d, it->name);
			if (m && res[i].refused) {
				/* The pre-load gate refused it: a validation verdict (kept
				 * for this content, like one from agent_validate). */
				m->ok = false;
				snprintf(m->message, sizeof(m->message), "%s", res[i].message);
				agent_report_refusal(d, m, "ProfileRefused");
			} else if (m) {
				m->load_failed = true;
				m->seen = false;
				/* A long parser message is cut to the size of the status field. */
				if (snprintf(m->message, sizeof(m->message), "%s: load failed: %s", it->name,
					     res[i].message[0] ? res[i].message : "unknown error") < 0)
					m->message[0] = '\0';
				agent_report_refusal(d, m, "ProfileLoadFailed");
			}
		}
	}
	/* 4. Removals: only what plan said is confining nothing, and only once
	 * the Node no longer claims it. */
	unlabelled = agent_withdraw_labels(d, p);
	for (size_t i = 0; i < p->n; i++) {
		const agent_plan_item *it = &p->items[i];
		if (it->action != AGENT_ACT_REMOVE)
			continue;
		if (it->in_kernel && !unlabelled) {
			snprintf(rmerr[i], sizeof(rmerr[i]),
				 "not unloaded yet: its node label could not be withdrawn first; retried each cycle");
			continue;
		}
		if (it->in_kernel && agent_loader_remove(&d->loader, it->name, &e) != 0) {
			snprintf(rmerr[i], sizeof(rmerr[i]), "%s", e.msg);
			log_kv(LOG_LVL_ERROR, "cannot unload profile", "profile", it->name, "error", e.msg, (char *)NULL);
			continue;
		}
		if (agent_host_remove_file(d->o->host_dir, it->name, &e) != 0) {
			snprintf(rmerr[i], sizeof(rmerr[i]), "%s", e.msg);
			continue;
		}
		removed[i] = true;
		log_kv(LOG_LVL_INFO, "profile removed", "profile", it->name, (char *)NULL);
	}
	/* 5. Confirm with the kernel's own list before anything is labelled. */
	agent_kernel_list_cleanup(k);
	if (agent_host_kernel_list(&d->host, k, &e) != 0)
		log_kv(LOG_LVL_ERROR, "cannot re-read the kernel profile list", "error", e.msg, (char *)NULL);
	for (size_t i = 0; i < p->n; i++) {
		const agent_plan_item *it = &p->items[i];
		const agent_memo *m = NULL;
		char msg[AGENT_MSG_CAP];
		bool listed = agent_kernel_find(k, it->name) != NULL;
		for (size_t j = 0; j < d->nmemo; j++)
			if (strcmp(d->memo[j].name, it->name) == 0)
				m = &d->memo[j];
		switch (it->action) {
		case AGENT_ACT_SKIP:
			agent_pstatus_fill(&ps[n++], it->name, it->sha256, k, listed ? "loaded" : "error",
					   listed ? "" : "missing from the kernel profile list");
			break;
		case AGENT_ACT_LOAD:
			if (res[i].ok && listed) {
				agent_pstatus_fill(&ps[n++], it->name, it->sha256, k, "loaded", "");
				log_kv(LOG_LVL_INFO, "profile loaded", "profile", it->name, "mode",
				       agent_kernel_find(k, it->name)->mode, (char *)NULL);
			} else if (res[i].ok) {
				agent_pstatus_fill(&ps[n++], it->name, it->sha256, k, "error",
						   "the parser succeeded but the kernel does not list the profile");
			} else {
				agent_pstatus_fill(&ps[n++], it->name, it->sha256, k, "error",
						   m ? m->message : res[i].message);
			}
			break;
		case AGENT_ACT_REFUSED:
			agent_pstatus_fill(&ps[n++], it->name, it->sha256, k, "error", it->message);
			break;
		case AGENT_ACT_DEFER:
			snprintf(msg, sizeof(msg), "%lu process(es) still confined by it; removal retried each cycle",
				 it->confined);
			agent_pstatus_fill(&ps[n++], it->name, it->sha256, k, "removal-deferred", msg);
			break;
		case AGENT_ACT_REMOVE:
			if (!removed[i])
				agent_pstatus_fill(&ps[n++], it->name, it->sha256, k, "error", rmerr[i]);
			break;
		}
	}
	*nout = n;
out:
	for (size_t j = 0; paths && j < nf; j++)
		free(paths[j]);
	free(paths);
	free(files);
	free(keys);
	free(texts);
	free(lens);
	free(which);
	free(res);
	free(rmerr);
	free(removed);
	return ps;
}

/* Gets the newest desired set. Returns 1 with a snapshot, 0 when the source
 * has nothing authoritative yet (change nothing), -1 on error. */
static int agent_take_snapshot(agent_daemon *d, agent_snapshot *s)
{
	ag_err e;
	err_clear(&e);
	if (d->use_cm) {
		unsigned long gen = 0;
		agent_cmsource_drain(&d->cm);
		if (!agent_cmsource_snapshot(&d->cm, s, &gen, &e))
			return e.msg[0] ? -1 : 0;
		d->cm_gen_seen = gen;
		return 1;
	}
	agent_dir_state st;
	if (agent_source_dir_read(d->o->profiles_dir, (size_t)d->o->max_profile_bytes, (size_t)d->o->max_profiles,
				  d->empty_pending, s, &st, &e) != 0) {
		if (strcmp(d->last_source_error, e.msg) != 0)
			log_kv(LOG_LVL_ERROR, "cannot read the profiles directory", "error", e.msg, (char *)NULL);
		snprintf(d->last_source_error, sizeof(d->last_source_error), "%s", e.msg);
		return -1;
	}
	if (st == AGENT_DIR_MISSING) {
		if (strcmp(d->last_source_error, "missing") != 0)
			log_kv(LOG_LVL_WARN, "profiles directory missing; changing nothing until it appears", "dir",
			       d->o->profiles_dir, (char *)NULL);
		snprintf(d->last_source_error, sizeof(d->last_source_error), "missing");
		d->empty_pending = false;
		return 0;
	}
	if (st == AGENT_DIR_EMPTY) {
		/* Possibly mid-update: confirm on a re-read shortly. */
		d->empty_pending = true;
		return 0;
	}
	d->empty_pending = false;
	d->last_source_error[0] = '\0';
	return 1;
}

/* One full reconcile. Returns true when it ran on an authoritative snapshot. */
static bool agent_cycle(agent_daemon *d)
{
	agent_snapshot s;
	agent_desired *desired = NULL;
	agent_klist k = { NULL, 0 };
	agent_ondisk *disk = NULL;
	agent_confined *conf = NULL;
	size_t nd = 0, ndisk = 0, nconf = 0, nps = 0;
	agent_plan plan;
	agent_pstatus *ps = NULL;
	double t0 = agent_now();
	bool full = false;
	ag_err e;

	memset(&s, 0, sizeof(s));
	memset(&plan, 0, sizeof(plan));
	int got = agent_take_snapshot(d, &s);
	if (got == 1 && s.over_count) {
		char msg[256];
		snprintf(msg, sizeof(msg), "the profiles source holds more than %ld profiles (--max-profiles); ignoring it",
			 d->o->max_profiles);
		if (strcmp(d->last_source_error, msg) != 0) {
			log_kv(LOG_LVL_ERROR, "profiles source refused", "reason", msg, (char *)NULL);
			agent_publisher_event(d->pub, "Warning", "ProfilesRefused", msg);
		}
		snprintf(d->last_source_error, sizeof(d->last_source_error), "%s", msg);
		got = 0;
	}
	if (got != 1) {
		/* Nothing authoritative: keep everything, but keep the labels
		 * honest about what the kernel has. */
		if (!d->have_desired) {
			agent_snapshot_free(&s);
			return false;
		}
		agent_snapshot_free(&s);
		memset(&s, 0, sizeof(s));
		/* Re-run on the last applied desired set is not kept; a
		 * label refresh from the kernel is enough. */
		agent_publish_kernel_state(d, false);
		return false;
	}
	d->have_desired = true;
	desired = calloc(s.n ? s.n : 1, sizeof(*desired));
	if (!desired)
		goto out;
	nd = agent_validate(d, &s, desired);
	if (!d->apparmor) {
		agent_cycle_unsupported(d, &s, desired, nd);
		full = true;
		goto out;
	}
	if (agent_host_kernel_list(&d->host, &k, &e) != 0) {
		log_kv(LOG_LVL_ERROR, "cannot read the kernel profile list; nothing changed", "error", e.msg, (char *)NULL);
		goto out;
	}
	if (agent_host_disk_list(&d->host, &disk, &ndisk, &e) != 0) {
		log_kv(LOG_LVL_ERROR, "cannot list the host profiles directory; nothing changed", "error", e.msg,
		       (char *)NULL);
		goto out;
	}
	if (agent_host_confined(&d->host, &conf, &nconf, &e) != 0) {
		log_kv(LOG_LVL_ERROR, "cannot scan processes; nothing changed", "error", e.msg, (char *)NULL);
		goto out;
	}
	if (agent_plan_build(desired, nd, disk, ndisk, &k, conf, nconf, &plan, &e) != 0) {
		log_kv(LOG_LVL_ERROR, "cannot plan", "error", e.msg, (char *)NULL);
		goto out;
	}
	if (plan.nload || plan.nremove)
		log_kv(LOG_LVL_INFO, "reconciling", "load", plan.nload ? "yes" : "no", "remove",
		       plan.nremove ? "yes" : "no", (char *)NULL);
	ps = agent_execute(d, &plan, desired, &k, &nps);
	agent_publish(d, &k, ps, ps ? nps : 0);
	full = true;
out:
	if (full) {
		metrics_observe(d->m, "armorgate_agent_reconcile_duration_seconds", "", agent_now() - t0);
		metrics_set(d->m, "armorgate_agent_last_reconcile_timestamp_seconds", "", (double)time(NULL));
	}
	free(ps);
	agent_plan_cleanup(&plan);
	agent_host_confined_free(conf, nconf);
	agent_host_disk_free(disk, ndisk);
	agent_kernel_list_cleanup(&k);
	free(desired);
	agent_snapshot_free(&s);
	return full;
}

static int agent_define_metrics(metrics *m)
{
	static const double rb[] = { 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30 };
	const size_t nb = sizeof(rb) / sizeof(rb[0]);
	if (metrics_define(m, "armorgate_agent_profiles", METRICS_GAUGE, "Managed profiles by state.", NULL, 0) ||
	    metrics_define(m, "armorgate_agent_loads_total", METRICS_COUNTER, "Profiles loaded into the kernel.", NULL, 0) ||
	    metrics_define(m, "armorgate_agent_load_failures_total", METRICS_COUNTER, "Profile loads that failed.", NULL,
			   0) ||
	    metrics_define(m, "armorgate_agent_parser_runs_total", METRICS_COUNTER, "apparmor_parser runs for loading.",
			   NULL, 0) ||
	    metrics_define(m, "armorgate_agent_reconcile_duration_seconds", METRICS_HISTOGRAM,
			   "Duration of a full reconcile.", rb, nb) ||
	    metrics_define(m, "armorgate_agent_load_duration_seconds", METRICS_HISTOGRAM,
			   "Duration of a batched parser load (fallback included).", rb, nb) ||
	    metrics_define(m, "armorgate_agent_validate_duration_seconds", METRICS_HISTOGRAM,
			   "Duration of validating new or changed profiles.", rb, nb) ||
	    metrics_define(m, "armorgate_agent_last_reconcile_timestamp_seconds", METRICS_GAUGE,
			   "Unix time of the last full reconcile.", NULL, 0) ||
	    metrics_define(m, "armorgate_agent_node_patches_total", METRICS_COUNTER, "Node PATCH requests sent.", NULL,
			   0) ||
	    metrics_define(m, "armorgate_agent_node_patch_failures_total", METRICS_COUNTER,
			   "Failed attempts to publish node readiness.", NULL, 0) ||
	    metrics_define(m, "armorgate_agent_apparmor_enabled", METRICS_GAUGE, "1 when AppArmor is usable.", NULL, 0))
		return -1;
	return 0;
}

static void agent_on_api_back(void *ud)
{
	agent_publisher_kick(ud);
}

static void agent_loop(agent_daemon *d)
{
	const agent_opts *o = d->o;
	double next_poll = 0;
	bool pending = true;
	while (!sig_stop_requested()) {
		double now = agent_now();
		if (pending || now >= next_poll) {
			if (!pending && !d->use_cm) {
				/* Timed cycle: re-arm the watch first, so a directory that
				 * was removed and re-created (the old watch is gone) is
				 * watched again; nothing is missed since we read after. */
				if (d->inotify_fd >= 0)
					close(d->inotify_fd);
				d->inotify_fd = agent_source_dir_watch(o->profiles_dir);
			}
			pending = false;
			if (agent_cycle(d) && !atomic_load(&d->ready)) {
				atomic_store(&d->ready, true);
				log_info("first reconcile done; ready");
			}
			if (!d->use_cm && d->inotify_fd < 0)
				d->inotify_fd = agent_source_dir_watch(o->profiles_dir);
			next_poll = agent_now() + (double)o->poll_interval_s;
		}
		struct pollfd fds[2];
		nfds_t nf = 0;
		fds[nf].fd = sig_fd();
		fds[nf++].events = POLLIN;
		int srcfd = d->use_cm ? d->cm.wake[0] : d->inotify_fd;
		if (srcfd >= 0) {
			fds[nf].fd = srcfd;
			fds[nf++].events = POLLIN;
		}
		double wait_s = next_poll - agent_now();
		if (d->empty_pending && wait_s > 1.0)
			wait_s = 1.0; /* confirm an empty directory soon */
		if (wait_s < 0)
			wait_s = 0;
		int pr = poll(fds, nf, (int)(wait_s * 1000) + 1);
		if (pr < 0 && errno != EINTR)
			break;
		if (pr > 0 && (fds[0].revents & POLLIN)) {
			/* The self-pipe must be drained or poll spins. SIGHUP = re-check now. */
			sig_drain();
			if (sig_take_hup())
				pending = true;
		}
		if (pr > 0 && nf > 1 && (fds[1].revents & POLLIN)) {
			if (!d->use_cm) {
				/* Debounce: kubelet's swap is several syscalls. */
				agent_source_dir_drain(d->inotify_fd);
				sig_sleep_ms(50);
				agent_source_dir_drain(d->inotify_fd);
			}
			pending = true;
		}
		if (d->empty_pending && agent_now() >= next_poll - (double)o->poll_interval_s + 1.0)
			pending = true;
	}
}

int agent_daemon_run(const agent_opts *o)
{
	agent_daemon d;
	kube_config kcfg;
	probe_server *probe = NULL;
	char why[512], ns[254], name[254];
	int rc = 1;
	ag_err e;

	memset(&d, 0, sizeof(d));
	memset(&kcfg, 0, sizeof(kcfg));
	d.o = o;
	d.inotify_fd = -1;
	atomic_init(&d.ready, false);
	d.host.sysfs_root = o->sysfs_root;
	d.host.securityfs_root = o->securityfs_root;
	d.host.proc_root = o->proc_root;
	d.host.profiles_dir = o->host_dir;
	d.host.max_profile_bytes = (size_t)o->max_profile_bytes;
	snprintf(d.staging, sizeof(d.staging), "%s/.staging", o->host_dir);
	if (o->cache_dir && *o->cache_dir)
		snprintf(d.cache, sizeof(d.cache), "%s", o->cache_dir);
	else
		snprintf(d.cache, sizeof(d.cache), "%s/.cache", o->host_dir);
	d.loader.parser = agent_loader_find_parser(o->parser);
	d.loader.timeout_ms = o->parser_timeout_s * 1000;
	d.loader.cache_dir = d.cache;
	d.loader.stub_dir = d.staging;

	if (sig_init(&e) != 0) {
		log_kv(LOG_LVL_ERROR, "cannot install signal handlers", "error", e.msg, (char *)NULL);
		return 1;
	}
	d.m = metrics_new();
	if (!d.m || agent_define_metrics(d.m) != 0) {
		log_error("cannot set up metrics");
		goto out;
	}
	if (kube_config_load(o->kubeconfig, &kcfg, &e) != 0) {
		log_kv(LOG_LVL_ERROR, "cannot load the Kubernetes client configuration", "error", e.msg, (char *)NULL);
		goto out;
	}
	d.kc = kube_client_new(&kcfg, &e);
	if (!d.kc) {
		log_kv(LOG_LVL_ERROR, "cannot create the Kubernetes client", "error", e.msg, (char *)NULL);
		goto out;
	}
	kube_client_set_stop_flag(d.kc, &agent_stop_flag);
	kube_client_set_user_agent(d.kc, "armorgate-agent/" ARMORGATE_VERSION);

	d.apparmor = agent_host_apparmor_enabled(&d.host, why, sizeof(why));
	metrics_set(d.m, "armorgate_agent_apparmor_enabled", "", d.apparmor ? 1 : 0);
	agent_host_boot_id(&d.host, d.boot_id, sizeof(d.boot_id));
	if (!d.apparmor)
		log_kv(LOG_LVL_WARN, "AppArmor is not usable on this node: labelling it unsupported, loading nothing",
		       "reason", why, (char *)NULL);
	else if (agent_host_mkdirs(d.staging, &e) != 0 || agent_host_mkdirs(d.cache, &e) != 0) {
		log_kv(LOG_LVL_ERROR, "cannot create the host profiles directory", "error", e.msg, (char *)NULL);
		goto out;
	}

	probe = probe_server_start(o->probe_listen, d.m, agent_ready, &d, &e);
	if (!probe) {
		log_kv(LOG_LVL_ERROR, "cannot start the probe server", "listen", o->probe_listen, "error", e.msg,
		       (char *)NULL);
		goto out;
	}
	d.pub = agent_publisher_start(d.kc, o->node_name, d.m, &e);
	if (!d.pub) {
		log_kv(LOG_LVL_ERROR, "cannot start publishing", "error", e.msg, (char *)NULL);
		goto out;
	}
	log_kv(LOG_LVL_INFO, "armorgate-agent starting", "version", ARMORGATE_VERSION, "node", o->node_name,
	       "apparmor", d.apparmor ? "enabled" : "unsupported", "parser", d.loader.parser, (char *)NULL);

	/* Labels match the kernel first, then loading begins. */
	agent_publish_kernel_state(&d, true);

	if (o->configmap && *o->configmap) {
		if (config_split_nsname(o->configmap, ns, sizeof(ns), name, sizeof(name), &e) != 0 ||
		    agent_cmsource_start(&d.cm, d.kc, ns, name, (size_t)o->max_profile_bytes, (size_t)o->max_profiles,
					 agent_on_api_back, d.pub, &e) != 0) {
			log_kv(LOG_LVL_ERROR, "cannot watch the profiles ConfigMap", "error", e.msg, (char *)NULL);
			goto out;
		}
		d.use_cm = true;
	} else {
		d.inotify_fd = agent_source_dir_watch(o->profiles_dir);
	}

	agent_loop(&d);
	log_info("stopping (profiles stay loaded)");
	rc = 0;
out:
	agent_stop_flag = 1;
	sig_request_stop();
	if (d.use_cm)
		agent_cmsource_stop(&d.cm);
	agent_publisher_stop(d.pub);
	probe_server_stop(probe);
	if (d.inotify_fd >= 0)
		close(d.inotify_fd);
	kube_client_free(d.kc);
	kube_config_cleanup(&kcfg);
	metrics_free(d.m);
	free(d.memo);
	return rc;
}
