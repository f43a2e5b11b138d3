/* agent_loop: when the agent reconciles — on a source change (inotify on
 * the ConfigMap directory, or the API informer's wake pipe), on SIGHUP and
 * every poll interval — and on what: the newest snapshot of the source, or,
 * while the source has nothing authoritative, a refresh of the labels from
 * the kernel. Runs on the main thread until the stop flag (common/sig) is
 * set; each reconcile runs to its end. No globals. */
#ifndef ARMORGATE_AGENT_LOOP_H
#define ARMORGATE_AGENT_LOOP_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>

#include "agent_reconcile.h"
#include "agent_source.h"
#include "err.h"

/* The source's condition last seen, so each change is logged once. */
typedef enum agent_loop_source {
	AGENT_LOOP_SOURCE_OK,
	AGENT_LOOP_SOURCE_MISSING,    /* the directory does not exist */
	AGENT_LOOP_SOURCE_UNREADABLE, /* reading it failed (last_error says how) */
	AGENT_LOOP_SOURCE_OVER_COUNT, /* more profiles than --max-profiles */
	AGENT_LOOP_SOURCE_CM_MISSING, /* the profiles ConfigMap does not exist (deleted, uninstalled) */
} agent_loop_source;

typedef struct agent_loop {
	/* Set by the wiring; borrowed. Exactly one of profiles_dir / cm. */
	agent_reconcile *rec;
	const char *profiles_dir;
	agent_cmsource *cm;
	size_t max_profile_bytes, max_profiles;
	long poll_interval_s;
	/* State. */
	atomic_bool ready;      /* the probe's /readyz: reconciled and no load waiting for a retry */
	atomic_bool reconciled; /* a reconcile ran to its end (read by the probe too) */
	int inotify_fd;         /* dir source; -1 when not watched */
	bool have_desired;      /* a source snapshot has been applied once */
	bool empty_pending;     /* dir read empty, waiting to confirm */
	agent_loop_source source;
	char last_error[AG_ERR_MSG_MAX];
} agent_loop;

/* Sets the state fields (not ready, not watching). */
void agent_loop_init(agent_loop *l);
/* Runs until a stop is requested (sig_stop_requested). */
void agent_loop_run(agent_loop *l);
/* Closes the watch. */
void agent_loop_cleanup(agent_loop *l);

#endif
