/* agent_reconcile: validate -> plan -> execute -> confirm -> report (see agent_reconcile.h). */
#include "agent_reconcile.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "aaparser.h"
#include "agent_sha256.h"
#include "log.h"
#include "mono.h"

/* One plan item while it is executed. */
typedef struct agent_step {
	agent_load_job job;          /* LOAD: the file and the loader's verdict */
	bool removed;                /* REMOVE: unloaded and its file deleted */
	char message[AGENT_MSG_CAP]; /* REMOVE: why not */
} agent_step;

static void agent_reconcile_refusal(agent_reconcile *r, agent_memo *m, const char *reason)
{
	char msg[AGENT_MSG_CAP + 300];

	if (m->reported)
		return;
	m->reported = true;
	log_kv(LOG_LVL_ERROR, "profile refused; the last good version (if any) stays loaded", "profile", m->name,
	       "reason", m->message, (char *)NULL);
	if (strcmp(reason, "ProfileLoadFailed") == 0) /* the message names the key */
		snprintf(msg, sizeof(msg), "AppArmor profile %s", m->message);
	else
		snprintf(msg, sizeof(msg), "AppArmor profile %s refused: %s", m->name, m->message);
	agent_publisher_event(r->report.pub, "Warning", reason, m->name, msg);
}

/* The webhook's rules on the entries whose content is new (todo[0..n)); the
 * compile half too where nothing is loaded (where profiles load, it runs with
 * the load, batched, against this kernel's features: agent_loader_load). */
static void agent_reconcile_check(agent_reconcile *r, profile_entry *todo, size_t n, size_t count)
{
	profile_limits lim;
	double t0 = mono_sec();
	ag_err ce;

	memset(&lim, 0, sizeof(lim));
	err_clear(&ce);
	lim.max_bytes = r->max_profile_bytes;
	lim.max_count = count; /* the count limit was applied to the whole source already */
	(void)profile_check_entries(todo, n, &lim, &ce);
	if (r->compile_check && !r->report.apparmor)
		(void)aaparser_compile_entries(todo, n, &r->loader->parser);
	metrics_observe(r->report.m, "armorgate_agent_validate_duration_seconds", "", mono_sec() - t0);
}

/* Memo entry of entry e, reset when its content (or pre-refusal) changed.
 * true when it needs checking. */
static bool agent_reconcile_memo_fresh(agent_memo *m, const agent_snapshot_entry *e, const char *sha)
{
	m->seen = true;
	if (strcmp(m->sha256, sha) == 0 && (!e->refusal || strcmp(m->message, e->refusal) == 0))
		return false;
	snprintf(m->sha256, sizeof(m->sha256), "%s", sha);
	m->ok = false;
	m->load_failed = false;
	m->fails = 0;
	m->reported = false;
	snprintf(m->message, sizeof(m->message), "%s", e->refusal ? e->refusal : "pending");
	return !e->refusal;
}

/* Validation memoised by content hash, so only new or changed texts are
 * checked (and compiled). Fills desired[0..s->n) (borrowing snapshot strings). */
static void agent_reconcile_validate(agent_reconcile *r, const agent_snapshot *s, agent_desired *desired)
{
	profile_entry *todo = calloc(s->n ? s->n : 1, sizeof(*todo));
	size_t ntodo = 0;

	for (size_t i = 0; i < s->n; i++) {
		const agent_snapshot_entry *e = &s->items[i];
		agent_desired *x = &desired[i];
		agent_memo *m;

		memset(x, 0, sizeof(*x));
		x->name = e->key;
		x->text = e->text;
		x->len = e->len;
		agent_sha256_hex(e->text, e->refusal ? 0 : e->len, x->sha256);
		m = agent_memo_get(&r->memo, e->key);
		if (m && agent_reconcile_memo_fresh(m, e, x->sha256) && todo) {
			todo[ntodo].key = e->key;
			todo[ntodo].text = e->text;
			todo[ntodo++].len = e->len;
		}
	}
	if (ntodo > 0) {
		agent_reconcile_check(r, todo, ntodo, s->n);
		for (size_t j = 0; j < ntodo; j++) {
			agent_memo *m = agent_memo_find(&r->memo, todo[j].key);

			if (!m)
				continue;
			m->ok = todo[j].ok;
			snprintf(m->message, sizeof(m->message), "%s", todo[j].ok ? "" : todo[j].message);
		}
	}
	for (size_t i = 0; i < s->n; i++) {
		agent_memo *m = agent_memo_find(&r->memo, s->items[i].key);

		if (!m)
			continue;
		/* A failed load waits for its retry time (the last good version
		 * stays meanwhile), then is planned like any other. */
		desired[i].ok = m->ok && !(m->load_failed && mono_sec() < m->retry_at);
		desired[i].message = m->message;
		if (!m->ok)
			agent_reconcile_refusal(r, m, "ProfileRefused");
	}
	agent_memo_sweep(&r->memo);
	free(todo);
}

