/* agent_report: what the agent tells about its node — the per-profile
 * status entries, the labels of the kernel as it is, the profile-state
 * metrics — handed to the publisher. Also the two moments the labels must
 * change before anything else: at start (labels follow the kernel: a rebooted
 * node lost its profiles) and before an unload (the Node stops claiming a
 * profile first). No globals. */
#ifndef ARMORGATE_AGENT_REPORT_H
#define ARMORGATE_AGENT_REPORT_H

#include <stdbool.h>
#include <stddef.h>

#include "agent_host.h"
#include "agent_kernel.h"
#include "agent_node.h"
#include "agent_plan.h"
#include "agent_publish.h"
#include "metrics.h"

/* All borrowed from the wiring. */
typedef struct agent_report {
	agent_publisher *pub;
	metrics *m;
	const agent_host *host;
	bool apparmor;
	const char *boot_id;
	bool source_missing; /* the profiles ConfigMap is gone: everything is kept (set by agent_loop) */
} agent_report;

/* Fills one status entry; the mode is the kernel's for name (k), if listed. */
void agent_report_fill(agent_pstatus *p, const char *name, const char *sha, const agent_klist *k, agent_pstate state,
		       const char *msg);
/* Labels from k, status from ps[0..n): handed to the publisher; state metrics set. */
void agent_report_publish(const agent_report *r, const agent_klist *k, const agent_pstatus *ps, size_t n);
/* Labels and status of the kernel as it is (managed profiles loaded), handed
 * to the publisher; returns without waiting for the write. */
void agent_report_kernel_state(const agent_report *r);
/* Before anything is unloaded: publishes the kernel as it is minus the
 * plan's removals and waits until the Node has it. A label may claim less
 * than the kernel holds, never more: when this cannot be published (API
 * down, or the agent's RBAC already deleted during an uninstall) nothing is
 * unloaded this cycle. true when the removals may go ahead. */
bool agent_report_withdraw(const agent_report *r, const agent_plan *p);
/* Unsupported node: the refusals (worth seeing), nothing loaded. */
void agent_report_unsupported(const agent_report *r, const agent_desired *desired, size_t nd);

#endif
