/* agent_loop: the agent's event loop (see agent_loop.h). */
#include "agent_loop.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "metrics.h"
#include "mono.h"
#include "sig.h"

enum { AGENT_LOOP_DEBOUNCE_MS = 50 };

void agent_loop_init(agent_loop *l)
{
	atomic_init(&l->ready, false);
	atomic_init(&l->reconciled, false);
	l->inotify_fd = -1;
	l->have_desired = false;
	l->empty_pending = false;
	l->source = AGENT_LOOP_SOURCE_OK;
	l->last_error[0] = '\0';
}

void agent_loop_cleanup(agent_loop *l)
{
	if (l->inotify_fd >= 0)
		close(l->inotify_fd);
	l->inotify_fd = -1;
}

/* The dir source: 1 with a snapshot, 0 when it has nothing authoritative
 * (missing, or empty and not yet confirmed), -1 when it cannot be read. */
static int agent_loop_read_dir(agent_loop *l, agent_snapshot *s)
{
	agent_dir_state st;
	ag_err e;

	err_clear(&e);
	if (agent_source_dir_read(l->profiles_dir, l->max_profile_bytes, l->max_profiles, l->empty_pending, s, &st,
				  &e) != 0) {
		if (l->source != AGENT_LOOP_SOURCE_UNREADABLE || strcmp(l->last_error, e.msg) != 0)
			log_kv(LOG_LVL_ERROR, "cannot read the profiles directory", "error", e.msg, (char *)NULL);
		l->source = AGENT_LOOP_SOURCE_UNREADABLE;
		snprintf(l->last_error, sizeof(l->last_error), "%s", e.msg);
		return -1;
	}
	if (st == AGENT_DIR_MISSING) {
		if (l->source != AGENT_LOOP_SOURCE_MISSING)
			log_kv(LOG_LVL_WARN, "profiles directory missing; changing nothing until it appears", "dir",
			       l->profiles_dir, (char *)NULL);
		l->source = AGENT_LOOP_SOURCE_MISSING;
		l->empty_pending = false;
		return 0;
	}
	if (st == AGENT_DIR_EMPTY) {
		/* Possibly mid-update: confirm on a re-read shortly. */
		l->empty_pending = true;
		return 0;
	}
	l->empty_pending = false;
	return 1;
}

static void agent_loop_set_missing(agent_loop *l, bool missing)
{
	l->rec->report.source_missing = missing;
	metrics_set(l->rec->report.m, "armorgate_agent_source_missing", "", missing ? 1 : 0);
}

/* A deleted ConfigMap (helm uninstall while agents run, a mistake) is not an
 * empty one: unloading would strip profiles from crash-looping containers,
 * CronJobs between runs and pods not yet started. Keep every profile and
 * label; say so. 0: nothing authoritative. */
static int agent_loop_cm_missing(agent_loop *l)
{
	if (l->source != AGENT_LOOP_SOURCE_CM_MISSING)
		log_kv(LOG_LVL_WARN,
		       "profiles ConfigMap missing; keeping every loaded profile and label until it exists again "
		       "(an empty ConfigMap means no profiles)",
		       "configmap", l->cm->name, (char *)NULL);
	l->source = AGENT_LOOP_SOURCE_CM_MISSING;
	agent_loop_set_missing(l, true);
	return 0;
}

/* The newest desired set: 1 with a snapshot, 0 when the source has nothing
 * authoritative yet (change nothing), -1 on error. */
static int agent_loop_snapshot(agent_loop *l, agent_snapshot *s)
{
	int got;
	ag_err e;

	err_clear(&e);
	if (l->cm) {
		unsigned long gen = 0;

		agent_cmsource_drain(l->cm);
		got = agent_cmsource_snapshot(l->cm, s, &gen, &e);
		if (got < 0)
			log_kv(LOG_LVL_ERROR, "cannot take the profiles ConfigMap", "error", e.msg, (char *)NULL);
		if (got == 1 && !s->missing)
			agent_publisher_configmap(l->rec->report.pub, l->cm->ns, l->cm->name, s->uid);
	} else {
		got = agent_loop_read_dir(l, s);
	}
	if (got == 1 && s->missing)
		return agent_loop_cm_missing(l);
	if (got == 1 && s->over_count) {
		if (l->source != AGENT_LOOP_SOURCE_OVER_COUNT) {
			char msg[256];

			snprintf(msg, sizeof(msg),
				 "the profiles source holds more than %zu profiles (--max-profiles); ignoring it",
				 l->max_profiles);
			log_kv(LOG_LVL_ERROR, "profiles source refused", "reason", msg, (char *)NULL);
			agent_publisher_event(l->rec->report.pub, "Warning", "ProfilesRefused", "", msg);
		}
		l->source = AGENT_LOOP_SOURCE_OVER_COUNT;
		return 0;
	}
	if (got == 1) {
		if (l->source == AGENT_LOOP_SOURCE_CM_MISSING)
			log_info("profiles ConfigMap is back; reconciling against it");
		agent_loop_set_missing(l, false);
		l->source = AGENT_LOOP_SOURCE_OK;
	}
	return got;
}

