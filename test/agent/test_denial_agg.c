/* denial_agg and denial_obs without the API: one key per pod x profile x
 * mode x operation x name whose count grows, at most one write per key per
 * minute and a per-minute budget, a bounded table under a flood (constant
 * memory), the Event message, and the observed annotation's JSON and its
 * 32 KiB bound. Records are built by hand (denial_record's parser has its
 * own tests). */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "denial_agg.h"
#include "denial_obs.h"

#define UID "7b8c1d2e-3f4a-4b5c-8d9e-0f1a2b3c4d5e"

static denial_record rec(denial_mode mode, const char *profile, const char *op, const char *name, const char *mask)
{
	denial_record r;

	memset(&r, 0, sizeof(r));
	r.mode = mode;
	r.capability = -1;
	snprintf(r.profile, sizeof(r.profile), "%s", profile);
	snprintf(r.operation, sizeof(r.operation), "%s", op);
	snprintf(r.name, sizeof(r.name), "%s", name);
	snprintf(r.requested, sizeof(r.requested), "%s", mask);
	snprintf(r.denied, sizeof(r.denied), "%s", mask);
	snprintf(r.comm, sizeof(r.comm), "cat");
	r.pid = 42;
	return r;
}

static denial_who who_app(void)
{
	denial_who w;

	memset(&w, 0, sizeof(w));
	snprintf(w.uid, sizeof(w.uid), UID);
	snprintf(w.ns, sizeof(w.ns), "shop");
	snprintf(w.pod, sizeof(w.pod), "web-1");
	snprintf(w.container, sizeof(w.container), "app");
	return w;
}

Test(denial_agg, one_key_per_combination_and_the_message)
{
	denial_agg a;
	denial_record r = rec(DENIAL_ENFORCE, "custom.web", "open", "/etc/shadow", "r");
	denial_who w = who_app();
	char msg[DENIAL_AGG_MSG_MAX];
	bool is_new;

	denial_agg_init(&a, 16, 60);
	cr_assert_not_null(denial_agg_add(&a, &r, &w, 1, 1000, &is_new));
	cr_assert(is_new);
	cr_assert_not_null(denial_agg_add(&a, &r, &w, 2, 1001, &is_new));
	cr_assert_not_null(denial_agg_add(&a, &r, &w, 3, 1002, &is_new));
	cr_assert_not(is_new);
	cr_assert_eq(a.n, 1);
	cr_assert_eq(a.items[0].count, 3);
	cr_assert_eq(a.items[0].first_wall, 1000);
	cr_assert_eq(a.items[0].last_wall, 1002);
	denial_agg_message(&a.items[0], msg, sizeof(msg));
	cr_assert_str_eq(msg, "AppArmor custom.web denied open /etc/shadow (r) by cat in container app (3\xc3\x97)");
	cr_assert_str_eq(denial_agg_reason(a.items[0].mode), "AppArmorDenied");

	/* Another path, mode, operation or pod: another key. */
	denial_record r2 = rec(DENIAL_ENFORCE, "custom.web", "open", "/etc/passwd", "r");
	denial_record r3 = rec(DENIAL_COMPLAIN, "custom.web", "open", "/etc/shadow", "r");
	denial_record r4 = rec(DENIAL_ENFORCE, "custom.web", "capable", "", "");
	snprintf(r4.capname, sizeof(r4.capname), "net_raw");
	denial_who nobody;
	memset(&nobody, 0, sizeof(nobody));
	denial_agg_add(&a, &r2, &w, 4, 1003, NULL);
	denial_agg_add(&a, &r3, &w, 4, 1003, NULL);
	denial_agg_add(&a, &r4, &w, 4, 1003, NULL);
	denial_agg_add(&a, &r, &nobody, 4, 1003, NULL);
	cr_assert_eq(a.n, 5);
	denial_agg_message(&a.items[2], msg, sizeof(msg));
	cr_assert_str_eq(msg,
			 "AppArmor custom.web would deny (complain mode) open /etc/shadow (r) by cat in container "
			 "app (1\xc3\x97)");
	cr_assert_str_eq(denial_agg_reason(a.items[2].mode), "AppArmorAudit");
	denial_agg_message(&a.items[3], msg, sizeof(msg));
	cr_assert_str_eq(msg, "AppArmor custom.web denied capable net_raw by cat in container app (1\xc3\x97)");
	denial_agg_message(&a.items[4], msg, sizeof(msg));
	cr_assert_str_eq(msg, "AppArmor custom.web denied open /etc/shadow (r) by cat (1\xc3\x97)");
	denial_agg_cleanup(&a);
}