/* 1. New/changed texts are staged (written under their key); unchanged ones
 * load from their file. batch gets the jobs the loader runs; returns how many. */
static size_t agent_reconcile_stage(agent_reconcile *r, const agent_plan *p, const agent_desired *desired,
				    agent_step *steps, agent_load_job **batch)
{
	size_t nb = 0;
	ag_err e;

	for (size_t i = 0; i < p->n; i++) {
		const agent_plan_item *it = &p->items[i];
		agent_load_job *job = &steps[i].job;

		if (it->action != AGENT_ACT_LOAD)
			continue;
		job->key = it->name;
		job->dir = it->write ? r->staging : r->host_dir;
		job->outcome = AGENT_LOAD_FAILED;
		if (it->write) {
			const agent_desired *x = &desired[it->desired];

			if (agent_host_write_atomic(r->staging, it->name, x->text, x->len, &e) != 0) {
				snprintf(job->message, sizeof(job->message), "%s", e.msg);
				continue;
			}
		}
		batch[nb++] = job;
	}
	return nb;
}

/* 2. One batched parser run (per-profile fallback inside). */
static void agent_reconcile_load(agent_reconcile *r, agent_load_job *const *batch, size_t nb)
{
	agent_load_stats ls = { 0, false, 0 };
	ag_err e;

	if (nb == 0)
		return;
	if (agent_loader_load(r->loader, batch, nb, &ls, &e) != 0)
		log_kv(LOG_LVL_ERROR, "cannot run apparmor_parser", "error", e.msg, (char *)NULL);
	metrics_add(r->report.m, "armorgate_agent_parser_runs_total", "", ls.parser_runs);
	metrics_observe(r->report.m, "armorgate_agent_load_duration_seconds", "", ls.seconds);
	log_kv(LOG_LVL_DEBUG, "parser batch done", "batched", ls.batch_ok ? "ok" : "fallback", (char *)NULL);
}

/* A load that did not happen: a refusal by the pre-load gate is a
 * validation verdict (kept for this content); a failed load is not retried
 * for this content. */
static void agent_reconcile_not_loaded(agent_reconcile *r, const agent_plan_item *it, const agent_load_job *job)
{
	agent_memo *m = agent_memo_get(&r->memo, it->name);

	if (!m)
		return;
	if (job->outcome == AGENT_LOAD_REFUSED) {
		m->ok = false;
		snprintf(m->message, sizeof(m->message), "%s", job->message);
		agent_reconcile_refusal(r, m, "ProfileRefused");
		return;
	}
	m->load_failed = true;
	m->fails++;
	double wait_s = agent_memo_backoff_s(m->fails);
	m->retry_at = mono_sec() + wait_s;
	if (m->fails > 1)
		metrics_add(r->report.m, "armorgate_agent_load_retries_total", "", 1);
	/* A long parser message is cut to the size of the status field. */
	if (snprintf(m->message, sizeof(m->message), "%s: load failed (%u time(s), retried in %.0f s): %s", it->name,
		     m->fails, wait_s, job->message[0] ? job->message : "unknown error") < 0)
		m->message[0] = '\0';
	log_kv(LOG_LVL_WARN, "profile load failed; retrying with backoff", "profile", it->name, "reason", m->message,
	       (char *)NULL);
	agent_reconcile_refusal(r, m, "ProfileLoadFailed");
}

/* 3. Loaded ones move into place; failed ones are forgotten from staging so
 * the disk keeps the last good version. */
static void agent_reconcile_settle(agent_reconcile *r, const agent_plan *p, const agent_step *steps)
{
	ag_err e;

	for (size_t i = 0; i < p->n; i++) {
		const agent_plan_item *it = &p->items[i];
		const agent_load_job *job = &steps[i].job;

		if (it->action != AGENT_ACT_LOAD)
			continue;
		if (job->outcome == AGENT_LOAD_OK) {
			agent_memo *m = agent_memo_find(&r->memo, it->name);

			if (m && m->load_failed)
				log_kv(LOG_LVL_INFO, "profile loaded after failed attempts", "profile", it->name,
				       (char *)NULL);
			if (m) {
				m->load_failed = false;
				m->fails = 0;
			}
			metrics_add(r->report.m, "armorgate_agent_loads_total", "", 1);
			if (it->write && agent_host_move(r->staging, r->host_dir, it->name, &e) != 0)
				log_kv(LOG_LVL_ERROR, "loaded but cannot store the profile file", "profile", it->name,
				       "error", e.msg, (char *)NULL);
			continue;
		}
		if (job->outcome != AGENT_LOAD_REFUSED)
			metrics_add(r->report.m, "armorgate_agent_load_failures_total", "", 1);
		if (it->write && agent_host_remove_file(r->staging, it->name, &e) != 0)
			log_kv(LOG_LVL_WARN, "cannot clean staging", "error", e.msg, (char *)NULL);
		agent_reconcile_not_loaded(r, it, job);
	}
}

