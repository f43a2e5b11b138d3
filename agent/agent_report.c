/* agent_report: status entries, labels and state metrics (see agent_report.h). */
#include "agent_report.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "contract.h"
#include "log.h"

enum { AGENT_REPORT_WAIT_MS = 5000 };

void agent_report_fill(agent_pstatus *p, const char *name, const char *sha, const agent_klist *k, agent_pstate state,
		       const char *msg)
{
	const agent_kprofile *kp = agent_kernel_find(k, name);

	memset(p, 0, sizeof(*p));
	snprintf(p->name, sizeof(p->name), "%s", name);
	snprintf(p->sha256, sizeof(p->sha256), "%s", sha ? sha : "");
	snprintf(p->mode, sizeof(p->mode), "%s", kp ? kp->mode : "");
	p->state = state;
	snprintf(p->message, sizeof(p->message), "%s", msg ? msg : "");
}

static void agent_report_state_metrics(const agent_report *r, const agent_pstatus *ps, size_t n)
{
	/* The order the series first appear in /metrics. */
	static const agent_pstate order[] = { AGENT_PSTATE_LOADED, AGENT_PSTATE_ERROR, AGENT_PSTATE_REMOVAL_DEFERRED };
	double count[AGENT_PSTATE_COUNT] = { 0 };

	for (size_t i = 0; i < n; i++)
		count[ps[i].state < AGENT_PSTATE_COUNT ? ps[i].state : AGENT_PSTATE_ERROR]++;
	for (size_t i = 0; i < sizeof(order) / sizeof(order[0]); i++) {
		char label[64];

		snprintf(label, sizeof(label), "state=\"%s\"", agent_node_pstate_name(order[i]));
		metrics_set(r->m, "armorgate_agent_profiles", label, count[order[i]]);
	}
}

void agent_report_publish(const agent_report *r, const agent_klist *k, const agent_pstatus *ps, size_t n)
{
	cJSON *labels = agent_node_wanted_labels(r->apparmor, k);
	agent_status st = { r->apparmor, ARMORGATE_VERSION, r->boot_id, ps, n, r->source_missing ? "missing" : NULL };

	if (!labels) {
		log_error("out of memory computing node labels");
		return;
	}
	agent_publisher_submit(r->pub, labels, &st);
	cJSON_Delete(labels);
	agent_report_state_metrics(r, ps, n);
}

void agent_report_kernel_state(const agent_report *r)
{
	agent_klist k = { NULL, 0 };
	agent_ondisk *disk = NULL;
	size_t ndisk = 0, n = 0;
	agent_pstatus *ps = NULL;
	ag_err e;

	if (r->apparmor) {
		if (agent_host_kernel_list(r->host, &k, &e) != 0)
			log_kv(LOG_LVL_WARN, "cannot read the kernel profile list", "error", e.msg, (char *)NULL);
		if (agent_host_disk_list(r->host, &disk, &ndisk, &e) != 0)
			ndisk = 0;
		ps = calloc(k.n ? k.n : 1, sizeof(*ps));
		for (size_t i = 0; ps && i < k.n; i++) {
			const char *sha = "";

			if (!contract_profile_name_valid(k.items[i].name))
				continue;
			for (size_t j = 0; j < ndisk; j++)
				if (strcmp(disk[j].name, k.items[i].name) == 0)
					sha = disk[j].sha256;
			agent_report_fill(&ps[n++], k.items[i].name, sha, &k, AGENT_PSTATE_LOADED, "");
		}
	}
	agent_report_publish(r, &k, ps, ps ? n : 0);
	free(ps);
	agent_host_disk_free(disk, ndisk);
	agent_kernel_list_cleanup(&k);
}

static bool agent_report_any_unload(const agent_plan *p)
{
	for (size_t i = 0; i < p->n; i++)
		if (p->items[i].action == AGENT_ACT_REMOVE && p->items[i].in_kernel)
			return true;
	return false;
}

bool agent_report_withdraw(const agent_report *r, const agent_plan *p)
{
	agent_klist k = { NULL, 0 }, keep = { NULL, 0 };
	agent_pstatus *ps = NULL;
	size_t n = 0;
	bool ok = false;
	ag_err e;

	if (!agent_report_any_unload(p))
		return true;
	if (agent_host_kernel_list(r->host, &k, &e) != 0) {
		log_kv(LOG_LVL_ERROR, "cannot read the kernel profile list", "error", e.msg, (char *)NULL);
		return false;
	}
	keep.items = calloc(k.n ? k.n : 1, sizeof(*keep.items));
	ps = calloc(k.n ? k.n : 1, sizeof(*ps));
	if (!keep.items || !ps) {
		log_error("out of memory withdrawing node labels");
		goto cleanup;
	}
	for (size_t i = 0; i < k.n; i++) {
		const agent_plan_item *it = agent_plan_find(p, k.items[i].name);

		if (it && it->action == AGENT_ACT_REMOVE)
			continue;
		/* Borrowed names: keep is freed as an array only. */
		keep.items[keep.n++] = k.items[i];
		if (contract_profile_name_valid(k.items[i].name))
			agent_report_fill(&ps[n++], k.items[i].name, it ? it->sha256 : "", &k, AGENT_PSTATE_LOADED, "");
	}
	agent_report_publish(r, &keep, ps, n);
	ok = agent_publisher_wait(r->pub, AGENT_REPORT_WAIT_MS);
	if (!ok)
		log_warn(
			"cannot withdraw the node labels of the profiles to remove; keeping them loaded, retrying next cycle");
cleanup:
	free(ps);
	free(keep.items);
	agent_kernel_list_cleanup(&k);
	return ok;
}

static int agent_report_cmp(const void *a, const void *b)
{
	return strcmp(((const agent_pstatus *)a)->name, ((const agent_pstatus *)b)->name);
}

void agent_report_unsupported(const agent_report *r, const agent_desired *desired, size_t nd)
{
	agent_pstatus *ps = calloc(nd ? nd : 1, sizeof(*ps));
	agent_klist none = { NULL, 0 };
	size_t n = 0;

	for (size_t i = 0; ps && i < nd; i++)
		if (!desired[i].ok)
			agent_report_fill(&ps[n++], desired[i].name, desired[i].sha256, &none, AGENT_PSTATE_ERROR,
					  desired[i].message);
	if (ps && n > 1)
		qsort(ps, n, sizeof(*ps), agent_report_cmp);
	agent_report_publish(r, &none, ps, ps ? n : 0);
	free(ps);
}