Test(denial_agg, masks_union_and_network_names)
{
	denial_agg a;
	denial_record r = rec(DENIAL_ENFORCE, "custom.web", "open", "/data/x", "r");
	denial_record rw = rec(DENIAL_ENFORCE, "custom.web", "open", "/data/x", "wc");
	denial_record net = rec(DENIAL_ENFORCE, "custom.web", "create", "", "");
	denial_who w = who_app();

	snprintf(net.family, sizeof(net.family), "inet");
	snprintf(net.sock_type, sizeof(net.sock_type), "raw");
	denial_agg_init(&a, 16, 60);
	denial_agg_add(&a, &r, &w, 1, 1, NULL);
	denial_agg_add(&a, &rw, &w, 1, 1, NULL);
	denial_agg_add(&a, &net, &w, 1, 1, NULL);
	cr_assert_eq(a.n, 2);
	cr_assert_str_eq(a.items[0].mask, "rwc");
	cr_assert_str_eq(a.items[1].name, "inet raw");
	cr_assert_str_eq(denial_agg_op_label("create"), "create");
	cr_assert_str_eq(denial_agg_op_label("open"), "open");
	cr_assert_str_eq(denial_agg_op_label("made_up_by_a_newer_kernel"), "other");
	denial_agg_cleanup(&a);
}

Test(denial_agg, one_write_per_key_per_minute)
{
	denial_agg a;
	denial_record r = rec(DENIAL_ENFORCE, "custom.web", "open", "/etc/shadow", "r");
	denial_who w = who_app();
	size_t idx[8];

	denial_agg_init(&a, 16, 60);
	denial_agg_add(&a, &r, &w, 100, 1, NULL);
	cr_assert_eq(denial_agg_due(&a, 100, idx, 8), 1, "a new key is written at once");
	cr_assert_eq(idx[0], 0);
	cr_assert_eq(denial_agg_due(&a, 101, idx, 8), 0, "nothing new");
	denial_agg_add(&a, &r, &w, 102, 2, NULL);
	denial_agg_add(&a, &r, &w, 103, 3, NULL);
	cr_assert_eq(denial_agg_due(&a, 159, idx, 8), 0, "within the minute");
	cr_assert_eq(denial_agg_due(&a, 160, idx, 8), 1);
	cr_assert_eq(a.items[0].count, 3);
	cr_assert_eq(a.items[0].written, 3);
	/* A failed write: its counts go into the next one. */
	denial_agg_failed(&a, 0, a.items[0].gen);
	cr_assert_eq(a.items[0].written, 1);
	cr_assert_eq(denial_agg_due(&a, 220, idx, 8), 1);
	/* A stale failure (the slot went to another key) changes nothing. */
	denial_agg_failed(&a, 0, a.items[0].gen + 1);
	cr_assert_eq(a.items[0].written, 3);
	denial_agg_cleanup(&a);
}

Test(denial_agg, per_minute_budget_defers_never_queues)
{
	denial_agg a;
	denial_who w = who_app();
	size_t idx[16];
	char path[32];

	denial_agg_init(&a, 16, 2);
	for (int i = 0; i < 5; i++) {
		snprintf(path, sizeof(path), "/p%d", i);
		denial_record r = rec(DENIAL_ENFORCE, "custom.web", "open", path, "r");
		denial_agg_add(&a, &r, &w, 10, 1, NULL);
	}
	cr_assert_eq(denial_agg_due(&a, 10, idx, 16), 2);
	cr_assert_eq(a.dropped_writes, 3);
	cr_assert_eq(denial_agg_due(&a, 11, idx, 16), 0, "deferred to the next minute, not retried every second");
	cr_assert_eq(a.dropped_writes, 3);
	cr_assert_eq(denial_agg_due(&a, 70, idx, 16), 2);
	cr_assert_eq(denial_agg_due(&a, 130, idx, 16), 1);
	cr_assert_eq(denial_agg_due(&a, 190, idx, 16), 0);
	denial_agg_cleanup(&a);
}

