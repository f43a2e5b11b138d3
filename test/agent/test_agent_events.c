/* agent_events without the API: aggregation per (object, reason, key), at
 * most one write per key per minute, the ConfigMap's message and names. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "agent_events.h"

Test(agent_events, aggregates_per_object_reason_key)
{
	agent_events t;
	double next;

	agent_events_init(&t, "node-a");
	cr_assert(agent_events_add(&t, AGENT_EVENT_NODE, "Warning", "ProfileRefused", "custom.x", "m1"));
	cr_assert(agent_events_add(&t, AGENT_EVENT_NODE, "Warning", "ProfileRefused", "custom.x", "m2"));
	cr_assert(agent_events_add(&t, AGENT_EVENT_NODE, "Warning", "ProfileLoadFailed", "custom.x", "m3"));
	cr_assert(agent_events_add(&t, AGENT_EVENT_NODE, "Warning", "ProfileRefused", "custom.y", "m4"));
	cr_assert_eq(t.n, 3);
	cr_assert_eq(t.items[0].count, 2);
	cr_assert_str_eq(t.items[0].message, "m2");
	cr_assert_eq(agent_events_due(&t, 1000, &next), 0, "never written: due at once");
	agent_events_cleanup(&t);
}

Test(agent_events, one_write_per_key_per_minute)
{
	agent_events t;
	double next;

	agent_events_init(&t, "node-a");
	cr_assert(agent_events_add(&t, AGENT_EVENT_NODE, "Warning", "ProfileRefused", "custom.x", "m1"));
	/* What agent_publish does around a write. */
	t.items[0].dirty = false;
	t.items[0].last_write = 1000;
	cr_assert_eq(agent_events_due(&t, 1001, &next), -1);
	cr_assert_eq(next, 0, "nothing pending");
	cr_assert(agent_events_add(&t, AGENT_EVENT_NODE, "Warning", "ProfileRefused", "custom.x", "m2"));
	cr_assert_eq(agent_events_due(&t, 1059, &next), -1);
	cr_assert_eq(next, 1000 + AGENT_EVENTS_GAP_S);
	cr_assert_eq(agent_events_due(&t, 1060, &next), 0);
	cr_assert_eq(t.items[0].count, 2);
	agent_events_cleanup(&t);
}

Test(agent_events, configmap_only_when_known)
{
	agent_events t;

	agent_events_init(&t, "node-a");
	cr_assert(agent_events_add(&t, AGENT_EVENT_CONFIGMAP, "Warning", "ProfileRefused", "custom.X", "refused"));
	cr_assert_eq(t.n, 0, "no ConfigMap source: no ConfigMap Event");
	agent_events_set_configmap(&t, "armorgate-system", "kapparmor-profiles", "uid-1");
	cr_assert(agent_events_add(&t, AGENT_EVENT_CONFIGMAP, "Warning", "ProfileRefused", "custom.X", "refused"));
	cr_assert_eq(t.n, 1);
	cr_assert_str_eq(t.items[0].message, "node node-a: refused");
	cr_assert(strncmp(t.items[0].name, "kapparmor-profiles.", 19) == 0, "%s", t.items[0].name);
	for (const char *c = t.items[0].name; *c; c++)
		cr_assert(!(*c >= 'A' && *c <= 'Z'), "upper case in %s", t.items[0].name);
	agent_events_cleanup(&t);
}

Test(agent_events, full_table_drops_only_when_all_pending)
{
	agent_events t;
	char key[32];

	agent_events_init(&t, "node-a");
	for (int i = 0; i < AGENT_EVENTS_MAX; i++) {
		snprintf(key, sizeof(key), "custom.k%d", i);
		cr_assert(agent_events_add(&t, AGENT_EVENT_NODE, "Warning", "ProfileRefused", key, "m"));
	}
	cr_assert_not(agent_events_add(&t, AGENT_EVENT_NODE, "Warning", "ProfileRefused", "custom.more", "m"));
	t.items[7].dirty = false;
	t.items[7].last_write = 5;
	cr_assert(agent_events_add(&t, AGENT_EVENT_NODE, "Warning", "ProfileRefused", "custom.more", "m"));
	cr_assert_str_eq(t.items[7].key, "custom.more");
	cr_assert_eq(t.items[7].count, 1);
	agent_events_cleanup(&t);
}
