/* denial_telemetry: the agent's AppArmor denial telemetry (issue 22), on its
 * own threads so the reconcile loop never waits for it:
 * - a reader thread polls the kernel source (denial_source: audit netlink,
 *   else /dev/kmsg), parses records (denial_record), attributes them to pods
 *   (denial_attr), counts armorgate_apparmor_events_total{profile,mode,
 *   operation} and folds them into the bounded aggregation (denial_agg) and
 *   observations (denial_obs);
 * - a writer thread, every second, writes the due aggregated Events on the
 *   Pods (agent_events_write) with one JSON log line each, and at most once
 *   a minute, when the observations changed, merge-patches the Node
 *   annotation armorgate.io/observed (a key nothing else writes).
 * Bounds (agent/README.md "Denial telemetry"): keys, Event writes per
 * minute, the annotation's 32 KiB, records read per wake.
 * Trust boundary: records are the kernel's (the source checks the sender);
 * what they carry (paths, comm) is chosen by confined processes and only
 * ever counted, bounded and escaped. No globals. */
#ifndef ARMORGATE_DENIAL_TELEMETRY_H
#define ARMORGATE_DENIAL_TELEMETRY_H

#include "err.h"
#include "kube.h"
#include "metrics.h"

typedef struct denial_telemetry_opts {
	/* "auto", "netlink", "kmsg", "off", or (testing, no AppArmor kernel
	 * needed) "file:PATH": a FIFO of record lines, each the text of an
	 * audit record ("... audit(T:S): apparmor=..." or from "apparmor=" on). */
	const char *source;
	const char *node, *proc_root, *boot_id; /* borrowed, outlive the telemetry */
	long events_per_minute;                 /* Event writes per minute, 0 = none */
	long max_keys;                          /* aggregation keys */
	kube_client *client;                    /* borrowed; NULL = no API (no Events, pods, annotation) */
	metrics *m;                             /* borrowed */
} denial_telemetry_opts;

typedef struct denial_telemetry denial_telemetry;

/* Starts the threads. A source that cannot be opened is logged and
 * leaves the telemetry running without one (metrics say which source is
 * open); errors are only bad options or no memory/threads. */
denial_telemetry *denial_telemetry_start(const denial_telemetry_opts *o, ag_err *err);
/* Stops and frees (the client's stop flag ends the pod watch: set it first). */
void denial_telemetry_stop(denial_telemetry *t);

#endif