/* 4. Removals: only what the plan said is confining nothing, and only once
 * the Node no longer claims it. */
static void agent_reconcile_remove(agent_reconcile *r, const agent_plan *p, agent_step *steps)
{
	bool unlabelled = agent_report_withdraw(&r->report, p);
	ag_err e;

	for (size_t i = 0; i < p->n; i++) {
		const agent_plan_item *it = &p->items[i];
		agent_step *st = &steps[i];

		if (it->action != AGENT_ACT_REMOVE)
			continue;
		if (it->in_kernel && !unlabelled) {
			snprintf(st->message, sizeof(st->message),
				 "not unloaded yet: its node label could not be withdrawn first; retried each cycle");
			continue;
		}
		if (it->in_kernel && agent_loader_remove(r->loader, it->name, &e) != 0) {
			snprintf(st->message, sizeof(st->message), "%s", e.msg);
			log_kv(LOG_LVL_ERROR, "cannot unload profile", "profile", it->name, "error", e.msg,
			       (char *)NULL);
			continue;
		}
		if (agent_host_remove_file(r->host_dir, it->name, &e) != 0) {
			snprintf(st->message, sizeof(st->message), "%s", e.msg);
			continue;
		}
		st->removed = true;
		log_kv(LOG_LVL_INFO, "profile removed", "profile", it->name, (char *)NULL);
	}
}

/* The status of a LOAD item, the kernel list k read after the loads. */
static void agent_reconcile_load_status(agent_reconcile *r, const agent_plan_item *it, const agent_load_job *job,
					const agent_klist *k, agent_pstatus *ps)
{
	const agent_kprofile *kp = agent_kernel_find(k, it->name);
	const agent_memo *m;

	if (job->outcome == AGENT_LOAD_OK && kp) {
		agent_report_fill(ps, it->name, it->sha256, k, AGENT_PSTATE_LOADED, "");
		log_kv(LOG_LVL_INFO, "profile loaded", "profile", it->name, "mode", kp->mode, (char *)NULL);
	} else if (job->outcome == AGENT_LOAD_OK) {
		agent_report_fill(ps, it->name, it->sha256, k, AGENT_PSTATE_ERROR,
				  "the parser succeeded but the kernel does not list the profile");
	} else {
		m = agent_memo_find(&r->memo, it->name);
		agent_report_fill(ps, it->name, it->sha256, k, AGENT_PSTATE_ERROR, m ? m->message : job->message);
	}
}

/* 5. Confirmed with the kernel's own list before anything is labelled: one
 * status per item but the removed ones. Returns the count. */
static size_t agent_reconcile_confirm(agent_reconcile *r, const agent_plan *p, const agent_step *steps,
				      const agent_klist *k, agent_pstatus *ps)
{
	size_t n = 0;

	for (size_t i = 0; i < p->n; i++) {
		const agent_plan_item *it = &p->items[i];
		char msg[AGENT_MSG_CAP];
		bool listed = agent_kernel_find(k, it->name) != NULL;

		switch (it->action) {
		case AGENT_ACT_SKIP:
			agent_report_fill(&ps[n++], it->name, it->sha256, k,
					  listed ? AGENT_PSTATE_LOADED : AGENT_PSTATE_ERROR,
					  listed ? "" : "missing from the kernel profile list");
			break;
		case AGENT_ACT_LOAD: agent_reconcile_load_status(r, it, &steps[i].job, k, &ps[n++]); break;
		case AGENT_ACT_REFUSED:
			agent_report_fill(&ps[n++], it->name, it->sha256, k, AGENT_PSTATE_ERROR, it->message);
			break;
		case AGENT_ACT_DEFER:
			snprintf(msg, sizeof(msg), "%lu process(es) still confined by it; removal retried each cycle",
				 it->confined);
			agent_report_fill(&ps[n++], it->name, it->sha256, k, AGENT_PSTATE_REMOVAL_DEFERRED, msg);
			break;
		case AGENT_ACT_REMOVE:
			if (!steps[i].removed)
				agent_report_fill(&ps[n++], it->name, it->sha256, k, AGENT_PSTATE_ERROR,
						  steps[i].message);
			break;
		}
	}
	return n;
}