Test(denial_agg, full_table_drops_records_and_reuses_written_keys)
{
	denial_agg a;
	denial_who w = who_app();
	size_t idx[64];
	char path[32];

	denial_agg_init(&a, 16, 1000);
	for (int i = 0; i < 20; i++) {
		snprintf(path, sizeof(path), "/p%d", i);
		denial_record r = rec(DENIAL_ENFORCE, "custom.web", "open", path, "r");
		denial_agg_add(&a, &r, &w, 10 + i, 1, NULL);
	}
	cr_assert_eq(a.n, 16);
	cr_assert_eq(a.dropped_keys, 4, "unwritten keys are never evicted");
	cr_assert_eq(denial_agg_due(&a, 40, idx, 64), 16);
	denial_record r = rec(DENIAL_ENFORCE, "custom.web", "open", "/new", "r");
	denial_agg_entry *e = denial_agg_add(&a, &r, &w, 41, 1, NULL);
	cr_assert_not_null(e);
	cr_assert_str_eq(e->name, "/new");
	cr_assert_eq(a.n, 16);
	cr_assert_eq(e - a.items, 0, "the key seen longest ago gave way");
	denial_agg_cleanup(&a);
}

/* A container denied in a tight loop: one key, a growing count, no growth
 * in memory, and the table's storage is what one key takes. */
Test(denial_agg, flood_of_identical_records_is_one_key)
{
	denial_agg a;
	denial_record r = rec(DENIAL_ENFORCE, "custom.web", "open", "/etc/shadow", "r");
	denial_who w = who_app();
	size_t idx[4], cap;

	denial_agg_init(&a, 1024, 60);
	denial_agg_add(&a, &r, &w, 0, 0, NULL);
	cap = a.cap;
	for (long i = 0; i < 3000000; i++)
		cr_assert_not_null(denial_agg_add(&a, &r, &w, (double)i / 1e6, i, NULL));
	cr_assert_eq(a.n, 1);
	cr_assert_eq(a.cap, cap, "no growth");
	cr_assert_eq(a.items[0].count, 3000001);
	cr_assert_eq(denial_agg_due(&a, 5, idx, 4), 1, "one write for all of them");
	cr_assert_eq(a.dropped_keys, 0);
	denial_agg_cleanup(&a);
}

static cJSON *render(denial_obs *o)
{
	char *s = denial_obs_render(o, "boot-1", "2026-12-07T00:00:00Z");
	cJSON *j = cJSON_Parse(s);

	cr_assert_not_null(j, "not JSON: %s", s);
	free(s);
	return j;
}

Test(denial_obs, files_caps_network_exec_and_modes)
{
	denial_obs o;
	denial_record r1 = rec(DENIAL_ENFORCE, "custom.web", "open", "/etc/shadow", "r");
	denial_record r2 = rec(DENIAL_ENFORCE, "custom.web", "open", "/etc/shadow", "w");
	denial_record r3 = rec(DENIAL_COMPLAIN, "custom.web", "capable", "", "");
	denial_record r4 = rec(DENIAL_ENFORCE, "custom.web", "create", "", "");
	denial_record r5 = rec(DENIAL_ENFORCE, "custom.web", "exec", "/bin/x", "x");
	denial_record r6 = rec(DENIAL_COMPLAIN, "custom.db", "signal", "", "");
	char *s;

	snprintf(r3.capname, sizeof(r3.capname), "net_raw");
	snprintf(r4.family, sizeof(r4.family), "inet");
	snprintf(r4.sock_type, sizeof(r4.sock_type), "stream");
	denial_obs_init(&o, DENIAL_OBS_MAX_BYTES);
	cr_assert(denial_obs_add(&o, &r1));
	cr_assert(denial_obs_add(&o, &r2), "a new mask letter");
	cr_assert_not(denial_obs_add(&o, &r1), "nothing new");
	cr_assert(denial_obs_add(&o, &r3));
	cr_assert(denial_obs_add(&o, &r4));
	cr_assert(denial_obs_add(&o, &r5));
	cr_assert(denial_obs_add(&o, &r6), "a profile and its mode");
	cr_assert_not(denial_obs_add(&o, &r6));
	cr_assert(o.changed);
	s = denial_obs_render(&o, "boot-1", "2026-12-07T00:00:00Z");
	cr_assert_str_eq(s,
			 "{\"bootID\":\"boot-1\",\"observedAt\":\"2026-12-07T00:00:00Z\",\"profiles\":{"
			 "\"custom.web\":{\"mode\":\"mixed\",\"files\":{\"/etc/shadow\":\"rw\"},\"capabilities\":"
			 "[\"net_raw\"],\"network\":[\"inet stream\"],\"exec\":[\"/bin/x\"],\"truncated\":false},"
			 "\"custom.db\":{\"mode\":\"complain\",\"files\":{},\"capabilities\":[],\"network\":[],"
			 "\"exec\":[],\"truncated\":false}}}");
	cr_assert_not(o.changed);

	/* A restart of this boot takes it back; another boot does not. */
	denial_obs again, other;
	denial_obs_init(&again, DENIAL_OBS_MAX_BYTES);
	denial_obs_load(&again, s, "boot-1");
	char *s2 = denial_obs_render(&again, "boot-1", "2026-12-07T00:00:00Z");
	cr_assert_str_eq(s2, s);
	cr_assert_not(denial_obs_add(&again, &r2), "known after the load");
	denial_obs_init(&other, DENIAL_OBS_MAX_BYTES);
	denial_obs_load(&other, s, "boot-2");
	cr_assert_eq(other.n, 0);
	denial_obs_load(&other, "{not json", "boot-1");
	cr_assert_eq(other.n, 0);
	free(s);
	free(s2);
	denial_obs_cleanup(&o);
	denial_obs_cleanup(&again);
	denial_obs_cleanup(&other);
}