/* One cycle. true when a reconcile ran on an authoritative snapshot. */
static bool agent_loop_cycle(agent_loop *l)
{
	agent_snapshot s;
	bool full = false;

	memset(&s, 0, sizeof(s));
	if (agent_loop_snapshot(l, &s) == 1) {
		l->have_desired = true;
		full = agent_reconcile_run(l->rec, &s);
	} else if (l->have_desired || l->source == AGENT_LOOP_SOURCE_CM_MISSING) {
		/* Nothing authoritative: keep everything, but keep the labels
		 * honest about what the kernel has. A missing ConfigMap is a
		 * settled answer (keep all), so the agent is ready with it. */
		agent_report_kernel_state(&l->rec->report);
		full = l->source == AGENT_LOOP_SOURCE_CM_MISSING;
	}
	agent_snapshot_free(&s);
	return full;
}

/* Waits for a source event, a signal or the poll deadline. true when a
 * reconcile should run now; false when only the deadline may have passed
 * (or a stop was requested). */
static bool agent_loop_wait(agent_loop *l, double next_poll)
{
	struct pollfd fds[2];
	nfds_t nf = 0;
	int srcfd = l->cm ? l->cm->wake[0] : l->inotify_fd;
	double wait_s = next_poll - mono_sec();
	bool pending = false;
	int pr;

	fds[nf].fd = sig_fd();
	fds[nf++].events = POLLIN;
	if (srcfd >= 0) {
		fds[nf].fd = srcfd;
		fds[nf++].events = POLLIN;
	}
	if (l->empty_pending && wait_s > 1.0)
		wait_s = 1.0; /* confirm an empty directory soon */
	if (wait_s < 0)
		wait_s = 0;
	pr = poll(fds, nf, (int)(wait_s * 1000) + 1);
	if (pr < 0 && errno != EINTR) {
		log_kv(LOG_LVL_ERROR, "poll failed; stopping", "error", strerror(errno), (char *)NULL);
		sig_request_stop();
		return false;
	}
	if (pr > 0 && (fds[0].revents & POLLIN)) {
		/* The self-pipe must be drained or poll spins. SIGHUP = re-check now. */
		sig_drain();
		if (sig_take_hup())
			pending = true;
	}
	if (pr > 0 && nf > 1 && (fds[1].revents & POLLIN)) {
		if (!l->cm) {
			/* Debounce: kubelet's swap is several syscalls. */
			agent_source_dir_drain(l->inotify_fd);
			sig_sleep_ms(AGENT_LOOP_DEBOUNCE_MS);
			agent_source_dir_drain(l->inotify_fd);
		}
		pending = true;
	}
	if (l->empty_pending && mono_sec() >= next_poll - (double)l->poll_interval_s + 1.0)
		pending = true;
	return pending;
}

/* Readiness and the next cycle's time: ready once a reconcile ran to its end
 * and no profile waits for a load retry (a node without a profile it should
 * have is not ready); the next cycle comes at the poll interval or at the
 * earliest retry. */
static double agent_loop_after(agent_loop *l)
{
	size_t waiting = 0;
	double next = mono_sec() + (double)l->poll_interval_s;
	double retry = agent_reconcile_next_retry(l->rec, &waiting);
	bool ready = atomic_load(&l->reconciled) && waiting == 0;

	if (ready != atomic_load(&l->ready)) {
		atomic_store(&l->ready, ready);
		if (ready)
			log_info("reconciled; ready");
		else if (atomic_load(&l->reconciled))
			log_warn("not ready: a profile load failed and waits for its retry");
	}
	return retry > 0 && retry < next ? retry : next;
}

void agent_loop_run(agent_loop *l)
{
	double next_poll = 0;
	bool pending = true;

	while (!sig_stop_requested()) {
		if (pending || mono_sec() >= next_poll) {
			if (!pending && !l->cm) {
				/* Timed cycle: re-arm the watch first, so a directory that
				 * was removed and re-created (the old watch is gone) is
				 * watched again; nothing is missed since we read after. */
				agent_loop_cleanup(l);
				l->inotify_fd = agent_source_dir_watch(l->profiles_dir);
			}
			if (agent_loop_cycle(l))
				atomic_store(&l->reconciled, true);
			next_poll = agent_loop_after(l);
			if (!l->cm && l->inotify_fd < 0)
				l->inotify_fd = agent_source_dir_watch(l->profiles_dir);
		}
		pending = agent_loop_wait(l, next_poll);
	}
}