/* Executes a plan and reports the outcome; k is re-read after the changes. */
static void agent_reconcile_execute(agent_reconcile *r, const agent_plan *p, const agent_desired *desired,
				    agent_klist *k)
{
	agent_step *steps = calloc(p->n ? p->n : 1, sizeof(*steps));
	/* NOLINTNEXTLINE(bugprone-sizeof-expression): an array of pointers */
	agent_load_job **batch = calloc(p->n ? p->n : 1, sizeof(*batch));
	agent_pstatus *ps = calloc(p->n ? p->n : 1, sizeof(*ps));
	size_t nps = 0;
	ag_err e;

	if (!steps || !batch || !ps) {
		log_error("out of memory executing the reconcile plan");
		goto cleanup;
	}
	agent_reconcile_load(r, batch, agent_reconcile_stage(r, p, desired, steps, batch));
	agent_reconcile_settle(r, p, steps);
	agent_reconcile_remove(r, p, steps);
	agent_kernel_list_cleanup(k);
	if (agent_host_kernel_list(r->report.host, k, &e) != 0)
		log_kv(LOG_LVL_ERROR, "cannot re-read the kernel profile list", "error", e.msg, (char *)NULL);
	nps = agent_reconcile_confirm(r, p, steps, k, ps);
cleanup:
	agent_report_publish(&r->report, k, ps, ps ? nps : 0);
	free(ps);
	free(batch);
	free(steps);
}

/* The node's side of the plan: kernel list, managed files, confined processes. */
typedef struct agent_reconcile_node {
	agent_klist k;
	agent_ondisk *disk;
	size_t ndisk;
	agent_confined *conf;
	size_t nconf;
} agent_reconcile_node;

static int agent_reconcile_read_node(const agent_host *h, agent_reconcile_node *nd)
{
	ag_err e;

	if (agent_host_kernel_list(h, &nd->k, &e) != 0) {
		log_kv(LOG_LVL_ERROR, "cannot read the kernel profile list; nothing changed", "error", e.msg,
		       (char *)NULL);
		return -1;
	}
	if (agent_host_disk_list(h, &nd->disk, &nd->ndisk, &e) != 0) {
		log_kv(LOG_LVL_ERROR, "cannot list the host profiles directory; nothing changed", "error", e.msg,
		       (char *)NULL);
		return -1;
	}
	if (agent_host_confined(h, &nd->conf, &nd->nconf, &e) != 0) {
		log_kv(LOG_LVL_ERROR, "cannot scan processes; nothing changed", "error", e.msg, (char *)NULL);
		return -1;
	}
	return 0;
}

static void agent_reconcile_node_cleanup(agent_reconcile_node *nd)
{
	agent_host_confined_free(nd->conf, nd->nconf);
	agent_host_disk_free(nd->disk, nd->ndisk);
	agent_kernel_list_cleanup(&nd->k);
}

bool agent_reconcile_run(agent_reconcile *r, const agent_snapshot *s)
{
	agent_reconcile_node nd;
	agent_desired *desired = calloc(s->n ? s->n : 1, sizeof(*desired));
	agent_plan plan;
	double t0 = mono_sec();
	bool full = false;
	ag_err e;

	memset(&nd, 0, sizeof(nd));
	memset(&plan, 0, sizeof(plan));
	if (!desired)
		goto cleanup;
	agent_reconcile_validate(r, s, desired);
	if (!r->report.apparmor) {
		agent_report_unsupported(&r->report, desired, s->n);
		full = true;
		goto cleanup;
	}
	if (agent_reconcile_read_node(r->report.host, &nd) != 0)
		goto cleanup;
	if (agent_plan_build(desired, s->n, nd.disk, nd.ndisk, &nd.k, nd.conf, nd.nconf, &plan, &e) != 0) {
		log_kv(LOG_LVL_ERROR, "cannot plan", "error", e.msg, (char *)NULL);
		goto cleanup;
	}
	if (plan.nload || plan.nremove)
		log_kv(LOG_LVL_INFO, "reconciling", "load", plan.nload ? "yes" : "no", "remove",
		       plan.nremove ? "yes" : "no", (char *)NULL);
	agent_reconcile_execute(r, &plan, desired, &nd.k);
	full = true;
cleanup:
	if (full) {
		metrics_observe(r->report.m, "armorgate_agent_reconcile_duration_seconds", "", mono_sec() - t0);
		metrics_set(r->report.m, "armorgate_agent_last_reconcile_timestamp_seconds", "", (double)time(NULL));
	}
	agent_plan_cleanup(&plan);
	agent_reconcile_node_cleanup(&nd);
	free(desired);
	return full;
}

double agent_reconcile_next_retry(const agent_reconcile *r, size_t *n)
{
	double next = agent_memo_next_retry(&r->memo, n);

	metrics_set(r->report.m, "armorgate_agent_load_retry_pending", "", (double)*n);
	return next;
}

void agent_reconcile_cleanup(agent_reconcile *r)
{
	agent_memo_cleanup(&r->memo);
}