Test(denial_obs, truncated_names_and_odd_bytes)
{
	denial_obs o;
	denial_record r = rec(DENIAL_ENFORCE, "custom.web", "open", "/tmp/\xff\xfe\"x\n", "r");
	denial_record t = rec(DENIAL_ENFORCE, "custom.web", "open", "/very/long", "r");

	t.name_truncated = true;
	denial_obs_init(&o, DENIAL_OBS_MAX_BYTES);
	cr_assert(denial_obs_add(&o, &r));
	cr_assert_not(denial_obs_add(&o, &t), "a truncated path would be a rule for another path");
	cJSON *j = render(&o);
	cJSON *files =
		cJSON_GetObjectItem(cJSON_GetObjectItem(cJSON_GetObjectItem(j, "profiles"), "custom.web"), "files");
	cr_assert_not_null(cJSON_GetObjectItem(files, "/tmp/??\"x\n"));
	cJSON_Delete(j);
	denial_obs_cleanup(&o);
}

/* Unique paths without end (a scanner in a complain-mode pod): the JSON
 * stays within 32 KiB, the profile says truncated, memory stays bounded. */
Test(denial_obs, bound_holds_under_unique_paths)
{
	denial_obs o;
	char path[300];
	char *s;

	denial_obs_init(&o, DENIAL_OBS_MAX_BYTES);
	for (int i = 0; i < 100000; i++) {
		snprintf(path, sizeof(path), "/srv/data/%d/\x01%0200d", i, i);
		denial_record r = rec(DENIAL_COMPLAIN, i % 2 ? "custom.a" : "custom.b", "open", path, "r");
		denial_obs_add(&o, &r);
	}
	for (int i = 0; i < 300; i++) {
		char name[64];
		snprintf(name, sizeof(name), "custom.p%d", i);
		denial_record r = rec(DENIAL_COMPLAIN, name, "open", "/x", "r");
		denial_obs_add(&o, &r);
	}
	s = denial_obs_render(&o, "0123456789abcdef0123456789abcdef0123", "2026-12-07T00:00:00Z");
	cr_assert_leq(strlen(s), DENIAL_OBS_MAX_BYTES, "%zu bytes", strlen(s));
	cr_assert_gt(strlen(s), DENIAL_OBS_MAX_BYTES - 2000, "the bound is used, not wasted: %zu", strlen(s));
	cr_assert_gt(o.dropped, 90000);
	cJSON *j = cJSON_Parse(s);
	cr_assert(cJSON_IsTrue(
		cJSON_GetObjectItem(cJSON_GetObjectItem(cJSON_GetObjectItem(j, "profiles"), "custom.a"), "truncated")));
	cJSON_Delete(j);
	free(s);
	denial_obs_cleanup(&o);
}
